// Viewer sign-in sessions. The cookie carries a random 256-bit token; only its SHA-256 is kept
// (memory, and the `sessions` db when given so sessions survive a restart), so a copy of the
// store cannot be replayed as a cookie. Sessions end at an absolute TTL and after an idle period.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KvDb } from '../../gateway/core/access.js';
import type { Clock, Logger } from '../../gateway/core/runtime.js';
import { SgError } from '../../gateway/core/errors.js';

export interface ViewerSession {
  /** SHA-256 of the cookie token, base64url. */
  hash: string;
  /** Canonical viewer user name. */
  user: string;
  csrf: string;
  created_at: number;
  last_seen: number;
  expires_at: number;
  ip?: string;
  user_agent?: string;
}

export interface ViewerSessionsOptions {
  clock: Clock;
  logger: Logger;
  /** Absolute lifetime (viewer.session_ttl). */
  ttlMs: number;
  /** Ends a session nobody used for this long. */
  idleMs: number;
  db?: KvDb;
  /** Oldest sessions of a user are dropped past this many. */
  maxPerUser?: number;
  /** last_seen is written to the db at most this often per session (reads stay cheap). */
  persistEveryMs?: number;
}

const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;
const PREFIX = 's:';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** Constant-time string equality (for CSRF tokens). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function isSession(v: unknown): v is ViewerSession {
  const s = v as ViewerSession;
  return typeof v === 'object' && v !== null && typeof s.hash === 'string' && typeof s.user === 'string' && typeof s.csrf === 'string' && typeof s.created_at === 'number' && typeof s.last_seen === 'number' && typeof s.expires_at === 'number';
}

export class ViewerSessions {
  private readonly byHash = new Map<string, ViewerSession>();
  private readonly persistedAt = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly maxPerUser: number;
  private readonly persistEveryMs: number;

  constructor(private readonly opts: ViewerSessionsOptions) {
    if (!(opts.ttlMs > 0) || !(opts.idleMs > 0)) throw new SgError('SG_ERR_CONFIG_INVALID', 'viewer session ttl and idle time must be positive');
    this.maxPerUser = opts.maxPerUser ?? 20;
    this.persistEveryMs = opts.persistEveryMs ?? 60_000;
    if (opts.db) this.load(opts.db);
    this.sweeper = setInterval(() => this.sweep(), Math.min(opts.idleMs, 10 * 60_000));
    this.sweeper.unref();
  }

  create(user: string, meta: { ip?: string; user_agent?: string } = {}): { token: string; session: ViewerSession } {
    const token = randomBytes(32).toString('base64url');
    const now = this.opts.clock.now();
    const session: ViewerSession = {
      hash: hashToken(token),
      user,
      csrf: randomBytes(32).toString('base64url'),
      created_at: now,
      last_seen: now,
      expires_at: now + this.opts.ttlMs,
    };
    if (meta.ip) session.ip = meta.ip;
    if (meta.user_agent) session.user_agent = meta.user_agent.slice(0, 256);
    this.byHash.set(session.hash, session);
    this.persist(session);
    this.capUser(user);
    return { token, session };
  }

  /** The live session for a cookie token, touched; undefined when unknown, expired or idle. */
  lookup(token: string | undefined): ViewerSession | undefined {
    if (!token || !TOKEN_RE.test(token)) return undefined;
    const s = this.byHash.get(hashToken(token));
    if (!s) return undefined;
    const now = this.opts.clock.now();
    if (this.expired(s, now)) {
      this.destroy(s);
      return undefined;
    }
    s.last_seen = Math.max(s.last_seen, now);
    if (now - (this.persistedAt.get(s.hash) ?? 0) >= this.persistEveryMs) this.persist(s);
    return s;
  }

  /**
   * True while `s` is live (not ended, expired or idle), without touching it: an open
   * WebSocket re-checks its session, and a stream left open is not a request.
   */
  alive(s: ViewerSession): boolean {
    if (this.byHash.get(s.hash) !== s) return false;
    if (!this.expired(s, this.opts.clock.now())) return true;
    this.destroy(s);
    return false;
  }

  destroy(s: ViewerSession): void {
    this.byHash.delete(s.hash);
    this.persistedAt.delete(s.hash);
    void this.opts.db?.remove(PREFIX + s.hash).catch((e: unknown) => this.opts.logger.error({ err: e }, 'removing a viewer session failed'));
  }

  /** Ends every session of a user (removed, role withdrawn, locked). */
  destroyUser(user: string): number {
    let n = 0;
    for (const s of [...this.byHash.values()]) {
      if (s.user === user) {
        this.destroy(s);
        n++;
      }
    }
    return n;
  }

  size(): number {
    return this.byHash.size;
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private expired(s: ViewerSession, now: number): boolean {
    return now >= s.expires_at || now - s.last_seen >= this.opts.idleMs;
  }

  private persist(s: ViewerSession): void {
    if (!this.opts.db) return;
    this.persistedAt.set(s.hash, this.opts.clock.now());
    void this.opts.db.put(PREFIX + s.hash, { ...s }).catch((e: unknown) => this.opts.logger.error({ err: e }, 'storing a viewer session failed'));
  }

  private capUser(user: string): void {
    const mine = [...this.byHash.values()].filter((s) => s.user === user);
    if (mine.length <= this.maxPerUser) return;
    mine.sort((a, b) => a.created_at - b.created_at);
    for (const s of mine.slice(0, mine.length - this.maxPerUser)) this.destroy(s);
  }

  private load(db: KvDb): void {
    const now = this.opts.clock.now();
    for (const { key, value } of db.getRange({ start: PREFIX, end: 's;' })) {
      if (isSession(value) && `${PREFIX}${value.hash}` === key && !this.expired(value, now)) {
        this.byHash.set(value.hash, value);
        this.persistedAt.set(value.hash, value.last_seen);
      } else {
        void db.remove(String(key));
      }
    }
  }

  private sweep(): void {
    const now = this.opts.clock.now();
    for (const s of [...this.byHash.values()]) if (this.expired(s, now)) this.destroy(s);
  }
}
