// What every viewer WebSocket shares: the handshake is admitted as an HTTP request is (session
// cookie, locks, roles) and must also carry our own Origin, since a browser lets any page open a
// WebSocket with the viewer's cookie; a refused handshake is an ordinary JSON error answer.
import type { HttpRequest, HttpResponse, us_socket_context_t } from '@trufflesuite/uws-js-unofficial';
import { SgError } from '../../gateway/core/errors.js';
import type { Logger } from '../../gateway/core/runtime.js';
import { checkSameOrigin } from './guards.js';
import { snapshotRequest, writeReply, type ViewerRequest } from './http-io.js';
import { errorReply } from './reply.js';

/** WebSocket handshakes must come from the viewer's own pages: Origin is required, and same. */
export function checkWsOrigin(req: ViewerRequest, expected: string | undefined): void {
  if (req.headers.get('origin') === undefined) throw new SgError('SG_ERR_CSRF', 'WebSocket handshake without Origin refused');
  checkSameOrigin(req, expected);
}

/** Upgrades with `admit`'s user data, or answers with the SgError it throws. */
export function upgradeOrRefuse<T>(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, o: { tls: boolean; logger: Logger }, admit: (req: ViewerRequest) => T): void {
  const state = { aborted: false };
  try {
    const snapshot = snapshotRequest(res, req);
    const data = admit(snapshot);
    const h = snapshot.headers;
    res.upgrade<T>(data, h.get('sec-websocket-key') ?? '', h.get('sec-websocket-protocol') ?? '', h.get('sec-websocket-extensions') ?? '', context);
  } catch (e) {
    writeReply(res, state, { ...errorReply(e, o.logger), close: true }, { tls: o.tls, head: false });
  }
}
