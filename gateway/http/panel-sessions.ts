// Live panel sessions of one HTTP listener. A request carrying a session key (cookie or bearer
// token) belongs to the panel session of that key's hash; the identity learnt at login (form,
// upstream header, JWT, Basic) stays with the session so later requests carry it. Panels that
// rotate the session cookie (a new value on login, or on every answer) keep ONE session: the
// new key's hash joins the session it replaced. Each session is in the core registry (live list,
// idle time, terminate); terminating it revokes its keys at the gateway.
import type { Logger } from 'pino';
import type { AccessControl } from '../core/access.js';
import type { LiveSessionHandle, SessionRegistry } from '../core/registry.js';
import type { Clock } from '../core/runtime.js';
import type { UserRef } from '../../recorder/events.js';
import type { Identity } from './analysis/identity.js';

/** Key hashes remembered per session: the newest few, so requests still in flight with the previous key match. */
const HASHES_PER_SESSION = 4;

export interface PanelSessionsOptions {
  clock: Clock;
  logger: Logger;
  registry: SessionRegistry;
  access: AccessControl;
  listener: string;
  /** Sessions without a request for this long leave the registry. */
  idleMs: number;
  /** Most sessions kept; the least recently active one is dropped beyond it. */
  maxSessions?: number;
  /** How often idle sessions are swept (default: idleMs / 4, between 1 s and 60 s). */
  sweepMs?: number;
}

export class PanelSession {
  /** Hashes of the keys this session is known by, oldest first. The first one names the session. */
  readonly hashes: string[];
  identity: Identity | undefined = undefined;
  lastSeen: number;

  constructor(
    /** Stable id: the hash of the first key seen. */
    readonly id: string,
    public ip: string,
    now: number,
    readonly handle: LiveSessionHandle,
  ) {
    this.hashes = [id];
    this.lastSeen = now;
  }
}

export function userRef(i: Identity | undefined): UserRef | undefined {
  if (!i || (!i.login && !i.name && !i.email)) return undefined;
  const u: UserRef = {};
  if (i.name) u.name = i.name;
  if (i.email) u.email = i.email;
  if (i.type) u.role = i.type;
  if (i.login) u.login = i.login;
  return u;
}

export class PanelSessions {
  private readonly byHash = new Map<string, PanelSession>();
  /** By id, least recently active first (re-inserted on activity). */
  private readonly byActivity = new Map<string, PanelSession>();
  private readonly timer: NodeJS.Timeout;
  private readonly max: number;
  private closed = false;

  constructor(private readonly o: PanelSessionsOptions) {
    this.max = o.maxSessions ?? 100_000;
    const every = o.sweepMs ?? Math.min(60_000, Math.max(1_000, Math.floor(o.idleMs / 4)));
    this.timer = setInterval(() => this.sweep(), every);
    this.timer.unref();
  }

  get size(): number {
    return this.byActivity.size;
  }

  get(hash: string): PanelSession | undefined {
    return this.byHash.get(hash);
  }

  /** A request with this key hash arrived: the session (created and registered when new), marked active. */
  touch(hash: string, ip: string, details: { realm: string; route: string }): PanelSession {
    const now = this.o.clock.now();
    let s = this.byHash.get(hash);
    if (s === undefined) return this.create(hash, ip, now, details);
    s.lastSeen = now;
    if (s.ip !== ip) {
      s.ip = ip;
      s.handle.update({ ip });
    }
    s.handle.touch();
    this.byActivity.delete(s.id);
    this.byActivity.set(s.id, s);
    return s;
  }

  /** The session now knows who it is (login form accepted, identity header, JWT...). */
  learn(s: PanelSession, identity: Identity): void {
    const prev = s.identity;
    s.identity = identity;
    if (prev && prev.login === identity.login && prev.name === identity.name && prev.email === identity.email && prev.type === identity.type && prev.client === identity.client) return;
    s.handle.update({ user: userRef(identity), login: identity.login, kind: identity.type, client: identity.client });
  }

  /** The panel replaced the session key (login, rotation): the new key belongs to the same session. */
  rotate(s: PanelSession, newHash: string): void {
    if (s.hashes.includes(newHash)) return;
    const other = this.byHash.get(newHash);
    if (other && other !== s) this.end(other);
    s.hashes.push(newHash);
    this.byHash.set(newHash, s);
    while (s.hashes.length > HASHES_PER_SESSION) this.byHash.delete(s.hashes.shift()!);
  }

  /** Logout, or the panel deleted the cookie: the session leaves the live list. */
  end(s: PanelSession): void {
    for (const h of s.hashes) if (this.byHash.get(h) === s) this.byHash.delete(h);
    if (this.byActivity.get(s.id) === s) this.byActivity.delete(s.id);
    s.handle.remove();
  }

  /** Drops sessions idle longer than the listener's idle_timeout. */
  sweep(): void {
    const cutoff = this.o.clock.now() - this.o.idleMs;
    for (const s of this.byActivity.values()) {
      // Activity order is only approximately time order (clock may be injected): check them all.
      if (s.lastSeen <= cutoff) this.end(s);
    }
  }

  /** Removes every session of this listener from the registry (shutdown). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const s of [...this.byActivity.values()]) this.end(s);
  }

  private create(hash: string, ip: string, now: number, details: { realm: string; route: string }): PanelSession {
    if (this.byActivity.size >= this.max) {
      const oldest = this.byActivity.values().next().value;
      if (oldest) this.end(oldest);
    }
    const id = hash;
    let session: PanelSession | undefined;
    const handle = this.o.registry.register(
      { id: `http:${id}`, protocol: 'http', listener: this.o.listener, ip, details: { realm: details.realm, route: details.route } },
      (actor, reason) => {
        if (session) this.revoke(session, actor.name, reason);
      },
    );
    session = new PanelSession(id, ip, now, handle);
    this.byHash.set(hash, session);
    this.byActivity.set(id, session);
    return session;
  }

  /** Terminated from the viewer: every key of the session is refused at the gateway from now on. */
  private revoke(s: PanelSession, actor: string, reason: string): void {
    for (const h of s.hashes) this.o.access.revokeSession(h, { actor, reason });
    this.end(s);
    this.o.logger.info({ session: `http:${s.id}`, login: s.identity?.login, actor }, 'panel session terminated');
  }
}
