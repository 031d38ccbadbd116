// The LMDB store: one environment (one file, one lock file) under `dir`, with a named database
// per event kind keyed by event id, a `meta` database (schema version, per-type counts) and
// databases handed to other components (users, access). Values are msgpack, uncompressed.
// Writes come only from the Recorder, one transaction per batch, committed on the calling thread
// (`inline`, the default) or on a writer thread (`worker`: writer-worker.ts), which takes LMDB's
// encoding, inserts and commit off the main thread at the price of more CPU in all (see
// bench/recorder.ts); reads are synchronous, on the calling thread.
import { chmodSync, existsSync, mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import { z } from 'zod';
import type { EventType, HttpRequestEvent, SgEvent } from '../events.js';
import { EVENT_TYPES } from '../events.js';
import type { RequestPage, RequestQuery } from './types.js';
import type { Logger } from '../../gateway/core/runtime.js';
import { SgError } from '../../gateway/core/errors.js';
import { ID_RE, idCeil } from '../../gateway/core/ids.js';
import { KINDS, fromStored, kindOf, type Kind } from './kinds.js';
import { encodeCursor } from './cursor.js';
import { parseRequestQuery } from './request-query.js';
import { MAX_TS, idMatchesTs, validTs } from '../event-id.js';
import { DB_OPTIONS, ENV_FILE, LOCK_FILE, rootOptions } from './lmdb-options.js';
import { commitRows, encodeEvents, type CommitOutcome } from './commit.js';
import { WriterThread } from './writer-thread.js';

export { DB_OPTIONS } from './lmdb-options.js';

export const SCHEMA_VERSION = 1;
/** Rows a single query may examine before it returns a partial page. */
export const DEFAULT_SCAN_BUDGET = 200_000;

const DB_NAME_RE = /^[a-z][a-z0-9_-]{0,62}$/;
const RESERVED_DBS: ReadonlySet<string> = new Set<string>([...KINDS, 'meta']);
/** Where a batch is encoded and committed: `inline` (default) on the calling thread, ~11 us of
 * its CPU per event; `worker` on the writer thread, ~4.7 us of the caller's CPU per event (a
 * structured clone) but ~30% more CPU in all and a lower peak ingest rate. Measured with
 * `npm run bench -- recorder` on the 2-core reference machine. */
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
}

const optionsSchema = z.object({
  dir: z.string().min(1),
  mapSize: z.number().int().positive().optional(),
  readOnly: z.boolean().optional(),
  scanBudget: z.number().int().positive().optional(),
  writer: z.enum(STORE_WRITERS).optional(),
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

export class Store {
  readonly dir: string;
  readonly readOnly: boolean;
  private readonly logger: Logger;
  private readonly scanBudget: number;
  private readonly root: RootDatabase<unknown, string>;
  private readonly meta: KvDatabase;
  private readonly dbs: Readonly<Record<Kind, KvDatabase | undefined>>;
  private readonly named = new Map<string, KvDatabase>();
  private readonly realDir: string;
  /** The writer thread's handle for this store (writable stores with writer `worker`). */
  private readonly writerThread: WriterThread | undefined;
  /** The writer thread committed since the last sync to disk. */
  private unsynced = false;
  private closing: Promise<void> | undefined;

  private constructor(init: { dir: string; realDir: string; readOnly: boolean; logger: Logger; scanBudget: number; root: RootDatabase<unknown, string>; meta: KvDatabase; dbs: Record<Kind, KvDatabase | undefined>; writerThread: WriterThread | undefined }) {
    this.dir = init.dir;
    this.realDir = init.realDir;
    this.readOnly = init.readOnly;
    this.logger = init.logger;
    this.scanBudget = init.scanBudget;
    this.root = init.root;
    this.meta = init.meta;
    this.dbs = init.dbs;
    this.writerThread = init.writerThread;
  }

  static open(opts: StoreOptions): Store {
    const parsed = optionsSchema.safeParse(opts);
    if (!parsed.success) throw new SgError('SG_ERR_STORE_OPEN', `invalid store options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const { dir, readOnly = false, mapSize, scanBudget = DEFAULT_SCAN_BUDGET, writer = 'inline' } = parsed.data;
    const logger = opts.logger;
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
      checkSchema(meta, readOnly, dir);
      const dbs = {} as Record<Kind, KvDatabase | undefined>;
      for (const k of KINDS) dbs[k] = root.openDB<unknown, string>({ name: k, ...DB_OPTIONS }) ?? undefined;
      // The writer thread starts on the first writeBatch: a store opened only for users, access or queries never starts it.
      const writerThread = !readOnly && writer === 'worker' ? new WriterThread({ path: envPath, ...(mapSize ? { mapSize } : {}) }, logger) : undefined;
      const store = new Store({ dir, realDir, readOnly, logger, scanBudget, root, meta, dbs, writerThread });
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
   * Commits the events in ONE transaction (all or nothing): on the writer thread, or inline in
   * an abortable child transaction (so writes other components queued in the same LMDB batch
   * are unaffected). An id already stored is never overwritten. Resolves once committed and
   * visible to this thread's reads. Rejects with SG_ERR_STORE_WRITE (details.reason
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

  private async commitOnThread(events: readonly SgEvent[]): Promise<CommitOutcome> {
    const outcome = await this.writerThread!.write(events);
    this.unsynced = true;
    // This thread may hold a read snapshot from before the commit: drop it so reads see it.
    (this.root as unknown as { resetReadTxn(): void }).resetReadTxn();
    return outcome;
  }

  private async commitInline(events: readonly SgEvent[]): Promise<CommitOutcome> {
    const target = { meta: this.meta, dbs: this.dbs };
    const { rows, rejected } = encodeEvents(target, events);
    let done: Omit<CommitOutcome, 'rejected'> = { duplicates: [], counts: [] };
    if (rows.length) {
      await this.root.transaction(() =>
        this.root.childTransaction(() => {
          done = commitRows(target, rows);
        }),
      );
    }
    return { ...done, rejected };
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
   * Panel requests, newest first: a reverse key-range scan of `requests` bounded by `to` /
   * the cursor and `from`, filtered row by row. Examines at most `scanBudget` rows; when the
   * budget runs out first the page is `partial` and `next_cursor` continues after the last
   * row examined.
   */
  queryRequests(q: RequestQuery): RequestPage {
    this.assertOpen();
    const p = parseRequestQuery(q);
    const page: RequestPage = { items: [] };
    if (p.matchesAll) page.total = this.countOf('http.request');
    const db = this.dbs.requests;
    if (!db) return page;
    if (p.from !== undefined && p.from > MAX_TS) return page;
    let start = p.to !== undefined ? idCeil(Math.min(Math.floor(p.to), MAX_TS)) : undefined;
    const after = p.after;
    if (after !== undefined && (start === undefined || after <= start)) start = after;
    const fromMs = p.from !== undefined ? Math.floor(p.from) : 0;
    const end = fromMs > 0 ? idCeil(fromMs - 1) : undefined;
    if (start !== undefined && end !== undefined && start <= end) return page;

    let scanned = 0;
    let last: string | undefined;
    let more = false;
    let exhausted = false;
    for (const { key, value } of db.getRange({ start, end, reverse: true })) {
      if (key === after) continue;
      scanned++;
      last = key;
      const ev = fromStored('requests', key, value) as HttpRequestEvent;
      if (p.match(ev)) {
        if (page.items.length === p.limit) {
          more = true;
          break;
        }
        page.items.push(ev);
      }
      if (scanned >= this.scanBudget) {
        exhausted = true;
        break;
      }
    }
    if (more) page.next_cursor = encodeCursor(page.items[page.items.length - 1]!.id);
    else if (exhausted && last !== undefined) {
      page.next_cursor = encodeCursor(last);
      page.partial = true;
    }
    return page;
  }

  /** Stored events per type (kept in `meta`, updated in each batch's transaction: O(1)). */
  countByType(): Record<EventType, number> {
    this.assertOpen();
    const out = {} as Record<EventType, number>;
    for (const t of EVENT_TYPES) out[t] = this.countOf(t);
    return out;
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

  async close(): Promise<void> {
    this.closing ??= (async () => {
      try {
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

function checkSchema(meta: KvDatabase, readOnly: boolean, dir: string): void {
  const v = meta.get('schema_version');
  if (v === undefined) {
    if (readOnly) throw new SgError('SG_ERR_STORE_OPEN', `${dir} is not an initialised Sessiongate store`);
    meta.putSync('schema_version', SCHEMA_VERSION);
    return;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new SgError('SG_ERR_STORE_OPEN', `store ${dir} has an invalid schema_version ${JSON.stringify(v)}`, { details: { found: v } });
  if (v > SCHEMA_VERSION) {
    throw new SgError('SG_ERR_STORE_OPEN', `store ${dir} has schema version ${v}, newer than this Sessiongate supports (${SCHEMA_VERSION}): upgrade Sessiongate`, { details: { found: v, supported: SCHEMA_VERSION } });
  }
}
