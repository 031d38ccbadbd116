// WebSocket relay for the uWS engine. uWS terminates WebSockets itself (no raw socket access),
// so the gateway terminates both sides: uWS towards the client, the `ws` package towards the
// upstream, and relays messages (text/binary kept), close codes, and backpressure: a slow
// client pauses reading from the upstream (getBufferedAmount / drain). uWS 20.30 cannot pause
// reading from a client, so a client flooding a slow upstream is closed with 1013 past a bound.
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { HttpRequest, HttpResponse, us_socket_context_t, WebSocket, WebSocketBehavior } from '@trufflesuite/uws-js-unofficial';
import type { Logger } from 'pino';
import type { Uws } from '../core/uws.js';
import { gatewayAnswer, reasonPhrase, TEXTS } from './pages.js';
import type { HeaderList, RequestHead, UpgradeExchange, UpgradeOutcome, UpgradePlan } from './engines/engine.js';
import { describeError } from './upstream-errors.js';

/** The slice of the `ws` client API used here (the package ships no types; @types/ws is not installed). */
interface WsClient extends EventEmitter {
  readonly protocol: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  readonly isPaused: boolean;
  send(data: Buffer, opts: { binary: boolean }, cb?: (err?: Error) => void): void;
  close(code?: number, reason?: string | Buffer): void;
  terminate(): void;
  pause(): void;
  resume(): void;
}
interface WsClientCtor {
  new (
    url: string,
    protocols: string[],
    opts: { headers: Record<string, string>; perMessageDeflate: false; handshakeTimeout?: number; maxPayload: number; followRedirects: false },
  ): WsClient;
}
const WsCtor = createRequire(import.meta.url)('ws') as WsClientCtor;

/** Largest message either way (uWS closes the client beyond it; `ws` closes the upstream with 1009). */
export const WS_MAX_PAYLOAD = 16 * 1024 * 1024;
/** Client-side buffered bytes above which reading from the upstream pauses, and below which it resumes. */
const CLIENT_HIGH_WATER = 1024 * 1024;
const CLIENT_LOW_WATER = 256 * 1024;
/** Bytes queued towards a slow upstream before the client is closed (uWS cannot pause a WebSocket reader). */
const UPSTREAM_MAX_BUFFERED = 16 * 1024 * 1024;
/** A non-101 answer to a handshake is relayed up to this size (they are error pages). */
const MAX_REFUSAL_BODY = 1024 * 1024;

const OPEN = 1;

/** Request headers the `ws` client sets itself (and compression stays off on both sides). */
const WS_OWN = new Set(['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol']);
/** Upstream 101 headers not copied to the client's 101 (uWS writes its own handshake fields). */
const WS_101_DROP = new Set(['connection', 'upgrade', 'sec-websocket-accept', 'sec-websocket-extensions', 'sec-websocket-protocol', 'date', 'keep-alive', 'content-length', 'transfer-encoding']);
/** Headers of a refused handshake's answer that are not relayed (framing is redone). */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'date']);

export interface RelayTracker {
  readonly relays: Set<{ cut(): void }>;
}

/** Close codes that may be sent in a close frame (RFC 6455 7.4). */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

interface UserData {
  relay: WsRelay;
}

/** One relayed WebSocket: uWS client side + `ws` upstream side. */
class WsRelay {
  client: WebSocket<UserData> | undefined = undefined;
  private clientClosed = false;
  private upstreamClosed = false;
  private pending: [Buffer, boolean][] = [];

  constructor(
    readonly upstream: WsClient,
    private readonly tracker: RelayTracker,
    private readonly logger: Logger,
  ) {
    tracker.relays.add(this);
    upstream.on('message', (data: Buffer, isBinary: boolean) => this.fromUpstream(data, isBinary));
    upstream.on('close', (code: number, reason: Buffer) => this.upstreamClose(code, reason));
    upstream.on('error', (err: Error) => {
      this.logger.debug({ err: describeError(err) }, 'upstream websocket error');
      if (!this.clientClosed && this.client) {
        this.clientClosed = true;
        this.client.end(1011, 'upstream error');
      }
    });
  }

  clientOpen(ws: WebSocket<UserData>): void {
    this.client = ws;
    const p = this.pending;
    this.pending = [];
    for (const [d, b] of p) this.fromUpstream(d, b);
  }

  fromClient(msg: ArrayBuffer, isBinary: boolean): void {
    if (this.upstreamClosed || this.upstream.readyState !== OPEN) return;
    this.upstream.send(Buffer.from(new Uint8Array(msg)), { binary: isBinary });
    if (this.upstream.bufferedAmount > UPSTREAM_MAX_BUFFERED && !this.clientClosed && this.client) {
      this.clientClosed = true;
      this.client.end(1013, 'upstream too slow');
      this.upstream.close(1001);
    }
  }

  clientDrain(): void {
    const c = this.client;
    if (c && this.upstream.isPaused && c.getBufferedAmount() < CLIENT_LOW_WATER) this.upstream.resume();
  }

  clientClose(code: number, message: ArrayBuffer): void {
    this.clientClosed = true;
    this.tracker.relays.delete(this);
    if (this.upstreamClosed) return;
    this.upstreamClosed = true;
    const up = this.upstream;
    if (up.readyState !== OPEN) return up.terminate();
    // 1006 (no close frame) is mirrored by dropping the upstream connection the same way.
    if (code === 1006) up.terminate();
    else if (sendable(code)) up.close(code, Buffer.from(new Uint8Array(message)));
    else up.close();
  }

  /** Shutdown: both sides are told the gateway is going away. */
  cut(): void {
    this.tracker.relays.delete(this);
    if (!this.upstreamClosed) {
      this.upstreamClosed = true;
      if (this.upstream.readyState === OPEN) this.upstream.close(1001, 'gateway shutting down');
      else this.upstream.terminate();
    }
    if (!this.clientClosed && this.client) {
      this.clientClosed = true;
      this.client.end(1001, 'gateway shutting down');
    }
  }

  private fromUpstream(data: Buffer, isBinary: boolean): void {
    const c = this.client;
    if (this.clientClosed) return;
    if (c === undefined) {
      this.pending.push([data, isBinary]);
      return;
    }
    const r = c.send(data, isBinary);
    if (r === 2) {
      // Dropped by uWS (its backpressure limit): never lose data silently.
      this.clientClosed = true;
      c.end(1011, 'client too slow');
      this.upstream.close(1001);
      return;
    }
    if (c.getBufferedAmount() > CLIENT_HIGH_WATER && !this.upstream.isPaused) this.upstream.pause();
  }

  private upstreamClose(code: number, reason: Buffer): void {
    this.upstreamClosed = true;
    this.tracker.relays.delete(this);
    const c = this.client;
    if (this.clientClosed || c === undefined) return;
    this.clientClosed = true;
    if (code === 1006) c.close();
    else if (sendable(code)) c.end(code, reason);
    else c.end();
  }
}

/** The uWS `ws()` behavior: upgrades go to the proxy, open sockets to their relay. */
export function wsBehavior(uws: Uws, upgrade: (res: HttpResponse, req: HttpRequest, ctx: us_socket_context_t) => void, logger: Logger): WebSocketBehavior<UserData> {
  return {
    compression: uws.DISABLED,
    maxPayloadLength: WS_MAX_PAYLOAD,
    // uWS pings an idle client every ~idleTimeout s and closes it when pongs stop.
    idleTimeout: 120,
    sendPingsAutomatically: true,
    maxBackpressure: 64 * 1024 * 1024,
    upgrade,
    open: (ws) => ws.getUserData().relay.clientOpen(ws),
    message: (ws, msg, isBinary) => ws.getUserData().relay.fromClient(msg, isBinary),
    drain: (ws) => ws.getUserData().relay.clientDrain(),
    close: (ws, code, msg) => {
      try {
        ws.getUserData().relay.clientClose(code, msg);
      } catch (e) {
        logger.debug({ err: describeError(e) }, 'websocket close');
      }
    },
  };
}

function headerObject(flat: readonly string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const n = flat[i]!;
    if (WS_OWN.has(n)) continue;
    const v = flat[i + 1]!;
    const prev = o[n];
    o[n] = prev === undefined ? v : `${prev}${n === 'cookie' ? '; ' : ', '}${v}`;
  }
  return o;
}

function headerOf(head: RequestHead, name: string): string | undefined {
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
  return undefined;
}

/** A uWS upgrade request waiting for the proxy's decision and then for the upstream handshake. */
export class UwsUpgrade implements UpgradeExchange {
  onAborted?: () => void;
  private aborted = false;
  private responded = false;
  private upstream: WsClient | undefined;
  private outcome: ((o: UpgradeOutcome) => void) | undefined;
  private plan: UpgradePlan | undefined;
  private readonly cutter = { cut: () => this.cut() };

  constructor(
    private readonly res: HttpResponse,
    private readonly context: us_socket_context_t,
    private readonly head: RequestHead,
    private readonly tracker: RelayTracker,
    private readonly logger: Logger,
  ) {}

  respond(status: number, reason: string, headers: HeaderList, body: Buffer): void {
    if (this.aborted || this.responded) return;
    this.responded = true;
    const res = this.res;
    res.cork(() => {
      res.writeStatus(`${status} ${reason}`);
      for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!);
      res.end(body, true);
    });
  }

  relay(plan: UpgradePlan, done: (o: UpgradeOutcome) => void): void {
    this.outcome = done;
    this.plan = plan;
    const t0 = performance.now();
    const url = (plan.origin.startsWith('https:') ? 'wss:' : 'ws:') + plan.origin.slice(plan.origin.indexOf('//')) + plan.path;
    const protoHeader = headerOf(this.head, 'sec-websocket-protocol');
    const protocols = protoHeader ? protoHeader.split(',').map((p) => p.trim()).filter((p) => p.length > 0) : [];
    let up: WsClient;
    try {
      up = new WsCtor(url, protocols, {
        headers: headerObject(plan.headers),
        perMessageDeflate: false,
        handshakeTimeout: plan.connectTimeoutMs + plan.headersTimeoutMs || undefined,
        maxPayload: WS_MAX_PAYLOAD,
        followRedirects: false,
      });
    } catch (e) {
      // Invalid subprotocol list and the like: the client's request is at fault.
      this.logger.debug({ err: describeError(e) }, 'websocket handshake refused');
      this.answer(400, 'SG_ERR_BAD_REQUEST', 'bad_request');
      return;
    }
    this.upstream = up;
    this.tracker.relays.add(this.cutter);
    let upgradeRes: IncomingMessage | undefined;
    up.on('upgrade', (r: IncomingMessage) => {
      upgradeRes = r;
    });
    up.once('open', () => {
      this.tracker.relays.delete(this.cutter);
      if (this.aborted || this.responded) {
        up.terminate();
        return;
      }
      this.responded = true;
      const relay = new WsRelay(up, this.tracker, this.logger);
      const key = headerOf(this.head, 'sec-websocket-key') ?? '';
      const ext = headerOf(this.head, 'sec-websocket-extensions') ?? '';
      const res = this.res;
      res.cork(() => {
        res.writeStatus('101 Switching Protocols');
        const raw = upgradeRes?.rawHeaders ?? [];
        for (let i = 0; i < raw.length; i += 2) {
          const n = raw[i]!.toLowerCase();
          if (WS_101_DROP.has(n) || plan.dropResponseHeaders.has(n)) continue;
          res.writeHeader(raw[i]!, raw[i + 1]!);
        }
        res.upgrade<UserData>({ relay }, key, up.protocol, ext, this.context);
      });
      this.finish({ status: 101, upstreamMs: performance.now() - t0 });
    });
    up.on('unexpected-response', (req: { destroy(): void }, r: IncomingMessage) => this.relayRefusal(req, r, plan, t0));
    up.on('error', (err: Error) => {
      if (this.responded || this.aborted) return;
      const timeout = /timed out/i.test(err.message) || (err as { code?: string }).code === 'ETIMEDOUT';
      this.logger.debug({ err: describeError(err) }, 'upstream websocket handshake failed');
      if (timeout) this.answer(504, 'SG_ERR_UPSTREAM_TIMEOUT', 'upstream_timeout');
      else this.answer(502, 'SG_ERR_UPSTREAM_UNAVAILABLE', 'upstream_unavailable');
    });
  }

  /** uWS: the client left during the handshake. */
  clientAborted(): void {
    if (this.aborted || this.responded) return;
    this.aborted = true;
    this.tracker.relays.delete(this.cutter);
    this.upstream?.terminate();
    this.onAborted?.();
  }

  private cut(): void {
    this.tracker.relays.delete(this.cutter);
    this.upstream?.terminate();
  }

  /** The upstream answered the handshake with a normal response: the client gets it as is. */
  private relayRefusal(req: { destroy(): void }, r: IncomingMessage, plan: UpgradePlan, t0: number): void {
    const chunks: Buffer[] = [];
    let size = 0;
    r.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_REFUSAL_BODY) chunks.push(c);
    });
    r.on('error', () => undefined);
    r.on('end', () => {
      req.destroy();
      this.upstream?.terminate();
      this.tracker.relays.delete(this.cutter);
      if (this.aborted || this.responded) return;
      const status = r.statusCode ?? 502;
      const headers: HeaderList = [];
      const raw = r.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        const n = raw[i]!.toLowerCase();
        if (HOP.has(n) || plan.dropResponseHeaders.has(n)) continue;
        headers.push(raw[i]!, Buffer.from(raw[i + 1]!, 'latin1'));
      }
      if (size > MAX_REFUSAL_BODY) return this.answer(502, 'SG_ERR_UPSTREAM_UNAVAILABLE', 'upstream_unavailable');
      const body = Buffer.concat(chunks);
      this.respond(status, r.statusMessage || reasonPhrase(status), headers, body);
      this.finish({ status, upstreamMs: performance.now() - t0, bytesOut: body.length });
    });
  }

  private answer(status: number, code: 'SG_ERR_BAD_REQUEST' | 'SG_ERR_UPSTREAM_TIMEOUT' | 'SG_ERR_UPSTREAM_UNAVAILABLE', error: 'bad_request' | 'upstream_timeout' | 'upstream_unavailable'): void {
    this.tracker.relays.delete(this.cutter);
    const a = gatewayAnswer(this.plan?.source ?? 'WEB', status, code, TEXTS[error]);
    this.respond(a.status, a.reason, a.headers, a.body);
    this.finish({ status, error, bytesOut: a.body.length });
  }

  private finish(o: UpgradeOutcome): void {
    const f = this.outcome;
    this.outcome = undefined;
    f?.(o);
  }
}
