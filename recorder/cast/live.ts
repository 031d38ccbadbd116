// Live fan-out of a recording's lines (live watch). publish() only queues: each subscriber is
// served from its own queue on a later turn, so a listener never runs on the relay's call
// stack. A listener that returns a promise gets no further line until it settles (backpressure,
// e.g. a WebSocket waiting for drain); one that falls more than `maxQueuedBytes` behind is cut
// off (its screen would be wrong after a hole anyway) and told why, so it can start again from
// a keyframe. The writer is never held up by a subscriber.
import type { Logger } from '../../gateway/core/runtime.js';

export const DEFAULT_MAX_QUEUED_BYTES = 1 << 20;

/** Gets each line (one asciicast event as JSON, without the newline). */
export type CastListener = (line: string) => void | Promise<unknown>;

export interface SubscribeOptions {
  /** How far (bytes of lines) the listener may fall behind before it is dropped. Default 1 MiB. */
  maxQueuedBytes?: number;
  /** Called once when the subscription ends: `closed` (recording ended), `slow` (fell behind),
   * `error` (the listener threw or rejected). Not called after unsubscribe(). */
  onEnd?: (reason: 'closed' | 'slow' | 'error') => void;
}

export interface CastSubscription {
  /** Byte offset in the .cast of the first line this subscriber gets. */
  readonly offset: number;
  /** Lines not delivered because the subscriber was dropped. */
  readonly dropped: number;
  readonly ended: boolean;
  unsubscribe(): void;
}

class Subscriber implements CastSubscription {
  private queue: string[] = [];
  private head = 0;
  private queuedBytes = 0;
  private draining = false;
  private closing = false;
  dropped = 0;
  ended = false;

  constructor(
    private readonly owner: LiveFanout,
    private readonly fn: CastListener,
    private readonly maxQueuedBytes: number,
    private readonly onEnd: SubscribeOptions['onEnd'],
    readonly offset: number,
  ) {}

  push(line: string): void {
    if (this.ended) return;
    if (this.queuedBytes + line.length > this.maxQueuedBytes) {
      this.dropped += this.queue.length - this.head + 1;
      this.end('slow');
      return;
    }
    this.queue.push(line);
    this.queuedBytes += line.length;
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => void this.drain());
    }
  }

  unsubscribe(): void {
    this.finish();
  }

  end(reason: 'closed' | 'slow' | 'error'): void {
    if (this.ended) return;
    // A closing recording still delivers what was queued before the end.
    if (reason === 'closed' && this.head < this.queue.length) {
      this.closing = true;
      return;
    }
    this.finish();
    this.onEnd?.(reason);
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.owner.remove(this);
  }

  private async drain(): Promise<void> {
    try {
      while (!this.ended && this.head < this.queue.length) {
        const line = this.queue[this.head++]!;
        this.queuedBytes -= line.length;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        const r = this.fn(line);
        if (r && typeof (r as Promise<unknown>).then === 'function') await r;
      }
    } catch (e) {
      this.owner.logger.warn({ err: e }, 'live recording subscriber failed; dropped');
      this.dropped += this.queue.length - this.head;
      this.finish();
      this.onEnd?.('error');
      return;
    } finally {
      this.draining = false;
    }
    if (this.closing && !this.ended) {
      this.finish();
      this.onEnd?.('closed');
    }
  }
}

export class LiveFanout {
  private readonly subs = new Set<Subscriber>();
  private closed = false;

  constructor(readonly logger: Logger) {}

  get size(): number {
    return this.subs.size;
  }

  subscribe(fn: CastListener, offset: number, opts: SubscribeOptions = {}): CastSubscription {
    const s = new Subscriber(this, fn, opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES, opts.onEnd, offset);
    if (this.closed) {
      s.ended = true;
      queueMicrotask(() => opts.onEnd?.('closed'));
      return s;
    }
    this.subs.add(s);
    return s;
  }

  publish(line: string): void {
    for (const s of this.subs) s.push(line);
  }

  /** Ends every subscription after its queued lines. */
  close(): void {
    this.closed = true;
    for (const s of [...this.subs]) s.end('closed');
  }

  remove(s: Subscriber): void {
    this.subs.delete(s);
  }
}
