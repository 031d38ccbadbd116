// Live forwarding of every stored event to one SIEM destination. Events come from a CommitFeed
// (live from the Recorder, or read back from the store after an outage or restart), go out in
// batches, and the position (greatest event id delivered) is saved in the store only once the
// destination acknowledged: the events themselves stay in the store, so nothing is held in
// memory beyond one queue of bounded size, and a restart resumes with the first unacknowledged
// event. Failures retry with exponential backoff; batches that were in flight on a broken
// syslog connection are sent again (at-least-once: every message carries the event id).
import type { ForwardConfig } from '../../../config/schema.js';
import { forwardSchema } from '../../../config/schema.js';
import { checkConfig, checkDeps } from '../checks.js';
import { SgError } from '../../../gateway/core/errors.js';
import { idCeil } from '../../../gateway/core/ids.js';
import type { Clock, Logger } from '../../../gateway/core/runtime.js';
import type { SgEvent } from '../../events.js';
import { kindOf } from '../../store/kinds.js';
import { CommitFeed, type Subscribe } from '../feed.js';
import type { ExportStore } from '../source.js';
import { ExportState } from '../state.js';
import { HttpTransport, SyslogTransport, type Transport } from './transports.js';

export const RETRY_MIN_MS = 1000;
/** How long close() lets a send in flight finish before closing its connection. */
export const CLOSE_GRACE_MS = 2000;

/** Metrics hook: the app maps these onto Prometheus (gateway/core/metrics). */
export interface ForwarderObserver {
  /** Events acknowledged by the destination. */
  delivered?(name: string, n: number): void;
  /** A send failed (it is retried). */
  failed?(name: string, error: unknown): void;
  /** Age (ms) of the newest acknowledged event when it was acknowledged. */
  lag?(name: string, ms: number): void;
}

export interface ForwarderDeps {
  store: ExportStore;
  /** Recorder.subscribe (without it the forwarder polls the store). */
  subscribe?: Subscribe;
  clock: Clock;
  logger: Logger;
  observer?: ForwarderObserver;
  /** Tests inject a transport to force failures; default: from the config. */
  transport?: Transport;
  /** Poll interval when there is no subscribe (default 1 s). */
  pollMs?: number;
}

export interface ForwarderStats {
  name: string;
  /** Greatest event id acknowledged and saved. */
  position: string | undefined;
  delivered: number;
  failures: number;
  retrying: boolean;
  last_error?: string;
  feed: CommitFeed['state'] | undefined;
}

interface InFlight {
  /** Everything taken from the feed for this batch (other kinds included). */
  taken: readonly SgEvent[];
  /** What is sent: the forwarded kinds. */
  events: SgEvent[];
  /** Greatest id among the events taken for this batch (filtered-out kinds included). */
  maxId: string | undefined;
  sentAt: number;
  gen: number;
}

export function stateKey(name: string): string {
  return `forward:${name}`;
}

export function makeTransport(cfg: ForwardConfig): Transport {
  if (cfg.protocol === 'http') return new HttpTransport({ url: cfg.url, timeoutMs: cfg.timeout, caFile: cfg.ca_file, tokenFile: cfg.token_file });
  return new SyslogTransport({ url: cfg.url, timeoutMs: cfg.timeout, caFile: cfg.ca_file, facility: cfg.facility, appName: cfg.app_name, format: cfg.format });
}

export class Forwarder {
  readonly name: string;
  private readonly cfg: ForwardConfig;
  private readonly deps: ForwarderDeps;
  private readonly logger: Logger;
  private readonly kinds: ReadonlySet<string>;
  private readonly state: ExportState;
  private transport: Transport | undefined;
  private feed: CommitFeed | undefined;
  private position: string | undefined;
  private resend: InFlight[] = [];
  private inflight: InFlight[] = [];
  private wait: AbortController | undefined;
  private confirmTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private saving: Promise<void> | undefined;
  private saveAgain = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private backoffMs = 0;
  private counts = { delivered: 0, failures: 0 };
  private lastError: string | undefined;

  constructor(cfg: ForwardConfig, deps: ForwarderDeps) {
    const parsed = checkConfig(forwardSchema, cfg, 'forwarder config');
    checkDeps(deps, 'forwarder');
    this.cfg = parsed;
    this.name = this.cfg.name;
    this.deps = deps;
    this.logger = deps.logger.child({ forwarder: this.name });
    this.kinds = new Set(this.cfg.kinds);
    this.state = new ExportState(deps.store);
  }

  /** Loads the saved position and starts forwarding in the background. */
  start(): void {
    if (this.loop || this.closed) throw new SgError('SG_ERR_CONFLICT', `forwarder ${this.name} already started or closed`);
    const saved = this.state.get(stateKey(this.name));
    this.position = saved?.after;
    if (!saved && this.cfg.start_from === 'now') {
      this.position = idCeil(this.deps.clock.now());
      void this.save();
    }
    this.transport = this.deps.transport ?? makeTransport(this.cfg);
    this.feed = new CommitFeed({ store: this.deps.store, subscribe: this.deps.subscribe, after: this.position, logger: this.logger, liveMax: this.cfg.queue_max, readMax: this.cfg.batch_max, ledger: this.state.lateFor(stateKey(this.name)) });
    const every = Math.max(50, Math.floor((this.transport.confirmMs || 200) / 2));
    this.confirmTimer = setInterval(() => this.confirm(), every);
    this.confirmTimer.unref();
    this.logger.info({ protocol: this.cfg.protocol, position: this.position ?? 'beginning' }, 'forwarder started');
    this.loop = this.run().catch((e: unknown) => this.logger.error({ err: e }, 'forwarder stopped by an internal error'));
  }

  stats(): ForwarderStats {
    return { name: this.name, position: this.position, ...this.counts, retrying: this.backoffMs > 0, ...(this.lastError ? { last_error: this.lastError } : {}), feed: this.feed?.state };
  }

  /** Stops sending (a send in flight gets a short grace, then its connection is closed) and
   * waits until the position of what was acknowledged, and any late ids, are saved. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    if (this.confirmTimer) clearInterval(this.confirmTimer);
    this.wait?.abort();
    this.feed?.close();
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise((r) => (grace = setTimeout(r, CLOSE_GRACE_MS)))]);
    clearTimeout(grace);
    await this.transport?.close();
    await this.loop;
    this.confirm();
    while (this.saving) await this.saving;
    // Taken but not acknowledged, and behind the saved position: a restart must still send them.
    await this.feed?.keep([...this.inflight, ...this.resend].flatMap((b) => b.taken), this.position);
    await this.feed?.settled();
    this.logger.info({ position: this.position, delivered: this.counts.delivered }, 'forwarder closed');
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      this.confirm();
      let batch = this.resend.shift();
      if (!batch) {
        if (this.queued() >= this.cfg.queue_max) {
          await this.sleep(Math.max(50, this.transport!.confirmMs / 4));
          continue;
        }
        const taken = await this.next();
        if (!taken.length) continue;
        batch = { taken, events: taken.filter((e) => this.kinds.has(kindOf(e.type) ?? '')), maxId: maxId(taken), sentAt: 0, gen: 0 };
      }
      try {
        // Taken before sending: a connection that breaks once the write is done still counts.
        const gen = this.transport!.generation();
        if (batch.events.length) await this.transport!.send(batch.events);
        batch.sentAt = this.deps.clock.now();
        batch.gen = gen;
        this.inflight.push(batch);
        if (this.backoffMs) this.logger.info({ position: this.position }, 'forwarder destination reachable again');
        this.backoffMs = 0;
        this.lastError = undefined;
      } catch (e) {
        if (this.closed) {
          // Cut off by close(): not delivered; what was already sent is confirmed as usual.
          this.resend.unshift(batch);
          break;
        }
        this.counts.failures++;
        this.lastError = (e as Error)?.message ?? String(e);
        this.observe('failed', e);
        // Everything not yet confirmed goes again, in order, after a pause.
        this.resend = [...this.inflight, batch, ...this.resend];
        this.inflight = [];
        this.backoffMs = this.backoffMs ? Math.min(this.backoffMs * 2, this.cfg.retry_max) : Math.min(RETRY_MIN_MS, this.cfg.retry_max);
        (this.counts.failures === 1 || this.backoffMs >= this.cfg.retry_max ? this.logger.error.bind(this.logger) : this.logger.warn.bind(this.logger))(
          { err: this.lastError, retry_in_ms: this.backoffMs, position: this.position },
          'forwarding failed: retrying',
        );
        await this.sleep(this.backoffMs);
      }
    }
  }

  private async next(): Promise<SgEvent[]> {
    const ac = new AbortController();
    this.wait = ac;
    try {
      if (!this.deps.subscribe) {
        const got = this.feed!.take(this.cfg.batch_max);
        if (!got.length) await this.sleep(this.deps.pollMs ?? 1000);
        return got;
      }
      return await this.feed!.next(this.cfg.batch_max, ac.signal);
    } finally {
      this.wait = undefined;
    }
  }

  /** Batches sent and not yet confirmed, or waiting to be sent again. */
  private queued(): number {
    let n = 0;
    for (const b of this.inflight) n += b.events.length;
    for (const b of this.resend) n += b.events.length;
    return n;
  }

  /** Moves confirmed batches into the saved position; requeues those of a broken connection. */
  private confirm(): void {
    if (!this.transport || !this.inflight.length) return;
    const gen = this.transport.generation();
    if (this.inflight.some((b) => b.gen !== gen)) {
      this.logger.warn({ batches: this.inflight.length }, 'forwarder connection broke: resending what was in flight');
      this.resend = [...this.inflight, ...this.resend];
      this.inflight = [];
      this.wait?.abort();
      return;
    }
    const now = this.deps.clock.now();
    let moved = false;
    while (this.inflight.length && now - this.inflight[0]!.sentAt >= this.transport.confirmMs) {
      const b = this.inflight.shift()!;
      if (b.maxId !== undefined && (this.position === undefined || b.maxId > this.position)) this.position = b.maxId;
      this.counts.delivered += b.events.length;
      void this.feed?.ack(b.taken.map((e) => e.id));
      if (b.events.length) {
        this.observe('delivered', b.events.length);
        this.observe('lag', Math.max(0, now - b.events[b.events.length - 1]!.ts));
      }
      moved = true;
    }
    if (moved) void this.save();
  }

  /** Saves the position; coalesces while a save is in flight. */
  private save(): Promise<void> {
    if (this.saving) {
      this.saveAgain = true;
      return this.saving;
    }
    const after = this.position;
    this.saving = this.state
      .set(stateKey(this.name), { ...(after !== undefined ? { after } : {}), saved_at: this.deps.clock.now() })
      .catch((e: unknown) => this.logger.error({ err: e }, 'forwarder could not save its position (it will resend from the last saved one after a restart)'))
      .finally(() => {
        this.saving = undefined;
        if (this.saveAgain) {
          this.saveAgain = false;
          void this.save();
        }
      });
    return this.saving;
  }

  private sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const ac = new AbortController();
      this.wait = ac;
      const t = setTimeout(done, ms);
      ac.signal.addEventListener('abort', done, { once: true });
      function done() {
        clearTimeout(t);
        resolve();
      }
    });
  }

  private observe<K extends keyof ForwarderObserver>(k: K, arg: Parameters<NonNullable<ForwarderObserver[K]>>[1]): void {
    const f = this.deps.observer?.[k] as ((name: string, a: unknown) => void) | undefined;
    if (!f) return;
    try {
      f.call(this.deps.observer, this.name, arg);
    } catch (e) {
      this.logger.warn({ err: e }, 'forwarder observer threw');
    }
  }
}

function maxId(evs: readonly SgEvent[]): string | undefined {
  let m: string | undefined;
  for (const e of evs) if (m === undefined || e.id > m) m = e.id;
  return m;
}
