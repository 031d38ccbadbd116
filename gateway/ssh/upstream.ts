// The gateway's connection to a target: the account's credentials from config (users never see
// them), the pinned host key checked before authenticating (a mismatch refuses the session), a
// connect timeout, TCP_NODELAY.
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { SshTargetConfig } from '../../config/schema.js';
import { SgError } from '../core/errors.js';
import { fingerprint, hostKeyMatches } from './host-key.js';

type Account = SshTargetConfig['accounts'][number];

function credentials(account: Account, env: NodeJS.ProcessEnv): { privateKey: Buffer; passphrase?: string } | { password: string } {
  if (account.key_file) {
    const passphrase = account.key_passphrase_file ? readFileSync(account.key_passphrase_file, 'utf8').replace(/\r?\n$/, '') : undefined;
    return { privateKey: readFileSync(account.key_file), ...(passphrase !== undefined ? { passphrase } : {}) };
  }
  if (account.password_file) return { password: readFileSync(account.password_file, 'utf8').replace(/\r?\n$/, '') };
  const password = env[account.password_env!];
  if (password === undefined) throw new SgError('SG_ERR_SSH_UPSTREAM', `the password of account ${account.name} is not set (environment variable ${account.password_env})`);
  return { password };
}

export interface UpstreamFailure {
  code: 'host_key_mismatch' | 'auth_failed' | 'unreachable' | 'timeout';
  message: string;
  presented?: string;
}

/** Connects and authenticates; rejects with SG_ERR_SSH_UPSTREAM whose details are an UpstreamFailure. */
export function connectUpstream(target: SshTargetConfig, account: Account, env: NodeJS.ProcessEnv = process.env): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const conn = new ssh2.Client();
    let presented: string | undefined;
    let settled = false;
    const fail = (f: UpstreamFailure) => {
      if (settled) return;
      settled = true;
      conn.end();
      reject(new SgError('SG_ERR_SSH_UPSTREAM', `${target.name}: ${f.message}`, { details: f as unknown as Record<string, unknown> }));
    };
    conn.on('ready', () => {
      if (settled) return conn.end();
      settled = true;
      resolve(conn);
    });
    conn.on('error', (e: Error & { level?: string }) => {
      if (presented) fail({ code: 'host_key_mismatch', message: `the host key (${presented}) is not the pinned one`, presented });
      else if (e.level === 'client-authentication') fail({ code: 'auth_failed', message: `account ${account.name} was refused by the target` });
      else if (e.level === 'client-timeout') fail({ code: 'timeout', message: 'the target did not answer in time' });
      else fail({ code: 'unreachable', message: `cannot reach ${target.host}:${target.port} (${e.message})` });
    });
    let creds: ReturnType<typeof credentials>;
    try {
      creds = credentials(account, env);
    } catch (e) {
      settled = true;
      reject(e);
      return;
    }
    conn.on('connect', () => {
      (conn as unknown as { _sock?: { setNoDelay?(v: boolean): void } })._sock?.setNoDelay?.(true);
    });
    conn.connect({
      host: target.host,
      port: target.port,
      username: account.name,
      readyTimeout: target.connect_timeout,
      keepaliveInterval: 30_000,
      hostVerifier: (key: Buffer) => {
        if (target.host_key && hostKeyMatches(target.host_key, key)) return true;
        presented = fingerprint(key);
        return false;
      },
      ...creds,
    });
  });
}
