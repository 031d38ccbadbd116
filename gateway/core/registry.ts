// Live sessions of every front end (panel, SSH, FTP): listed by the viewer, ended by
// security staff. A front end registers a session with a `terminate` callback; the
// registry owns listing, idle time and the audit trail of terminations.
import type { Clock } from './runtime.js';
import type { Protocol, UserRef } from '../../recorder/events.js';
import type { Emitter } from '../../recorder/emitter.js';
import { SgError } from './errors.js';

export interface LiveSessionInfo {
  id: string;
  protocol: Protocol;
  /** Listener name. */
  listener: string;
  ip?: string;
  user?: UserRef;
  client?: string;
  /** Panel user type / FTP user type, as the seeds' Type column. */
  kind?: string;
  /** Login name as typed (panel login, FTP USER, SSH user). */
  login?: string;
  started_at: number;
  last_seen: number;
  /** Protocol-specific live state (FTP status, cwd, progress...). */
  details?: Record<string, unknown>;
}

export interface LiveSessionView extends LiveSessionInfo {
  idle_ms: number;
}

export interface Actor {
  /** Viewer user name or `system`. */
  name: string;
  ip?: string;
}

export interface LiveSessionHandle {
  readonly id: string;
  /** Marks activity now (idle time restarts). */
  touch(details?: Record<string, unknown>): void;
  update(patch: Partial<Omit<LiveSessionInfo, 'id' | 'protocol' | 'started_at'>>): void;
  /** The front end calls this when the session ends on its own. */
  remove(): void;
}

export type TerminateFn = (actor: Actor, reason: string) => Promise<void> | void;

export class SessionRegistry {
  private readonly sessions = new Map<string, { info: LiveSessionInfo; terminate: TerminateFn }>();
  private readonly watchers = new Set<() => void>();

  constructor(private readonly deps: { clock: Clock; emitter?: Emitter }) {}

  register(info: Omit<LiveSessionInfo, 'started_at' | 'last_seen'> & { started_at?: number }, terminate: TerminateFn): LiveSessionHandle {
    const now = this.deps.clock.now();
    const entry = { info: { ...info, started_at: info.started_at ?? now, last_seen: now }, terminate };
    this.sessions.set(info.id, entry);
    this.changed();
    const reg = this;
    return {
      id: info.id,
      touch(details) {
        entry.info.last_seen = reg.deps.clock.now();
        if (details) entry.info.details = { ...entry.info.details, ...details };
      },
      update(patch) {
        Object.assign(entry.info, patch);
        reg.changed();
      },
      remove() {
        if (reg.sessions.get(info.id) !== entry) return;
        reg.sessions.delete(info.id);
        reg.changed();
      },
    };
  }

  get(id: string): LiveSessionView | undefined {
    const e = this.sessions.get(id);
    return e ? this.view(e.info) : undefined;
  }

  list(filter?: { protocol?: Protocol | Protocol[] }): LiveSessionView[] {
    const protos = filter?.protocol === undefined ? undefined : ([] as Protocol[]).concat(filter.protocol);
    const out: LiveSessionView[] = [];
    for (const { info } of this.sessions.values()) {
      if (protos && !protos.includes(info.protocol)) continue;
      out.push(this.view(info));
    }
    return out.sort((a, b) => b.started_at - a.started_at);
  }

  /** Ends a live session at once and records who did it and why. */
  async terminate(id: string, actor: Actor, reason: string): Promise<LiveSessionView> {
    const e = this.sessions.get(id);
    if (!e) throw new SgError('SG_ERR_NOT_FOUND', `no live session ${id}`);
    const view = this.view(e.info);
    this.sessions.delete(id);
    this.changed();
    await e.terminate(actor, reason);
    this.deps.emitter?.emit({
      type: 'activity',
      initiator: actor.name,
      ip: actor.ip,
      action: 'terminate',
      description: `terminated ${e.info.protocol} session ${id}${e.info.login ? ` of ${e.info.login}` : ''}: ${reason}`,
      targets: [{ kind: 'session', id }],
      details: { protocol: e.info.protocol, listener: e.info.listener, login: e.info.login, ip: e.info.ip, reason },
    });
    return view;
  }

  size(): number {
    return this.sessions.size;
  }

  /**
   * Calls `fn` after a session is registered, updated, removed or terminated (not on touch:
   * that is every request). The viewer's live stream tells its clients to re-read the list.
   */
  onChange(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => {
      this.watchers.delete(fn);
    };
  }

  private changed(): void {
    for (const fn of this.watchers) {
      try {
        fn();
      } catch {
        // A watcher's failure is its own: the front end registering a session must not see it.
      }
    }
  }

  private view(info: LiveSessionInfo): LiveSessionView {
    return { ...info, idle_ms: Math.max(0, this.deps.clock.now() - info.last_seen) };
  }
}
