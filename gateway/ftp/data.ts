// The data channel: the gateway's own passive listeners (a port from the listener's range, one
// connection accepted, only from the client's IP, within data_timeout), the active-mode connector
// (to the client's own IP only), and the relay between the client's and the server's data
// connections: both directions with backpressure, bytes counted, half-close passed on (an
// upload's EOF is the end of the file).
//
// Speed (bench/ftp.ts): when both sides are plain TCP the bytes never enter JavaScript:
// native-relay.ts relays them on a native thread. Otherwise (TLS, or no native addon) the side that
// sends the file is read with `onread` into large
// buffers from a small shared pool (1 MiB per read syscall instead of Node's 64 KiB, no Buffer
// allocated per chunk, nothing for the GC), each buffer written to the other side as it is and
// recycled once written. The reader pauses when more than RELAY_HIGH bytes wait to be written and
// resumes below RELAY_LOW (not on every write() === false, which a 1 MiB chunk always is). Per
// chunk the relay only adds to a byte counter: speed, progress and the stall check read the
// counters on timers.
import net from 'node:net';
import tls from 'node:tls';
import { startNativeRelay } from './native-relay.js';
import { watchStall } from './stall.js';

const READ_SIZE = 1 << 20;
const POOL_MAX = 8;
const RELAY_HIGH = 4 * READ_SIZE;
const RELAY_LOW = READ_SIZE;

/** Free read buffers, shared by every relay (at most POOL_MAX kept when idle). */
const pool: Buffer[] = [];
const takeBuffer = (): Buffer => pool.pop() ?? Buffer.allocUnsafeSlow(READ_SIZE);
const giveBack = (b: Buffer): void => {
  if (pool.length < POOL_MAX) pool.push(b);
};

type Sink = (buf: Buffer, n: number) => void;
const kSink = Symbol('sessiongate.ftp.sink');
const kHeld = Symbol('sessiongate.ftp.held');
interface BigReadSocket extends net.Socket {
  /** Where reads go (set by the relay). */
  [kSink]?: Sink;
  /** Reads that came before the relay (none while the socket stays paused, as it does). */
  [kHeld]?: Buffer[];
}

/**
 * The same connection as `s` (a paused plain TCP socket that has read nothing yet) behind a new
 * net.Socket that reads with `onread` into pooled READ_SIZE buffers, handed to the relay's sink.
 * `s` must not be used afterwards (it is released without closing the connection). Anything else
 * (a TLS socket, data already read, no handle) comes back unchanged and is relayed with 'data'.
 */
export function withBigReads(s: net.Socket): net.Socket {
  const internal = s as net.Socket & { _handle?: { useUserBuffer?: unknown } | null };
  const handle = internal._handle;
  if (s instanceof tls.TLSSocket || s.destroyed || s.connecting || s.readableLength > 0 || !handle || typeof handle.useUserBuffer !== 'function') return s;
  let fast!: BigReadSocket;
  const opts = {
    handle,
    allowHalfOpen: true,
    pauseOnCreate: true,
    readable: true,
    writable: true,
    onread: {
      buffer: takeBuffer,
      callback: (n: number, buf: Buffer) => {
        const sink = fast[kSink];
        if (sink) sink(buf, n);
        else (fast[kHeld] ??= []).push(Buffer.from(buf.subarray(0, n)));
      },
    },
  };
  internal._handle = null;
  fast = new net.Socket(opts as net.SocketConstructorOpts) as BigReadSocket;
  // Only the old wrapper goes (no handle left to close); its server counts the connection as gone.
  s.destroy();
  return fast;
}

/** Hands out passive ports from a range (or port 0 = the system's choice when there is none). */
export class PortPool {
  private readonly used = new Set<number>();
  private next: number;

  constructor(private readonly range: { from: number; to: number } | undefined) {
    this.next = range ? range.from + Math.floor(Math.random() * (range.to - range.from + 1)) : 0;
  }

  /** Listens on a free port of the range on `host`; rejects when every port is taken. */
  async listen(host: string): Promise<{ server: net.Server; port: number; release: () => void }> {
    const r = this.range;
    const tries = r ? r.to - r.from + 1 : 1;
    for (let i = 0; i < tries; i++) {
      let port = 0;
      if (r) {
        port = this.next;
        this.next = port >= r.to ? r.from : port + 1;
        if (this.used.has(port)) continue;
      }
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
      const ok = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen({ port, host, exclusive: true }, () => resolve(true));
      });
      if (!ok) continue;
      const bound = (server.address() as net.AddressInfo).port;
      if (r) this.used.add(bound);
      return { server, port: bound, release: () => void this.used.delete(bound) };
    }
    throw new Error(r ? `no free passive port in ${r.from}-${r.to}` : 'cannot open a passive port');
  }

  inUse(): number {
    return this.used.size;
  }
}

/** Same address, IPv4-mapped IPv6 seen as IPv4. */
export function sameIp(a: string | undefined, b: string | undefined): boolean {
  const n = (x: string | undefined) => (x ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1').toLowerCase();
  return !!a && n(a) === n(b);
}

export interface PassiveWait {
  port: number;
  /** Resolves with the client's data connection (paused), or undefined when closed / timed out. */
  socket: Promise<net.Socket | undefined>;
  close(): void;
}

/**
 * Opens a passive listener for one data connection from `clientIp`. Connections from any other
 * address are cut at once (reported through onForeign) and the listener keeps waiting.
 */
export async function openPassive(pool: PortPool, host: string, clientIp: string, timeoutMs: number, onForeign: (ip: string) => void): Promise<PassiveWait> {
  const { server, port, release } = await pool.listen(host);
  let done = false;
  let settle!: (s: net.Socket | undefined) => void;
  const socket = new Promise<net.Socket | undefined>((r) => (settle = r));
  const finish = (s: net.Socket | undefined) => {
    if (done) {
      s?.destroy();
      return;
    }
    done = true;
    clearTimeout(timer);
    server.close(() => release());
    settle(s);
  };
  const timer = setTimeout(() => finish(undefined), timeoutMs);
  server.on('connection', (s) => {
    if (!sameIp(s.remoteAddress, clientIp)) {
      onForeign(s.remoteAddress ?? '?');
      s.destroy();
      return;
    }
    finish(s);
  });
  server.on('error', () => finish(undefined));
  return { port, socket, close: () => finish(undefined) };
}

/** Connects to host:port within timeoutMs (the socket comes back paused, half-open allowed). */
export function connectData(host: string, port: number, timeoutMs: number, localAddress?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true, ...(localAddress ? { localAddress } : {}) });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`data connection to ${host}:${port} timed out`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.off('error', onError);
      s.pause();
      resolve(s);
    });
    const onError = (e: Error) => {
      clearTimeout(timer);
      reject(e);
    };
    s.once('error', onError);
  });
}

export interface RelayResult {
  /** Server -> client bytes (downloads, listings). */
  down: number;
  /** Client -> server bytes (uploads). */
  up: number;
  /** True when both sides ended with an EOF; false when one was cut (reset, error, destroy). */
  clean: boolean;
}

/** A running data relay: counters read for progress, and its ends. */
export interface Relay {
  readonly down: number;
  readonly up: number;
  /** Resolves when both connections are closed. */
  readonly done: Promise<RelayResult>;
  /** Resolves when the server's data has all been handed to the client with an EOF (or on done). */
  readonly settledDown: Promise<RelayResult>;
  /** Cuts both sides (ABOR, terminate, stall). */
  abort(): void;
}

/**
 * Relays a transfer's data connections: on a native thread when both are plain TCP and `native`
 * is on (native-relay.ts), else in JavaScript, the side that sends the file read in large chunks.
 */
export function relayData(client: net.Socket, server: net.Socket, opts: { stallMs: number; native: boolean; upload: boolean; onNativeError?: (e: Error) => void }): Relay {
  const fast = opts.native ? startNativeRelay(client, server, opts.stallMs, undefined, opts.onNativeError) : undefined;
  if (fast) return fast;
  return opts.upload ? new DataRelay(withBigReads(client), server, opts.stallMs) : new DataRelay(client, withBigReads(server), opts.stallMs);
}

/**
 * Relays between the client's and the server's data connections in JavaScript until both are
 * closed. `down` and `up` count the bytes (read them for progress). The stall watch cuts both
 * sides when no byte moved for `stallMs`.
 */
export class DataRelay implements Relay {
  down = 0;
  up = 0;
  private clean = true;
  private closed = 0;
  private readonly stopWatch: () => void;
  readonly done: Promise<RelayResult>;
  private resolveDone!: (r: RelayResult) => void;
  readonly settledDown: Promise<RelayResult>;
  private resolveDown!: (r: RelayResult) => void;
  private serverEnded = false;
  private clientFinished = false;

  constructor(
    private readonly client: net.Socket,
    private readonly server: net.Socket,
    stallMs: number,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
    this.settledDown = new Promise((r) => (this.resolveDown = r));
    void this.done.then((r) => this.resolveDown(r));
    const down = () => {
      if (this.serverEnded && this.clientFinished) this.resolveDown({ down: this.down, up: this.up, clean: this.clean });
    };
    server.once('end', () => {
      this.serverEnded = true;
      down();
    });
    client.once('finish', () => {
      this.clientFinished = true;
      down();
    });
    for (const s of [client, server]) s.setNoDelay(true);
    this.pump(server, client, (n) => (this.down += n));
    this.pump(client, server, (n) => (this.up += n));
    for (const s of [client, server]) {
      s.on('error', () => {
        this.clean = false;
      });
      s.once('close', (hadError) => {
        if (hadError) this.clean = false;
        // One side gone before it ended cleanly: the other cannot finish either.
        if (!s.readableEnded || !s.writableFinished) {
          this.clean = false;
          (s === client ? server : client).destroy();
        }
        if (++this.closed === 2) {
          this.stopWatch();
          this.resolveDone({ down: this.down, up: this.up, clean: this.clean });
        }
      });
    }
    this.stopWatch = watchStall(() => this.down + this.up, stallMs, () => this.abort());
  }

  private pump(src: net.Socket, dst: net.Socket, count: (n: number) => void): void {
    let paused = false;
    const fast = src as BigReadSocket;
    // Large pooled reads (withBigReads): each buffer goes back to the pool once written.
    const sink: Sink = (buf, n) => {
      count(n);
      dst.write(buf.subarray(0, n), () => {
        giveBack(buf);
        if (paused && dst.writableLength <= RELAY_LOW) {
          paused = false;
          src.resume();
        }
      });
      if (!paused && dst.writableLength > RELAY_HIGH) {
        paused = true;
        src.pause();
      }
    };
    fast[kSink] = sink;
    for (const b of fast[kHeld]?.splice(0) ?? []) {
      count(b.length);
      dst.write(b);
    }
    // Everything else (TLS, a socket that could not be switched): 'data' chunks.
    src.on('data', (chunk: Buffer) => {
      count(chunk.length);
      dst.write(chunk);
      if (!paused && dst.writableLength > RELAY_HIGH) {
        paused = true;
        src.pause();
      }
    });
    dst.on('drain', () => {
      if (paused) {
        paused = false;
        src.resume();
      }
    });
    src.on('end', () => dst.end());
    src.resume();
  }

  abort(): void {
    this.clean = false;
    this.client.destroy();
    this.server.destroy();
  }
}
