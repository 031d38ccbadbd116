// Revoked panel session keys and locks (user, panel login, email, IP/CIDR) across all
// protocols. Checked on every request, so lookups are in memory; changes are written
// through to an LMDB database (when given) so they survive a restart.
import ipaddr from 'ipaddr.js';
import type { Clock } from './runtime.js';
import { newId } from './ids.js';
import { SgError } from './errors.js';

export type LockKind = 'user' | 'login' | 'email' | 'ip';

export interface Lock {
  id: string;
  kind: LockKind;
  /** User name, panel login, email (lowercased), or IP / CIDR. */
  value: string;
  created_at: number;
  /** ms since epoch; absent = until lifted. */
  until?: number;
  actor: string;
  reason?: string;
}

export interface Revocation {
  /** Hash of the panel session key (never the key). */
  hash: string;
  at: number;
  until?: number;
  actor: string;
  reason?: string;
}

/** What the checks receive: whatever is known about the request so far. */
export interface Subject {
  ip?: string;
  user?: string;
  login?: string;
  email?: string;
}

/** The subset of an lmdb-js Database this module needs (keeps lmdb out of its types). */
export interface KvDb {
  get(key: string): unknown;
  put(key: string, value: unknown): Promise<boolean>;
  remove(key: string): Promise<boolean>;
  getRange(opts?: { start?: string; end?: string }): Iterable<{ key: unknown; value: unknown }>;
}

export class AccessControl {
  private readonly revoked = new Map<string, Revocation>();
  private readonly locks = new Map<string, Lock>();
  private ipLocks: { lock: Lock; range: [ipaddr.IPv4 | ipaddr.IPv6, number] }[] = [];

  constructor(private readonly deps: { clock: Clock; db?: KvDb }) {
    const db = deps.db;
    if (!db) return;
    const now = deps.clock.now();
    for (const { key, value } of db.getRange({ start: 'l:', end: 'l;' })) {
      const l = value as Lock;
      if (l.until === undefined || l.until > now) this.locks.set(l.id, l);
      else void db.remove(String(key));
    }
    for (const { key, value } of db.getRange({ start: 'r:', end: 'r;' })) {
      const r = value as Revocation;
      if (r.until === undefined || r.until > now) this.revoked.set(r.hash, r);
      else void db.remove(String(key));
    }
    this.rebuildIpLocks();
  }

  revokeSession(hash: string, opts: { actor: string; reason?: string; ttlMs?: number }): Revocation {
    const at = this.deps.clock.now();
    const r: Revocation = { hash, at, actor: opts.actor, reason: opts.reason, until: opts.ttlMs ? at + opts.ttlMs : undefined };
    this.revoked.set(hash, r);
    void this.deps.db?.put(`r:${hash}`, r);
    return r;
  }

  isSessionRevoked(hash: string): boolean {
    const r = this.revoked.get(hash);
    if (!r) return false;
    if (r.until !== undefined && r.until <= this.deps.clock.now()) {
      this.revoked.delete(hash);
      void this.deps.db?.remove(`r:${hash}`);
      return false;
    }
    return true;
  }

  lock(input: { kind: LockKind; value: string; durationMs?: number; actor: string; reason?: string }): Lock {
    const value = normaliseLockValue(input.kind, input.value);
    const now = this.deps.clock.now();
    const lock: Lock = { id: newId(now), kind: input.kind, value, created_at: now, actor: input.actor, reason: input.reason };
    if (input.durationMs) lock.until = now + input.durationMs;
    this.locks.set(lock.id, lock);
    void this.deps.db?.put(`l:${lock.id}`, lock);
    if (lock.kind === 'ip') this.rebuildIpLocks();
    return lock;
  }

  unlock(id: string): Lock {
    const lock = this.locks.get(id);
    if (!lock) throw new SgError('SG_ERR_NOT_FOUND', `no lock ${id}`);
    this.locks.delete(id);
    void this.deps.db?.remove(`l:${id}`);
    if (lock.kind === 'ip') this.rebuildIpLocks();
    return lock;
  }

  listLocks(): Lock[] {
    const now = this.deps.clock.now();
    return [...this.locks.values()].filter((l) => l.until === undefined || l.until > now).sort((a, b) => b.created_at - a.created_at);
  }

  /** The first active lock that applies to the subject, if any. Cheap when there are no locks. */
  check(s: Subject): Lock | undefined {
    if (this.locks.size === 0) return undefined;
    const now = this.deps.clock.now();
    const active = (l: Lock) => l.until === undefined || l.until > now;
    if (s.ip && this.ipLocks.length) {
      let addr: ipaddr.IPv4 | ipaddr.IPv6 | undefined;
      try {
        addr = ipaddr.process(s.ip);
      } catch {
        addr = undefined;
      }
      if (addr) {
        for (const { lock, range } of this.ipLocks) {
          if (active(lock) && addr.kind() === range[0].kind() && addr.match(range as never)) return lock;
        }
      }
    }
    for (const l of this.locks.values()) {
      if (!active(l)) continue;
      if (l.kind === 'user' && s.user && l.value === s.user) return l;
      if (l.kind === 'login' && s.login && l.value === s.login) return l;
      if (l.kind === 'email' && s.email && l.value === s.email.toLowerCase()) return l;
    }
    return undefined;
  }

  private rebuildIpLocks(): void {
    this.ipLocks = [...this.locks.values()]
      .filter((l) => l.kind === 'ip')
      .map((lock) => ({ lock, range: parseRange(lock.value) }));
  }
}

function parseRange(v: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  if (v.includes('/')) {
    const [a, bits] = ipaddr.parseCIDR(v);
    return [a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? (a as ipaddr.IPv6).toIPv4Address() : a, a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? bits - 96 : bits];
  }
  const a = ipaddr.process(v);
  return [a, a.kind() === 'ipv4' ? 32 : 128];
}

function normaliseLockValue(kind: LockKind, value: string): string {
  const v = value.trim();
  if (!v) throw new SgError('SG_ERR_BAD_PARAM', 'lock value is empty');
  if (kind === 'email') return v.toLowerCase();
  if (kind === 'ip') {
    try {
      parseRange(v);
    } catch (e) {
      throw new SgError('SG_ERR_BAD_PARAM', `invalid IP or CIDR "${v}"`, { cause: e });
    }
    return v.includes('/') ? v : ipaddr.process(v).toString();
  }
  return v;
}
