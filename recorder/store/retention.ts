// Retention (docs/store.md "Retention"): removes rows older than their kind's period in small
// write transactions (at most 1,000 rows each, each sized to hold the write lock ~20 ms,
// awaiting between them) so recording never waits long, and keeps the chain verifiable:
// 1. the anchor's per-kind cutoffs are raised first, in their own transaction: from then on a
//    listed row below its cutoff may be absent (a crash after this step only leaves rows that
//    may go, never a row that must be there and is not);
// 2. rows go segment by segment (closed segments only: the open region belongs to the writer):
//    their terms are recomputed outside the lock (terms.ts, as the segment closer did); each
//    posting is rewritten once per segment (deleted outright when its kind's rows all go), then
//    the rows, per-type counters and session index entries go;
// 3. a batch left without rows becomes a signed stub (integrity.ts pruneBatch) and a segment
//    left without rows is dropped;
// 4. stubs at the front of the chain are dropped and the anchor moves past them.
// Then terminal recordings (docs/recordings.md "Retention"): a closed recording goes with its
// session's records, or after retention.recordings; never one being written or of a live session.
import { rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import type { ActivityEvent, EventType } from '../events.js';
import type { Clock, Logger } from '../../gateway/core/runtime.js';
import { SgError } from '../../gateway/core/errors.js';
import { idFloor, idTime } from '../../gateway/core/ids.js';
import { KINDS, type Kind } from './kinds.js';
import { fromStored } from './row-codec.js';
import { segmentIdList } from './segments.js';
import { dropTiersBefore } from './tiers.js';
import { META, metaNumber, postingKey, postingParts, type PostingKey, type SegmentRange, type SegmentRecord, type SessionIndexEntry, type StoreDbs } from './layout.js';
import { forEachTerm } from './terms.js';
import { decodeOffsets, encodeOffsets } from './postings.js';
import { ANCHOR_KEY, makeAnchor, parseAnchor, parseBatch, pruneBatch, type ChainAnchor } from './integrity.js';
import { castsOnDisk, readTrailer, recordingFiles, sessionOfRecording, sizeOf } from '../cast/files.js';
import { makeRecordingsCutoff, parseRecordingsCutoff, RECORDINGS_CUTOFF_KEY } from './recording-cutoff.js';

/** The retention config keys (config/schema.ts `retention`). */
export const RETENTION_KEYS = ['requests', 'sessions', 'activity', 'transfers', 'recordings'] as const;
export type RetentionKey = (typeof RETENTION_KEYS)[number];

/** Which period a rows database follows: SSH commands and forwards happen inside sessions. */
const PERIOD_OF_KIND: Readonly<Record<Kind, RetentionKey>> = { requests: 'requests', sessions: 'sessions', activity: 'activity', transfers: 'transfers', ssh: 'sessions' };

export const MAX_CHUNK_ROWS = 1000;
/** Most posting keys rewritten per transaction. */
const MAX_CHUNK_POSTINGS = 5000;
/** Batch records dropped from the front per transaction. */
const DROP_BATCHES_PER_TXN = 1000;

export type RetentionActivity = Omit<ActivityEvent, 'id' | 'ts'>;

export interface RetentionOptions {
  /** The store's databases (the Store's own handles: retention writes in the same environment). */
  dbs: StoreDbs;
  /** ms per key; absent = keep forever. */
  periods: Partial<Record<RetentionKey, number>>;
  /** ms between runs. */
  interval: number;
  /** Delay before the first run after start() (default: 1 minute, or `interval` when shorter). */
  firstRunDelay?: number;
  /** audit.key_file: required when the store's batches carry macs (anchors and stubs are signed). */
  key?: Buffer | undefined;
  /** Most rows removed per transaction (1..1000, default 1000). */
  chunkRows?: number;
  /** Target time one transaction holds the write lock, ms (default 20): the chunk size adapts to it. */
  txnBudgetMs?: number;
  clock: Clock;
  logger: Logger;
  /** Records the run's activity (the Recorder's emit). */
  emit(ev: RetentionActivity): unknown;
  /** Terminal recordings (`${data_dir}/recordings`); default: `recordings` beside the store's
   * directory when the store is `<data_dir>/store`, else recordings are not pruned. */
  recordingsDir?: string;
}

const DAY = 86_400_000;
const optionsSchema = z.object({
  dbs: z.custom<StoreDbs>((v) => typeof v === 'object' && v !== null && 'root' in v && 'meta' in v, 'the store databases'),
  periods: z.strictObject(Object.fromEntries(RETENTION_KEYS.map((k) => [k, z.number().int().positive().max(1000 * 365 * DAY).optional()])) as Record<RetentionKey, z.ZodOptional<z.ZodNumber>>),
  interval: z.number().int().positive(),
  firstRunDelay: z.number().int().nonnegative().optional(),
  key: z.custom<Buffer>((v) => Buffer.isBuffer(v) && v.length >= 32, 'a key of at least 32 bytes').optional(),
  chunkRows: z.number().int().min(1).max(MAX_CHUNK_ROWS).optional(),
  txnBudgetMs: z.number().positive().max(1000).optional(),
  clock: z.custom<Clock>((v) => typeof (v as Clock)?.now === 'function', 'a clock'),
  logger: z.custom<Logger>((v) => typeof (v as Logger)?.error === 'function', 'a pino logger'),
  emit: z.custom<RetentionOptions['emit']>((v) => typeof v === 'function', 'a function'),
  recordingsDir: z.string().min(1).optional(),
});

export interface RetentionReport {
  /** Cutoff per kind applied (ISO time): rows with an older event time were removed. */
  cutoffs: Partial<Record<Kind, string>>;
  /** Rows removed per kind. */
  removed: Partial<Record<Kind, number>>;
  /** Batch records turned into stubs (all their rows gone). */
  batches_pruned: number;
  /** Stubs dropped from the front of the chain (the anchor moved past them). */
  batches_dropped: number;
  segments_dropped: number;
  transactions: number;
  /** Recordings removed (`.cast` with its `.idx` and `.snap`), and their bytes. */
  recordings_removed: number;
  recording_bytes_removed: number;
  /** The first MAX_LISTED of them: why each went (its session's records went; retention.recordings). */
  recordings: RemovedRecording[];
  /** Recordings below a cutoff kept because they are not closed or their session is live. */
  recordings_kept_live: number;
  /** Files that could not be removed (logged; tried again next run). */
  recording_errors: number;
}

export interface RemovedRecording {
  id: string;
  /** Relative to the recordings dir. */
  path: string;
  /** Bytes of the three files. */
  bytes: number;
  reason: 'sessions' | 'recordings';
}

/** Recordings listed in a report (and its activity). */
const MAX_LISTED = 100;

type Cutoffs = Partial<Record<Kind, string>>;

export class Retention {
  private readonly dbs: StoreDbs;
  private readonly periods: Partial<Record<RetentionKey, number>>;
  private readonly interval: number;
  private readonly firstRunDelay: number;
  private readonly key: Buffer | undefined;
  /** Rows per transaction, and posting keys per transaction: each sized to txnBudgetMs. */
  private readonly rowChunk: ChunkSizer;
  private readonly postingChunk: ChunkSizer;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly emit: RetentionOptions['emit'];
  private readonly recordingsDir: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionReport> | undefined;
  private closed = false;

  constructor(opts: RetentionOptions) {
    const parsed = optionsSchema.safeParse(opts);
    if (!parsed.success) throw new SgError('SG_ERR_CONFIG_INVALID', `invalid retention options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    this.dbs = opts.dbs;
    this.periods = { ...opts.periods };
    this.interval = opts.interval;
    this.firstRunDelay = opts.firstRunDelay ?? Math.min(60_000, opts.interval);
    this.key = opts.key;
    const budget = opts.txnBudgetMs ?? 20;
    this.rowChunk = new ChunkSizer(opts.chunkRows ?? MAX_CHUNK_ROWS, budget);
    this.postingChunk = new ChunkSizer(MAX_CHUNK_POSTINGS, budget);
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.emit = opts.emit;
    this.recordingsDir = opts.recordingsDir ?? defaultRecordingsDir(opts.dbs);
    const { batches, segments, segmentRanges, postings } = this.dbs;
    if (!batches || !segments || !segmentRanges || !postings) throw new SgError('SG_ERR_STORE_OPEN', 'retention needs the store open for writing (batches, segments, postings)');
  }

  /** Runs every `interval` (first after `firstRunDelay`); a failed run is logged and retried next time. */
  start(): void {
    if (this.closed) throw new SgError('SG_ERR_INTERNAL', 'retention is closed');
    if (this.timer || !this.active()) return;
    this.schedule(this.firstRunDelay);
  }

  private active(): boolean {
    return RETENTION_KEYS.some((k) => this.periods[k] !== undefined);
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.runOnce()
        .catch((e: unknown) => this.logger.error({ err: e }, 'retention run failed; retrying at the next interval'))
        .finally(() => {
          if (!this.closed) this.schedule(this.interval);
        });
    }, ms);
    this.timer.unref();
  }

  /** One prune now (runs never overlap: a second call while one runs gets the same run). */
  runOnce(): Promise<RetentionReport> {
    if (this.closed) return Promise.reject(new SgError('SG_ERR_INTERNAL', 'retention is closed'));
    this.running ??= this.prune().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Stops the schedule and waits for a run in progress (it stops between transactions). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  private cutoffs(now: number): Cutoffs {
    const out: Cutoffs = {};
    for (const kind of KINDS) {
      const period = this.periods[PERIOD_OF_KIND[kind]];
      // An id below idFloor(t) has an event time before t.
      if (period !== undefined) out[kind] = idFloor(now - period);
    }
    return out;
  }

  private async txn<T>(work: () => T): Promise<T> {
    const root = this.dbs.root;
    // A child transaction: a throw undoes only this work, not writes lmdb-js batched with it.
    return root.transaction(() => root.childTransaction(work)) as Promise<T>;
  }

  private async prune(): Promise<RetentionReport> {
    const now = this.clock.now();
    const cutoffs = this.cutoffs(now);
    const report: RetentionReport = { cutoffs: {}, removed: {}, batches_pruned: 0, batches_dropped: 0, segments_dropped: 0, transactions: 0, recordings_removed: 0, recording_bytes_removed: 0, recordings: [], recordings_kept_live: 0, recording_errors: 0 };
    for (const [k, id] of Object.entries(cutoffs) as [Kind, string][]) report.cutoffs[k] = new Date(idTime(id)).toISOString();
    if (!Object.keys(cutoffs).length && this.periods.recordings === undefined) return report;
    this.checkKey();
    if (Object.keys(cutoffs).length) await this.pruneRows(cutoffs, report);
    if (!this.closed) await this.pruneRecordings(now, report);

    const total = Object.values(report.removed).reduce((a, n) => a + (n ?? 0), 0);
    this.logger.info({ ...report, recordings: undefined, removed_total: total }, 'retention run done');
    if (total > 0 || report.batches_dropped > 0 || report.segments_dropped > 0 || report.recordings_removed > 0) {
      const recs = report.recordings_removed;
      try {
        await this.emit({
          type: 'activity',
          initiator: 'system',
          action: 'retention_prune',
          description: `retention removed ${total} record${total === 1 ? '' : 's'}${recs ? ` and ${recs} recording${recs === 1 ? '' : 's'} (${report.recording_bytes_removed} bytes)` : ''} older than the retention period`,
          details: {
            removed: report.removed,
            cutoffs: report.cutoffs,
            batches_pruned: report.batches_pruned,
            batches_dropped: report.batches_dropped,
            segments_dropped: report.segments_dropped,
            ...(recs ? { recordings_removed: recs, recording_bytes_removed: report.recording_bytes_removed, recordings: report.recordings.map((r) => ({ id: r.id, path: r.path, bytes: r.bytes, reason: r.reason })) } : {}),
          },
          ...(recs ? { targets: report.recordings.slice(0, MAX_LISTED).map((r) => ({ kind: 'recording', id: r.id })) } : {}),
        });
      } catch (e) {
        this.logger.error({ err: e, report }, 'retention: the retention_prune activity could not be recorded');
      }
    }
    return report;
  }

  /** Steps 1 to 5: rows of the store. */
  private async pruneRows(cutoffs: Cutoffs, report: RetentionReport): Promise<void> {
    // 1. Raise the anchor's cutoffs before any row goes.
    await this.txn(() => {
      const anchor = this.readAnchor();
      const merged: Cutoffs = { ...anchor.cutoffs };
      let changed = false;
      for (const [k, id] of Object.entries(cutoffs) as [Kind, string][]) {
        if (merged[k] === undefined || merged[k]! < id) {
          merged[k] = id;
          changed = true;
        }
      }
      if (changed) this.dbs.meta.putSync(ANCHOR_KEY, makeAnchor(this.key, { ...anchor, cutoffs: merged }));
    });
    report.transactions++;

    // 2 and 3. Closed segments holding rows below a cutoff.
    for (const s of this.candidateSegments(cutoffs)) {
      if (this.closed) break;
      await this.pruneSegment(s, cutoffs, report);
    }
    // 4. Stubs at the front of the chain.
    while (!this.closed) {
      const dropped = await this.txn(() => this.dropFront());
      report.transactions++;
      report.batches_dropped += dropped;
      if (dropped < DROP_BATCHES_PER_TXN) break;
    }
    // 5. Tiers whose segments are all gone.
    if (report.segments_dropped > 0 && !this.closed) {
      await this.txn(() => {
        let first = metaNumber(this.dbs.meta, META.segmentLast) + 1;
        for (const s of this.dbs.segments!.getKeys({ limit: 1 })) first = s;
        dropTiersBefore(this.dbs, first);
      });
      report.transactions++;
    }
  }

  /**
   * Recordings (after the rows, so a session whose records just went is seen as gone). A closed
   * recording goes once its session's records are all gone and it ended before the sessions
   * cutoff, or once its session ended before the recordings cutoff (session.end's event time;
   * the recording's own end when the store has no session.end). A recording without a trailer
   * (being written, or left by a crash until repair) and one of a session with a start but no
   * end (live) stay. Before any goes under retention.recordings, meta `retention:recordings`
   * (signed) is raised so `verify` knows which session.end may name a removed recording.
   */
  private async pruneRecordings(now: number, report: RetentionReport): Promise<void> {
    const dir = this.recordingsDir;
    const recCut = this.periods.recordings !== undefined ? now - this.periods.recordings : undefined;
    const sesCut = this.periods.sessions !== undefined ? now - this.periods.sessions : undefined;
    if (!dir || (recCut === undefined && sesCut === undefined)) return;
    if (recCut !== undefined) {
      const before = idFloor(recCut);
      await this.txn(() => {
        const cur = parseRecordingsCutoff(this.dbs.meta.get(RECORDINGS_CUTOFF_KEY));
        if (typeof cur === 'string' || cur.before < before) this.dbs.meta.putSync(RECORDINGS_CUTOFF_KEY, makeRecordingsCutoff(this.key, before));
      });
      report.transactions++;
    }
    const index = this.dbs.sessionIndex;
    const touched = new Set<string>();
    // A recording ends after its day began: days from the later cutoff on hold none that may go.
    for await (const c of castsOnDisk(dir, Math.max(recCut ?? -Infinity, sesCut ?? -Infinity))) {
      if (this.closed) return;
      const sessionId = sessionOfRecording(c.id);
      const entry = index?.get(sessionId) as SessionIndexEntry | undefined;
      if (entry?.s !== undefined && entry.e === undefined) {
        if (!c.orphan) report.recordings_kept_live++;
        continue;
      }
      let ended: number;
      if (c.orphan) {
        // An index or snapshot whose .cast is gone (a run stopped between files): by its day.
        ended = entry?.e !== undefined ? idTime(entry.e) : c.dayMs + DAY;
      } else {
        const trailer = await readTrailer(c.file);
        if (!trailer) {
          report.recordings_kept_live++;
          continue;
        }
        const started = idTime(sessionId);
        ended = entry?.e !== undefined ? idTime(entry.e) : (Number.isFinite(started) ? started : c.dayMs + DAY) + Math.ceil(trailer.duration * 1000);
      }
      let reason: RemovedRecording['reason'] | undefined;
      if (sesCut !== undefined && entry === undefined && ended < sesCut) reason = 'sessions';
      else if (recCut !== undefined && ended < recCut) reason = 'recordings';
      if (!reason) continue;
      const files = c.orphan ? [c.file] : recordingFiles(c.file);
      let bytes = 0;
      try {
        for (const f of files) bytes += await sizeOf(f);
        // The .cast first: a run stopped here leaves side files, which a later run removes.
        for (const f of files) await rm(f, { force: true });
      } catch (e) {
        report.recording_errors++;
        this.logger.error({ err: e, file: c.file }, 'retention: could not remove a recording; trying again next run');
        continue;
      }
      touched.add(dirname(c.file));
      if (c.orphan) continue;
      report.recordings_removed++;
      report.recording_bytes_removed += bytes;
      if (report.recordings.length < MAX_LISTED) report.recordings.push({ id: c.id, path: c.path, bytes, reason });
    }
    // Day, month and year directories left empty go too.
    for (const day of touched) {
      for (let d = day, i = 0; i < 3 && d.startsWith(dir) && d !== dir; i++, d = dirname(d)) {
        if (!(await rmdir(d).then(() => true, () => false))) break;
      }
    }
  }

  /** Signing anchors and stubs needs the key whenever the chain is signed. */
  private checkKey(): void {
    if (this.key) return;
    const last = metaNumber(this.dbs.meta, META.batchLast);
    const rec = last ? (this.dbs.batches!.get(last) as { mac?: unknown } | undefined) : undefined;
    if (rec?.mac) throw new SgError('SG_ERR_CONFIG_INVALID', 'retention: the store is signed (audit.key_file) but retention has no key: it would break the chain, so it does not run', { details: { key: 'audit.key_file' } });
  }

  private readAnchor(): Omit<ChainAnchor, 'hmac'> {
    const raw = this.dbs.meta.get(ANCHOR_KEY);
    if (raw === undefined) return { b: 0, ts: 0, cutoffs: {} };
    const a = parseAnchor(raw);
    if (typeof a === 'string') throw new SgError('SG_ERR_STORE_OPEN', `retention: meta ${ANCHOR_KEY} is malformed (${a}): run sessiongate verify`);
    return a;
  }

  /** Closed segments whose range starts below a cutoff (segment_ranges: small records). */
  private candidateSegments(cutoffs: Cutoffs): number[] {
    const out: number[] = [];
    const openFrom = metaNumber(this.dbs.meta, META.openFrom, 1);
    for (const { key, value } of this.dbs.segmentRanges!.getRange({})) {
      const r = value as SegmentRange;
      if (r.b1 >= openFrom) continue;
      for (const [kind, range] of Object.entries(r.kinds) as [Kind, [string, string, number]][]) {
        const cut = cutoffs[kind];
        if (cut !== undefined && range[0] < cut) {
          out.push(key);
          break;
        }
      }
    }
    return out;
  }

  private async pruneSegment(s: number, cutoffs: Cutoffs, report: RetentionReport): Promise<void> {
    const seg = this.dbs.segments!.get(s) as SegmentRecord | undefined;
    if (!seg) return;
    const todo: [Kind, number, string][] = [];
    const whole = new Set<Kind>();
    for (const [kind, k] of Object.entries(seg.kinds) as [Kind, SegmentRecord['kinds'][Kind]][]) {
      const cut = cutoffs[kind];
      if (cut === undefined || !k || k.min_id >= cut) continue;
      if (k.max_id < cut) whole.add(kind);
      segmentIdList(this.dbs, s, kind, seg).forEach((id, i) => {
        if (id < cut) todo.push([kind, i, id]);
      });
    }
    // Rows are never rewritten: what they index is read before taking the write lock.
    const plan = this.planRemoval(s, todo);
    // Postings first: a crash between the steps leaves expired rows that lost their postings,
    // which the next run finds again (by segment) and finishes; never a posting to a lost row.
    const entries = [...plan.postings.values()];
    for (let at = 0; at < entries.length && !this.closed; ) {
      const part = entries.slice(at, at + this.postingChunk.size);
      at += part.length;
      const ms = await this.timedTxn(() => this.unpost(part, whole));
      this.postingChunk.fit(part.length, ms);
      report.transactions++;
    }
    for (let at = 0; at < plan.rows.length && !this.closed; ) {
      const part = plan.rows.slice(at, at + this.rowChunk.size);
      at += part.length;
      let removed = new Map<Kind, number>();
      const ms = await this.timedTxn(() => {
        removed = this.removeRows(part);
      });
      this.rowChunk.fit(part.length, ms);
      report.transactions++;
      for (const [kind, n] of removed) report.removed[kind] = (report.removed[kind] ?? 0) + n;
    }
    if (this.closed) return;
    const { pruned, dropped } = await this.txn(() => this.settleSegment(s));
    report.transactions++;
    report.batches_pruned += pruned;
    if (dropped) report.segments_dropped++;
  }

  /** Runs `work` in a write transaction; resolves with the ms it held the write lock. */
  private async timedTxn(work: () => void): Promise<number> {
    let ms = 0;
    await this.txn(() => {
      const started = performance.now();
      try {
        work();
      } finally {
        ms = performance.now() - started;
      }
    });
    return ms;
  }

  /** What removing these rows of segment `s` (each [kind, offset, id]) takes, read outside the write transaction. */
  private planRemoval(s: number, rows: readonly [Kind, number, string][]): RemovalPlan {
    const plan: RemovalPlan = { rows: [], postings: new Map() };
    for (const [kind, offset, id] of rows) {
      const value = this.dbs.rows[kind]?.get(id);
      if (value === undefined) continue;
      const ev = fromStored(kind, id, value);
      forEachTerm(kind, ev, (field, term) => {
        const k = `${kind}\0${field}\0${term}`;
        let e = plan.postings.get(k);
        if (!e) plan.postings.set(k, (e = { key: postingKey(kind, field, term, s), offsets: new Set() }));
        e.offsets.add(offset);
      });
      const sid = (ev as { session_id?: unknown }).session_id;
      plan.rows.push({ kind, id, type: ev.type, ...((ev.type === 'session.start' || ev.type === 'session.end') && typeof sid === 'string' ? { session: sid } : {}) });
    }
    return plan;
  }

  /** Takes the offsets out of their postings; a kind whose rows all go loses its postings whole. In a write transaction. */
  private unpost(entries: readonly PostingEdit[], whole: ReadonlySet<Kind>): void {
    const postings = this.dbs.postings!;
    for (const { key, offsets } of entries) {
      if (whole.has(postingParts(key).kind)) {
        postings.removeSync(key);
        continue;
      }
      const cur = postings.get(key);
      if (cur === undefined) continue;
      // Offsets of rows already gone are absent: taking them out again is a no-op.
      const kept = [...decodeOffsets(cur)].filter((o) => !offsets.has(o));
      if (kept.length) postings.putSync(key, encodeOffsets(kept));
      else postings.removeSync(key);
    }
  }

  /** Removes the rows, with their counters and session index halves. In a write transaction. */
  private removeRows(rows: RemovalPlan['rows']): Map<Kind, number> {
    const { meta, sessionIndex } = this.dbs;
    const perType = new Map<EventType, number>();
    const perKind = new Map<Kind, number>();
    for (const r of rows) {
      if (!this.dbs.rows[r.kind]!.removeSync(r.id)) continue;
      if (sessionIndex && r.session !== undefined) unindexSession(sessionIndex, r.session, r.id);
      perType.set(r.type, (perType.get(r.type) ?? 0) + 1);
      perKind.set(r.kind, (perKind.get(r.kind) ?? 0) + 1);
    }
    for (const [type, n] of perType) {
      const key = `count:${type}`;
      meta.putSync(key, Math.max(0, metaNumber(meta, key) - n));
    }
    return perKind;
  }

  /** Stubs the segment's batches left without rows; drops the segment when none is left. */
  private settleSegment(s: number): { pruned: number; dropped: boolean } {
    const { batches, segments, segmentRanges, segmentIds } = this.dbs;
    const seg = segments!.get(s) as SegmentRecord | undefined;
    if (!seg) return { pruned: 0, dropped: false };
    let pruned = 0;
    let left = 0;
    for (let b = seg.b0; b <= seg.b1; b++) {
      const raw = batches!.get(b);
      if (raw === undefined) continue;
      const rec = parseBatch(b, raw);
      if (typeof rec === 'string') throw new SgError('SG_ERR_STORE_OPEN', `retention: batch ${b} is malformed (${rec}): run sessiongate verify`);
      if (rec.pruned) continue;
      const remaining = rec.rows.filter(([kind, id]) => this.dbs.rows[kind]?.doesExist(id)).length;
      if (remaining) {
        left += remaining;
        continue;
      }
      batches!.putSync(b, pruneBatch(this.key, rec));
      pruned++;
    }
    if (left) return { pruned, dropped: false };
    segments!.removeSync(s);
    segmentRanges!.removeSync(s);
    for (const kind of Object.keys(seg.kinds) as Kind[]) segmentIds?.removeSync([s, kind]);
    return { pruned, dropped: true };
  }

  /** Drops stubs from the front of the chain and moves the anchor past them. In a write transaction. */
  private dropFront(): number {
    const { meta, batches } = this.dbs;
    const anchor = this.readAnchor();
    const last = metaNumber(meta, META.batchLast);
    const openFrom = metaNumber(meta, META.openFrom, 1);
    let next = anchor;
    let n = 0;
    // The last batch stays: the writer chains the next batch on its record.
    for (let b = anchor.b + 1; b < last && b < openFrom && n < DROP_BATCHES_PER_TXN; b++) {
      const raw = batches!.get(b);
      if (raw === undefined) break;
      const rec = parseBatch(b, raw);
      if (typeof rec === 'string' || !rec.pruned) break;
      batches!.removeSync(b);
      next = { b, ts: rec.ts, cutoffs: anchor.cutoffs, ...(rec.mac ? { mac: rec.mac } : {}) };
      n++;
    }
    if (n) meta.putSync(ANCHOR_KEY, makeAnchor(this.key, next));
    return n;
  }
}

/** `<data_dir>/recordings` when the store is `<data_dir>/store/data.mdb`. */
function defaultRecordingsDir(dbs: StoreDbs): string | undefined {
  const envPath = (dbs.root as unknown as { path?: unknown }).path;
  if (typeof envPath !== 'string') return undefined;
  const storeDir = dirname(envPath);
  return basename(storeDir) === 'store' ? join(dirname(storeDir), 'recordings') : undefined;
}

/** Forgets a removed session row in the session index; the entry goes with its last row. */
function unindexSession(index: NonNullable<StoreDbs['sessionIndex']>, sid: string, id: string): void {
  const cur = index.get(sid) as SessionIndexEntry | undefined;
  if (!cur) return;
  const next: SessionIndexEntry = { ...cur };
  if (next.s === id) {
    delete next.s;
    delete next.sb;
  }
  if (next.e === id) {
    delete next.e;
    delete next.eb;
  }
  if (next.s === undefined && next.e === undefined) index.removeSync(sid);
  else if (next.s !== cur.s || next.e !== cur.e) index.putSync(sid, next);
}

interface PostingEdit {
  key: PostingKey;
  offsets: Set<number>;
}

interface RemovalPlan {
  rows: { kind: Kind; id: string; type: EventType; session?: string }[];
  /** Posting key (joined) -> the key and the offsets to take out of it. */
  postings: Map<string, PostingEdit>;
}

/** How many units the next transaction takes, from the last one's time per unit: about
 * `budgetMs` of write lock each, between 1 and `max`, growing at most 2x at a time. */
class ChunkSizer {
  size: number;
  constructor(
    private readonly max: number,
    private readonly budgetMs: number,
  ) {
    this.size = Math.min(max, 50);
  }

  fit(units: number, ms: number): void {
    const perUnit = Math.max(ms, 0.01) / Math.max(units, 1);
    this.size = Math.max(1, Math.min(this.max, Math.floor(this.budgetMs / perUnit), units * 2));
  }
}
