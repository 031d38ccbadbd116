// Test support for the HTTP front end: listener configs through the real schema, an in-memory
// Emitter, real node:http upstreams on 127.0.0.1:0, a gateway with real core parts, raw-socket
// clients for hostile input, and a small HTTP/1.1 response parser to check exact framing.
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { EventEmitter } from 'node:events';
import pino from 'pino';
import type { Test } from 'tap';
import { configSchema, type HttpListenerConfig, type DirectoryEntry } from '../../config/schema.js';
import { AccessControl } from '../../gateway/core/access.js';
import { Metrics } from '../../gateway/core/metrics.js';
import { SessionRegistry } from '../../gateway/core/registry.js';
import { systemClock, type Clock } from '../../gateway/core/runtime.js';
import { newId } from '../../gateway/core/ids.js';
import type { Frontend } from '../../gateway/core/frontend.js';
import { Directory } from '../../gateway/http/analysis/directory.js';
import { createHttpFrontend, type HttpFrontendDeps } from '../../gateway/http/index.js';
import type { Emitter } from '../../recorder/emitter.js';
import type { EventInput, HttpRequestEvent, SgEvent } from '../../recorder/events.js';

export const ENGINES = ['uws', 'node'] as const;
export type EngineName = (typeof ENGINES)[number];

/** A listener config as the loader would produce it (schema defaults applied). */
export function listenerConfig(l: Record<string, unknown>): HttpListenerConfig {
  return configSchema.parse({ http: [{ name: 'web', listen: '127.0.0.1:0', ...l }] }).http[0]!;
}

export function directoryEntries(entries: Record<string, unknown>[]): DirectoryEntry[] {
  return configSchema.parse({ directory: entries }).directory;
}

/** Captures events in memory; waitFor() polls until a matching event arrives. */
export class MemoryEmitter implements Emitter {
  readonly mode = 'best_effort' as const;
  readonly events: SgEvent[] = [];

  emit(e: EventInput): SgEvent {
    const ev = { ...e, id: e.id ?? newId(), ts: e.ts ?? Date.now() } as SgEvent;
    this.events.push(ev);
    return ev;
  }

  async emitDurable(e: EventInput): Promise<SgEvent> {
    return this.emit(e);
  }

  writable(): boolean {
    return true;
  }

  requests(): HttpRequestEvent[] {
    return this.events.filter((e): e is HttpRequestEvent => e.type === 'http.request');
  }

  /** The first http.request event matching `pred` (waiting up to `ms`). */
  async waitFor(pred: (e: HttpRequestEvent) => boolean, ms = 10_000): Promise<HttpRequestEvent> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.requests().find(pred);
      if (hit) return hit;
      if (Date.now() > end) throw new Error('no matching http.request event');
      await sleep(20);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` until it holds (generous waits; never a timing assertion). */
export async function until(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
}

export interface TestUpstream {
  port: number;
  url: string;
  server: http.Server;
  seen: SeenRequest[];
  /** Requests whose URL contains `part`. */
  seenWith(part: string): SeenRequest[];
}

/** A real node:http upstream on 127.0.0.1:0, closed in teardown. */
export async function startUpstream(t: Test, handler: http.RequestListener): Promise<TestUpstream> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    handler(req, res);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { port, url: `http://127.0.0.1:${port}`, server, seen, seenWith: (p) => seen.filter((s) => s.url.includes(p)) };
}

/** A port nothing listens on (bound, then released). */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface TestGateway {
  front: Frontend;
  port: number;
  url: string;
  emitter: MemoryEmitter;
  registry: SessionRegistry;
  access: AccessControl;
  metrics: Metrics;
  deps: HttpFrontendDeps;
}

export async function startGateway(
  t: Test,
  cfg: HttpListenerConfig,
  opts: { directory?: DirectoryEntry[]; clock?: Clock; logLevel?: string } = {},
): Promise<TestGateway> {
  const clock = opts.clock ?? systemClock;
  const emitter = new MemoryEmitter();
  const registry = new SessionRegistry({ clock, emitter });
  const access = new AccessControl({ clock });
  const metrics = new Metrics();
  const deps: HttpFrontendDeps = {
    clock,
    logger: pino({ level: opts.logLevel ?? process.env.SG_TEST_LOG ?? 'silent' }),
    emitter,
    registry,
    access,
    directory: new Directory(opts.directory ?? []),
    metrics,
    viewerCookieName: 'sg_viewer',
    sessionKeySecret: randomBytes(32),
  };
  const front = createHttpFrontend(cfg, deps);
  t.teardown(() => front.close(0));
  await front.start();
  const port = front.addresses()[0]!.port;
  return { front, port, url: `${cfg.tls ? 'https' : 'http'}://127.0.0.1:${port}`, emitter, registry, access, metrics, deps };
}

export interface RawResult {
  data: Buffer;
  text: string;
  /** The server closed the connection. */
  closed: boolean;
  /** Our wait ended before the server closed. */
  timedOut: boolean;
}

/**
 * Writes `parts` to a raw TCP connection (a pause between parts) and collects what comes back
 * until the server closes or `waitMs` passes after the last write.
 */
export function raw(port: number, parts: (string | Buffer)[], opts: { waitMs?: number; gapMs?: number; localAddress?: string; endAfter?: boolean } = {}): Promise<RawResult> {
  const waitMs = opts.waitMs ?? 1_500;
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: opts.localAddress });
    const chunks: Buffer[] = [];
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (timedOut: boolean) => {
      if (timer) clearTimeout(timer);
      s.destroy();
      const data = Buffer.concat(chunks);
      resolve({ data, text: data.toString('latin1'), closed, timedOut });
    };
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      closed = true;
      finish(false);
    });
    s.on('connect', async () => {
      for (let i = 0; i < parts.length; i++) {
        if (i > 0) await sleep(opts.gapMs ?? 100);
        if (s.destroyed) return;
        s.write(typeof parts[i] === 'string' ? Buffer.from(parts[i] as string, 'latin1') : (parts[i] as Buffer));
      }
      if (opts.endAfter) s.end();
      timer = setTimeout(() => finish(true), waitMs);
    });
  });
}

export interface ParsedResponse {
  status: number;
  headers: [string, string][];
  body: Buffer;
  header(name: string): string | undefined;
  all(name: string): string[];
}

/**
 * Parses consecutive HTTP/1.1 responses from raw bytes. `noBody[i]` marks answers to HEAD.
 * Throws on malformed framing, so a test sees stray bytes (e.g. a body after HEAD) as an error.
 */
export function parseResponses(buf: Buffer, noBody: boolean[] = []): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const end = buf.indexOf('\r\n\r\n', pos);
    if (end === -1) throw new Error(`incomplete head at ${pos}: ${JSON.stringify(buf.subarray(pos, pos + 80).toString('latin1'))}`);
    const lines = buf.subarray(pos, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]!);
    if (!m) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
    const status = Number(m[1]);
    const headers: [string, string][] = lines.slice(1).map((l) => {
      const c = l.indexOf(':');
      return [l.slice(0, c).toLowerCase(), l.slice(c + 1).trim()];
    });
    pos = end + 4;
    const get = (n: string) => headers.find(([k]) => k === n)?.[1];
    let body: Buffer = Buffer.alloc(0);
    const skipBody = noBody[out.length] === true || status === 204 || status === 304 || status < 200;
    if (!skipBody) {
      const te = get('transfer-encoding');
      const cl = get('content-length');
      if (te && te.toLowerCase() === 'chunked') {
        const parts: Buffer[] = [];
        for (;;) {
          const le = buf.indexOf('\r\n', pos);
          if (le === -1) throw new Error('incomplete chunk size');
          const size = parseInt(buf.subarray(pos, le).toString('latin1'), 16);
          if (Number.isNaN(size)) throw new Error('bad chunk size');
          pos = le + 2;
          if (size === 0) {
            const te2 = buf.indexOf('\r\n', pos);
            pos = te2 + 2;
            break;
          }
          parts.push(buf.subarray(pos, pos + size));
          pos += size + 2;
        }
        body = Buffer.concat(parts);
      } else if (cl !== undefined) {
        const n = Number(cl);
        if (buf.length < pos + n) throw new Error('incomplete body');
        body = buf.subarray(pos, pos + n);
        pos += n;
      } else {
        body = buf.subarray(pos);
        pos = buf.length;
      }
    }
    out.push({ status, headers, body, header: get, all: (n) => headers.filter(([k]) => k === n).map(([, v]) => v) });
  }
  return out;
}

/** The `ws` package (no bundled types): the slice tests use. */
export interface WsLike extends EventEmitter {
  readonly readyState: number;
  readonly protocol: string;
  send(data: string | Buffer, opts?: { binary?: boolean }): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
}
export interface WsServerLike extends EventEmitter {
  handleUpgrade(req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer, cb: (ws: WsLike, req: http.IncomingMessage) => void): void;
  close(): void;
}
const wsModule = createRequire(import.meta.url)('ws') as {
  WebSocket: new (url: string, protocols?: string[], opts?: Record<string, unknown>) => WsLike;
  WebSocketServer: new (opts: Record<string, unknown>) => WsServerLike;
};
export const WsClient = wsModule.WebSocket;
export const WsServer = wsModule.WebSocketServer;

/** Opens a `ws` client and resolves once open (rejects on error / unexpected response). */
export function openWs(url: string, protocols: string[] = [], headers: Record<string, string> = {}): Promise<WsLike> {
  return new Promise((resolve, reject) => {
    const ws = new WsClient(url, protocols, { headers, perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req: unknown, res: http.IncomingMessage) => reject(Object.assign(new Error(`unexpected response ${res.statusCode}`), { statusCode: res.statusCode })));
  });
}

/** The next message of a ws client. */
export function nextMessage(ws: WsLike): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary })));
}

// Raw WebSocket upgrades, shared by the viewer's WebSocket tests: undici refuses Upgrade headers and
// `ws` hides a refusal's body, so the handshakes whose refusals are checked exactly (and clients
// that must stall after the handshake) go through node:http with a fixed key.
const WS_UPGRADE_HEADERS = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };

function wsUpgradeRequest(url: string, headers: Record<string, string>, on: { upgrade(res: http.IncomingMessage, socket: net.Socket): void; response(res: http.IncomingMessage): void; error(e: Error): void }): void {
  const req = http.request(url, { headers: { ...WS_UPGRADE_HEADERS, ...headers } });
  req.on('upgrade', (res, socket) => on.upgrade(res, socket as net.Socket));
  req.on('response', (res) => on.response(res));
  req.on('error', (e) => on.error(e));
  req.end();
}

/** A raw handshake: the status, and the JSON body of a refused upgrade (none on 101, whose socket is closed at once). */
export function wsHandshake<B = unknown>(url: string, headers: Record<string, string>): Promise<{ status: number; body: B | undefined }> {
  return new Promise((resolve, reject) => {
    wsUpgradeRequest(url, headers, {
      upgrade: (res, socket) => {
        socket.destroy();
        resolve({ status: res.statusCode!, body: undefined });
      },
      response: (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: text ? (JSON.parse(text) as B) : undefined }));
      },
      error: reject,
    });
  });
}

/** An upgraded socket nobody reads (a client that stalls after the handshake); rejects when refused. */
export function wsUpgradedSocket(url: string, headers: Record<string, string>): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    wsUpgradeRequest(url, headers, {
      upgrade: (_res, socket) => resolve(socket),
      response: (res) => reject(new Error(`refused: ${res.statusCode}`)),
      error: reject,
    });
  });
}

/**
 * A `ws` client of the viewer's JSON WebSockets (/api/stream, live watch): every frame kept in
 * order, next() reads them one by one. Shared so that those tests wait for frames the same way.
 */
export class JsonFrameClient<F = unknown> {
  readonly frames: F[] = [];
  private read = 0;
  closeCode: number | undefined;
  constructor(readonly ws: WsLike) {
    ws.on('message', (d: Buffer) => this.frames.push(JSON.parse(d.toString('utf8')) as F));
    ws.on('close', (code: number) => (this.closeCode = code));
  }
  /** The next frame (skipping none), within `ms`. */
  async next(ms = 5000): Promise<F> {
    const end = Date.now() + ms;
    while (this.read >= this.frames.length) {
      if (Date.now() > end || this.closeCode !== undefined) throw new Error(`no frame within ${ms} ms (close ${this.closeCode})`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.frames[this.read++]!;
  }
}
