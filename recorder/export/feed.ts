// Every committed event, once, for a consumer that may fall behind or stop (a SIEM forwarder,
// the scheduled export). Two modes:
// - catch-up: read the store in id order after the last event handed out (after a restart, an
//   outage, or when the live queue overflowed);
// - live: events as the Recorder commits them (Recorder.subscribe), in commit order.
// Ids are time-ordered by the event's own ts, and some events are stamped before they commit
// (a panel request is stamped when it starts and stored when it ends). Such an event can commit
// with an id below the point the store reading has passed; while catching up, the live listener
// keeps those "late" events (ids only, bounded) and hands them out with the next takes, so they
// are not skipped; a ledger in the store keeps their ids until the consumer acknowledges them,
// so a restart does not skip them either. A small set of recently read ids drops the rare event
// seen both by a store read and by the listener (its commit became visible just before the
// listener ran).
// When the store exposes its batch records (docs/store.md: commit order with no holes), a
// position in batch numbers would make all of this exact by construction: only source.ts
// (readAfter) and this file would change.
import type { Logger } from '../../gateway/core/runtime.js';
import type { SgEvent } from '../events.js';
import { readAfter, type ExportStore } from './source.js';
import type { LateLedger } from './state.js';

export type Subscribe = (fn: (events: readonly SgEvent[]) => void) => () => void;

export interface CommitFeedOptions {
  store: ExportStore;
  /** Recorder.subscribe; without it the feed only reads the store (each take() reads anew). */
  subscribe?: Subscribe;
  /** Hand out events after this id (the consumer's persisted position); absent = from the start. */
  after?: string;
  logger: Logger;
  /** Live events kept before falling back to catch-up (default 10,000). 0: never live, always
   * read the store (the listener then only watches for late events). */
  liveMax?: number;
  /** Late event ids kept while catching up (default 100,000); beyond that they are counted and logged. */
  lateMax?: number;
  /** Rows read from the store per take (default 500). */
  readMax?: number;
  /** Keeps late ids across restarts: loaded at start, each new one added, dropped on ack(). */
  ledger?: LateLedger;
}

const RECENT_MAX = 4096;

export class CommitFeed {
  private readonly store: ExportStore;
  private readonly logger: Logger;
  private readonly liveMax: number;
  private readonly lateMax: number;
  private readonly readMax: number;
  private readonly unsubscribe: (() => void) | undefined;
  /** Greatest id handed out (or the start position). */
  private high: string | undefined;
  private mode: 'catchup' | 'live';
  private live: SgEvent[] = [];
  private readonly late = new Set<string>();
  /** Late ids handed out and not yet acknowledged (still in the ledger). */
  private readonly handed = new Set<string>();
  private readonly ledger: LateLedger | undefined;
  /** Ledger writes not yet committed (settled() waits for them). */
  private readonly writes = new Set<Promise<void>>();
  private readonly recent = new Set<string>();
  private waiters: (() => void)[] = [];
  private closed = false;
  /** Late events that could not be kept (lateMax): never silent. */
  lostLate = 0;
  /** Times the live queue overflowed and the feed went back to reading the store. */
  fallbacks = 0;

  constructor(opts: CommitFeedOptions) {
    this.store = opts.store;
    this.logger = opts.logger;
    this.liveMax = opts.liveMax ?? 10_000;
    this.lateMax = opts.lateMax ?? 100_000;
    this.readMax = opts.readMax ?? 500;
    this.high = opts.after;
    this.mode = 'catchup';
    this.ledger = opts.ledger;
    for (const id of opts.ledger?.ids(this.lateMax) ?? []) this.late.add(id);
    this.unsubscribe = opts.subscribe?.((evs) => this.onCommit(evs));
  }

  /** The greatest id handed out so far: persist it once everything handed out is acknowledged. */
  get position(): string | undefined {
    return this.high;
  }

  get state(): { mode: 'catchup' | 'live'; live: number; late: number; lost_late: number; fallbacks: number } {
    return { mode: this.mode, live: this.live.length, late: this.late.size, lost_late: this.lostLate, fallbacks: this.fallbacks };
  }

  /**
   * Up to `max` events, without waiting: catch-up reads or live events, then late ones.
   * `upTo`: while catching up, read no id beyond it (a scheduled run's end).
   */
  take(max: number, upTo?: string): SgEvent[] {
    if (this.closed || max <= 0) return [];
    const out: SgEvent[] = [];
    if (this.mode === 'catchup' || !this.unsubscribe) {
      const rows = readAfter(this.store, this.high, Math.min(max, this.readMax), upTo);
      for (const ev of rows) this.remember(ev.id);
      if (rows.length) this.high = rows[rows.length - 1]!.id;
      out.push(...rows);
      if (rows.length < Math.min(max, this.readMax) && this.unsubscribe && this.liveMax > 0 && upTo === undefined) {
        // Caught up: what commits from now on arrives through the listener.
        this.mode = 'live';
        this.logger.debug({ position: this.high }, 'commit feed live');
      }
      if (out.length < max) this.drainLate(out, max);
      return out;
    }
    this.drainLate(out, max);
    for (const ev of this.live.splice(0, max - out.length)) {
      out.push(ev);
      if (this.high === undefined || ev.id > this.high) this.high = ev.id;
    }
    return out;
  }

  /** Up to `max` events, waiting until at least one is there (or `signal` aborts / close). */
  async next(max: number, signal?: AbortSignal): Promise<SgEvent[]> {
    for (;;) {
      const got = this.take(max);
      if (got.length || this.closed || signal?.aborted) return got;
      if (this.mode === 'catchup' && !this.unsubscribe) return got;
      await new Promise<void>((resolve) => {
        const done = () => {
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.waiters.push(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /**
   * Back to `after` (a consumer failed to deliver what it took): the store is read again from
   * there, and `late` ids (taken, at or below `after`) are handed out again.
   */
  rewind(after: string | undefined, late: readonly string[] = []): void {
    this.high = after;
    this.mode = 'catchup';
    this.live = [];
    this.recent.clear();
    for (const id of late) {
      this.handed.delete(id);
      this.addLate(id);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    this.wake();
  }

  /** The consumer delivered these (any ids): late ones leave the ledger. */
  ack(ids: Iterable<string>): Promise<void> {
    const done: string[] = [];
    for (const id of ids) if (this.handed.delete(id)) done.push(id);
    return this.forget(done);
  }

  /**
   * Events the consumer took (or that wait in the live queue) and will not deliver before it
   * stops, with ids at or below `saved` (its saved position): into the ledger, or a restart,
   * which reads the store after `saved`, would skip them.
   */
  async keep(events: Iterable<SgEvent>, saved: string | undefined): Promise<void> {
    const ledger = this.ledger;
    if (!ledger || saved === undefined) return;
    for (const e of [...events, ...this.live]) if (e.id <= saved) void this.track(ledger.add(e.id), `could not save late id ${e.id}`);
    await this.settled();
  }

  /** Resolves when every ledger write so far is committed (before a consumer stops). */
  async settled(): Promise<void> {
    while (this.writes.size) await Promise.all([...this.writes]);
  }

  private track(p: Promise<void>, what: string): Promise<void> {
    const w = p.catch((e: unknown) => this.logger.error({ err: e }, `commit feed: ${what}`));
    this.writes.add(w);
    void w.finally(() => this.writes.delete(w));
    return w;
  }

  private forget(ids: string[]): Promise<void> {
    if (!ids.length || !this.ledger) return Promise.resolve();
    return this.track(this.ledger.drop(ids), 'could not drop delivered late ids (they may be sent again after a restart)');
  }

  private drainLate(out: SgEvent[], max: number): void {
    const gone: string[] = [];
    for (const id of this.late) {
      if (out.length >= max) break;
      this.late.delete(id);
      const ev = this.store.getEvent(id);
      if (ev) {
        out.push(ev);
        this.handed.add(id);
      } else gone.push(id); // removed by retention meanwhile
    }
    void this.forget(gone);
  }

  private onCommit(evs: readonly SgEvent[]): void {
    if (this.closed) return;
    for (const ev of evs) {
      if (this.recent.has(ev.id)) continue;
      if (this.mode === 'live') {
        if (this.live.length < this.liveMax) {
          this.live.push(ev);
          continue;
        }
        // The consumer fell too far behind: read from the store again instead of holding events.
        this.fallBack();
      }
      // Catching up: what lies beyond the reading point will be read; what lies behind is late.
      if (this.high !== undefined && ev.id <= this.high) this.addLate(ev.id);
    }
    this.wake();
  }

  private fallBack(): void {
    this.fallbacks++;
    this.logger.warn({ queued: this.live.length, position: this.high }, 'commit feed: consumer behind, reading from the store');
    for (const ev of this.live) if (this.high !== undefined && ev.id <= this.high) this.addLate(ev.id);
    this.live = [];
    this.mode = 'catchup';
  }

  private addLate(id: string): void {
    if (this.late.has(id)) return;
    if (this.late.size < this.lateMax) {
      this.late.add(id);
      if (this.ledger) void this.track(this.ledger.add(id), `could not save late id ${id} (a restart before it is delivered would skip it)`);
      return;
    }
    this.lostLate++;
    if (this.lostLate === 1 || this.lostLate % 1000 === 0) this.logger.error({ lost_late: this.lostLate, id }, 'commit feed: too many late events held; some will not be delivered');
  }

  private remember(id: string): void {
    this.recent.add(id);
    if (this.recent.size > RECENT_MAX) {
      const oldest = this.recent.values().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
