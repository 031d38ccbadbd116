// What every viewer route sees: the injected dependencies, the session store, the login
// limiter, and how to record the viewer's own activity. Routes are plain functions of this
// context, so each lives in a small file and none touches uWS.
import type { ExportEncryptionMode, ViewerConfig } from '../../config/schema.js';
import type { AccessControl, KvDb } from '../../gateway/core/access.js';
import type { Metrics } from '../../gateway/core/metrics.js';
import type { SessionRegistry } from '../../gateway/core/registry.js';
import type { Clock, Logger } from '../../gateway/core/runtime.js';
import type { User, UserStore, ViewerRole } from '../../gateway/core/users.js';
import type { Emitter } from '../../recorder/emitter.js';
import type { ActivityEvent, SgEvent, UserRef } from '../../recorder/events.js';
import type { CommitListener } from '../../recorder/recorder.js';
import type { SearchStore } from '../../recorder/store/types.js';
import type { Reply, ViewerRequest } from './http-io.js';
import type { FailureRateLimiter } from './rate-limit.js';
import type { ViewerSession, ViewerSessions } from './sessions.js';
import type { LiveCasts } from '../../recorder/cast/index.js';
import type { WebTerminalProvider } from './terminal.js';

export interface ViewerDeps {
  clock: Clock;
  logger: Logger;
  store: SearchStore & { getEvent(id: string): SgEvent | undefined };
  emitter: Emitter;
  users: UserStore;
  registry: SessionRegistry;
  access: AccessControl;
  metrics: Metrics;
  health: () => { ok: boolean; details: Record<string, unknown> };
  /** Where sign-in sessions are kept so they survive a restart (the store's `sessions` db). */
  sessionsDb?: KvDb;
  /** `export.encryption` (off | optional | required); absent = `off`. */
  exportEncryption?: ExportEncryptionMode;
  /** `${data_dir}/recordings`: terminal recordings for replay (absent: none). */
  recordingsDir?: string;
  /** Recordings being written now, for live watch (`/api/recordings/:id/live`). */
  liveCasts?: LiveCasts;
  /** The web terminal's SSH front end (the first SSH listener); absent: no web terminal. */
  webTerminal?: WebTerminalProvider;
  /** Committed events, as they commit (the Recorder): feeds the `/api/stream` WebSocket.
   * Without it, stream subscriptions to evidence kinds are refused. */
  commits?: { subscribe(fn: CommitListener): () => void };
}

export interface ViewerContext {
  cfg: ViewerConfig;
  deps: ViewerDeps;
  sessions: ViewerSessions;
  limiter: FailureRateLimiter;
  tls: boolean;
}

/** A signed-in request: the session and the user as stored now (role changes apply at once). */
export interface Authed {
  session: ViewerSession;
  user: User;
}

export interface RouteInput {
  req: ViewerRequest;
  /** Client IP (socket peer, or X-Forwarded-For from a trusted proxy). */
  ip: string;
  params: Record<string, string>;
  auth?: Authed;
  /** Parsed JSON object body (routes with `body: true`). */
  body: Record<string, unknown>;
  /** True when the client reached the viewer over TLS (directly or via a trusted proxy). */
  secure: boolean;
}

export type Access = 'public' | 'optional' | readonly ViewerRole[];

export interface Route {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** `/api/live/:id/terminate`: `:name` matches one non-empty segment. */
  path: string;
  access: Access;
  /** Takes a JSON object body (Content-Type application/json). */
  body?: boolean;
  handler: (input: RouteInput) => Reply | Promise<Reply>;
}

export const ALL_ROLES: readonly ViewerRole[] = ['admin', 'auditor', 'security'];

export function userRef(u: User): UserRef {
  const ref: UserRef = { name: u.name, login: u.name };
  if (u.email) ref.email = u.email;
  if (u.role) ref.role = u.role;
  return ref;
}

export type ActivityInput = Omit<ActivityEvent, 'id' | 'ts' | 'type'>;

/**
 * Records a viewer action. Best effort: queued, never blocks. Strict audit mode: the action is
 * answered only once its record is committed (SG_ERR_STORE_UNAVAILABLE -> 503 otherwise).
 */
export async function recordActivity(ctx: ViewerContext, a: ActivityInput): Promise<void> {
  const ev = { type: 'activity' as const, ...a };
  if (ctx.deps.emitter.mode === 'strict') await ctx.deps.emitter.emitDurable(ev);
  else ctx.deps.emitter.emit(ev);
}

/** Activity fields for something a signed-in viewer user did. */
export function byUser(auth: Authed, ip: string): Pick<ActivityInput, 'initiator' | 'ip' | 'user'> {
  return { initiator: auth.user.name, ip, user: userRef(auth.user) };
}
