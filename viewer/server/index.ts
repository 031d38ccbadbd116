// The viewer server: a JSON API on its own uWebSockets.js listener (SSLApp with TLS). One
// catch-all handler copies the request, registers onAborted before any async work, reads a
// bounded body, runs the guards (same origin, session, CSRF token, role) and one route, and
// writes one reply with the security headers. DESIGN "Interfaces" lists the API.
import { accessSync, constants, readFileSync } from 'node:fs';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from '@trufflesuite/uws-js-unofficial';
import type { ViewerConfig } from '../../config/schema.js';
import { SgError } from '../../gateway/core/errors.js';
import { loadUws } from '../../gateway/core/uws.js';
import { clientIp, normalizeIp, TrustedProxies } from '../../gateway/core/client-ip.js';
import { getCookie } from '../../gateway/http/analysis/session-key.js';
import { authRoutes } from './auth-routes.js';
import type { Authed, RouteInput, ViewerContext, ViewerDeps } from './context.js';
import { checkCsrfToken, checkSameOrigin, firstValue, ownOrigin, parseJsonBody, SAFE_METHODS } from './guards.js';
import { readBody, snapshotRequest, writeReply, type Reply, type ViewerRequest } from './http-io.js';
import { liveRoutes } from './live-routes.js';
import { opsRoutes } from './ops-routes.js';
import { recordingRoutes } from './recording-routes.js';
import { FailureRateLimiter } from './rate-limit.js';
import { errorBody, errorReply, json } from './reply.js';
import { requestRoutes } from './requests-routes.js';
import { exportRoutes } from './export-routes.js';
import { eventRoutes } from './event-routes.js';
import { Router } from './router.js';
import { ViewerSessions, type ViewerSession } from './sessions.js';
import { createStream, STREAM_PATH, streamRoutes, type StreamOptions } from './stream.js';
import { usersRoutes } from './users-routes.js';
import { createLiveWatch, LIVE_WATCH_PATTERN, liveWatchRoutes, type LiveWatchOptions } from './live-watch.js';
import { createTerminal, TERMINAL_PATH, terminalRoutes, type TerminalOptions } from './terminal.js';
import type { ViewerRole } from '../../gateway/core/users.js';

export type { ViewerDeps } from './context.js';
export { parseRequestQuery } from './query-params.js';

export interface Viewer {
  start(): Promise<void>;
  /** Where it listens (the bound port when config said 0). Valid after start(). */
  address(): { host: string; port: number; tls: boolean };
  close(): Promise<void>;
}

export interface ViewerOptions {
  /** Sessions nobody used for this long end (default 1 h). */
  idleMs?: number;
  /** `/api/stream` limits (tests lower them). */
  stream?: StreamOptions;
  /** `/api/recordings/:id/live` limits (tests lower them). */
  liveWatch?: LiveWatchOptions;
  /** `/api/terminal` limits (tests lower them). */
  terminal?: TerminalOptions;
}

export const DEFAULT_IDLE_MS = 3_600_000;

function validateConfig(cfg: ViewerConfig): void {
  const bad = (key: string, msg: string) => new SgError('SG_ERR_CONFIG_INVALID', `viewer.${key}: ${msg}`, { details: { key: `viewer.${key}` } });
  if (!cfg || typeof cfg !== 'object') throw bad('', 'missing viewer config');
  if (!cfg.listen || typeof cfg.listen.host !== 'string' || !cfg.listen.host || !Number.isInteger(cfg.listen.port) || cfg.listen.port < 0 || cfg.listen.port > 65535) {
    throw bad('listen', 'needs a host and a port 0-65535');
  }
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(cfg.cookie_name ?? '')) throw bad('cookie_name', 'not a valid cookie name');
  if (!(cfg.session_ttl > 0)) throw bad('session_ttl', 'must be positive');
  if (!cfg.login_rate_limit || !(cfg.login_rate_limit.max_attempts >= 1) || !(cfg.login_rate_limit.window > 0)) throw bad('login_rate_limit', 'needs max_attempts >= 1 and a positive window');
  if (!Array.isArray(cfg.trusted_proxies)) throw bad('trusted_proxies', 'must be a list');
  if (cfg.tls) {
    for (const k of ['cert', 'key', 'passphrase_file'] as const) {
      const file = cfg.tls[k];
      if (file === undefined) continue;
      try {
        accessSync(file, constants.R_OK);
      } catch {
        throw bad(`tls.${k}`, `cannot read ${file}`);
      }
    }
  }
}

export function createViewer(cfg: ViewerConfig, deps: ViewerDeps, opts: ViewerOptions = {}): Viewer {
  validateConfig(cfg);
  for (const k of ['clock', 'logger', 'store', 'emitter', 'users', 'registry', 'access', 'metrics', 'health'] as const) {
    if (!deps || !deps[k]) throw new SgError('SG_ERR_CONFIG_INVALID', `viewer needs deps.${k}`);
  }
  const logger = deps.logger;
  const tls = cfg.tls !== undefined;
  const trusted = new TrustedProxies(cfg.trusted_proxies);
  const sessions = new ViewerSessions({ clock: deps.clock, logger, ttlMs: cfg.session_ttl, idleMs: opts.idleMs ?? DEFAULT_IDLE_MS, db: deps.sessionsDb });
  const limiter = new FailureRateLimiter({ clock: deps.clock, maxAttempts: cfg.login_rate_limit.max_attempts, windowMs: cfg.login_rate_limit.window });
  const ctx: ViewerContext = { cfg, deps, sessions, limiter, tls };
  const router = new Router([
    ...authRoutes(ctx),
    ...requestRoutes(ctx),
    ...exportRoutes(ctx),
    ...liveRoutes(ctx),
    ...usersRoutes(ctx),
    ...eventRoutes(ctx),
    ...recordingRoutes(ctx),
    ...streamRoutes(),
    ...liveWatchRoutes(),
    ...terminalRoutes(ctx),
    // Last: it ends with the browser app's page routes.
    ...opsRoutes(ctx),
  ]);

  let app: TemplatedApp | undefined;
  let listenSocket: us_listen_socket | undefined;
  let port = -1;
  let closed = false;

  /** The session behind the cookie, if it is live and its user may still sign in. */
  function authenticate(req: ViewerRequest): Authed | undefined {
    const session = sessions.lookup(getCookie(req.headers.get('cookie'), cfg.cookie_name));
    return session ? sessionUser(session) : undefined;
  }

  /** The session's user as stored now, or undefined (and the session ended). */
  function sessionUser(session: ViewerSession): Authed | undefined {
    const user = deps.users.get(session.user);
    // Removed, role withdrawn, or password changed since sign-in: the session is over.
    if (!user || !user.role || user.password_changed_at > session.created_at) {
      sessions.destroy(session);
      return undefined;
    }
    return { session, user };
  }

  /** Client IP (X-Forwarded-For only from trusted proxies) and whether it came over TLS. */
  function peerOf(req: ViewerRequest): { ip: string; secure: boolean; viaProxy: boolean } {
    const peer = normalizeIp(req.peer);
    const viaProxy = trusted.has(peer);
    const ip = clientIp(peer, req.headers.get('x-forwarded-for'), trusted);
    const secure = tls || (viaProxy && firstValue(req.headers.get('x-forwarded-proto'))?.toLowerCase() === 'https');
    return { ip, secure, viaProxy };
  }

  /** A lock on the user, their email or IP ends the session; then the role must be one of `roles`. */
  function authorize(auth: Authed, ip: string, roles: readonly ViewerRole[]): void {
    const lock = deps.access.check({ ip, user: auth.user.name, email: auth.user.email });
    if (lock) {
      sessions.destroy(auth.session);
      throw new SgError('SG_ERR_LOCKED', 'this user or address is locked');
    }
    if (!roles.includes(auth.user.role!)) throw new SgError('SG_ERR_FORBIDDEN', `the ${auth.user.role} role may not do this`);
  }

  const gate = { peerOf, authenticate, sessionUser, authorize, ownOrigin };
  const stream = createStream(ctx, gate, opts.stream);
  const liveWatch = createLiveWatch(ctx, gate, opts.liveWatch);
  const terminal = createTerminal(ctx, gate, opts.terminal);

  async function dispatch(req: ViewerRequest, body: Promise<Buffer>): Promise<Reply> {
    try {
      const raw = await body;
      const m = router.match(req.method, req.path);
      if (!m) return json(404, errorBody('SG_ERR_NOT_FOUND', 'no such endpoint'));
      if ('allow' in m) return json(405, errorBody('SG_ERR_METHOD_NOT_ALLOWED', 'method not allowed here'), [['Allow', m.allow.join(', ')]]);
      const { ip, secure, viaProxy } = peerOf(req);
      const unsafe = !SAFE_METHODS.has(req.method);
      if (unsafe) checkSameOrigin(req, ownOrigin(req, secure, viaProxy));

      const { route, params } = m;
      let auth: Authed | undefined;
      if (route.access !== 'public') {
        auth = authenticate(req);
        if (!auth && route.access !== 'optional') throw new SgError('SG_ERR_AUTH_REQUIRED', 'sign in first (POST /api/login)');
        if (auth && unsafe) checkCsrfToken(req, auth.session);
        if (auth && Array.isArray(route.access)) authorize(auth, ip, route.access);
      }
      const input: RouteInput = { req, ip, params, auth, secure, body: route.body ? parseJsonBody(req, raw) : {} };
      return await route.handler(input);
    } catch (e) {
      const reply = errorReply(e, logger);
      // The client may still be sending a body we refused: do not leave the connection half-read.
      if (e instanceof SgError && e.code === 'SG_ERR_BODY_TOO_LARGE') reply.close = true;
      return reply;
    }
  }

  function handle(res: HttpResponse, req: HttpRequest): void {
    const state = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    let snapshot: ViewerRequest;
    try {
      snapshot = snapshotRequest(res, req);
    } catch (e) {
      writeReply(res, state, errorReply(e, logger), { tls, head: false });
      return;
    }
    const body = readBody(res, snapshot.headers.get('content-length'));
    body.catch(() => {}); // awaited in dispatch; this only silences the early-rejection warning
    void dispatch(snapshot, body).then(
      (reply) => writeReply(res, state, reply, { tls, head: snapshot.method === 'HEAD' }),
      (e: unknown) => writeReply(res, state, errorReply(e, logger), { tls, head: false }),
    );
  }

  function makeApp(): TemplatedApp {
    const uws = loadUws();
    if (!cfg.tls) return uws.App();
    const passphrase = cfg.tls.passphrase_file ? readFileSync(cfg.tls.passphrase_file, 'utf8').replace(/\r?\n$/, '') : undefined;
    return uws.SSLApp({ cert_file_name: cfg.tls.cert, key_file_name: cfg.tls.key, ...(passphrase !== undefined ? { passphrase } : {}) });
  }

  return {
    start(): Promise<void> {
      if (app) return Promise.reject(new SgError('SG_ERR_LISTEN', 'viewer already started'));
      if (closed) return Promise.reject(new SgError('SG_ERR_LISTEN', 'viewer is closed'));
      const uws = loadUws();
      app = makeApp();
      // Before the catch-all: uWS hands non-upgrade GETs of this path on to it (a 426 route).
      app.ws(STREAM_PATH, stream.behavior(uws));
      app.ws(LIVE_WATCH_PATTERN, liveWatch.behavior(uws));
      app.ws(TERMINAL_PATH, terminal.behavior(uws));
      app.any('/*', handle);
      return new Promise((resolve, reject) => {
        app!.listen(cfg.listen.host, cfg.listen.port, (sock) => {
          if (!sock) {
            reject(new SgError('SG_ERR_LISTEN', `viewer cannot listen on ${cfg.listen.host}:${cfg.listen.port}${tls ? ' (check the TLS certificate and key)' : ''}`));
            return;
          }
          listenSocket = sock;
          port = uws.us_socket_local_port(sock as never);
          logger.info({ host: cfg.listen.host, port, tls }, 'viewer listening');
          resolve();
        });
      });
    },
    address() {
      if (port < 0) throw new SgError('SG_ERR_LISTEN', 'viewer is not listening');
      return { host: cfg.listen.host, port, tls };
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      stream.close();
      liveWatch.close();
      terminal.close();
      sessions.close();
      if (listenSocket) loadUws().us_listen_socket_close(listenSocket);
      listenSocket = undefined;
      // Ends keep-alive connections too: a closed viewer answers nobody.
      (app as (TemplatedApp & { close?: () => void }) | undefined)?.close?.();
      app = undefined;
    },
  };
}
