// `/api/recordings/:id/live`: watch a terminal recording while it is being written (DESIGN
// "Viewer API", "Who uses it": security staff watch live sessions). A WebSocket on the viewer's
// own uWS app, admitted like `/api/stream` (session cookie, same Origin required, locks, role).
// On open it sends the cast header, then the screen as it is now — the last keyframe's snapshot
// before the subscription's offset and the event lines after it, read from the file once the
// writer has flushed — then every new line from the writer's live fan-out, and `end` when the
// recording closes. Backpressure: a line waits while the socket holds more than `highWaterBytes`;
// a watcher that falls further behind than the fan-out allows is cut off (`end`, `slow`) and
// the session it watches never notices. A client that offers the `v2.asciicast` subprotocol
// (asciinema-player's live mode, which the viewer's pages use) gets the same as a plain
// asciicast v2 stream: no control frames, the snapshot as the first output, the end as close
// 1000, and 1013 when it fell behind (the player reconnects and starts from a keyframe again).
import type { HttpRequest, HttpResponse, us_socket_context_t, WebSocket, WebSocketBehavior } from '@trufflesuite/uws-js-unofficial';
import { SgError } from '../../gateway/core/errors.js';
import type { Uws } from '../../gateway/core/uws.js';
import type { User, ViewerRole } from '../../gateway/core/users.js';
import { CastReader, SESSION_ID_RE, type CastSubscription, type CastWriter, type Keyframe } from '../../recorder/cast/index.js';
import { byUser, recordActivity, type Route, type ViewerContext } from './context.js';
import type { ViewerRequest } from './http-io.js';
import { onlyParams } from './live-routes.js';
import { badParam, errorOf, toJson } from './reply.js';
import type { ViewerSession } from './sessions.js';
import { CLOSE_SESSION_ENDED, type StreamGate } from './stream.js';
import { checkEvery, checkWsOrigin, socketDefaults, upgradeOrRefuse, wsOnlyRoute } from './ws-gate.js';

/** The uWS route pattern (and the router's 426 answer for a plain GET). */
export const LIVE_WATCH_PATTERN = '/api/recordings/:id/live';
const PATH_RE = /^\/api\/recordings\/([^/]+)\/live$/;

/** Security staff watch live sessions; admins do everything (DESIGN "Roles"). */
export const WATCHERS: readonly ViewerRole[] = ['admin', 'security'];

/** Close codes: the recording is not being written (4404); the watcher fell behind (1013). */
export const CLOSE_NOT_LIVE = 4404;
export const CLOSE_TOO_SLOW = 1013;
/** asciinema-player's live mode offers it: the stream is then a plain asciicast v2 (header, event lines). */
export const ASCIICAST_PROTOCOL = 'v2.asciicast';

export interface LiveWatchOptions {
  /** Socket bytes above which the next line waits for drain (default 256 KiB). */
  highWaterBytes?: number;
  /** How far (bytes of lines) a watcher may fall behind the recording before it is cut off (default 1 MiB). */
  maxQueuedBytes?: number;
  /** How often open sockets re-check their session, user, role and locks (default 10 s). */
  checkMs?: number;
  /** How long the writer may take to flush before the current screen is read (default 5 s). */
  flushTimeoutMs?: number;
}

const DEFAULTS = { highWaterBytes: 256 * 1024, maxQueuedBytes: 1024 * 1024, checkMs: 10_000, flushTimeoutMs: 5000 };
/** Catch-up events are sent in frames of about this many characters. */
const FRAME_CHARS = 64 * 1024;

interface Conn {
  ws: WebSocket<ConnRef> | undefined;
  id: string;
  session: ViewerSession;
  user: User;
  ip: string;
  sub: CastSubscription | undefined;
  /** Resolved when the socket drains below the high-water mark (or closes). */
  drained: (() => void)[];
  /** Lets live lines flow (after the current screen was sent, or when the socket closes). */
  release: () => void;
  /** The `v2.asciicast` subprotocol (asciinema-player's live mode): plain asciicast frames only. */
  asciicast: boolean;
  closed: boolean;
}

interface ConnRef {
  conn: Conn;
}

export interface LiveWatch {
  behavior(uws: Uws): WebSocketBehavior<ConnRef>;
  /** Open sockets (tests). */
  size(): number;
  close(): void;
}

export function createLiveWatch(ctx: ViewerContext, gate: StreamGate, opts: LiveWatchOptions = {}): LiveWatch {
  const { logger } = ctx.deps;
  const o = { ...DEFAULTS, ...opts };
  const conns = new Set<Conn>();
  let stopChecks = () => {};
  let closed = false;

  const end = (conn: Conn, code: number, reason: string): void => {
    if (conn.closed || !conn.ws) return;
    conn.ws.end(code, reason); // calls close() at once, which forgets the socket
  };
  /** Sends one frame; false when the socket is gone. */
  const send = (conn: Conn, frame: string): boolean => {
    if (conn.closed || !conn.ws) return false;
    // 2: uWS dropped it (past maxBackpressure, which our own bound keeps far away).
    if (conn.ws.send(frame) === 2) {
      end(conn, CLOSE_TOO_SLOW, 'too slow');
      return false;
    }
    return true;
  };
  /** Resolves once the socket can take more (at once when it can). */
  const room = (conn: Conn): Promise<void> | undefined => {
    if (conn.closed || !conn.ws || conn.ws.getBufferedAmount() <= o.highWaterBytes) return undefined;
    return new Promise((resolve) => conn.drained.push(resolve));
  };
  const wake = (conn: Conn): void => {
    for (const r of conn.drained.splice(0)) r();
  };
  const fail = (conn: Conn, e: unknown, code: number): void => {
    const { body } = errorOf(e, logger);
    if (conn.asciicast) {
      // asciinema-player shows "Stream ended" on 1000 and retries anything else.
      end(conn, code === CLOSE_NOT_LIVE ? 1000 : code, body.error.code);
      return;
    }
    send(conn, toJson({ op: 'error', ...body }));
    end(conn, code, 'error');
  };

  /** The session is still live and its user may still watch; ends the socket otherwise. */
  const recheck = (conn: Conn): boolean => {
    if (conn.closed) return false;
    const auth = ctx.sessions.alive(conn.session) ? gate.sessionUser(conn.session) : undefined;
    try {
      if (!auth) throw new SgError('SG_ERR_AUTH_REQUIRED', 'session ended');
      gate.authorize(auth, conn.ip, WATCHERS);
      conn.user = auth.user;
      return true;
    } catch {
      end(conn, CLOSE_SESSION_ENDED, 'session ended');
      return false;
    }
  };

  /** Tells the watcher the recording ended (`closed`) or that it fell behind (`slow`), and closes. */
  const finish = (conn: Conn, reason: 'closed' | 'slow'): void => {
    if (!conn.asciicast) send(conn, toJson({ op: 'end', reason }));
    if (reason === 'closed') end(conn, 1000, 'recording ended');
    else end(conn, CLOSE_TOO_SLOW, 'too slow'); // asciinema-player reconnects: from a keyframe again
  };

  /**
   * The header, then the terminal as it is at byte `offset` of the recording: the last keyframe
   * at or before it whose snapshot can be read, and the events from there up to `offset`.
   */
  async function sendScreen(conn: Conn, writer: CastWriter, offset: number): Promise<void> {
    const r = await CastReader.open(writer.file, { logger });
    try {
      const kfs = r.keyframes().filter((k) => k.offset <= offset);
      let kf: Keyframe | undefined;
      let init = '';
      // A keyframe indexed after the flush may have its snapshot bytes still in flight: take an earlier one.
      for (let i = kfs.length - 1; i >= 0 && !kf; i--) {
        try {
          init = await r.snapshot(kfs[i]!);
          kf = kfs[i];
        } catch {
          init = '';
        }
      }
      const h = writer.header;
      const cols = kf?.cols ?? h.width;
      const rows = kf?.rows ?? h.height;
      if (conn.asciicast) {
        // A plain asciicast v2 stream: the header at the snapshot's size, the snapshot as output.
        send(conn, toJson({ ...h, width: cols, height: rows }));
        if (init) send(conn, toJson([kf!.t, 'o', init]));
      } else {
        send(conn, toJson({ op: 'header', id: conn.id, header: h }));
        send(conn, toJson({ op: 'screen', cols, rows, init, t: kf?.t ?? 0 }));
      }
      let batch: string[] = [];
      let chars = 0;
      const flushBatch = async () => {
        if (!batch.length) return;
        send(conn, `{"op":"events","events":[${batch.join(',')}]}`);
        batch = [];
        chars = 0;
        await room(conn);
      };
      for await (const ev of r.events({ ...(kf ? { from: kf.offset } : {}), to: offset })) {
        if (conn.closed) return;
        const line = toJson([ev.t, ev.code, ev.data]);
        if (conn.asciicast) {
          send(conn, line);
          await room(conn);
          continue;
        }
        batch.push(line);
        chars += line.length;
        if (chars >= FRAME_CHARS) await flushBatch();
      }
      await flushBatch();
    } finally {
      await r.close();
    }
  }

  async function start(conn: Conn): Promise<void> {
    const writer = ctx.deps.liveCasts?.get(conn.id);
    if (!writer) throw new SgError('SG_ERR_NOT_FOUND', `recording ${conn.id} is not being written now: it ended or never existed (replay it from Session Logs)`);
    await recordActivity(ctx, {
      ...byUser({ session: conn.session, user: conn.user }, conn.ip),
      action: 'watch',
      description: `watched the live recording of session ${conn.id}`,
      targets: [{ kind: 'recording', id: conn.id }],
      details: { kind: 'recording', live: true },
    });
    if (conn.closed) return;

    // Lines from the subscription wait until the screen up to its offset has been sent.
    const ready = new Promise<void>((r) => (conn.release = r));
    conn.sub = writer.subscribe(
      async (line) => {
        await ready;
        if (conn.closed) return;
        send(conn, line);
        await room(conn);
      },
      {
        maxQueuedBytes: o.maxQueuedBytes,
        onEnd: (reason) => {
          if (conn.closed) return;
          if (reason === 'error') fail(conn, new SgError('SG_ERR_INTERNAL', 'live watch failed'), 1011);
          else finish(conn, reason);
        },
      },
    );
    const offset = conn.sub.offset;
    let timer: NodeJS.Timeout | undefined;
    const flushed = await Promise.race([
      writer.flush().then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), o.flushTimeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (!flushed) throw new SgError('SG_ERR_STORE_UNAVAILABLE', 'the recording could not be read now (its disk is not keeping up); try again');
    if (conn.closed) return;
    await sendScreen(conn, writer, offset);
    if (conn.closed) return;
    if (!conn.asciicast) send(conn, '{"op":"live"}');
    conn.release();
  }

  /** Admits a handshake as an HTTP request is admitted; throws the SgError to answer with. */
  function admit(req: ViewerRequest): Conn & { protocol: string } {
    const { ip, secure, viaProxy } = gate.peerOf(req);
    checkWsOrigin(req, gate.ownOrigin(req, secure, viaProxy));
    onlyParams(req.query, []);
    const auth = gate.authenticate(req);
    if (!auth) throw new SgError('SG_ERR_AUTH_REQUIRED', 'sign in first (POST /api/login)');
    gate.authorize(auth, ip, WATCHERS);
    const raw = PATH_RE.exec(req.path)?.[1] ?? '';
    let id = '';
    try {
      id = decodeURIComponent(raw);
    } catch {
      /* checked below */
    }
    if (!SESSION_ID_RE.test(id)) throw badParam('id', 'not a recording id');
    const offered = (req.headers.get('sec-websocket-protocol') ?? '').split(',').map((p) => p.trim());
    const asciicast = offered.includes(ASCIICAST_PROTOCOL);
    return { ws: undefined, id, session: auth.session, user: auth.user, ip, sub: undefined, drained: [], release: () => {}, asciicast, closed: false, protocol: asciicast ? ASCIICAST_PROTOCOL : '' };
  }

  function upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    upgradeOrRefuse(res, req, context, { tls: ctx.tls, logger }, (r) => {
      if (closed) throw new SgError('SG_ERR_STORE_UNAVAILABLE', 'the viewer is closing');
      const { protocol, ...conn } = admit(r);
      return { data: { conn }, protocol };
    });
  }

  return {
    behavior(uws) {
      stopChecks = checkEvery(conns, recheck, o.checkMs);
      return {
        ...socketDefaults(uws),
        // Watchers send nothing; anything they send is ignored.
        maxPayloadLength: 1024,
        maxBackpressure: o.highWaterBytes + 16 * 1024 * 1024,
        upgrade,
        open: (ws) => {
          const conn = ws.getUserData().conn;
          conn.ws = ws;
          conns.add(conn);
          start(conn).catch((e: unknown) => fail(conn, e, e instanceof SgError && e.code === 'SG_ERR_NOT_FOUND' ? CLOSE_NOT_LIVE : 1011));
        },
        drain: (ws) => {
          const conn = ws.getUserData().conn;
          if (ws.getBufferedAmount() <= o.highWaterBytes) wake(conn);
        },
        close: (ws) => {
          const conn = ws.getUserData().conn;
          conn.closed = true;
          conn.sub?.unsubscribe();
          conns.delete(conn);
          wake(conn);
          conn.release();
        },
      };
    },
    size: () => conns.size,
    close() {
      if (closed) return;
      closed = true;
      stopChecks();
      for (const conn of [...conns]) end(conn, 1001, 'viewer closing');
    },
  };
}

/** `GET /api/recordings/:id/live` without a WebSocket handshake: say what it is (426). */
export function liveWatchRoutes(): Route[] {
  return [wsOnlyRoute(LIVE_WATCH_PATTERN, WATCHERS, '/api/recordings/:id/live')];
}
