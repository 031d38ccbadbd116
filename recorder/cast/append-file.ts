// An append-only file fed from memory: append() only queues bytes (no I/O on the caller's
// path); one positional write at a time drains the queue. Positional writes make a retry after
// a failed write idempotent (same bytes, same place), so a failing disk never leaves a hole or
// a duplicate. The optional SHA-256 covers exactly the bytes confirmed written, in order, so the
// recording's hash is known at close without reading the file again.
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';

export const RETRY_MIN_MS = 50;
export const RETRY_MAX_MS = 2_000;

export interface AppendFileOptions {
  /** Keep a running SHA-256 of what was written. */
  hash?: boolean;
  /** `wx`: the file must not exist (a recording is never overwritten). */
  flags?: 'wx' | 'r+';
  /** Bytes already in the file (`r+`): appends start there. */
  startAt?: number;
  /** Called after each successful write with the total bytes written. */
  onWritten?: (written: number) => void;
  /** Called on each failed open or write (the write is retried with backoff). */
  onError?: (err: unknown) => void;
  /** Test hook: awaited before every write. */
  beforeWrite?: () => Promise<void>;
}

interface Waiter {
  target: number;
  resolve(): void;
}

export class AppendFile {
  private fh: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  private queue: Buffer[] = [];
  private queued = 0;
  /** Bytes taken off the queue by the running write and not yet confirmed. */
  private inflight = 0;
  private written: number;
  private writing = false;
  private retryMs = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private waiters: Waiter[] = [];
  private readonly sha: Hash | undefined;
  private failedWrites = 0;
  private closed = false;
  private dropped = 0;
  private drained: (() => void) | undefined;

  constructor(
    readonly path: string,
    private readonly opts: AppendFileOptions = {},
  ) {
    this.written = opts.startAt ?? 0;
    this.sha = opts.hash ? createHash('sha256') : undefined;
  }

  /** Bytes confirmed written. */
  get writtenBytes(): number {
    return this.written;
  }

  /** Bytes appended and not yet written (the running write included): memory held. */
  get pendingBytes(): number {
    return this.inflight + this.queued;
  }

  /** Offset the next appended byte will have. */
  get endOffset(): number {
    return this.written + this.inflight + this.queued;
  }

  get failing(): boolean {
    return this.retryMs > 0;
  }

  get writeErrors(): number {
    return this.failedWrites;
  }

  /** Bytes given up: abandoned, or still unwritten at close. */
  get droppedBytes(): number {
    return this.dropped;
  }

  /** Creates / opens the file now (the first write would do it anyway). */
  ensureOpen(): Promise<FileHandle> {
    if (this.fh) return Promise.resolve(this.fh);
    this.opening ??= open(this.path, this.opts.flags ?? 'wx', 0o600).then(
      (fh) => {
        this.fh = fh;
        return fh;
      },
      (e: unknown) => {
        this.opening = undefined;
        throw e;
      },
    );
    return this.opening;
  }

  append(buf: Buffer): void {
    if (this.closed) return;
    this.queue.push(buf);
    this.queued += buf.length;
  }

  /** Starts draining the queue if no write is running. */
  kick(): void {
    if (this.writing || this.retryTimer || this.queued === 0 || this.closed) return;
    this.writing = true;
    void this.drain();
  }

  /** Resolves once everything appended before the call is written (or dropped by abandon()). */
  flush(): Promise<void> {
    const target = this.endOffset;
    if (this.written >= target) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    this.retryTimer?.ref();
    this.kick();
    return p;
  }

  /** Gives up on the queued bytes (the disk cannot take them); returns how many were dropped. */
  abandon(): number {
    const n = this.queued;
    this.dropped += n;
    this.queue = [];
    this.queued = 0;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.settle(Infinity);
    return n;
  }

  /** The hash of the written bytes (call once, after the last write). */
  digest(): string {
    return this.sha ? this.sha.digest('hex') : '';
  }

  /** Closes the file after cutting anything a failed write may have left past the written end. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.writing) await new Promise<void>((resolve) => (this.drained = resolve));
    this.dropped += this.queued;
    this.queue = [];
    this.queued = 0;
    this.settle(Infinity);
    const fh = this.fh ?? (this.opening ? await this.opening.catch(() => undefined) : undefined);
    this.fh = undefined;
    if (!fh) return;
    try {
      if (this.failedWrites > 0) await fh.truncate(this.written).catch(() => undefined);
    } finally {
      await fh.close();
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.queued > 0) {
        const buf = this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue, this.queued);
        this.queue = [];
        this.queued = 0;
        this.inflight = buf.length;
        const done = await this.writeSome(buf);
        this.inflight = 0;
        if (done === buf.length) {
          this.retryMs = 0;
          continue;
        }
        if (this.closed) {
          this.dropped += buf.length - done;
          return;
        }
        // The unwritten rest goes back in front (appends made meanwhile stay behind it) and is
        // retried at the same position after a backoff.
        const rest = buf.subarray(done);
        this.queue.unshift(rest);
        this.queued += rest.length;
        this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs ? this.retryMs * 2 : RETRY_MIN_MS);
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.kick();
        }, this.retryMs);
        // Someone awaiting flush() keeps the process alive for the retry; otherwise it does not.
        if (this.waiters.length === 0) this.retryTimer.unref();
        return;
      }
    } finally {
      this.writing = false;
      const d = this.drained;
      this.drained = undefined;
      d?.();
    }
  }

  /** Writes `buf` at the written end; returns how many of its bytes are confirmed written. */
  private async writeSome(buf: Buffer): Promise<number> {
    let off = 0;
    try {
      const fh = await this.ensureOpen();
      if (this.opts.beforeWrite) await this.opts.beforeWrite();
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off, this.written);
        if (bytesWritten <= 0) throw new Error('write returned 0 bytes');
        this.sha?.update(buf.subarray(off, off + bytesWritten));
        off += bytesWritten;
        this.written += bytesWritten;
        this.inflight -= bytesWritten;
      }
    } catch (e) {
      this.failedWrites++;
      this.opts.onError?.(e);
    }
    if (off > 0) {
      this.opts.onWritten?.(this.written);
      this.settle(this.written);
    }
    return off;
  }

  private settle(upTo: number): void {
    if (this.waiters.length === 0) return;
    const keep: Waiter[] = [];
    for (const w of this.waiters) (w.target <= upTo ? w.resolve() : keep.push(w));
    this.waiters = keep;
  }
}
