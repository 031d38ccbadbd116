// The node:http / node:https engine (fallback, `engine: node`). node's parser (llhttp) is strict
// already; the same head validation runs above it anyway. Timeouts and size limits come from the
// listener config so hostile clients are cut by the config's header_timeout (slowloris).
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { SgError } from '../../core/errors.js';
import type { BoundAddress } from '../../core/frontend.js';
import { NodeUpgrade, type TunnelTracker } from '../tunnel.js';
import type { BodyListener, Engine, EngineHandlers, HeaderList, RequestHead, ServerExchange } from './engine.js';

export interface NodeEngineOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer; passphrase?: string };
  limits: { maxHeaderBytes: number; maxUrlBytes: number; maxHeaders: number; headerTimeoutMs: number };
  handlers: EngineHandlers;
  logger: Logger;
  /** A request node's parser refused before the proxy saw it (counted by the proxy). */
  onParserRefusal: (reason: string) => void;
}

/** Longest a whole request (head and body) may take on this engine; uploads slower than this are cut. */
export const NODE_REQUEST_TIMEOUT_MS = 3_600_000;

const EMPTY = Buffer.alloc(0);

function str(v: string | Buffer): string {
  return typeof v === 'string' ? v : v.toString('latin1');
}

export function headFromIncoming(req: http.IncomingMessage): RequestHead {
  const raw = req.rawHeaders;
  const headers: string[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i += 2) {
    headers[i] = raw[i]!.toLowerCase();
    headers[i + 1] = raw[i + 1]!;
  }
  return { method: req.method ?? '', target: req.url ?? '', headers, peer: req.socket.remoteAddress ?? '' };
}

class NodeExchange implements ServerExchange {
  listener!: BodyListener;
  done = false;
  private pending: { status: number; reason: string; headers: HeaderList; total: number; noBody: boolean; reported: number } | undefined;
  private drainArmed = false;
  private readonly onDrain = () => {
    this.drainArmed = false;
    if (!this.done) this.listener.onWritable();
  };

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
  ) {}

  pauseBody(): void {
    this.req.pause();
  }

  resumeBody(): void {
    this.req.resume();
  }

  head(status: number, reason: string, headers: HeaderList, bodyLength: number, noBody: boolean, reportedLength: number): void {
    this.pending = { status, reason, headers, total: bodyLength, noBody, reported: reportedLength };
  }

  flushHead(): void {
    if (this.done || this.pending === undefined) return;
    this.writeHead();
    this.res.flushHeaders();
  }

  write(chunk: Buffer): boolean {
    if (this.done) return true;
    if (this.pending !== undefined) this.writeHead();
    const ok = this.res.write(chunk);
    if (!ok && !this.drainArmed) {
      this.drainArmed = true;
      this.res.once('drain', this.onDrain);
    }
    return ok;
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    if (this.pending !== undefined) this.writeHead();
    this.res.end();
  }

  respond(status: number, reason: string, headers: HeaderList, body: Buffer, close: boolean): void {
    if (this.done) return;
    this.done = true;
    const list: string[] = [];
    for (let i = 0; i < headers.length; i += 2) list.push(str(headers[i]!), str(headers[i + 1]!));
    list.push('content-length', String(body.length));
    if (close) list.push('connection', 'close');
    this.res.writeHead(status, reason, list);
    this.res.end(body);
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    this.res.destroy();
  }

  /** The response closed before it finished: the client went away. */
  closed(): void {
    if (this.done || this.res.writableFinished) return;
    this.done = true;
    this.listener?.onAborted();
  }

  private writeHead(): void {
    const p = this.pending!;
    this.pending = undefined;
    const list: string[] = [];
    let hasDate = false;
    const h = p.headers;
    for (let i = 0; i < h.length; i += 2) {
      const n = str(h[i]!);
      if (!hasDate && n.length === 4 && n.toLowerCase() === 'date') hasDate = true;
      list.push(n, str(h[i + 1]!));
    }
    if (!p.noBody && p.total >= 0) list.push('content-length', String(p.total));
    else if (p.noBody && p.reported >= 0) list.push('content-length', String(p.reported));
    // The upstream's Date is passed on; node adds one only when the upstream sent none.
    this.res.sendDate = !hasDate;
    try {
      this.res.writeHead(p.status, p.reason, list);
    } catch {
      // An upstream header node refuses to send (invalid chars): drop those fields, keep the answer.
      this.res.writeHead(p.status, p.reason, validOnly(list));
    }
  }
}

function validOnly(list: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    try {
      http.validateHeaderName(list[i]!);
      http.validateHeaderValue(list[i]!, list[i + 1]!);
      out.push(list[i]!, list[i + 1]!);
    } catch {
      /* dropped */
    }
  }
  return out;
}

export class NodeEngine implements Engine, TunnelTracker {
  readonly kind = 'node' as const;
  readonly addsDate = false;
  readonly tunnels = new Set<Duplex>();
  private readonly server: http.Server;
  private closed = false;

  constructor(private readonly o: NodeEngineOptions) {
    const l = o.limits;
    const opts: http.ServerOptions = {
      // A backstop only: the exact 414 / 431 limits are checked above the engine.
      maxHeaderSize: l.maxHeaderBytes + l.maxUrlBytes + 1024,
      headersTimeout: l.headerTimeoutMs,
      requestTimeout: Math.max(l.headerTimeoutMs, NODE_REQUEST_TIMEOUT_MS),
      connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(l.headerTimeoutMs / 4))),
      keepAliveTimeout: 5_000,
      joinDuplicateHeaders: false,
      requireHostHeader: true,
      insecureHTTPParser: false,
      noDelay: true,
    };
    this.server = o.tls ? https.createServer({ ...opts, cert: o.tls.cert, key: o.tls.key, passphrase: o.tls.passphrase }) : http.createServer(opts);
    // One more than allowed, so "too many" is seen (node silently drops fields past this count).
    this.server.maxHeadersCount = l.maxHeaders + 1;
    this.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket));
    this.server.on('tlsClientError', (err: Error) => o.logger.debug({ err: err.message }, 'TLS handshake failed'));
  }

  listen(): Promise<BoundAddress> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(new SgError('SG_ERR_LISTEN', `cannot listen on ${this.o.host}:${this.o.port}: ${e.message}`, { cause: e }));
      this.server.once('error', onError);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', onError);
        this.server.on('error', (e) => this.o.logger.error({ err: e.message }, 'http server error'));
        const a = this.server.address();
        const port = typeof a === 'object' && a ? a.port : this.o.port;
        resolve({ host: this.o.host, port, tls: !!this.o.tls });
      });
    });
  }

  stopAccepting(): void {
    if (this.server.listening) this.server.close();
    this.server.closeIdleConnections();
  }

  closeAll(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopAccepting();
    this.server.closeAllConnections();
    for (const s of this.tunnels) s.destroy();
    this.tunnels.clear();
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const head = headFromIncoming(req);
    const ex = new NodeExchange(req, res);
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    res.on('close', () => ex.closed());
    const cl = req.headers['content-length'];
    const expectsBody = req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
    if (expectsBody) {
      req.on('data', (c: Buffer) => ex.listener.onBody(c, false));
      req.on('end', () => ex.listener.onBody(EMPTY, true));
    }
    ex.listener = this.o.handlers.request(head, ex, expectsBody);
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.tunnels.add(socket);
    socket.once('close', () => this.tunnels.delete(socket));
    socket.on('error', () => undefined);
    (socket as Socket).setNoDelay?.(true);
    this.o.handlers.upgrade(headFromIncoming(req), new NodeUpgrade(req, socket, head, this, this.o.logger));
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable) {
      socket.destroy();
      return;
    }
    let status = 400;
    let reason = 'bad_request';
    if (code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      reason = 'header_too_large';
    } else if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT') {
      status = 408;
      reason = 'header_timeout';
    } else if (code === 'HPE_UNEXPECTED_CONTENT_LENGTH' || code === 'HPE_INVALID_TRANSFER_ENCODING' || code === 'HPE_INVALID_CONTENT_LENGTH') {
      reason = 'smuggling';
    }
    this.o.onParserRefusal(reason);
    this.o.logger.debug({ code, reason }, 'request refused by the parser');
    const text = http.STATUS_CODES[status] ?? 'Bad Request';
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`, () => socket.destroy());
  }
}
