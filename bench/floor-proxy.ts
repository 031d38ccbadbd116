// The `floor` bench target: the least a correct reverse proxy on Sessiongate's own stack must do
// (uWS via gateway/core/uws.ts in front, undici Pool.dispatch behind), and nothing more: no
// routes, no framing checks, no identity, no recording. It forwards method, target and headers
// (hop-by-hop ones dropped, X-Forwarded-For/-Proto/-Host added), streams bodies both ways with
// backpressure, and answers 502 when the upstream fails. Every bench run thus shows how close the
// gateway is to what this stack can do at all on the machine.
// `node dist/bench/floor-proxy.js PORT TARGET_URL [--threads N]`: with N > 1, N worker threads
// each run their own uWS app on the same port (uWS listens with SO_REUSEPORT on Linux).
import { Readable } from 'node:stream';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { HttpResponse, HttpRequest, us_listen_socket } from '@trufflesuite/uws-js-unofficial';
import { Pool, type Dispatcher } from 'undici';
import { loadUws } from '../gateway/core/uws.js';

export interface ServeOptions {
  port: number;
  target: string;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const EMPTY = Buffer.alloc(0);

/** Header pairs without hop-by-hop fields (the fixed ones and those the Connection header names). */
function endToEnd(pairs: string[]): string[] {
  let named: Set<string> | undefined;
  for (let i = 0; i < pairs.length; i += 2) {
    if (pairs[i] === 'connection') for (const n of pairs[i + 1]!.split(',')) (named ??= new Set()).add(n.trim().toLowerCase());
  }
  const out: string[] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    const k = pairs[i]!;
    if (!HOP_BY_HOP.has(k) && !named?.has(k)) out.push(k, pairs[i + 1]!);
  }
  return out;
}

/** The upload as undici reads it; the client is paused while undici does not keep up. */
class Upload extends Readable {
  paused = false;
  constructor(private readonly res: HttpResponse, private readonly gone: () => boolean) {
    super({ highWaterMark: 64 * 1024 });
  }
  feed(chunk: Buffer, last: boolean): void {
    if (chunk.length && !this.push(chunk) && !last && !this.gone()) {
      this.paused = true;
      this.res.pause();
    }
    if (last) this.push(null);
  }
  override _read(): void {
    if (this.paused && !this.gone()) {
      this.paused = false;
      this.res.resume();
    }
  }
}

/** One proxied request: the undici handler for the upstream side, writing to the uWS response. */
class Exchange implements Dispatcher.DispatchHandler {
  done = false;
  private abortUp: ((e?: Error) => void) | undefined;
  private resumeUp: (() => void) | undefined;
  private total = -1;
  private noBody = false;
  private headSent = false;
  private pending: Buffer | undefined;
  private pendingOffset = 0;

  constructor(
    private readonly res: HttpResponse,
    private readonly method: string,
  ) {}

  aborted(): void {
    if (this.done) return;
    this.done = true;
    this.abortUp?.(new Error('client aborted'));
  }

  onConnect(abort: (e?: Error) => void): void {
    this.abortUp = abort;
    if (this.done) abort(new Error('client aborted'));
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    if (status < 200) return true;
    if (this.done) return false;
    this.resumeUp = resume;
    const pairs: string[] = [];
    for (let i = 0; i < raw.length; i += 2) pairs.push(raw[i]!.toString('latin1').toLowerCase(), raw[i + 1]!.toString('latin1'));
    const headers = endToEnd(pairs);
    this.noBody = this.method === 'HEAD' || status === 204 || status === 304;
    let length = -1;
    const res = this.res;
    res.cork(() => {
      res.writeStatus(`${status} ${statusText || 'OK'}`);
      for (let i = 0; i < headers.length; i += 2) {
        // uWS frames the body itself (tryEnd writes Content-Length, write() goes chunked).
        // uWS writes its own Date header: the upstream's would make two.
        if (headers[i] === 'date') continue;
        if (headers[i] === 'content-length') {
          length = Number(headers[i + 1]);
          if (!this.noBody) continue;
        }
        res.writeHeader(headers[i]!, headers[i + 1]!);
      }
      this.total = this.noBody ? -1 : length;
      if (this.noBody) {
        this.done = true;
        res.endWithoutBody();
      } else if (this.total === 0) {
        this.done = true;
        res.end();
      }
    });
    this.headSent = true;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.done) return true;
    const res = this.res;
    let ok = true;
    res.cork(() => {
      if (this.total >= 0) {
        const offset = res.getWriteOffset();
        const [sent, finished] = res.tryEnd(chunk, this.total);
        if (finished) this.done = true;
        else if (!sent) {
          this.pending = chunk;
          this.pendingOffset = offset;
          ok = false;
        }
      } else ok = res.write(chunk);
    });
    if (!ok) res.onWritable((offset) => this.writable(offset));
    return ok;
  }

  private writable(offset: number): boolean {
    if (this.done) return true;
    if (this.pending) {
      const [sent, finished] = this.res.tryEnd(this.pending.subarray(offset - this.pendingOffset), this.total);
      if (finished) {
        this.done = true;
        this.pending = undefined;
        return true;
      }
      if (!sent) return false;
      this.pending = undefined;
    }
    this.resumeUp?.();
    return true;
  }

  onComplete(): void {
    if (this.done) return;
    this.done = true;
    const res = this.res;
    // Fewer bytes than announced: the client must see a cut, not a short body.
    res.cork(() => (this.total > 0 ? res.close() : res.end()));
  }

  onError(err: Error): void {
    if (this.done) return;
    this.done = true;
    const res = this.res;
    if (this.headSent) res.close();
    else res.cork(() => res.writeStatus('502 Bad Gateway').writeHeader('content-type', 'text/plain').end(`bad gateway: ${err.message}\n`, true));
  }

  onUpgrade(): void {
    this.onError(new Error('unexpected upgrade'));
  }
}

/** Runs the proxy on this thread's uWS loop (port 0 = any free port). */
export function serve(o: ServeOptions): Promise<{ port: number; close(): Promise<void> }> {
  const uws = loadUws();
  uws._cfg('silent');
  const url = new URL(o.target);
  const pool = new Pool(url.origin, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
  const app = uws.App();
  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    const method = req.getCaseSensitiveMethod();
    const q = req.getQuery();
    const path = q ? `${req.getUrl()}?${q}` : req.getUrl();
    const pairs: string[] = [];
    let host = '';
    let xff = '';
    let body = false;
    req.forEach((k, v) => {
      if (k === 'host') host = v;
      else if (k === 'x-forwarded-for') return void (xff = v);
      else if ((k === 'content-length' && v !== '0') || k === 'transfer-encoding') body = true;
      pairs.push(k, v);
    });
    const peer = Buffer.from(res.getRemoteAddressAsText()).toString();
    const headers = endToEnd(pairs);
    headers.push('x-forwarded-for', xff ? `${xff}, ${peer}` : peer, 'x-forwarded-proto', 'http', 'x-forwarded-host', host);
    const ex = new Exchange(res, method);
    let upload: Upload | undefined;
    res.onAborted(() => {
      ex.aborted();
      upload?.destroy();
    });
    if (body) {
      upload = new Upload(res, () => ex.done);
      const u = upload;
      res.onData((ab, last) => u.feed(Buffer.from(new Uint8Array(ab)), last));
    }
    pool.dispatch({ method, path, headers, body: upload ?? null }, ex);
  });
  return new Promise((resolve, reject) => {
    app.listen('127.0.0.1', o.port, (ls: us_listen_socket | false) => {
      if (!ls) return reject(new Error(`cannot listen on 127.0.0.1:${o.port}`));
      resolve({
        port: uws.us_socket_local_port(ls as never),
        async close() {
          uws.us_listen_socket_close(ls);
          (app as { close?: () => void }).close?.();
          await pool.destroy();
        },
      });
    });
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const ti = args.indexOf('--threads');
  const threads = ti >= 0 ? Number(args.splice(ti, 2)[1]) : 1;
  const [portArg, target] = args;
  const port = Number(portArg);
  if (!Number.isInteger(port) || !target || !Number.isInteger(threads) || threads < 1 || (threads > 1 && port === 0)) {
    process.stderr.write('usage: floor-proxy.js PORT TARGET_URL [--threads N]   (N > 1 needs a fixed PORT)\n');
    process.exit(2);
  }
  if (threads === 1) {
    const s = await serve({ port, target });
    process.stdout.write(`floor proxy listening on 127.0.0.1:${s.port} -> ${target}\n`);
    const stop = () => void s.close().finally(() => process.exit(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    return;
  }
  const workers = Array.from({ length: threads }, () => new Worker(fileURLToPath(import.meta.url), { workerData: { port, target, floorProxy: true } }));
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
          w.once('exit', (code) => reject(new Error(`worker exited with code ${code} before listening`)));
        }),
    ),
  );
  process.stdout.write(`floor proxy listening on 127.0.0.1:${port} -> ${target} (${threads} threads, SO_REUSEPORT)\n`);
  const stop = () => {
    for (const w of workers) w.postMessage('stop');
    void Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r)))).finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`floor proxy: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
} else if (!isMainThread && (workerData as { floorProxy?: boolean } | null)?.floorProxy) {
  const s = await serve(workerData as ServeOptions);
  parentPort!.postMessage('listening');
  parentPort!.once('message', () => void s.close().finally(() => process.exit(0)));
}
