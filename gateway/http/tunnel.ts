// Upgrades on the node engine: the request goes to the route's undici pool with `upgrade`
// set; on 101 the client socket and the upstream socket are piped both ways (WebSocket frames
// pass untouched, extensions included). Any other answer is written back on the raw socket as
// a normal response, and the connection closes after it.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { ErrorCode } from '../core/errors.js';
import { gatewayAnswer, TEXTS } from './pages.js';
import type { HeaderList, UpgradeExchange, UpgradeOutcome, UpgradePlan } from './engines/engine.js';
import { classifyUpstreamError, describeError } from './upstream-errors.js';

export interface TunnelTracker {
  readonly tunnels: Set<Duplex>;
}

/** Response fields not relayed on a non-101 answer (framing is redone: the body ends at close). */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length']);
/** Fields of a 101 answer not relayed (the handshake's own Connection / Upgrade stay). */
const HOP_101 = new Set(['keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'content-length']);

/** `HTTP/1.1 <status> <reason>` + headers + CRLF, as bytes (values kept as received). */
export function serializeHead(status: number, reason: string, headers: HeaderList): Buffer {
  const parts: Buffer[] = [Buffer.from(`HTTP/1.1 ${status} ${reason}\r\n`, 'latin1')];
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!;
    const v = headers[i + 1]!;
    parts.push(Buffer.from(`${typeof n === 'string' ? n : n.toString('latin1')}: `, 'latin1'), typeof v === 'string' ? Buffer.from(v, 'latin1') : v, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

export class NodeUpgrade implements UpgradeExchange, Dispatcher.DispatchHandler {
  onAborted?: () => void;
  private plan: UpgradePlan | undefined;
  private done: ((o: UpgradeOutcome) => void) | undefined;
  private abortUpstream: ((err?: Error) => void) | undefined;
  private resumeUpstream: (() => void) | undefined;
  private headWritten = false;
  private status = 0;
  private bytesOut = 0;
  private t0 = 0;
  private upstreamMs: number | undefined;
  private finished = false;
  private upgraded = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly socket: Duplex,
    private readonly clientHead: Buffer,
    private readonly tracker: TunnelTracker,
    private readonly logger: Logger,
  ) {
    socket.once('close', () => {
      if (this.finished || this.upgraded) return;
      this.abortUpstream?.(new Error('client aborted'));
      this.finished = true;
      this.onAborted?.();
    });
  }

  respond(status: number, reason: string, headers: HeaderList, body: Buffer): void {
    if (this.socket.destroyed) return;
    const all: HeaderList = [...headers, 'content-length', String(body.length), 'connection', 'close'];
    this.socket.end(Buffer.concat([serializeHead(status, reason, all), body]));
  }

  relay(plan: UpgradePlan, done: (o: UpgradeOutcome) => void): void {
    this.plan = plan;
    this.done = done;
    const te = this.req.headers['transfer-encoding'];
    const cl = this.req.headers['content-length'];
    if (plan.upgrade === undefined && (te !== undefined || (cl !== undefined && cl !== '0'))) {
      // A non-WebSocket upgrade with a body (h2c POST): not relayed on the raw path.
      return this.fail(400, 'SG_ERR_BAD_REQUEST', 'bad_request');
    }
    this.t0 = performance.now();
    plan.dispatcher.dispatch({ path: plan.path, method: this.req.method ?? 'GET', headers: plan.headers, body: null, upgrade: plan.upgrade ?? null }, this);
  }

  // ---- undici handler ----

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.finished) abort(new Error('client aborted'));
  }

  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, upstream: Duplex): void {
    const plan = this.plan!;
    const client = this.socket;
    this.upstreamMs = performance.now() - this.t0;
    if (this.finished || client.destroyed) {
      upstream.destroy();
      return;
    }
    this.upgraded = true;
    this.tracker.tunnels.add(upstream);
    upstream.once('close', () => this.tracker.tunnels.delete(upstream));
    const headers: HeaderList = [];
    const raw = rawHeaders ?? [];
    for (let i = 0; i < raw.length; i += 2) {
      const n = String(raw[i]);
      const lower = n.toLowerCase();
      if (HOP_101.has(lower) || plan.dropResponseHeaders.has(lower)) continue;
      headers.push(n, raw[i + 1] as Buffer | string);
    }
    client.write(serializeHead(statusCode, 'Switching Protocols', headers));
    if (this.clientHead.length > 0) upstream.write(this.clientHead);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('error', cut);
    client.on('error', cut);
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    this.finish({ status: statusCode, upstreamMs: this.upstreamMs });
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true;
    const plan = this.plan!;
    this.status = statusCode;
    this.upstreamMs = performance.now() - this.t0;
    this.resumeUpstream = resume;
    if (this.finished || this.socket.destroyed) return false;
    const headers: HeaderList = [];
    let length = -1;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const n = rawHeaders[i]!.toString('latin1');
      const lower = n.toLowerCase();
      if (lower === 'content-length') length = Number(rawHeaders[i + 1]!.toString('latin1'));
      if (HOP.has(lower) || plan.dropResponseHeaders.has(lower)) continue;
      headers.push(n, rawHeaders[i + 1]!);
    }
    const noBody = this.req.method === 'HEAD' || statusCode === 204 || statusCode === 304;
    if (!noBody && length >= 0) headers.push('content-length', String(length));
    headers.push('connection', 'close');
    this.headWritten = true;
    this.socket.write(serializeHead(statusCode, statusText || 'Unknown', headers));
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.finished || this.socket.destroyed) return true;
    this.bytesOut += chunk.length;
    if (this.socket.write(chunk)) return true;
    this.socket.once('drain', () => this.resumeUpstream?.());
    return false;
  }

  onComplete(): void {
    if (this.finished) return;
    this.socket.end();
    this.finish({ status: this.status, upstreamMs: this.upstreamMs, bytesOut: this.bytesOut });
  }

  onError(err: Error): void {
    if (this.finished) return;
    if (this.headWritten) {
      this.socket.destroy();
      this.finish({ status: this.status, error: 'upstream_aborted', upstreamMs: this.upstreamMs, bytesOut: this.bytesOut });
      return;
    }
    const f = classifyUpstreamError(err);
    this.logger.debug({ err: describeError(err) }, 'upstream upgrade failed');
    this.fail(f.status, f.code, f.error);
  }

  private fail(status: number, code: ErrorCode, error: 'bad_request' | 'upstream_timeout' | 'upstream_unavailable'): void {
    const a = gatewayAnswer(this.plan?.source ?? 'WEB', status, code, TEXTS[error]);
    this.respond(a.status, a.reason, a.headers, a.body);
    this.finish({ status, error, bytesOut: a.body.length });
  }

  private finish(o: UpgradeOutcome): void {
    if (this.finished) return;
    this.finished = true;
    const d = this.done;
    this.done = undefined;
    d?.(o);
  }
}
