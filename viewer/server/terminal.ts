// `/api/terminal`: the web terminal (DESIGN "Front ends: SSH", `connected_from: web`). A
// WebSocket on the viewer's uWS app; the handshake names the target
// (`?server=&account=&cols=&rows=`) and passes the same gate as `/api/stream`. The shell itself
// is a session of the SSH front end (gateway/ssh/web-shell.ts): same access checks, recording,
// registry, terminate and idle timeout as a terminal `ssh`. Frames: binary both ways are
// terminal bytes; text frames are JSON control (`resize` from the page; `ready`, `end`, `error`
// to it). A slow browser pauses the shell (the SSH window then holds the target back).
import type { HttpRequest, HttpResponse, us_socket_context_t, WebSocket, WebSocketBehavior } from '@trufflesuite/uws-js-unofficial';
import { SgError } from '../../gateway/core/errors.js';
import type { Uws } from '../../gateway/core/uws.js';
import type { User } from '../../gateway/core/users.js';
import type { WebShell, WebShellRequest, WebTarget } from '../../gateway/ssh/web-shell.js';
import { ALL_ROLES, type Route, type ViewerContext } from './context.js';
import { onlyFields } from './fields.js';
import type { ViewerRequest } from './http-io.js';
import { onlyParams } from './live-routes.js';
import { badParam, errorOf, json, toJson } from './reply.js';
import type { ViewerSession } from './sessions.js';
import type { StreamGate } from './stream.js';
import { CLOSE_SESSION_ENDED } from './stream.js';
import { checkEvery, checkWsOrigin, socketDefaults, upgradeOrRefuse, wsOnlyRoute } from './ws-gate.js';

export const TERMINAL_PATH = '/api/terminal';

/** What the viewer needs of the SSH front end (gateway/ssh/index.ts SshFrontend). */
export interface WebTerminalProvider {
  targetsFor(user: User): WebTarget[];
  openWeb(req: WebShellRequest): Promise<WebShell>;
}

export interface TerminalOptions {
  /** Buffered bytes past which the shell is paused until the browser catches up (default 1 MB). */
  highWaterBytes?: number;
  /** How often open terminals re-check their viewer session and locks (default 10 s). */
  checkMs?: number;
}

const DEFAULTS = { highWaterBytes: 1024 * 1024, checkMs: 10_000 };
/** Keystrokes, pastes and resize messages; a bigger paste is split by the page. */
const MAX_MESSAGE_BYTES = 64 * 1024;
/** Input typed before the shell is up is kept, up to this much. */
const MAX_EARLY_INPUT = 64 * 1024;

interface Conn {
  ws?: WebSocket<{ conn: Conn }>;
  session: ViewerSession;
  user: User;
  ip: string;
  req: WebShellRequest;
  shell?: WebShell;
  early: Buffer[];
  earlyBytes: number;
  paused: boolean;
  closed: boolean;
}

export interface ViewerTerminal {
  behavior(uws: Uws): WebSocketBehavior<{ conn: Conn }>;
  size(): number;
  close(): void;
}

function intParam(params: URLSearchParams, name: string, fallback: number): number {
  const v = params.get(name);
  if (v === null || v === '') return fallback;
  if (!/^\d{1,5}$/.test(v)) throw badParam(name, 'must be a whole number');
  return Number(v);
}

export function createTerminal(ctx: ViewerContext, gate: StreamGate, opts: TerminalOptions = {}): ViewerTerminal {
  const { logger } = ctx.deps;
  const o = { ...DEFAULTS, ...opts };
  const conns = new Set<Conn>();
  let stopChecks = () => {};
  let closed = false;

  const provider = (): WebTerminalProvider => {
    const p = ctx.deps.webTerminal;
    if (!p) throw new SgError('SG_ERR_NOT_FOUND', 'no SSH listener: the web terminal is not available');
    return p;
  };
  const sendJson = (conn: Conn, msg: unknown) => {
    if (!conn.closed) conn.ws?.send(toJson(msg));
  };
  const end = (conn: Conn, code: number, reason: string) => {
    if (!conn.closed) conn.ws?.end(code, reason);
  };

  function admit(req: ViewerRequest): { data: { conn: Conn } } {
    if (closed) throw new SgError('SG_ERR_STORE_UNAVAILABLE', 'the viewer is closing');
    const { ip, secure, viaProxy } = gate.peerOf(req);
    checkWsOrigin(req, gate.ownOrigin(req, secure, viaProxy));
    const auth = gate.authenticate(req);
    if (!auth) throw new SgError('SG_ERR_AUTH_REQUIRED', 'sign in first (POST /api/login)');
    gate.authorize(auth, ip, ALL_ROLES);
    const q = onlyParams(req.query, ['server', 'account', 'cols', 'rows']);
    const server = q.get('server') ?? '';
    const account = q.get('account') ?? '';
    const target = provider()
      .targetsFor(auth.user)
      .find((t) => t.server.toLowerCase() === server.toLowerCase() && t.account.toLowerCase() === account.toLowerCase());
    if (!target) throw new SgError('SG_ERR_FORBIDDEN', 'you may not reach this target and account (see your SSH access)');
    const cols = intParam(q, 'cols', 80);
    const rows = intParam(q, 'rows', 24);
    const clientName = (req.headers.get('user-agent') ?? 'browser').slice(0, 255);
    const shellReq: WebShellRequest = { user: auth.user, server: target.server, account: target.account, ip, clientName, cols, rows };
    return { data: { conn: { session: auth.session, user: auth.user, ip, req: shellReq, early: [], earlyBytes: 0, paused: false, closed: false } } };
  }

  function open(conn: Conn): void {
    provider()
      .openWeb(conn.req)
      .then(
        (shell) => {
          if (conn.closed) return shell.close();
          conn.shell = shell;
          sendJson(conn, { op: 'ready', session_id: shell.sessionId });
          shell.onData((chunk) => {
            if (conn.closed || !conn.ws) return;
            conn.ws.send(chunk, true);
            if (!conn.paused && conn.ws.getBufferedAmount() > o.highWaterBytes) {
              conn.paused = true;
              shell.pause();
            }
          });
          shell.onEnd((r) => {
            sendJson(conn, { op: 'end', ...r });
            end(conn, 1000, 'session ended');
          });
          for (const b of conn.early.splice(0)) shell.write(b);
        },
        (e: unknown) => {
          sendJson(conn, { op: 'error', ...errorOf(e, logger).body });
          end(conn, 1011, 'session refused');
        },
      );
  }

  function onMessage(conn: Conn, data: ArrayBuffer, isBinary: boolean): void {
    // Copied now: uWS neuters the buffer when this callback returns.
    const buf = Buffer.from(data.slice(0));
    if (isBinary) {
      if (conn.shell) conn.shell.write(buf);
      else if (conn.earlyBytes + buf.length <= MAX_EARLY_INPUT) {
        conn.early.push(buf);
        conn.earlyBytes += buf.length;
      }
      return;
    }
    try {
      let msg: unknown;
      try {
        msg = JSON.parse(buf.toString('utf8'));
      } catch {
        throw new SgError('SG_ERR_BAD_REQUEST', 'the message is not valid JSON');
      }
      if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) throw new SgError('SG_ERR_BAD_REQUEST', 'the message must be a JSON object');
      const m = msg as Record<string, unknown>;
      if (m.op !== 'resize') throw badParam('op', 'use resize (terminal input goes in binary frames)');
      onlyFields(m, ['op', 'cols', 'rows']);
      if (!Number.isInteger(m.cols) || !Number.isInteger(m.rows)) throw badParam('cols', 'cols and rows must be whole numbers');
      conn.req.cols = m.cols as number;
      conn.req.rows = m.rows as number;
      conn.shell?.resize(m.cols as number, m.rows as number);
    } catch (e) {
      sendJson(conn, { op: 'error', ...errorOf(e, logger).body });
    }
  }

  /** The viewer session is still live and not locked; otherwise the terminal (and shell) end. */
  const recheck = (conn: Conn): void => {
    const auth = ctx.sessions.alive(conn.session) ? gate.sessionUser(conn.session) : undefined;
    try {
      if (!auth) throw new SgError('SG_ERR_AUTH_REQUIRED', 'session ended');
      gate.authorize(auth, conn.ip, ALL_ROLES);
    } catch {
      end(conn, CLOSE_SESSION_ENDED, 'session ended');
    }
  };

  return {
    behavior(uws) {
      stopChecks = checkEvery(conns, recheck, o.checkMs);
      return {
        ...socketDefaults(uws),
        maxPayloadLength: MAX_MESSAGE_BYTES,
        maxBackpressure: o.highWaterBytes * 4,
        upgrade: (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => upgradeOrRefuse(res, req, context, { tls: ctx.tls, logger }, admit),
        open: (ws) => {
          const conn = ws.getUserData().conn;
          conn.ws = ws;
          conns.add(conn);
          open(conn);
        },
        message: (ws, data, isBinary) => onMessage(ws.getUserData().conn, data, isBinary),
        drain: (ws) => {
          const conn = ws.getUserData().conn;
          if (conn.paused && ws.getBufferedAmount() < o.highWaterBytes / 2) {
            conn.paused = false;
            conn.shell?.resume();
          }
        },
        close: (ws) => {
          const conn = ws.getUserData().conn;
          conn.closed = true;
          conns.delete(conn);
          // The browser tab closed: the session ends like a client that hung up.
          conn.shell?.close();
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

/** `GET /api/terminal/targets` (what the signed-in user may open) and the 426 for a plain GET. */
export function terminalRoutes(ctx: ViewerContext): Route[] {
  return [
    {
      method: 'GET',
      path: `${TERMINAL_PATH}/targets`,
      access: ALL_ROLES,
      handler: ({ auth, req }) => {
        onlyParams(req.query, []);
        const p = ctx.deps.webTerminal;
        return json(200, { available: p !== undefined, items: p ? p.targetsFor(auth!.user) : [] });
      },
    },
    wsOnlyRoute(TERMINAL_PATH, ALL_ROLES, TERMINAL_PATH),
  ];
}
