// Keys: the gateway's own host key (from files, or one ed25519 key generated in data_dir on first
// start, 0600), and the check of a target's host key against the one pinned in config.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';

/** The listener's host keys: the configured files, or the generated one. */
export function gatewayHostKeys(files: readonly string[], dataDir: string): Buffer[] {
  if (files.length) return files.map((f) => readFileSync(f));
  const dir = join(dataDir, 'ssh');
  const file = join(dir, 'host_ed25519_key');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pair = ssh2.utils.generateKeyPairSync('ed25519');
    writeFileSync(file, pair.private, { mode: 0o600, flag: 'wx' });
    writeFileSync(`${file}.pub`, `${pair.public}\n`, { mode: 0o644 });
  }
  chmodSync(file, 0o600);
  return [readFileSync(file)];
}

/** `SHA256:...` as OpenSSH prints it (base64 without padding) for a key blob. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** True when the presented key (wire format) is the pinned one: a known_hosts-style line or a fingerprint. */
export function hostKeyMatches(pinned: string, presented: Buffer): boolean {
  const p = pinned.trim();
  if (p.startsWith('SHA256:')) return fingerprint(presented) === p;
  const parts = p.split(/\s+/);
  const i = parts.findIndex((x) => /^(ssh-|ecdsa-|sk-)/.test(x));
  const b64 = i >= 0 ? parts[i + 1] : undefined;
  return b64 !== undefined && Buffer.from(b64, 'base64').equals(presented);
}
