// A real OpenSSH sshd for tests (the set-up shared with the SSH bench: bench/lib/sshd.ts), in the
// foreground (-D -e), tied to the test process. Plus the real OpenSSH client, non-interactively
// and through node-pty.
import type { ChildProcess } from 'node:child_process';
import type * as pty from 'node-pty';
import net from 'node:net';
import type { Test } from 'tap';
import { tempDir } from './gateway.js';
import { requireTool } from './interop.js';
import { spawnTied } from './tied-process.js';
import { keygen, prepareSshd, waitForPort, type KeyPair } from '../../bench/lib/sshd.js';

export { keygen, type KeyPair };

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
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
  const { cfg, port, hostKey, accountKey } = await prepareSshd(dir, ['Subsystem sftp internal-sftp', 'AcceptEnv LANG LC_* SG_*', 'AllowTcpForwarding yes']);
  const { proc } = spawnTied(t, sshd, ['-D', '-e', '-f', cfg]);
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  try {
    await waitForPort(port, 10_000, 'sshd');
  } catch (e) {
    throw new Error(`${(e as Error).message}; sshd said: ${stderr}`);
  }
  return { port, hostKey, accountKey, dir, proc };
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

/** Waits until `pred(text)` holds for a pty's output from now on; the timeout says what it showed. */
export function ptyUntil(term: pty.IPty, pred: (s: string) => boolean, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`timed out; the terminal showed: ${JSON.stringify(text.slice(-500))}`));
    }, ms);
    const sub = term.onData((d) => {
      text += d;
      if (pred(text)) {
        clearTimeout(timer);
        sub.dispose();
        resolve(text);
      }
    });
  });
}

/**
 * A gateway config with the viewer on and one SSH listener (`ssh`) in front of this sshd as web1
 * (Debian 12): the common set-up of the viewer's SSH tests. `listenerExtra` adds flow-mapping keys
 * to the listener, e.g. `, idle_timeout: 30s`.
 */
export function viewerSshYaml(sshd: Sshd, listenerExtra = ''): string {
  return `data_dir: \${DATA}
viewer: { listen: 127.0.0.1:0 }
ssh:
  listeners:
    - { name: ssh, listen: 127.0.0.1:0${listenerExtra} }
  targets:
${targetYaml(sshd, 'web1', { os: 'Debian 12' })}`;
}
