// The Recorder: the Emitter front ends hand events to, and the only writer of the store.
// emit() is O(1) and does no I/O: it stamps the event and appends it to a bounded queue. A
// writer commits the head of the queue in batches (one LMDB transaction each, at most one in
// flight) every flush interval, or at once when a batch is full or a durable emit waits.
// Events leave the queue only after their batch committed, so a failed write loses nothing:
// the writer backs off and retries, and the store reports unwritable until a write succeeds.
// Whatever cannot be queued or stored is counted and lands in the store as an `audit.gap`.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { AuditMode, Emitter } from './emitter.js';
import type { AuditGapEvent, EventInput, SgEvent } from './events.js';
import type { RecorderObserver } from './store/types.js';
import type { AuditConfig } from '../config/schema.js';
import { configSchema } from '../config/schema.js';
import type { Clock, Logger } from '../gateway/core/runtime.js';
import { SgError } from '../gateway/core/errors.js';
import { ID_RE, idTime } from '../gateway/core/ids.js';
import { STORE_WRITERS, Store, isDiskFull, type StoreWriter, type WriteResult } from './store/store.js';
import { isEventType, kindOf } from './store/kinds.js';
import { ChunkQueue } from './queue.js';
import { LossLedger, type LossReason, type LossWindow } from './loss.js';
import { LogLimiter } from './log-limit.js';
import { idMatchesTs, mintId, validTs } from './event-id.js';

export const RETRY_MIN_MS = 50;
export const RETRY_MAX_MS = 2_000;
export const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;

export interface RecorderOptions {
  /** The store lives in `${dataDir}/store`. */
  dataDir: string;
  audit: AuditConfig;
  clock: Clock;
  logger: Logger;
  observer?: RecorderObserver;
  /** How long close() keeps retrying a failing store before it counts the queue as lost. */
  closeTimeoutMs?: number;
  /** Passed to the store: rows one query may examine. */
  scanBudget?: number;
  /** Passed to the store: where batches are encoded and committed (default `inline`; `worker`
   * moves that off the calling thread, see StoreWriter). */
  writer?: StoreWriter;
  /** audit.key_file's key, passed to the store: every batch record then extends the HMAC chain. */
  integrityKey?: Buffer;
}

export interface RecorderStats {
  /** Events waiting in the queue (including a batch being written). */
  queued: number;
  /** Events committed by this recorder (gap events not included). */
  stored: number;
  /** Events lost: dropped (queue full, store failing, after close) or refused by the store. */
  lost: number;
  /** `audit.gap` events committed. */
  gaps: number;
  writable: boolean;
  /** emitDurable events refused or withdrawn with a rejected promise (the caller knows). */
  rejected: number;
}

export type CommitListener = (events: readonly SgEvent[]) => void;

interface Waiter {
  resolve(ev: SgEvent): void;
  reject(e: unknown): void;
}

const optionsSchema = z.object({
  dataDir: z.string().min(1),
  clock: z.custom<Clock>((v) => typeof (v as Clock | null)?.now === 'function', 'a Clock'),
  logger: z.custom<Logger>((v) => typeof (v as Logger | null)?.error === 'function', 'a pino logger'),
  closeTimeoutMs: z.number().int().nonnegative().optional(),
  scanBudget: z.number().int().positive().optional(),
  writer: z.enum(STORE_WRITERS).optional(),
  integrityKey: z.custom<Buffer>((v) => Buffer.isBuffer(v), 'a Buffer').optional(),
});

export class Recorder implements Emitter {
  readonly mode: AuditMode;
  readonly store: Store;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly observer: RecorderObserver | undefined;
  private readonly queueMax: number;
  private readonly batchMax: number;
  /** Queue length that starts a write without waiting for the timer. */
  private readonly batchTrigger: number;
  private readonly closeTimeoutMs: number;

  private readonly queue = new ChunkQueue<SgEvent>();
  private readonly durable = new Map<SgEvent, Waiter>();
  /** Durable events whose promise was rejected: skipped when their turn to be written comes. */
  private readonly withdrawn = new Set<SgEvent>();
  private readonly losses = new LossLedger();
  private readonly listeners = new Set<CommitListener>();
  private readonly logLimit = new LogLimiter();
  private readonly timer: NodeJS.Timeout;
  /** Events ever queued / ever removed from the queue head (committed or withdrawn). */
  private pushedSeq = 0;
  private doneSeq = 0;
  private writing: Promise<boolean> | undefined;
  /** The timer fired while a write was in flight. */
  private kickMissed = false;
  private immediate: NodeJS.Immediate | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = 0;
  private storeWritable = true;
  private lastWriteError: unknown;
  private failingSince = 0;
  private failedAttempts = 0;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closing: Promise<void> | undefined;
  private readonly counters = { stored: 0, lost: 0, gaps: 0, rejected: 0 };

  private constructor(store: Store, audit: AuditConfig, opts: RecorderOptions) {
    this.store = store;
    this.mode = audit.mode;
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.observer = opts.observer;
    this.queueMax = audit.queue_max;
    this.batchMax = audit.batch_max;
    this.batchTrigger = Math.min(audit.batch_max, audit.queue_max);
    this.closeTimeoutMs = opts.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.timer = setInterval(() => this.kick(), audit.flush_interval);
    this.timer.unref();
  }

  static async open(opts: RecorderOptions): Promise<Recorder> {
    const parsed = optionsSchema.safeParse(opts);
    const audit = configSchema.shape.audit.safeParse(opts?.audit);
    if (!parsed.success || !audit.success) {
      const issues = [...(parsed.error?.issues ?? []), ...(audit.error?.issues.map((i) => ({ ...i, path: ['audit', ...i.path] })) ?? [])];
      throw new SgError('SG_ERR_CONFIG_INVALID', `invalid recorder options: ${issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    const store = Store.open({ dir: join(opts.dataDir, 'store'), logger: opts.logger, clock: opts.clock, scanBudget: opts.scanBudget, writer: opts.writer ?? audit.data.writer, ...(opts.integrityKey ? { integrityKey: opts.integrityKey } : {}) });
    const rec = new Recorder(store, audit.data, opts);
    opts.logger.info({ dir: store.dir, mode: rec.mode, flush_interval: audit.data.flush_interval, queue_max: rec.queueMax, batch_max: rec.batchMax }, 'recorder started');
    return rec;
  }

  // ---------- the data path ----------

  emit(input: EventInput): SgEvent | undefined {
    try {
      if (this.state !== 'open') {
        this.lose(input, 'shutdown');
        return undefined;
      }
      const ev = this.build(input);
      if (typeof ev === 'string') {
        this.lose(input, 'write_failed');
        this.logLimited('invalid', 'error', { type: safeType(input), problem: ev }, 'invalid event dropped (a bug in its emitter)');
        return undefined;
      }
      if (this.queue.length >= this.queueMax) {
        this.lose(ev, this.storeWritable ? 'queue_full' : this.failReason());
        return undefined;
      }
      this.queue.push(ev);
      this.pushedSeq++;
      if (this.queue.length >= this.batchTrigger && !this.writing) this.soon();
      return ev;
    } catch (e) {
      // Never throw on the data path; still count it.
      this.lose(input, 'write_failed');
      this.logLimited('emit', 'error', { err: e }, 'emit failed');
      return undefined;
    }
  }

  emitDurable(input: EventInput): Promise<SgEvent> {
    if (this.state !== 'open') return Promise.reject(new SgError('SG_ERR_RECORDER_CLOSED', 'the recorder is closed'));
    if (!this.storeWritable) {
      this.counters.rejected++;
      return Promise.reject(new SgError('SG_ERR_STORE_UNAVAILABLE', 'the audit store cannot write', { cause: this.lastWriteError }));
    }
    let ev: SgEvent | string;
    try {
      ev = this.build(input);
    } catch (e) {
      return Promise.reject(new SgError('SG_ERR_BAD_PARAM', 'invalid event', { cause: e }));
    }
    if (typeof ev === 'string') return Promise.reject(new SgError('SG_ERR_BAD_PARAM', `invalid event: ${ev}`));
    if (this.queue.length >= this.queueMax) {
      this.counters.rejected++;
      return Promise.reject(new SgError('SG_ERR_QUEUE_FULL', 'the audit queue is full'));
    }
    return new Promise<SgEvent>((resolve, reject) => {
      this.durable.set(ev, { resolve, reject });
      this.queue.push(ev);
      this.pushedSeq++;
      this.soon();
    });
  }

  writable(): boolean {
    return this.storeWritable && this.state === 'open';
  }

  /** Called after each commit with the events it committed (gap events included). */
  subscribe(fn: CommitListener): () => void {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }

  /** Resolves when everything emitted before the call is committed (and losses so far are in a
   * committed gap). Rejects with SG_ERR_STORE_UNAVAILABLE if a write fails meanwhile. */
  async flush(): Promise<void> {
    if (this.state === 'closed') return;
    const target = this.pushedSeq;
    const lossTarget = this.losses.seq;
    while (this.doneSeq < target || this.losses.doneSeq < lossTarget) {
      const ok = await this.pump();
      if (!ok) throw new SgError('SG_ERR_STORE_UNAVAILABLE', 'the audit store cannot write: events stay queued and are retried', { cause: this.lastWriteError });
    }
  }

  stats(): RecorderStats {
    return { queued: this.queue.length, ...this.counters, writable: this.writable() };
  }

  /** Stops the timer, commits everything queued, closes the store. Idempotent. Events emitted
   * from now on are counted as lost (`shutdown`) and logged. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  // ---------- building and losing events ----------

  /** The event with id and ts filled in, or why it cannot be recorded. */
  private build(input: EventInput): SgEvent | string {
    if (input === null || typeof input !== 'object') return 'not an object';
    if (!kindOf(input.type)) return `unknown event type ${JSON.stringify(safeType(input))}`;
    const now = this.clock.now();
    const givenId = input.id;
    if (givenId !== undefined && (typeof givenId !== 'string' || !ID_RE.test(givenId))) return 'malformed id';
    const ts = input.ts !== undefined ? input.ts : givenId !== undefined ? idTime(givenId) : now;
    if (!validTs(ts)) return 'ts is not ms since epoch';
    if (givenId !== undefined && !idMatchesTs(givenId, ts)) return "the id's time differs from ts";
    const id = givenId ?? mintId(ts, now);
    // Stamped in place: emit takes ownership of the object (copying a 20-field event costs
    // more than everything else emit does). A frozen or sealed input is copied instead.
    if (!Object.isExtensible(input)) return Object.assign({}, input, { id, ts }) as SgEvent;
    const ev = input as SgEvent;
    ev.id = id;
    ev.ts = ts;
    return ev;
  }

  private lose(x: unknown, reason: LossReason): void {
    const o = (x !== null && typeof x === 'object' ? x : {}) as { ts?: unknown };
    const ts = validTs(o.ts) ? o.ts : this.safeNow();
    // Unknown types share one bucket: garbage input must not grow the ledger without bound.
    const type = safeType(x);
    this.losses.add(reason, isEventType(type) ? type : 'invalid', ts);
    this.counters.lost++;
    this.obs('lost', 1, reason);
    if (this.state === 'closed') this.logLimited('after-close', 'warn', { type: safeType(x), lost_total: this.counters.lost }, 'event emitted after the recorder closed: not recorded');
  }

  /** The clock, or wall time if the injected clock fails: counting a loss must not throw. */
  private safeNow(): number {
    try {
      const t = this.clock.now();
      if (validTs(t)) return t;
    } catch {
      /* fall through */
    }
    return Date.now();
  }

  private failReason(): LossReason {
    return isDiskFull(this.lastWriteError) ? 'disk_full' : 'write_failed';
  }

  // ---------- the writer ----------

  /** Timer and immediate entry point: respects the retry backoff. */
  private kick(): void {
    if (this.writing) {
      // A tick that finds a write in flight is not lost: the next write starts when it ends,
      // so an event waits at most about one interval plus one commit, never two intervals.
      this.kickMissed = true;
      return;
    }
    if (this.retryTimer || this.store.closed) return;
    if (this.queue.length === 0 && !this.losses.pending) return;
    void this.pump();
  }

  private soon(): void {
    if (this.immediate) return;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      this.kick();
    });
  }

  /** Starts a write unless one is in flight; resolves true when that write committed. */
  private pump(): Promise<boolean> {
    if (this.writing) return this.writing;
    if (this.store.closed) return Promise.resolve(false);
    const p = this.writeOnce()
      .catch((e: unknown) => {
        // A bug in the writer must not stop it: treat it as a failed write (retry, backoff).
        this.logLimited('writer', 'error', { err: e }, 'recorder writer error');
        this.onWriteFailure(e);
        return false;
      })
      .then((ok) => {
        this.writing = undefined;
        const missed = this.kickMissed;
        this.kickMissed = false;
        const waiting = this.queue.length > 0 || this.losses.pending;
        if (ok && this.state !== 'closed' && waiting && (missed || this.queue.length >= this.batchTrigger || this.durable.size > 0)) this.soon();
        return ok;
      });
    this.writing = p;
    return p;
  }

  private async writeOnce(): Promise<boolean> {
    const n = Math.min(this.queue.length, this.batchMax);
    const head = this.queue.peek(n);
    const events = this.withdrawn.size ? head.filter((e) => !this.withdrawn.has(e)) : head;
    const taken = this.losses.take();
    const now = this.safeNow();
    const gaps = taken.windows.map((w) => gapEvent(w, now));
    const batch = gaps.length ? [...gaps, ...events] : events;
    if (batch.length === 0) {
      this.settleHead(n, head);
      return true;
    }
    this.obs('queueDepth', this.queue.length);
    const t0 = performance.now();
    let res: WriteResult;
    try {
      res = await this.store.writeBatch(batch);
    } catch (e) {
      this.losses.restore(taken);
      this.onWriteFailure(e);
      return false;
    }
    const ms = performance.now() - t0;
    this.settleHead(n, head);
    this.losses.committed(taken);
    this.onWriteSuccess();
    try {
      this.afterCommit(batch, res, ms);
    } catch (e) {
      this.logLimited('after-commit', 'error', { err: e }, 'post-commit bookkeeping failed');
    }
    return true;
  }

  /** The first n queue entries are done: drop them and forget their withdrawn marks. */
  private settleHead(n: number, head: SgEvent[]): void {
    this.queue.drop(n);
    this.doneSeq += n;
    if (this.withdrawn.size) for (const e of head) this.withdrawn.delete(e);
  }

  private afterCommit(batch: SgEvent[], res: WriteResult, ms: number): void {
    const refused = new Map<SgEvent, string>();
    for (const e of res.duplicates) refused.set(e, 'duplicate id: the stored event is kept');
    for (const r of res.rejected) refused.set(r.event, r.error);
    const committed = refused.size ? batch.filter((e) => !refused.has(e)) : batch;
    for (const [e, why] of refused) {
      // Counted here; the store has logged them.
      this.lose(e, 'write_failed');
      const w = this.durable.get(e);
      if (w) {
        this.durable.delete(e);
        w.reject(new SgError('SG_ERR_STORE_WRITE', `event not stored: ${why}`));
      }
    }
    const byType: Record<string, number> = {};
    const resolved: [Waiter, SgEvent][] = [];
    for (const e of committed) {
      byType[e.type] = (byType[e.type] ?? 0) + 1;
      if (e.type === 'audit.gap') {
        this.counters.gaps++;
        this.obs('gap');
      } else this.counters.stored++;
      if (this.durable.size) {
        const w = this.durable.get(e);
        if (w) {
          this.durable.delete(e);
          resolved.push([w, e]);
        }
      }
    }
    if (resolved.length) {
      // Durable means on disk: wait for the flush that follows the commit.
      Promise.resolve()
        .then(() => this.store.flushed())
        .then(
        () => resolved.forEach(([w, e]) => w.resolve(e)),
        (err) => resolved.forEach(([w]) => w.reject(new SgError('SG_ERR_STORE_UNAVAILABLE', 'the audit store could not flush to disk', { cause: err }))),
      );
    }
    this.obs('flushed', byType, ms);
    this.obs('queueDepth', this.queue.length);
    if (this.listeners.size && committed.length) {
      const frozen = Object.freeze(committed.slice());
      for (const fn of this.listeners) {
        try {
          fn(frozen);
        } catch (e) {
          this.logLimited('listener', 'error', { err: e }, 'a commit listener threw');
        }
      }
    }
  }

  private onWriteFailure(e: unknown): void {
    this.lastWriteError = e;
    this.failedAttempts++;
    if (this.storeWritable) {
      this.storeWritable = false;
      this.failingSince = this.safeNow();
      this.logger.error({ err: e, queued: this.queue.length }, 'audit store write failed: events stay queued, retrying');
    } else {
      this.logLimited('write', 'error', { err: e, attempts: this.failedAttempts, queued: this.queue.length }, 'audit store write still failing');
    }
    // Strict-mode callers must not wait for a store that cannot write: withdraw their events
    // (their action is refused, so it must not appear in the record later).
    if (this.durable.size) {
      const err = new SgError('SG_ERR_STORE_UNAVAILABLE', 'the audit store cannot write', { cause: e });
      for (const [ev, w] of this.durable) {
        this.withdrawn.add(ev);
        this.counters.rejected++;
        w.reject(err);
      }
      this.durable.clear();
    }
    this.backoffMs = this.backoffMs ? Math.min(this.backoffMs * 2, RETRY_MAX_MS) : RETRY_MIN_MS;
    if (this.state !== 'closed' && !this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.kick();
      }, this.backoffMs);
      this.retryTimer.unref();
    }
  }

  private onWriteSuccess(): void {
    if (!this.storeWritable) {
      this.storeWritable = true;
      this.logger.warn({ failed_for_ms: this.safeNow() - this.failingSince, attempts: this.failedAttempts, queued: this.queue.length }, 'audit store writable again');
    }
    this.backoffMs = 0;
    this.failedAttempts = 0;
    this.lastWriteError = undefined;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
  }

  private async shutdown(): Promise<void> {
    this.state = 'closing';
    clearInterval(this.timer);
    if (this.immediate) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
    const deadline = performance.now() + this.closeTimeoutMs;
    let delay = RETRY_MIN_MS;
    for (;;) {
      try {
        await this.flush();
        // Emits during close only add losses (reason shutdown): commit their gap too.
        if ((this.queue.length === 0 && !this.losses.pending) || performance.now() > deadline) break;
      } catch (e) {
        if (performance.now() + delay > deadline) {
          this.abandonQueue(e);
          break;
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
    if (this.writing) await this.writing;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.state = 'closed';
    if (this.losses.pending) this.logger.error({ losses: this.losses.summary() }, 'audit losses that could not be recorded in the store');
    await this.store.close();
    this.logger.info({ stored: this.counters.stored, lost: this.counters.lost, gaps: this.counters.gaps }, 'recorder closed');
  }

  /** Close gave up on a failing store: what is still queued is lost; say so loudly. */
  private abandonQueue(e: unknown): void {
    const reason = this.failReason();
    const n = this.queue.length;
    for (const ev of this.queue) if (!this.withdrawn.has(ev)) this.lose(ev, reason);
    this.settleHead(n, this.queue.peek(n));
    const err = new SgError('SG_ERR_STORE_UNAVAILABLE', 'the audit store cannot write', { cause: e });
    for (const w of this.durable.values()) w.reject(err);
    this.durable.clear();
    this.logger.error({ err: e, lost: n, losses: this.losses.summary() }, 'recorder closing: the store cannot write, queued events are lost');
  }

  /** Observer calls never break the data path or the writer. */
  private obs<K extends keyof RecorderObserver>(k: K, ...args: Parameters<NonNullable<RecorderObserver[K]>>): void {
    const f = this.observer?.[k] as ((...a: unknown[]) => void) | undefined;
    if (!f) return;
    try {
      f.apply(this.observer, args);
    } catch (e) {
      this.logLimited('observer', 'error', { err: e }, 'recorder observer threw');
    }
  }

  private logLimited(key: string, level: 'warn' | 'error', obj: Record<string, unknown>, msg: string): void {
    const suppressed = this.logLimit.take(key);
    if (suppressed < 0) return;
    this.logger[level](suppressed ? { ...obj, suppressed } : obj, msg);
  }
}

function safeType(x: unknown): string {
  const t = x !== null && typeof x === 'object' ? (x as { type?: unknown }).type : undefined;
  return typeof t === 'string' ? t.slice(0, 64) : 'unknown';
}

function gapEvent(w: LossWindow, now: number): AuditGapEvent {
  return {
    type: 'audit.gap',
    id: mintId(now, now),
    ts: now,
    lost: w.lost,
    reason: w.reason,
    from_ts: w.from_ts,
    to_ts: w.to_ts,
    by_type: Object.fromEntries(w.by_type),
  };
}

