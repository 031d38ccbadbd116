// A real OpenSSH sshd for tests: its own config, host key and authorized_keys in a temp dir, on a
// free loopback port, in the foreground (-D -e), stopped by its PID at teardown. Plus the real
// OpenSSH client, non-interactively and through node-pty.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';
import { tempDir } from './gateway.js';
import { requireTool } from './interop.js';
import { spawnTied } from './tied-process.js';

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

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        r(true);
      });
      c.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`sshd did not listen on ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Sshd {
  port: number;
  /** The host key as known_hosts has it: `ssh-ed25519 AAAA...`. */
  hostKey: string;
  /** The key the gateway's account uses (in authorized_keys for root). */
  accountKey: KeyPair;
  dir: string;
  proc: ChildProcess;
}

/** Starts sshd, or returns undefined after skipping (failing under SESSIONGATE_REQUIRE_INTEROP=1). */
export async function startSshd(t: Test): Promise<Sshd | undefined> {
  const sshd = requireTool(t, 'sshd');
  if (!sshd || !requireTool(t, 'ssh') || !requireTool(t, 'ssh-keygen')) return undefined;
  const dir = tempDir('sg-sshd-');
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
      'ListenAddress 127.0.0.1',
      `HostKey ${host.file}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'Subsystem sftp internal-sftp',
      'AcceptEnv LANG LC_* SG_*',
      'AllowTcpForwarding yes',
      'PrintMotd no',
      'PrintLastLog no',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const { proc } = spawnTied(t, sshd, ['-D', '-e', '-f', cfg]);
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  try {
    await waitForPort(port, 10_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}; sshd said: ${stderr}`);
  }
  return { port, hostKey: host.pub.split(' ').slice(0, 2).join(' '), accountKey, dir, proc };
}

/** Options for the OpenSSH client against a gateway on 127.0.0.1 (no known_hosts, no agent, no config). */
export function sshArgs(port: number, key: string | undefined, extra: string[] = []): string[] {
  return [
    '-F',
    '/dev/null',
    '-p',
    String(port),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'IdentityAgent=none',
    ...(key ? ['-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'PreferredAuthentications=publickey', '-o', 'BatchMode=yes'] : ['-o', 'PreferredAuthentications=password', '-o', 'PubkeyAuthentication=no']),
    ...extra,
  ];
}

/** A `ssh.targets[]` entry (YAML, indented for `targets:`) for this sshd, logging in as root with its account key. */
export function targetYaml(sshd: Sshd, name: string, extra: { os?: string } = {}): string {
  return [
    `    - name: ${name}`,
    '      host: 127.0.0.1',
    `      port: ${sshd.port}`,
    ...(extra.os ? [`      os: ${extra.os}`] : []),
    `      host_key: ${sshd.hostKey}`,
    '      accounts:',
    `        - { name: root, key_file: ${sshd.accountKey.file} }`,
    '',
  ].join('\n');
}
