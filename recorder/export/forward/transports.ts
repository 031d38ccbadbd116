// How forwarded events leave: syslog over TCP/TLS, or NDJSON POSTs over HTTP (undici). A
// transport delivers one batch at a time and says how to know it arrived: HTTP answers 2xx;
// syslog over TCP has no acknowledgement (RFC 6587), so a batch counts as delivered once
// written and the connection stayed up for `confirmMs` — the forwarder resends what was in
// flight when a connection breaks (at-least-once; receivers dedupe by event id).
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { Pool } from 'undici';
import { SgError } from '../../../gateway/core/errors.js';
import type { SgEvent } from '../../events.js';
import { ndjsonLine } from '../formats.js';
import { SyslogFormatter, type SyslogFormat } from './syslog-format.js';

export interface Transport {
  /** 0: send() resolving means the destination acknowledged. Otherwise: see above. */
  readonly confirmMs: number;
  /** Changes whenever the connection breaks: batches sent on an older one are resent. */
  generation(): number;
  send(events: readonly SgEvent[]): Promise<void>;
  close(): Promise<void>;
}

export const SYSLOG_CONFIRM_MS = 1000;

export interface SyslogTransportOptions {
  url: string;
  timeoutMs: number;
  caFile?: string;
  facility: number;
  appName: string;
  format: SyslogFormat;
  hostname?: string;
}

export class SyslogTransport implements Transport {
  readonly confirmMs = SYSLOG_CONFIRM_MS;
  private readonly host: string;
  private readonly port: number;
  private readonly tls: boolean;
  private readonly ca: Buffer | undefined;
  private readonly fmt: SyslogFormatter;
  private socket: net.Socket | undefined;
  private connecting: Promise<net.Socket> | undefined;
  private gen = 0;
  private closed = false;

  constructor(private readonly opts: SyslogTransportOptions) {
    const u = new URL(opts.url);
    this.tls = u.protocol === 'tls:';
    this.host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = Number(u.port);
    this.ca = opts.caFile ? readFileSync(opts.caFile) : undefined;
    this.fmt = new SyslogFormatter({ facility: opts.facility, appName: opts.appName, format: opts.format, hostname: opts.hostname });
  }

  generation(): number {
    return this.gen;
  }

  async send(events: readonly SgEvent[]): Promise<void> {
    const sock = await this.connect();
    const frames = this.fmt.frames(events);
    await new Promise<void>((resolve, reject) => {
      sock.write(frames, (err) => (err ? reject(err) : resolve()));
    }).catch((e: unknown) => {
      this.broken(sock);
      throw new SgError('SG_ERR_UPSTREAM_UNAVAILABLE', `syslog write failed: ${(e as Error).message}`, { cause: e });
    });
    if (sock.destroyed) throw new SgError('SG_ERR_UPSTREAM_UNAVAILABLE', 'syslog connection closed');
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.socket;
    this.socket = undefined;
    if (s && !s.destroyed) {
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve());
        s.end();
        setTimeout(() => s.destroy(), 1000).unref();
      });
    }
  }

  private connect(): Promise<net.Socket> {
    if (this.closed) return Promise.reject(new SgError('SG_ERR_UPSTREAM_UNAVAILABLE', 'forwarder closed'));
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const sock = this.tls
        ? tls.connect({ host: this.host, port: this.port, servername: net.isIP(this.host) ? undefined : this.host, ...(this.ca ? { ca: this.ca } : {}) })
        : net.connect({ host: this.host, port: this.port });
      const ready = this.tls ? 'secureConnect' : 'connect';
      const timer = setTimeout(() => sock.destroy(new Error(`connect timeout after ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        reject(new SgError('SG_ERR_UPSTREAM_UNAVAILABLE', `syslog connect to ${this.host}:${this.port} failed: ${e.message}`, { cause: e }));
      };
      sock.once('error', fail);
      sock.once(ready, () => {
        clearTimeout(timer);
        sock.off('error', fail);
        sock.setKeepAlive(true, 10_000);
        sock.setNoDelay(true);
        // Collectors do not talk back; reading keeps a peer's FIN from going unnoticed.
        sock.on('data', () => {});
        sock.on('error', () => this.broken(sock));
        sock.on('close', () => this.broken(sock));
        sock.on('end', () => this.broken(sock));
        this.socket = sock;
        resolve(sock);
      });
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private broken(sock: net.Socket): void {
    if (this.socket === sock) {
      this.socket = undefined;
      this.gen++;
    }
    if (!sock.destroyed) sock.destroy();
  }
}

export interface HttpTransportOptions {
  url: string;
  timeoutMs: number;
  caFile?: string;
  tokenFile?: string;
}

/** Bytes of an error answer kept for the log. */
const ERROR_BODY_MAX = 512;

export class HttpTransport implements Transport {
  readonly confirmMs = 0;
  private readonly pool: Pool;
  private readonly path: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly opts: HttpTransportOptions) {
    const u = new URL(opts.url);
    this.path = `${u.pathname}${u.search}`;
    const ca = opts.caFile ? readFileSync(opts.caFile) : undefined;
    this.pool = new Pool(u.origin, { connections: 1, connect: { timeout: opts.timeoutMs, ...(ca ? { ca } : {}) }, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs });
    this.headers = { 'content-type': 'application/x-ndjson; charset=utf-8', 'user-agent': 'sessiongate-forwarder' };
    if (opts.tokenFile) this.headers.authorization = `Bearer ${readFileSync(opts.tokenFile, 'utf8').trim()}`;
  }

  generation(): number {
    return 0;
  }

  async send(events: readonly SgEvent[]): Promise<void> {
    const body = events.map(ndjsonLine).join('');
    const headers = { ...this.headers, 'x-sessiongate-first-id': events[0]?.id ?? '', 'x-sessiongate-count': String(events.length) };
    let res;
    try {
      res = await this.pool.request({ method: 'POST', path: this.path, headers, body, signal: AbortSignal.timeout(this.opts.timeoutMs * 2) });
    } catch (e) {
      throw new SgError('SG_ERR_UPSTREAM_UNAVAILABLE', `POST ${this.safeUrl()} failed: ${(e as Error).message}`, { cause: e });
    }
    if (res.statusCode >= 200 && res.statusCode < 300) {
      await res.body.dump();
      return;
    }
    const text = await readSome(res.body, ERROR_BODY_MAX).catch(() => '');
    throw new SgError('SG_ERR_UPSTREAM_UNAVAILABLE', `POST ${this.safeUrl()} answered ${res.statusCode}${text ? `: ${text}` : ''}`, { details: { status: res.statusCode } });
  }

  /** Abrupt: a request in flight fails (its batch stays unacknowledged and is sent again later). */
  async close(): Promise<void> {
    await this.pool.destroy().catch(() => undefined);
  }

  private safeUrl(): string {
    const u = new URL(this.opts.url);
    u.search = '';
    return u.toString();
  }
}

async function readSome(body: AsyncIterable<Buffer> & { destroy(): void }, max: number): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    parts.push(c);
    n += c.length;
    if (n >= max) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(parts).subarray(0, max).toString('utf8').replace(/[\u0000-\u001f\u007f]/g, ' ');
}
