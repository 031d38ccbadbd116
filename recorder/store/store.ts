// The LMDB store (schema 2, docs/store.md): one environment (one file, one lock file) under
// `dir` with a rows database per event kind keyed by event id, the batch records of the
// integrity chain, segments with their postings, `meta` (schema version, counters, positions)
// and databases handed to other components (users, access). Values are msgpack, uncompressed.
// Writes come only from the Recorder, one transaction per batch (rows + batch record),
// committed on the calling thread (`inline`, the default) or on a writer thread (`worker`:
// writer-worker.ts); the open region is indexed into a segment afterwards, in transactions of
// its own. Queries (query-engine.ts) are synchronous, on the calling thread.
import { chmodSync, existsSync, mkdirSync, realpathSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import { z } from 'zod';
import type { EventType, SgEvent } from '../events.js';
import { EVENT_TYPES } from '../events.js';
import type { ActivityQuery, ItemByKind, Page, QueryByKind, RequestPage, RequestQuery, SearchKind, SearchStore, SessionQuery, TimelineQuery, TransferQuery } from './types.js';
import type { Clock, Logger } from '../../gateway/core/runtime.js';
import { systemClock } from '../../gateway/core/runtime.js';
import { SgError } from '../../gateway/core/errors.js';
import { ID_RE } from '../../gateway/core/ids.js';
import { KINDS, KIND_OF_TYPE, kindOf, type Kind } from './kinds.js';
import { decodeRow, fromStored } from './row-codec.js';
import { liveMatcher, type LiveMatcher } from './live-match.js';
import { TIER_SEGMENTS, collectSegment, tierDue, writeTier } from './tiers.js';
import { idMatchesTs, validTs } from '../event-id.js';
import { DB_OPTIONS, ENV_FILE, LOCK_FILE, rootOptions } from './lmdb-options.js';
import { commitRows, encodeEvents, storedRows, type ChainHead, type CommitOutcome, type CommitResult } from './commit.js';
import { WriterThread } from './writer-thread.js';
import { LAYOUT_DBS, META, metaNumber, openLayout, type SessionIndexEntry, type StoreDbs } from './layout.js';
import { OpenRegionTracker, SEGMENT_MAX_AGE_MS, SEGMENT_ROWS, closeOneSegment, type SegmentPolicy } from './segments.js';
import { SegmentCatalog } from './catalog.js';
import { SORT_MAX, runQuery, type EngineEnv, type QueryPlan } from './query-engine.js';
import { activityPlan, requestsPlan, sessionsPlan, timelinePlan, transfersPlan } from './plans.js';
import { migrate } from './migrate.js';

export { DB_OPTIONS } from './lmdb-options.js';

export const SCHEMA_VERSION = 2;
/** Rows a single query may examine before it returns a partial page: reading and checking a
 * row costs ~8 us on the 2-core reference machine, so a page stops after ~160 ms. */
export const DEFAULT_SCAN_BUDGET = 20_000;

const DB_NAME_RE = /^[a-z][a-z0-9_-]{0,62}$/;
const RESERVED_DBS: ReadonlySet<string> = new Set<string>(LAYOUT_DBS);
/** Where a batch is encoded and committed: `inline` (default) on the calling thread, ~26 us of
 * its CPU per event with indexing; `worker` on the writer thread, ~5 us of the caller's CPU per
 * event (a structured clone) but ~30% more CPU in all and a lower peak ingest rate. Measured with
 * `npm run bench -- recorder` on the 2-core reference machine (2026-11-22). */
export const STORE_WRITERS = ['worker', 'inline'] as const;
export type StoreWriter = (typeof STORE_WRITERS)[number];

/** A named database handed to other components: msgpack values, string keys. */
export type KvDatabase = Database<unknown, string>;

export interface StoreOptions {
  /** Directory of the LMDB environment (created 0700). */
  dir: string;
  /** Initial map size in bytes; lmdb-js grows the map as the data grows. */
  mapSize?: number;
  logger: Logger;
  readOnly?: boolean;
  /** Rows one query may examine before returning a partial page (default 200k). */
  scanBudget?: number;
  /** Where writeBatch encodes and commits (default `inline`). */
  writer?: StoreWriter;
  /** audit.key_file's key: batch records then carry the HMAC chain (docs/store.md "Integrity"). */
  integrityKey?: Buffer;
  /** Commit times of batch records and segment ages (default the system clock). */
  clock?: Clock;
  /** Most matches a sort by another column may collect (default SORT_MAX, 100,000). */
  sortMax?: number;
  /** Close the open region into a segment at this many rows (default 4096). */
  segmentRows?: number;
  /** ... or when its first batch is older than this, ms (default 30 s). */
  segmentMaxAgeMs?: number;
}



const optionsSchema = z.object({
  dir: z.string().min(1),
  mapSize: z.number().int().positive().optional(),
  readOnly: z.boolean().optional(),
  scanBudget: z.number().int().positive().optional(),
  writer: z.enum(STORE_WRITERS).optional(),
  integrityKey: z.custom<Buffer>((v) => Buffer.isBuffer(v) && v.length >= 32, 'a Buffer of at least 32 bytes').optional(),
  clock: z.custom<Clock>((v) => typeof (v as Clock | null)?.now === 'function', 'a Clock').optional(),
  sortMax: z.number().int().positive().optional(),
  segmentRows: z.number().int().positive().optional(),
  segmentMaxAgeMs: z.number().int().positive().optional(),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null && typeof (v as Logger).error === 'function', 'a pino logger'),
});

export interface WriteResult {
  /** Events newly stored. */
  stored: number;
  /** Events whose id was already stored: the stored record is kept, never overwritten. */
  duplicates: SgEvent[];
  /** Events that are not valid events or could not be encoded: not written. */
  rejected: { event: SgEvent; error: string }[];
}

/** Why an event cannot be stored as is, or undefined when it can. */
export function eventProblem(ev: unknown): string | undefined {
  if (ev === null || typeof ev !== 'object') return 'not an object';
  const e = ev as { id?: unknown; ts?: unknown; type?: unknown };
  if (!kindOf(e.type)) return `unknown event type ${JSON.stringify(e.type)}`;
  if (!validTs(e.ts)) return 'ts is not ms since epoch';
  if (typeof e.id !== 'string' || !idMatchesTs(e.id, e.ts)) return 'id is malformed or its time differs from ts';
  return undefined;
}

/** Disk or map full: worth a distinct gap reason (operators must free space). */
export function isDiskFull(e: unknown): boolean {
  if (e instanceof SgError) return e.details?.reason === 'disk_full';
  const code = (e as { code?: unknown } | null)?.code;
  const msg = e instanceof Error ? e.message : String(e);
  return code === 'ENOSPC' || code === 'EDQUOT' || /ENOSPC|EDQUOT|No space left|quota exceeded|MDB_MAP_FULL/i.test(msg);
}

/** Splits off the events that cannot be structured-cloned (a function or symbol as a value):
 * only after posting a whole batch failed with DataCloneError. */
function splitUncloneable(events: SgEvent[], at: number[], refused: [number, string][]): { events: SgEvent[]; at: number[] } {
  const ok: SgEvent[] = [];
  const okAt: number[] = [];
  events.forEach((ev, i) => {
    try {
      structuredClone(ev);
      ok.push(ev);
      okAt.push(at[i]!);
    } catch (e) {
      refused.push([at[i]!, `cannot encode: ${(e as Error)?.message ?? String(e)}`]);
    }
  });
  return { events: ok, at: okAt };
}

/** Writable environments open in this process: LMDB must not open one twice in a process. */
const openWriters = new Set<string>();

export class Store implements SearchStore {
  readonly dir: string;
  readonly readOnly: boolean;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly scanBudget: number;
  private readonly sortMax: number;
  private readonly root: RootDatabase<unknown, string>;
  private readonly meta: KvDatabase;
  private readonly dbs: Readonly<Record<Kind, KvDatabase | undefined>>;
  private readonly layout: StoreDbs;
  private readonly catalog: SegmentCatalog;
  private readonly named = new Map<string, KvDatabase>();
  private readonly realDir: string;
  private readonly integrityKey: Buffer | undefined;
  private readonly policy: SegmentPolicy;
  private readonly cursorSecret: Buffer;
  /** The writer thread's handle for this store (writable stores with writer `worker`). */
  private readonly writerThread: WriterThread | undefined;
  /** Inline writer: the chain's head and the open region, as committed by this process. */
  private head: ChainHead | undefined;
  private readonly tracker: OpenRegionTracker | undefined;
  /** Segment closing in progress (one at a time). */
  private indexing: Promise<number> | undefined;
  /** Tier building in progress (one at a time). */
  private tiering: Promise<number> | undefined;
  private ageTimer: NodeJS.Timeout | undefined;
  /** The writer thread committed since the last sync to disk. */
  private unsynced = false;
  private closing: Promise<void> | undefined;

  private constructor(init: { dir: string; realDir: string; readOnly: boolean; logger: Logger; clock: Clock; scanBudget: number; sortMax: number; root: RootDatabase<unknown, string>; layout: StoreDbs; writerThread: WriterThread | undefined; integrityKey: Buffer | undefined; policy: SegmentPolicy; cursorSecret: Buffer }) {
    this.dir = init.dir;
    this.realDir = init.realDir;
    this.readOnly = init.readOnly;
    this.logger = init.logger;
    this.clock = init.clock;
    this.scanBudget = init.scanBudget;
    this.sortMax = init.sortMax;
    this.root = init.root;
    this.layout = init.layout;
    this.meta = init.layout.meta;
    this.dbs = init.layout.rows;
    this.catalog = new SegmentCatalog(init.layout);
    this.writerThread = init.writerThread;
    this.integrityKey = init.integrityKey;
    this.policy = init.policy;
    this.cursorSecret = init.cursorSecret;
    this.tracker = !init.readOnly && !init.writerThread ? new OpenRegionTracker(init.layout, init.policy) : undefined;
    if (!init.readOnly) {
      // Ages are checked every few seconds: an idle store still indexes what it holds.
      this.ageTimer = setInterval(() => this.maintain(false), Math.max(50, Math.min(5_000, Math.floor(init.policy.maxAgeMs / 3))));
      this.ageTimer.unref();
    }
  }

  static open(opts: StoreOptions): Store {
    const parsed = optionsSchema.safeParse(opts);
    if (!parsed.success) throw new SgError('SG_ERR_STORE_OPEN', `invalid store options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const { dir, readOnly = false, mapSize, scanBudget = DEFAULT_SCAN_BUDGET, writer = 'inline' } = parsed.data;
    const logger = opts.logger;
    const clock = opts.clock ?? systemClock;
    const policy: SegmentPolicy = { rows: opts.segmentRows ?? SEGMENT_ROWS, maxAgeMs: opts.segmentMaxAgeMs ?? SEGMENT_MAX_AGE_MS };
    const envPath = join(dir, ENV_FILE);
    let realDir: string;
    try {
      if (readOnly) {
        if (!existsSync(envPath)) throw new Error(`no store at ${dir}`);
      } else {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        chmodSync(dir, 0o700);
      }
      realDir = realpathSync(dir);
    } catch (e) {
      throw new SgError('SG_ERR_STORE_OPEN', `cannot open store directory ${dir}: ${(e as Error).message}`, { cause: e });
    }
    if (!readOnly && openWriters.has(realDir)) throw new SgError('SG_ERR_STORE_OPEN', `store ${dir} is already open for writing in this process`);

    let root: RootDatabase<unknown, string>;
    try {
      root = open<unknown, string>(rootOptions(envPath, readOnly, mapSize) as Parameters<typeof open>[0] & { path: string });
    } catch (e) {
      throw new SgError('SG_ERR_STORE_OPEN', `cannot open LMDB environment at ${dir}: ${(e as Error).message}`, { cause: e });
    }
    try {
      if (!readOnly) {
        // Files made by an older run or another tool may be wider: tighten them.
        for (const f of [ENV_FILE, LOCK_FILE]) if (existsSync(join(dir, f))) chmodSync(join(dir, f), 0o600);
      }
      const meta = root.openDB<unknown, string>({ name: 'meta', ...DB_OPTIONS });
      if (!meta) throw new SgError('SG_ERR_STORE_OPEN', `${dir} is not a Sessiongate store (no meta database)`);
      const found = checkSchema(meta, readOnly, dir);
      const layout = openLayout(root);
      if (found < SCHEMA_VERSION) {
        if (readOnly) throw new SgError('SG_ERR_STORE_OPEN', `store ${dir} has schema version ${found}: open it once for writing (start the gateway) to migrate it to ${SCHEMA_VERSION}`, { details: { found, supported: SCHEMA_VERSION } });
        migrate(layout, { from: found, key: opts.integrityKey, now: () => safeNow(clock), logger, segmentRows: policy.rows });
      }
      let cursorSecret = meta.get('cursor:secret') as Uint8Array | undefined;
      if (!cursorSecret && !readOnly) {
        cursorSecret = randomBytes(32);
        meta.putSync('cursor:secret', cursorSecret);
      }
      // The writer thread starts on the first writeBatch: a store opened only for users, access or queries never starts it.
      const env = { path: envPath, ...(mapSize ? { mapSize } : {}), ...(opts.integrityKey ? { key: new Uint8Array(opts.integrityKey) } : {}), policy };
      const writerThread = !readOnly && writer === 'worker' ? new WriterThread(env, logger) : undefined;
      const store = new Store({ dir, realDir, readOnly, logger, clock, scanBudget, sortMax: opts.sortMax ?? SORT_MAX, root, layout, writerThread, integrityKey: opts.integrityKey, policy, cursorSecret: Buffer.from(cursorSecret ?? Buffer.alloc(32)) });
      if (!readOnly) openWriters.add(realDir);
      logger.debug({ dir, readOnly, schema_version: SCHEMA_VERSION }, 'store opened');
      return store;
    } catch (e) {
      void root.close().catch(() => undefined);
      if (e instanceof SgError) throw e;
      throw new SgError('SG_ERR_STORE_OPEN', `cannot open store at ${dir}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** A named msgpack database (string keys) for another component, e.g. `users`, `access`. */
  openDb(name: string): KvDatabase {
    this.assertOpen();
    if (!DB_NAME_RE.test(name) || RESERVED_DBS.has(name)) throw new SgError('SG_ERR_BAD_PARAM', `invalid or reserved database name "${name}"`, { details: { param: 'name' } });
    let db = this.named.get(name);
    if (!db) {
      db = this.root.openDB<unknown, string>({ name, ...DB_OPTIONS }) ?? undefined;
      if (!db) throw new SgError('SG_ERR_STORE_OPEN', `database "${name}" does not exist (store opened read-only)`);
      this.named.set(name, db);
    }
    return db;
  }

  /**
   * Commits the events in ONE transaction (all or nothing) with their batch record: on the
   * writer thread, or inline in an abortable child transaction (so writes other components
   * queued in the same LMDB batch are unaffected). An id already stored is never overwritten.
   * Resolves once committed and visible to this thread's reads; the open region is indexed
   * afterwards, in transactions of its own. Rejects with SG_ERR_STORE_WRITE (details.reason
   * `disk_full` or `write_failed`) when the transaction cannot commit.
   */
  async writeBatch(events: readonly SgEvent[]): Promise<WriteResult> {
    this.assertWritable();
    const result: WriteResult = { stored: 0, duplicates: [], rejected: [] };
    const refused: [number, string][] = [];
    let valid: SgEvent[] = [];
    let at: number[] = [];
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!;
      const problem = eventProblem(ev);
      if (problem) refused.push([i, problem]);
      else {
        valid.push(ev);
        at.push(i);
      }
    }
    let outcome: CommitOutcome = { duplicates: [], rejected: [], counts: [] };
    if (valid.length) {
      try {
        if (!this.writerThread) outcome = await this.commitInline(valid);
        else {
          try {
            outcome = await this.commitOnThread(valid);
          } catch (e) {
            if ((e as Error)?.name !== 'DataCloneError') throw e;
            // What cannot cross to the thread cannot be encoded either: refuse it, send the rest.
            ({ events: valid, at } = splitUncloneable(valid, at, refused));
            if (valid.length) outcome = await this.commitOnThread(valid);
          }
        }
      } catch (e) {
        throw new SgError('SG_ERR_STORE_WRITE', `store write failed: ${(e as Error)?.message ?? String(e)}`, {
          cause: e,
          details: { reason: isDiskFull(e) ? 'disk_full' : 'write_failed' },
        });
      }
    }
    for (const [i, why] of outcome.rejected) refused.push([at[i]!, why]);
    refused.sort((a, b) => a[0] - b[0]);
    result.rejected = refused.map(([i, error]) => ({ event: events[i]!, error }));
    for (const [, n] of outcome.counts) result.stored += n;
    result.duplicates = outcome.duplicates.map((i) => valid[i]!);
    this.logRefused(result);
    if (!this.writerThread && result.stored) this.maintain(false);
    return result;
  }

  /** Resolves when every commit so far is flushed to disk (not only visible). */
  async flushed(): Promise<void> {
    this.assertOpen();
    await this.root.flushed;
    if (this.unsynced) {
      // Writer-thread commits skip the fsync (lmdb-js overlapping sync): force one, off-thread.
      this.unsynced = false;
      await new Promise<void>((resolve, reject) => {
        (this.root as unknown as { sync(cb: (err?: unknown) => void): void }).sync((err) => {
          if (err) {
            this.unsynced = true;
            reject(err instanceof Error ? err : new Error(String(err)));
          } else resolve();
        });
      });
    }
  }

  /**
   * Indexes the whole open region now (segments of at most `segmentRows` rows, one transaction
   * each). Used on graceful close and by tests. Resolves with the number of segments closed.
   */
  async closeSegment(): Promise<number> {
    this.assertWritable();
    if (this.indexing) await this.indexing.catch(() => 0);
    return this.runIndexing(true);
  }

  /**
   * Builds every tier whose segments are all closed (tiers.ts): reads one segment's keyword
   * postings per event-loop turn, then writes the tier in one transaction. Runs in the
   * background after segments close; the bench and tests await it. Resolves with the number built.
   */
  buildTiers(): Promise<number> {
    this.assertWritable();
    this.tiering ??= this.runTiers().finally(() => {
      this.tiering = undefined;
    });
    return this.tiering;
  }

  private async runTiers(): Promise<number> {
    let n = 0;
    for (let t = tierDue(this.layout); t !== undefined && !this.closing; t = tierDue(this.layout)) {
      const bitmaps = new Map<string, Uint8Array>();
      const ranges = new Map(this.catalog.list().map((r) => [r.s, r]));
      for (let s = t * TIER_SEGMENTS + 1; s <= (t + 1) * TIER_SEGMENTS; s++) {
        const r = ranges.get(s);
        if (r) collectSegment(this.layout, s, Object.keys(r.kinds) as Kind[], bitmaps);
        await new Promise((resolve) => setImmediate(resolve));
        if (this.closing) return n;
      }
      await this.root.transaction(() => this.root.childTransaction(() => writeTier(this.layout, t!, bitmaps)));
      n++;
    }
    return n;
  }

  /** Closes due segments (and builds due tiers) in the background; failures are logged and retried later. */
  private maintain(force: boolean): void {
    if (this.closing || this.readOnly) return;
    if (!this.tiering && tierDue(this.layout) !== undefined) void this.buildTiers().catch((e: unknown) => this.logger.error({ err: e }, 'store: building a tier failed (keyword queries read every segment meanwhile; retried later)'));
    if (this.indexing) return;
    if (this.tracker) {
      let due: boolean;
      try {
        due = force ? this.tracker.current().rows > 0 : this.tracker.due(this.now());
      } catch (e) {
        this.logger.error({ err: e }, 'store: cannot read the open region');
        return;
      }
      if (!due) return;
    } else if (!this.writerThread?.used) return;
    void this.runIndexing(force).catch((e: unknown) => this.logger.error({ err: e }, 'store: closing a segment failed (the open region stays readable; retried later)'));
  }

  private runIndexing(force: boolean): Promise<number> {
    const p = (this.writerThread ? this.indexOnThread(force) : this.indexInline(force)).finally(() => {
      if (this.indexing === p) this.indexing = undefined;
    });
    this.indexing = p;
    return p;
  }

  private async indexOnThread(force: boolean): Promise<number> {
    const n = await this.writerThread!.segments(this.now(), force);
    if (n) (this.root as unknown as { resetReadTxn(): void }).resetReadTxn();
    return n;
  }

  private async indexInline(force: boolean): Promise<number> {
    const tracker = this.tracker!;
    let n = 0;
    try {
      while (force ? tracker.current().rows > 0 : tracker.due(this.now())) {
        let s = 0;
        await this.root.transaction(() =>
          this.root.childTransaction(() => {
            s = closeOneSegment(this.layout, this.policy.rows, tracker.preparedRegion());
          }),
        );
        tracker.forget();
        if (!s) break;
        n++;
        // Between segments: let other work (and row commits) in.
        if (!force) break;
        await new Promise((r) => setImmediate(r));
      }
    } catch (e) {
      tracker.forget();
      throw e;
    }
    return n;
  }

  private async commitOnThread(events: readonly SgEvent[]): Promise<CommitOutcome> {
    const outcome = await this.writerThread!.write(events, this.now());
    this.unsynced = true;
    // This thread may hold a read snapshot from before the commit: drop it so reads see it.
    (this.root as unknown as { resetReadTxn(): void }).resetReadTxn();
    return outcome;
  }

  private async commitInline(events: readonly SgEvent[]): Promise<CommitOutcome> {
    const { rows, rejected } = encodeEvents(this.layout, events);
    let done: CommitResult = { duplicates: [], counts: [] };
    if (rows.length) {
      try {
        await this.root.transaction(() =>
          this.root.childTransaction(() => {
            done = commitRows(this.layout, rows, { key: this.integrityKey, now: this.now(), head: this.head });
          }),
        );
      } catch (e) {
        this.head = undefined;
        this.tracker?.forget();
        throw e;
      }
      if (done.batch) this.head = { b: done.batch.b, mac: done.batch.mac };
      try {
        this.tracker?.committed(done.batch, storedRows(events, done));
      } catch (e) {
        // Indexing in hand failed: closing re-reads the rows instead.
        this.tracker?.forget();
        this.logger.warn({ err: e }, 'store: could not index a committed batch in memory');
      }
    }
    return { duplicates: done.duplicates, counts: done.counts, rejected };
  }

  getEvent(id: string): SgEvent | undefined {
    this.assertOpen();
    if (typeof id !== 'string' || !ID_RE.test(id)) throw new SgError('SG_ERR_BAD_PARAM', 'malformed event id', { details: { param: 'id' } });
    for (const kind of KINDS) {
      const v = this.dbs[kind]?.get(id);
      if (v !== undefined) return fromStored(kind, id, v);
    }
    return undefined;
  }

  /**
   * One page of a kind's query (docs/store.md "Queries"), newest first unless `order: 'asc'`:
   * candidates from postings, every row confirmed against the whole filter, pages bound to a
   * snapshot by their cursor. Throws SG_ERR_BAD_PARAM (details.param) on bad parameters.
   */
  query<K extends SearchKind>(kind: K, q: QueryByKind[K]): Page<ItemByKind[K]> {
    this.assertOpen();
    return this.run(this.planFor(kind, q)) as Page<ItemByKind[K]>;
  }

  /**
   * What `query(kind, q)` would list of each committed event (docs/store.md "Live matching"),
   * tested with the same plan's row tests; paging and sort are ignored. Validates `q` at once
   * (SG_ERR_BAD_PARAM, as query() does).
   */
  liveMatcher<K extends SearchKind>(kind: K, q: QueryByKind[K]): LiveMatcher<ItemByKind[K]> {
    this.assertOpen();
    const dbs = this.layout;
    return liveMatcher(this.planFor(kind, q) as QueryPlan<ItemByKind[K]>, {
      row: (k, id) => {
        const v = dbs.rows[k]?.get(id);
        return v === undefined ? undefined : decodeRow(k, id, v);
      },
      sessionStart: (sid) => (dbs.sessionIndex?.get(sid) as SessionIndexEntry | undefined)?.s,
      snap: () => metaNumber(this.meta, META.batchLast),
    });
  }

  /** True when `query(kind, q)` would list `ev` (see liveMatcher). */
  matches<K extends SearchKind>(kind: K, q: QueryByKind[K], ev: SgEvent): boolean {
    return this.liveMatcher(kind, q)(ev) !== undefined;
  }

  private planFor(kind: SearchKind, q: unknown): QueryPlan<unknown> {
    switch (kind) {
      case 'requests':
        return requestsPlan(q as RequestQuery);
      case 'sessions':
        return sessionsPlan(q as SessionQuery, { dbs: this.layout });
      case 'activity':
        return activityPlan(q as ActivityQuery);
      case 'transfers':
        return transfersPlan(q as TransferQuery);
      default:
        throw new SgError('SG_ERR_BAD_PARAM', `kind: unknown query kind ${JSON.stringify(String(kind)).slice(0, 40)}`, { details: { param: 'kind' } });
    }
  }

  /** One identity (login, email or ip) across every kind, in id order, one cursor. */
  timeline(q: TimelineQuery): Page<SgEvent> {
    this.assertOpen();
    return this.run(timelinePlan(q));
  }

  /** Panel requests (the first API): `query('requests', q)`. */
  queryRequests(q: RequestQuery): RequestPage {
    return this.query('requests', q);
  }

  private run<T>(plan: QueryPlan<T>): Page<T> {
    const env: EngineEnv = { dbs: this.layout, catalog: this.catalog, budget: this.scanBudget, sortMax: this.sortMax, cursorSecret: this.cursorSecret, countKind: (k) => this.countKind(k) };
    const tracker = this.tracker;
    if (tracker) env.openPostings = () => tracker.preparedRegion();
    return runQuery(env, plan);
  }

  private now(): number {
    return safeNow(this.clock);
  }

  private countKind(kind: Kind): number {
    let n = 0;
    for (const t of EVENT_TYPES) if (KIND_OF_TYPE[t] === kind) n += this.countOf(t);
    return n;
  }

  /** Stored events per type (kept in `meta`, updated in each batch's transaction: O(1)). */
  countByType(): Record<EventType, number> {
    this.assertOpen();
    const out = {} as Record<EventType, number>;
    for (const t of EVENT_TYPES) out[t] = this.countOf(t);
    return out;
  }

  /** The store's own databases, for maintenance that writes in the same environment (retention). */
  maintenanceDbs(): StoreDbs {
    this.assertWritable();
    return this.layout;
  }

  /** Where the batch and segment sequence stands (for verify, status and tests). */
  position(): { batch: number; segment: number; openFrom: number; sessionSeq: number } {
    this.assertOpen();
    return {
      batch: metaNumber(this.meta, META.batchLast),
      segment: metaNumber(this.meta, META.segmentLast),
      openFrom: metaNumber(this.meta, META.openFrom, 1),
      sessionSeq: metaNumber(this.meta, META.sessionSeq),
    };
  }

  /** Bytes the environment uses (high-water mark of its pages). */
  sizeBytes(): number {
    this.assertOpen();
    const s = this.root.getStats() as { pageSize?: number; lastPageNumber?: number };
    return ((s.lastPageNumber ?? 0) + 1) * (s.pageSize ?? 4096);
  }

  /**
   * Every event in id (= time) order, from `fromId` inclusive, across all kinds, read from one
   * consistent snapshot. Finish or `return()` the iterator: it holds a read transaction.
   */
  iterateAll(fromId?: string): Generator<SgEvent, void, undefined> {
    this.assertOpen();
    if (fromId !== undefined && (typeof fromId !== 'string' || !ID_RE.test(fromId))) throw new SgError('SG_ERR_BAD_PARAM', 'malformed event id', { details: { param: 'fromId' } });
    return this.mergeKinds(fromId);
  }

  /** Indexes what is still open (graceful close), then closes the environment. */
  async close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.ageTimer);
      try {
        if (!this.readOnly && (!this.writerThread || this.writerThread.used)) {
          if (this.indexing) await this.indexing.catch(() => 0);
          if (this.tiering) await this.tiering.catch(() => 0);
          await this.runIndexing(true).catch((e: unknown) => this.logger.warn({ err: e }, 'store: could not index the open region on close (it is indexed on the next start)'));
        }
        await this.writerThread?.close();
      } finally {
        if (!this.readOnly) openWriters.delete(this.realDir);
        await this.root.close();
      }
      this.logger.debug({ dir: this.dir }, 'store closed');
    })();
    return this.closing;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  private *mergeKinds(fromId: string | undefined): Generator<SgEvent, void, undefined> {
    const txn = this.root.useReadTransaction();
    const sources: { kind: Kind; it: Iterator<{ key: string; value: unknown }>; head: { key: string; value: unknown } | undefined }[] = [];
    try {
      for (const kind of KINDS) {
        const db = this.dbs[kind];
        if (!db) continue;
        const it = db.getRange({ start: fromId, transaction: txn })[Symbol.iterator]();
        const r = it.next();
        sources.push({ kind, it, head: r.done ? undefined : r.value });
      }
      for (;;) {
        let min: (typeof sources)[number] | undefined;
        for (const s of sources) if (s.head && (!min || s.head.key < min.head!.key)) min = s;
        if (!min) return;
        const { key, value } = min.head!;
        const r = min.it.next();
        min.head = r.done ? undefined : r.value;
        yield fromStored(min.kind, key, value);
      }
    } finally {
      for (const s of sources) s.it.return?.();
      txn.done();
    }
  }

  /** A refused event is never silent, even if the caller ignores the result. */
  private logRefused(r: WriteResult): void {
    const n = r.duplicates.length + r.rejected.length;
    if (!n) return;
    const examples = [...r.duplicates.map((e) => ({ id: e.id, type: e.type, problem: 'duplicate id: the stored event is kept' })), ...r.rejected.map((x) => ({ id: (x.event as { id?: unknown })?.id, type: (x.event as { type?: unknown })?.type, problem: x.error }))].slice(0, 5);
    this.logger.error({ refused: n, examples }, 'store refused events: not written');
  }

  private countOf(type: EventType): number {
    const v = this.meta.get(`count:${type}`);
    return typeof v === 'number' ? v : 0;
  }

  private assertOpen(): void {
    if (this.closing) throw new SgError('SG_ERR_STORE_UNAVAILABLE', 'store is closed');
  }

  private assertWritable(): void {
    this.assertOpen();
    if (this.readOnly) throw new SgError('SG_ERR_STORE_UNAVAILABLE', 'store is open read-only');
  }
}

/** Commit time: whole ms from the clock, wall time if the clock misbehaves (a batch record's ts
 * must be a non-negative integer). */
function safeNow(clock: Clock): number {
  try {
    const t = clock.now();
    if (Number.isFinite(t) && t >= 0) return Math.floor(t);
  } catch {
    /* fall through */
  }
  return Date.now();
}

/** The schema version on disk (a new store is stamped with the current one). */
function checkSchema(meta: KvDatabase, readOnly: boolean, dir: string): number {
  const v = meta.get(META.version);
  if (v === undefined) {
    if (readOnly) throw new SgError('SG_ERR_STORE_OPEN', `${dir} is not an initialised Sessiongate store`);
    meta.putSync(META.version, SCHEMA_VERSION);
    return SCHEMA_VERSION;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new SgError('SG_ERR_STORE_OPEN', `store ${dir} has an invalid schema_version ${JSON.stringify(v)}`, { details: { found: v } });
  if (v > SCHEMA_VERSION) {
    throw new SgError('SG_ERR_STORE_OPEN', `store ${dir} has schema version ${v}, newer than this Sessiongate supports (${SCHEMA_VERSION}): upgrade Sessiongate`, { details: { found: v, supported: SCHEMA_VERSION } });
  }
  return v;
}
