// What every viewer WebSocket shares: the handshake is admitted as an HTTP request is (session
// cookie, locks, roles) and must also carry our own Origin, since a browser lets any page open a
// WebSocket with the viewer's cookie; a refused handshake is an ordinary JSON error answer.
import type { HttpRequest, HttpResponse, us_socket_context_t } from '@trufflesuite/uws-js-unofficial';
import { SgError } from '../../gateway/core/errors.js';
import type { Logger } from '../../gateway/core/runtime.js';
import type { Uws } from '../../gateway/core/uws.js';
import type { Access, Route } from './context.js';
import { checkSameOrigin } from './guards.js';
import { snapshotRequest, writeReply, type ViewerRequest } from './http-io.js';
import { errorReply } from './reply.js';

/** WebSocket handshakes must come from the viewer's own pages: Origin is required, and same. */
export function checkWsOrigin(req: ViewerRequest, expected: string | undefined): void {
  if (req.headers.get('origin') === undefined) throw new SgError('SG_ERR_CSRF', 'WebSocket handshake without Origin refused');
  checkSameOrigin(req, expected);
}

/** What a handshake admits: the socket's user data and, if one was chosen, its subprotocol. */
export interface Admitted<T> {
  data: T;
  /** The one subprotocol chosen (never the client's whole list), or none. */
  protocol?: string;
}

/** Upgrades with what `admit` returns, or answers with the SgError it throws. */
export function upgradeOrRefuse<T>(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, o: { tls: boolean; logger: Logger }, admit: (req: ViewerRequest) => Admitted<T>): void {
  const state = { aborted: false };
  try {
    const snapshot = snapshotRequest(res, req);
    const { data, protocol } = admit(snapshot);
    const h = snapshot.headers;
    res.upgrade<T>(data, h.get('sec-websocket-key') ?? '', protocol ?? '', h.get('sec-websocket-extensions') ?? '', context);
  } catch (e) {
    writeReply(res, state, { ...errorReply(e, o.logger), close: true }, { tls: o.tls, head: false });
  }
}

/** Settings every viewer WebSocket shares: no compression, pings, 2 minutes of silence at most. */
export function socketDefaults(uws: Uws) {
  return { compression: uws.DISABLED, idleTimeout: 120, sendPingsAutomatically: true } as const;
}

/** Runs `check` on every open socket every `ms` (sessions end, locks apply); returns the stop. */
export function checkEvery<C>(conns: Set<C>, check: (conn: C) => void, ms: number): () => void {
  const timer = setInterval(() => {
    for (const conn of conns) check(conn);
  }, ms);
  timer.unref();
  return () => clearInterval(timer);
}

/** A plain GET of a WebSocket endpoint: 426, naming the docs section. */
export function wsOnlyRoute(path: string, access: Access, doc: string): Route {
  return {
    method: 'GET',
    path,
    access,
    handler: () => {
      throw new SgError('SG_ERR_BAD_REQUEST', `this is a WebSocket endpoint (see docs/api.md "${doc}")`, { status: 426 });
    },
  };
}
