// Two in-memory streams joined back to back, standing in for a TCP connection between an ssh2
// Client and this gateway's own ssh2 Server (the web terminal). Node 20 has no
// stream.duplexPair. No buffering bound is needed here: SSH channel windows already bound what
// either side may send ahead.
import { Duplex } from 'node:stream';

class End extends Duplex {
  peer!: End;
  /** What ssh2's Server reports as the client's address (its `info.ip`). */
  remoteAddress: string | undefined;

  override _read(): void {}

  // Delivered on a later tick, as a socket would: a synchronous push lets the peer answer in
  // the middle of the writer's own call (ssh2's server would see a channel open before it has
  // emitted 'ready').
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    process.nextTick(() => {
      if (!this.peer.destroyed) this.peer.push(chunk);
      cb();
    });
  }

  override _final(cb: (e?: Error | null) => void): void {
    process.nextTick(() => {
      if (!this.peer.destroyed) this.peer.push(null);
      cb();
    });
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (!this.peer.destroyed) {
      this.peer.push(null);
      this.peer.destroy();
    }
    cb(err);
  }

  // ssh2 calls these on real sockets when present.
  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }
}

export function socketPair(remoteAddress?: string): [server: Duplex, client: Duplex] {
  const a = new End();
  const b = new End();
  a.peer = b;
  b.peer = a;
  a.remoteAddress = remoteAddress;
  return [a, b];
}
