// `/api/stream`: a WebSocket on the viewer's own uWS app that pushes committed events matching
// one search as they commit, and a payload-free `live` nudge when the live-session list
// changes. The handshake passes the same gates as an HTTP request (session cookie, same origin —
// required here, since a browser lets any page open a WebSocket with the viewer's cookie —,
// locks, roles); a refused handshake is an ordinary JSON error answer. Matching is the store's
// own (Store.liveMatcher: the search's row tests), so a pushed item is one the same GET lists.
// Nothing is queued in JS per socket: past a buffered-bytes bound pushes are dropped and the
// client is told once (`overflow`) to re-query; a slow client never grows the gateway's memory.
import type { HttpRequest, HttpResponse, us_socket_context_t, WebSocket, WebSocketBehavior } from '@trufflesuite/uws-js-unofficial';
import { SgError } from '../../gateway/core/errors.js';
import type { Uws } from '../../gateway/core/uws.js';
import type { User, ViewerRole } from '../../gateway/core/users.js';
import type { SgEvent } from '../../recorder/events.js';
import { SEARCH_KINDS, type SearchKind } from '../../recorder/store/types.js';
import { ALL_ROLES, byUser, recordActivity, type Authed, type Route, type ViewerContext } from './context.js';
import { onlyFields } from './fields.js';
import type { ViewerRequest } from './http-io.js';
import { onlyParams } from './live-routes.js';
import { parseSearch } from './query-params.js';
import { badParam, errorOf, toJson } from './reply.js';
import { checkEvery, checkWsOrigin, socketDefaults, upgradeOrRefuse, wsOnlyRoute } from './ws-gate.js';
import { describeQuery, describeSearch, REQUEST_READERS } from './requests-routes.js';
import type { ViewerSession } from './sessions.js';

export const STREAM_PATH = '/api/stream';
export const STREAM_KINDS = [...SEARCH_KINDS, 'live'] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];
const KIND_ROLES: Record<StreamKind, readonly ViewerRole[]> = { requests: REQUEST_READERS, sessions: REQUEST_READERS, activity: REQUEST_READERS, transfers: REQUEST_READERS, live: ALL_ROLES };

/** Close code for a socket whose viewer session ended (signed out, expired, removed, locked). */
export const CLOSE_SESSION_ENDED = 4401;
/** Close code when uWS itself had to drop a frame (never expected: pushes stop well before). */
const CLOSE_TOO_SLOW = 1013;

export interface StreamOptions {
  /** Buffered bytes above which a socket's pushes are dropped and `overflow` sent (default 1 MB). */
  highWaterBytes?: number;
  /** How often open sockets re-check their session, user, role and locks (default 10 s). */
  checkMs?: number;
  /** `live` nudges are sent at most this often per change burst (default 250 ms). */
  liveCoalesceMs?: number;
}

const DEFAULTS = { highWaterBytes: 1024 * 1024, checkMs: 10_000, liveCoalesceMs: 250 };
/** A push is split into frames of about this size (bounds what one send adds to the buffer). */
const FRAME_BYTES = 256 * 1024;
/** Client messages are small JSON objects; uWS closes the socket past this. */
const MAX_MESSAGE_BYTES = 16 * 1024;
const OVERFLOW = '{"op":"overflow"}';
const LIVE = '{"op":"live"}';

/** What the viewer's request pipeline lends the stream (index.ts), so both admit alike. */
export interface StreamGate {
  /** Client IP and scheme, as for an HTTP request. */
  peerOf(req: ViewerRequest): { ip: string; secure: boolean; viaProxy: boolean };
  /** The session behind the request's cookie, if live (index.ts authenticate()). */
  authenticate(req: ViewerRequest): Authed | undefined;
  /** The session's user if they may still be signed in (removed, role or password changed: ended). */
  sessionUser(session: ViewerSession): Authed | undefined;
  /** Lock check (ends the session) and role check; throws SG_ERR_LOCKED / SG_ERR_FORBIDDEN. */
  authorize(auth: Authed, ip: string, roles: readonly ViewerRole[]): void;
  /** The origin the client used to reach the viewer. */
  ownOrigin(req: ViewerRequest, secure: boolean, viaProxy: boolean): string | undefined;
}

type Subscription = { kind: 'live' } | { kind: SearchKind; match: (ev: SgEvent) => unknown };

interface Conn {
  ws: WebSocket<ConnRef> | undefined;
  session: ViewerSession;
  user: User;
  ip: string;
  sub: Subscription | undefined;
  /** Bumped by every subscribe / unsubscribe: a slower earlier subscribe cannot win. */
  gen: number;
  /** `overflow` was sent; pushes are dropped until the socket has drained. */
  overflowed: boolean;
  closed: boolean;
}

interface ConnRef {
  conn: Conn;
}

export interface ViewerStream {
  behavior(uws: Uws): WebSocketBehavior<ConnRef>;
  /** Open sockets (tests, metrics). */
  size(): number;
  close(): void;
}

/** A JSON filter object as search parameters: strings, numbers, booleans, lists of strings. */
function filterParams(filter: unknown): URLSearchParams {
  const params = new URLSearchParams();
  if (filter === undefined || filter === null) return params;
  if (typeof filter !== 'object' || Array.isArray(filter)) throw badParam('filter', 'must be an object of search parameters');
  for (const [k, v] of Object.entries(filter as Record<string, unknown>)) {
    if (v === null || v === undefined) continue;
    if (typeof v === 'string') params.append(k, v);
    else if (typeof v === 'number' || typeof v === 'boolean') params.append(k, String(v));
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) params.append(k, v.join(','));
    else throw badParam(k.slice(0, 64).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?'), 'must be a string, number, boolean or list of strings');
  }
  return params;
}

export function createStream(ctx: ViewerContext, gate: StreamGate, opts: StreamOptions = {}): ViewerStream {
  const { logger } = ctx.deps;
  const o = { ...DEFAULTS, ...opts };
  const conns = new Set<Conn>();
  const unsubscribe: (() => void)[] = [];
  let stopChecks = () => {};
  let liveTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const send = (conn: Conn, frame: string): void => {
    if (conn.closed || !conn.ws) return;
    if (conn.ws.send(frame) === 2) end(conn, CLOSE_TOO_SLOW, 'too slow');
  };
  const sendError = (conn: Conn, e: unknown): void => send(conn, toJson({ op: 'error', ...errorOf(e, logger).body }));
  const end = (conn: Conn, code: number, reason: string): void => {
    if (conn.closed || !conn.ws) return;
    conn.ws.end(code, reason); // calls close() at once, which forgets the socket
  };

  /** Sends a push unless the socket is over its bound; false when it was dropped. */
  const push = (conn: Conn, frame: string): boolean => {
    if (conn.closed || !conn.ws) return false;
    const buffered = conn.ws.getBufferedAmount();
    if (conn.overflowed) {
      // Drained: `overflow` reached the client before anything sent from now on, so its
      // re-query (made on reading it) covers what was dropped.
      if (buffered > 0) return false;
      conn.overflowed = false;
    }
    if (buffered > o.highWaterBytes) {
      conn.overflowed = true;
      send(conn, OVERFLOW);
      return false;
    }
    send(conn, frame);
    return true;
  };

  /** The session is still live and its user may still read `roles`; ends the socket otherwise. */
  const recheck = (conn: Conn): boolean => {
    if (conn.closed) return false;
    const auth = ctx.sessions.alive(conn.session) ? gate.sessionUser(conn.session) : undefined;
    if (!auth) {
      end(conn, CLOSE_SESSION_ENDED, 'session ended');
      return false;
    }
    conn.user = auth.user;
    try {
      gate.authorize(auth, conn.ip, KIND_ROLES[conn.sub?.kind ?? 'live']);
    } catch (e) {
      if (e instanceof SgError && e.code === 'SG_ERR_FORBIDDEN') {
        // Role changed under an open subscription: it ends, the socket stays (live is for all).
        conn.gen++;
        conn.sub = undefined;
        sendError(conn, e);
        return true;
      }
      end(conn, CLOSE_SESSION_ENDED, 'session ended');
      return false;
    }
    return true;
  };

  const onCommit = (events: readonly SgEvent[]): void => {
    for (const conn of conns) {
      const sub = conn.sub;
      if (!sub || sub.kind === 'live' || conn.closed) continue;
      const items: string[] = [];
      try {
        for (const ev of events) {
          const item = sub.match(ev);
          if (item !== undefined) items.push(toJson(item));
        }
      } catch (e) {
        conn.gen++;
        conn.sub = undefined;
        sendError(conn, e);
        continue;
      }
      if (!items.length) continue;
      // Cheap (no store read): a sign-out stops the very next push.
      if (!ctx.sessions.alive(conn.session)) {
        end(conn, CLOSE_SESSION_ENDED, 'session ended');
        continue;
      }
      conn.ws!.cork(() => {
        let start = 0;
        while (start < items.length) {
          let stop = start;
          let bytes = 0;
          while (stop < items.length && (stop === start || bytes + items[stop]!.length < FRAME_BYTES)) bytes += items[stop++]!.length + 1;
          if (!push(conn, `{"op":"events","items":[${items.slice(start, stop).join(',')}]}`)) break;
          start = stop;
        }
      });
    }
  };

  const onLiveChange = (): void => {
    if (liveTimer || closed) return;
    liveTimer = setTimeout(() => {
      liveTimer = undefined;
      for (const conn of conns) {
        if (conn.sub?.kind !== 'live') continue;
        if (!ctx.sessions.alive(conn.session)) end(conn, CLOSE_SESSION_ENDED, 'session ended');
        else push(conn, LIVE);
      }
    }, o.liveCoalesceMs);
    liveTimer.unref();
  };

  async function subscribe(conn: Conn, msg: Record<string, unknown>): Promise<void> {
    onlyFields(msg, ['op', 'kind', 'filter']);
    const gen = ++conn.gen;
    conn.sub = undefined; // a new subscribe replaces the old one, whether or not it is valid
    conn.overflowed = false;
    const kind = msg.kind;
    if (typeof kind !== 'string' || !(STREAM_KINDS as readonly string[]).includes(kind)) throw badParam('kind', `use one of ${STREAM_KINDS.join(', ')}`);
    if (!recheck(conn)) return;
    gate.authorize({ session: conn.session, user: conn.user }, conn.ip, KIND_ROLES[kind as StreamKind]);
    if (kind === 'live') {
      if (msg.filter !== undefined && msg.filter !== null) throw badParam('filter', 'live takes no filter');
      conn.sub = { kind: 'live' };
      send(conn, toJson({ op: 'subscribed', kind }));
      return;
    }
    const k = kind as SearchKind;
    const query = parseSearch(k, filterParams(msg.filter), { hideMe: { logins: conn.user.panel_identities, ips: [conn.ip] } });
    if (!ctx.deps.commits) throw new SgError('SG_ERR_STORE_UNAVAILABLE', 'live events are not available on this viewer');
    const match = ctx.deps.store.liveMatcher(k, query as never) as (ev: SgEvent) => unknown;
    await recordActivity(ctx, {
      ...byUser({ session: conn.session, user: conn.user }, conn.ip),
      action: 'search',
      description: `${describeSearch(k, query as Record<string, unknown>)} (live stream)`,
      details: { kind: k, query: describeQuery(query), stream: true },
    });
    if (conn.closed || gen !== conn.gen) return;
    conn.sub = { kind: k, match };
    send(conn, toJson({ op: 'subscribed', kind }));
  }

  function onMessage(conn: Conn, data: ArrayBuffer, isBinary: boolean): void {
    let msg: unknown;
    try {
      // Decoded now: uWS neuters the buffer when this callback returns.
      if (isBinary) throw new SgError('SG_ERR_BAD_REQUEST', 'send JSON text frames');
      try {
        msg = JSON.parse(Buffer.from(data).toString('utf8'));
      } catch {
        throw new SgError('SG_ERR_BAD_REQUEST', 'the message is not valid JSON');
      }
      if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) throw new SgError('SG_ERR_BAD_REQUEST', 'the message must be a JSON object');
    } catch (e) {
      sendError(conn, e);
      return;
    }
    const m = msg as Record<string, unknown>;
    const run = async () => {
      if (m.op === 'subscribe') return subscribe(conn, m);
      if (m.op === 'unsubscribe') {
        onlyFields(m, ['op']);
        conn.gen++;
        conn.sub = undefined;
        send(conn, '{"op":"unsubscribed"}');
        return;
      }
      throw badParam('op', 'use subscribe or unsubscribe');
    };
    run().catch((e: unknown) => sendError(conn, e));
  }

  /** Admits a handshake as an HTTP request is admitted; throws the SgError to answer with. */
  function admit(req: ViewerRequest): Conn {
    const { ip, secure, viaProxy } = gate.peerOf(req);
    checkWsOrigin(req, gate.ownOrigin(req, secure, viaProxy));
    const hint = onlyParams(req.query, ['kind']).get('kind');
    if (hint && !(STREAM_KINDS as readonly string[]).includes(hint)) throw badParam('kind', `use one of ${STREAM_KINDS.join(', ')}`);
    const auth = gate.authenticate(req);
    if (!auth) throw new SgError('SG_ERR_AUTH_REQUIRED', 'sign in first (POST /api/login)');
    // `?kind=` lets a client learn at the handshake (403) that its role may not read a kind.
    gate.authorize(auth, ip, KIND_ROLES[(hint || 'live') as StreamKind]);
    return { ws: undefined, session: auth.session, user: auth.user, ip, sub: undefined, gen: 0, overflowed: false, closed: false };
  }

  function upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    upgradeOrRefuse(res, req, context, { tls: ctx.tls, logger }, (r) => {
      if (closed) throw new SgError('SG_ERR_STORE_UNAVAILABLE', 'the viewer is closing');
      return { data: { conn: admit(r) } };
    });
  }

  return {
    behavior(uws) {
      if (ctx.deps.commits) unsubscribe.push(ctx.deps.commits.subscribe(onCommit));
      unsubscribe.push(ctx.deps.registry.onChange(onLiveChange));
      stopChecks = checkEvery(conns, recheck, o.checkMs);
      return {
        ...socketDefaults(uws),
        maxPayloadLength: MAX_MESSAGE_BYTES,
        // Our own bound (highWaterBytes) stops pushes far below this; uWS drops only past it.
        maxBackpressure: o.highWaterBytes + 16 * FRAME_BYTES,
        upgrade,
        open: (ws) => {
          const conn = ws.getUserData().conn;
          conn.ws = ws;
          conns.add(conn);
        },
        message: (ws, data, isBinary) => onMessage(ws.getUserData().conn, data, isBinary),
        close: (ws) => {
          const conn = ws.getUserData().conn;
          conn.closed = true;
          conn.sub = undefined;
          conns.delete(conn);
        },
      };
    },
    size: () => conns.size,
    close() {
      if (closed) return;
      closed = true;
      for (const u of unsubscribe.splice(0)) u();
      stopChecks();
      clearTimeout(liveTimer);
      for (const conn of [...conns]) end(conn, 1001, 'viewer closing');
    },
  };
}

/** `GET /api/stream` without a WebSocket handshake: say what it is (426). */
export function streamRoutes(): Route[] {
  return [wsOnlyRoute(STREAM_PATH, ALL_ROLES, STREAM_PATH)];
}
