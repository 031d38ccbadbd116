// The uWebSockets.js engine (default): one App/SSLApp per listener, every request through one
// `any('/*')` handler, WebSocket upgrades through `ws('/*')`. uWS hands out request data only
// during the handler call, so the head is copied out at once; response writes from undici
// callbacks are corked (head + first chunk in one syscall); fixed-length bodies stream with
// tryEnd() and its retry-on-writable protocol, unknown lengths with write() (chunked).
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t } from '@trufflesuite/uws-js-unofficial';
import type { Logger } from 'pino';
import { SgError } from '../../core/errors.js';
import type { BoundAddress } from '../../core/frontend.js';
import { loadUws, type Uws } from '../../core/uws.js';
import { reasonPhrase } from '../pages.js';
import { UwsUpgrade, wsBehavior, type RelayTracker } from '../ws-relay.js';
import type { BodyListener, Engine, EngineHandlers, HeaderList, RequestHead, ServerExchange } from './engine.js';

export interface UwsEngineOptions {
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string; passphrase?: string };
  handlers: EngineHandlers;
  logger: Logger;
}

const EMPTY = Buffer.alloc(0);
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * uWS decodes header values and URLs as UTF-8 into JS strings; the proxy works on byte strings
 * (one char per byte, like node:http) so the upstream gets the bytes the client sent.
 */
function bytes(s: string): string {
  return NON_ASCII.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s;
}

// req.forEach target without a closure per request; it also notes whether a body is announced.
let sink: string[] = [];
let sinkBody = false;
function collect(k: string, v: string): void {
  sink.push(k, bytes(v));
  if ((k === 'content-length' && v !== '0') || k === 'transfer-encoding') sinkBody = true;
}

// Peer address text by binary address. uWS asks the kernel (getpeername) on every call and has no
// per-connection handle in JS to cache it on, so the cheaper binary form is read and its text,
// formatted once per address, is looked up. Bounded: a flood of distinct peers only resets it.
const PEER_CACHE_MAX = 4096;
const peersV4 = new Map<number, string>();
const peersOther = new Map<string, string>();

function peerText(res: HttpResponse): string {
  const ab = res.getRemoteAddress();
  if (ab.byteLength === 4) {
    const b = new Uint8Array(ab);
    const key = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    let t = peersV4.get(key);
    if (t === undefined) {
      t = `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
      if (peersV4.size >= PEER_CACHE_MAX) peersV4.clear();
      peersV4.set(key, t);
    }
    return t;
  }
  if (ab.byteLength === 0) return '';
  const key = Buffer.from(ab).toString('latin1');
  let t = peersOther.get(key);
  if (t === undefined) {
    t = Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
    if (peersOther.size >= PEER_CACHE_MAX) peersOther.clear();
    peersOther.set(key, t);
  }
  return t;
}

/** Copies the request head out of uWS (valid only during the handler call). */
export function readHead(res: HttpResponse, req: HttpRequest): { head: RequestHead; expectsBody: boolean } {
  const headers: string[] = [];
  sink = headers;
  sinkBody = false;
  req.forEach(collect);
  sink = [];
  const expectsBody = sinkBody;
  const url = req.getUrl();
  const q = req.getQuery() as string | undefined;
  const target = bytes(q ? `${url}?${q}` : url);
  return { head: { method: req.getCaseSensitiveMethod(), target, headers, peer: peerText(res) }, expectsBody };
}

// Status lines by status, with the standard reason phrase they were made from.
const STATUS_LINES = new Map<number, { line: string; reason: string }>();
function statusLine(status: number, reason: string): string {
  let s = STATUS_LINES.get(status);
  if (s === undefined) {
    const std = reasonPhrase(status);
    s = { line: `${status} ${std}`, reason: std };
    STATUS_LINES.set(status, s);
  }
  // A custom reason phrase from the upstream is kept (rare: no cache).
  return reason === s.reason ? s.line : `${status} ${reason}`;
}

// Cork callbacks without a closure per call: the operation and its argument sit here.
const OP_WRITE = 1;
const OP_END = 2;
const OP_FLUSH = 3;
let corkX: UwsExchange | undefined;
let corkOp = 0;
let corkChunk: Buffer = EMPTY;
let corkResult = true;
function corked(): void {
  corkResult = corkX!.run(corkOp, corkChunk);
}

class UwsExchange implements ServerExchange {
  listener!: BodyListener;
  /** The response is complete or the connection gone: `res` must not be touched. */
  done = false;
  private status = 200;
  private reason = 'OK';
  private headers: HeaderList = [];
  private headPending = false;
  private total = -1;
  private noBody = false;
  private reported = -1;
  private retry: Buffer | undefined = undefined;
  private retryOffset = 0;
  private writableArmed = false;

  constructor(private readonly res: HttpResponse) {}

  pauseBody(): void {
    if (!this.done) this.res.pause();
  }

  resumeBody(): void {
    if (!this.done) this.res.resume();
  }

  head(status: number, reason: string, headers: HeaderList, bodyLength: number, noBody: boolean, reportedLength: number): void {
    this.status = status;
    this.reason = reason;
    this.headers = headers;
    this.total = bodyLength;
    this.noBody = noBody;
    this.reported = reportedLength;
    this.headPending = true;
  }

  flushHead(): void {
    // Only a fixed-length head can be sent alone (tryEnd with no bytes); a chunked one waits for data.
    if (this.done || !this.headPending || this.noBody || this.total < 0) return;
    this.cork(OP_FLUSH, EMPTY);
  }

  write(chunk: Buffer): boolean {
    if (this.done) return true;
    return this.cork(OP_WRITE, chunk);
  }

  end(): void {
    if (this.done) return;
    this.cork(OP_END, EMPTY);
  }

  respond(status: number, reason: string, headers: HeaderList, body: Buffer, close: boolean): void {
    if (this.done) return;
    this.done = true;
    const res = this.res;
    res.cork(() => {
      res.writeStatus(statusLine(status, reason));
      for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!);
      res.end(body, close);
    });
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    this.res.close();
  }

  /** Called by uWS when the client disappears. */
  aborted(): void {
    // After abort() (our own cut) uWS still calls this: the proxy already knows.
    if (this.done) return;
    this.done = true;
    this.listener?.onAborted();
  }

  /** Runs inside res.cork(). */
  run(op: number, chunk: Buffer): boolean {
    const res = this.res;
    if (this.headPending) this.writeHead();
    if (op === OP_WRITE) {
      if (this.noBody) return true;
      if (this.total >= 0) {
        const offset = res.getWriteOffset();
        const [ok, done] = res.tryEnd(chunk, this.total);
        if (done) {
          this.done = true;
          return true;
        }
        if (!ok) {
          this.retry = chunk;
          this.retryOffset = offset;
          this.armWritable();
        }
        return ok;
      }
      const ok = res.write(chunk);
      if (!ok) this.armWritable();
      return ok;
    }
    if (op === OP_FLUSH) {
      const [, done] = res.tryEnd(EMPTY, this.total);
      if (done) this.done = true;
      return true;
    }
    // OP_END
    this.done = true;
    if (this.noBody) res.endWithoutBody();
    else if (this.total > 0) res.close(); // fewer bytes than announced: the client must see a cut
    else res.end();
    return true;
  }

  private cork(op: number, chunk: Buffer): boolean {
    corkX = this;
    corkOp = op;
    corkChunk = chunk;
    this.res.cork(corked);
    corkX = undefined;
    corkChunk = EMPTY;
    return corkResult;
  }

  private writeHead(): void {
    const res = this.res;
    this.headPending = false;
    res.writeStatus(statusLine(this.status, this.reason));
    const h = this.headers;
    for (let i = 0; i < h.length; i += 2) res.writeHeader(h[i]!, h[i + 1]!);
    // uWS would send a body for HEAD if asked to frame one: the length is written by hand instead.
    if (this.noBody && this.reported >= 0) res.writeHeader('content-length', String(this.reported));
  }

  private armWritable(): void {
    if (this.writableArmed) return;
    this.writableArmed = true;
    this.res.onWritable((offset) => this.writable(offset));
  }

  private writable(offset: number): boolean {
    if (this.done) return true;
    const r = this.retry;
    if (r !== undefined) {
      const [ok, done] = this.res.tryEnd(r.subarray(offset - this.retryOffset), this.total);
      if (done) {
        this.done = true;
        this.retry = undefined;
        this.listener.onWritable();
        return true;
      }
      if (!ok) return false;
      this.retry = undefined;
    }
    this.listener.onWritable();
    return true;
  }
}

/** Copies a body chunk out of uWS (its ArrayBuffer is neutered when the callback returns). */
function copyChunk(ab: ArrayBuffer): Buffer {
  return ab.byteLength === 0 ? EMPTY : Buffer.from(new Uint8Array(ab));
}

export class UwsEngine implements Engine, RelayTracker {
  readonly kind = 'uws' as const;
  readonly addsDate = true;
  private readonly uws: Uws;
  private readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | undefined;
  private closed = false;
  /** Open WebSocket relays and upstream handshakes, cut by closeAll(). */
  readonly relays = new Set<{ cut(): void }>();

  constructor(private readonly o: UwsEngineOptions) {
    this.uws = loadUws();
    // Drops the `uWebSockets: 20` response header (process-wide; the Date header stays, see README).
    this.uws._cfg('silent');
    this.app = o.tls
      ? this.uws.SSLApp({ cert_file_name: o.tls.certFile, key_file_name: o.tls.keyFile, passphrase: o.tls.passphrase })
      : this.uws.App();
    this.app.ws('/*', wsBehavior(this.uws, (res, req, ctx) => this.onUpgrade(res, req, ctx), o.logger));
    this.app.any('/*', (res, req) => this.onRequest(res, req));
  }

  listen(): Promise<BoundAddress> {
    return new Promise((resolve, reject) => {
      this.app.listen(this.o.host, this.o.port, (ls) => {
        if (!ls) {
          reject(new SgError('SG_ERR_LISTEN', `cannot listen on ${this.o.host}:${this.o.port} (address in use or not available)`));
          return;
        }
        this.listenSocket = ls;
        resolve({ host: this.o.host, port: this.uws.us_socket_local_port(ls as never), tls: !!this.o.tls });
      });
    });
  }

  stopAccepting(): void {
    if (this.listenSocket) {
      this.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = undefined;
    }
  }

  closeAll(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopAccepting();
    for (const r of [...this.relays]) r.cut();
    (this.app as TemplatedApp & { close?: () => void }).close?.();
  }

  private onRequest(res: HttpResponse, req: HttpRequest): void {
    const { head, expectsBody } = readHead(res, req);
    const ex = new UwsExchange(res);
    res.onAborted(() => ex.aborted());
    if (expectsBody) {
      res.onData((ab, last) => {
        if (ex.listener !== undefined) ex.listener.onBody(copyChunk(ab), last);
      });
    }
    ex.listener = this.o.handlers.request(head, ex, expectsBody);
  }

  private onUpgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    const { head } = readHead(res, req);
    const up = new UwsUpgrade(res, context, head, this, this.o.logger);
    res.onAborted(() => up.clientAborted());
    this.o.handlers.upgrade(head, up);
  }
}
