// The native data relay: native/data-relay.c (built into build/Release/sg_relay.node by `npm ci`)
// moves a plain TCP data connection's bytes on a thread of its own, in large pieces, so the event
// loop runs no JavaScript per chunk and the gateway's CPU per byte is about its kernel's share. Used
// for every data connection that is plain TCP on both sides (TLS needs the bytes in JavaScript:
// data.ts's DataRelay does those).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import tls from 'node:tls';
import type { Relay, RelayResult } from './data.js';
import { watchStall } from './stall.js';

type Handle = object;
interface NativeRelayAddon {
  /** kind 0: fdA -> fdB finished (EOF passed on); 1: fdB -> fdA finished; 2: ended (err 0 = clean). */
  start(fdA: number, fdB: number, cb: (kind: number, aToB: number, bToA: number, err: number) => void): Handle;
  counters(h: Handle): [number, number];
  stop(h: Handle): void;
}

let addon: { native?: NativeRelayAddon; why?: string } | undefined;

/** The native addon, or why there is none (looked for in build/Release above this file). */
export function nativeRelayAddon(): { native?: NativeRelayAddon; why?: string } {
  if (addon) return addon;
  if (process.platform !== 'linux') return (addon = { why: 'the native relay is built on Linux only' });
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    const file = join(dir, 'build', 'Release', 'sg_relay.node');
    if (!existsSync(file)) continue;
    try {
      return (addon = { native: createRequire(import.meta.url)(file) as NativeRelayAddon });
    } catch (e) {
      return (addon = { why: `${file} does not load: ${(e as Error).message}` });
    }
  }
  return (addon = { why: 'build/Release/sg_relay.node is not built (npm ci builds it; it needs python3, make and a C compiler)' });
}

interface HandleWithFd {
  fd?: number;
  reading?: boolean;
  readStop?: () => number;
}

/** The socket's descriptor when it can be handed to the native relay as it is, else undefined. */
function plainFd(s: net.Socket): number | undefined {
  const h = (s as net.Socket & { _handle?: HandleWithFd | null })._handle;
  if (s instanceof tls.TLSSocket || s.destroyed || s.connecting || s.readableLength > 0 || s.writableLength > 0 || !h) return undefined;
  if (typeof h.fd !== 'number' || h.fd < 0) return undefined;
  // Nothing more may be read into JavaScript once the thread owns the reads.
  if (h.reading && h.readStop) {
    h.readStop();
    h.reading = false;
  }
  return s.readableLength === 0 ? h.fd : undefined;
}

/**
 * Relays between `client` and `server` on a native thread, or returns undefined (no addon, a TLS side,
 * bytes already read into JavaScript) and leaves both sockets untouched for the JavaScript relay.
 * The JavaScript sockets stay paused and are destroyed when the relay ends; destroying one earlier
 * stops the relay.
 */
export function startNativeRelay(client: net.Socket, server: net.Socket, stallMs: number, native = nativeRelayAddon().native, onError?: (e: Error) => void): Relay | undefined {
  if (!native) return undefined;
  const fc = plainFd(client);
  const fs = fc === undefined ? undefined : plainFd(server);
  if (fc === undefined || fs === undefined) return undefined;
  try {
    return new NativeRelay(native, client, server, fc, fs, stallMs);
  } catch (e) {
    // No thread, descriptor or memory for it (SG_ERR_NATIVE_RELAY): this transfer goes through JavaScript.
    onError?.(e as Error);
    return undefined;
  }
}

class NativeRelay implements Relay {
  readonly done: Promise<RelayResult>;
  readonly settledDown: Promise<RelayResult>;
  private final: RelayResult | undefined;
  private readonly handle: Handle;
  private readonly stopWatch: () => void;

  constructor(
    private readonly native: NativeRelayAddon,
    client: net.Socket,
    server: net.Socket,
    fdClient: number,
    fdServer: number,
    stallMs: number,
  ) {
    let resolveDone!: (r: RelayResult) => void;
    let resolveDown!: (r: RelayResult) => void;
    this.done = new Promise((r) => (resolveDone = r));
    this.settledDown = new Promise((r) => (resolveDown = r));
    // A = client, B = server: A -> B is the upload, B -> A the download.
    this.handle = native.start(fdClient, fdServer, (kind, up, down, err) => {
      if (kind === 1) return resolveDown({ down, up, clean: true });
      if (kind !== 2) return;
      this.final = { down, up, clean: err === 0 };
      this.stopWatch();
      client.destroy();
      server.destroy();
      resolveDown(this.final);
      resolveDone(this.final);
    });
    // Someone else closing a side (the session ending, the server gone) ends the relay too.
    for (const s of [client, server]) s.once('close', () => this.abort());
    this.stopWatch = watchStall(() => this.down + this.up, stallMs, () => this.abort());
  }

  get up(): number {
    return this.final ? this.final.up : this.native.counters(this.handle)[0];
  }

  get down(): number {
    return this.final ? this.final.down : this.native.counters(this.handle)[1];
  }

  abort(): void {
    if (!this.final) this.native.stop(this.handle);
  }
}
