// The one small interface every protocol front end implements (like Warpgate's
// ProtocolServer): the start command builds front ends from config and drives them
// through this interface only.
import { SgError } from './errors.js';
import type { Logger } from './runtime.js';

export interface BoundAddress {
  host: string;
  port: number;
  tls: boolean;
}

export interface Frontend {
  /** `http`, `ssh`, `ftp`. */
  readonly protocol: string;
  /** The listener's name from config. */
  readonly name: string;
  /** Binds the listener. Rejects (SG_ERR_LISTEN) if it cannot. */
  start(): Promise<void>;
  /** Where it listens (port resolved when config said 0). Valid after start(). */
  addresses(): BoundAddress[];
  /** Stop accepting, let in-flight work finish up to `graceMs`, then cut the rest. Idempotent. */
  close(graceMs?: number): Promise<void>;
}

/** What `listenOn` needs of a server (node:net's, and ssh2's, which wraps one). */
interface Listenable {
  listen(port: number, host: string, cb: () => void): unknown;
  once(event: 'error', fn: (e: Error) => void): unknown;
  off(event: 'error', fn: (e: Error) => void): unknown;
  address(): unknown;
}

/** Binds `server` to the listener's address; resolves with the bound port (config may say 0). */
export function listenOn(server: Listenable, protocol: string, l: { name: string; listen: { host: string; port: number } }, logger: Logger): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(new SgError('SG_ERR_LISTEN', `${protocol} listener ${l.name} cannot listen on ${l.listen.host}:${l.listen.port}: ${e.message}`, { cause: e }));
    server.once('error', onError);
    server.listen(l.listen.port, l.listen.host, () => {
      server.off('error', onError);
      const port = (server.address() as { port: number }).port;
      logger.info({ listener: l.name, host: l.listen.host, port }, `${protocol} listener started`);
      resolve(port);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A front end's shutdown: stop accepting, let open sessions finish by themselves for up to `graceMs`
 * (at most 2 s), then end the rest (`endAll`: each records why) and wait up to `endMs` for them to go.
 * `open` is the front end's live set, which shrinks as sessions close.
 */
export async function drainFrontend(server: { close(cb: () => void): unknown } | undefined, open: { readonly size: number }, graceMs: number, endAll: () => unknown, endMs = 3000): Promise<void> {
  const whileOpen = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (open.size && Date.now() < deadline) await sleep(20);
  };
  // close() stops accepting at once; its callback waits for every open connection to end.
  const closed = new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  if (graceMs > 0) await whileOpen(Math.min(graceMs, 2000));
  if (open.size) {
    await Promise.race([Promise.resolve(endAll()), sleep(endMs)]);
    await whileOpen(endMs);
  }
  await Promise.race([closed, sleep(open.size ? 0 : endMs)]);
}
