// One OpenSSH sshd set-up for the tests (test/helpers/sshd.ts) and the SSH bench (bench/ssh.ts):
// its own host key, an account key in its own authorized_keys, a pid file and a config in `dir`,
// on a free loopback port, key logins only. Started in the foreground (`sshd -D -e -f cfg`).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST, freePort, waitForPort } from './net.js';

export { waitForPort };

export interface KeyPair {
  file: string;
  pub: string;
}

export function keygen(dir: string, name: string): KeyPair {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  chmodSync(file, 0o600);
  return { file, pub: readFileSync(`${file}.pub`, 'utf8').trim() };
}

export interface SshdSetup {
  cfg: string;
  port: number;
  /** The host key as known_hosts has it: `ssh-ed25519 AAAA...`. */
  hostKey: string;
  /** The key of the account the gateway logs in as (in authorized_keys). */
  accountKey: KeyPair;
}

/** Writes keys and config into `dir` (created 0700); `extra` lines are added to the config. */
export async function prepareSshd(dir: string, extra: readonly string[] = []): Promise<SshdSetup> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const host = keygen(dir, 'host_key');
  const accountKey = keygen(dir, 'account_key');
  writeFileSync(join(dir, 'authorized_keys'), `${accountKey.pub}\n`, { mode: 0o600 });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const cfg = join(dir, 'sshd_config');
  writeFileSync(
    cfg,
    [
      `Port ${port}`,
      `ListenAddress ${HOST}`,
      `HostKey ${host.file}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PrintMotd no',
      'PrintLastLog no',
      'LogLevel ERROR',
      ...extra,
      '',
    ].join('\n'),
  );
  return { cfg, port, hostKey: host.pub.split(' ').slice(0, 2).join(' '), accountKey };
}
