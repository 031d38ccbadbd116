// One batch's work, shared by both store writers (inline on the main thread, or the writer
// thread): encode each valid event to its stored form (one bad event cannot poison the batch),
// then, inside the caller's transaction, put every row without overwriting a stored id, give
// each new session.start its sequential number, add what was stored to the per-type counts and
// write the batch record (rows, a digest per row over the exact stored bytes, and the chained
// mac when a key is set). A batch record exists if and only if its rows were committed.
import { asBinary } from 'lmdb';
import type { EventType, SgEvent } from '../events.js';
import { kindOf, type Kind } from './kinds.js';
import { shapeRow } from './row-codec.js';
import { META, MAX_TERM, metaNumber, type BatchRecord, type StoreDbs, type SessionIndexEntry } from './layout.js';
import { DIGEST_BYTES, ZERO_MAC, batchMac, rowDigest } from './integrity.js';

type Encoder = { encode(v: unknown): Uint8Array };

/** One encoded event ready to put; `index` is its position in the batch. */
export interface CommitRow {
  index: number;
  kind: Kind;
  type: EventType;
  id: string;
  /** The msgpack-encoded stored value (session.start: re-encoded with its seq at commit). */
  bin: Uint8Array;
  /** session.start only: the event, encoded again with its `seq` inside the transaction. */
  start?: SgEvent;
  /** session_id of a session.start / session.end. */
  session?: string;
}

export interface CommitOutcome {
  /** Batch indexes of ids already stored: kept, not overwritten. */
  duplicates: number[];
  /** Batch indexes of events that could not be encoded, with why. */
  rejected: [number, string][];
  /** Rows stored, per event type. */
  counts: [EventType, number][];
}

/** The batch a commit wrote (absent when it stored nothing). */
export interface CommittedBatch {
  b: number;
  ts: number;
  rows: number;
  mac: Buffer | undefined;
}

export type CommitResult = Omit<CommitOutcome, 'rejected'> & {
  batch?: CommittedBatch;
  /** Batch indexes of the rows stored, in put order. */
  stored?: number[];
};

/** The writer's memory of the chain's head: saves reading the last batch record per commit.
 * Only ever updated after the transaction that wrote that batch committed. */
export interface ChainHead {
  b: number;
  mac: Buffer | undefined;
}

export interface CommitContext {
  key: Buffer | undefined;
  /** Commit time (clock ms). */
  now: number;
  head: ChainHead | undefined;
}

function encoderOf(target: StoreDbs, kind: Kind): Encoder {
  return (target.rows[kind] as unknown as { encoder: Encoder }).encoder;
}

/** Encodes events already checked by `eventProblem` (their type has a kind). */
export function encodeEvents(target: StoreDbs, events: readonly SgEvent[]): { rows: CommitRow[]; rejected: [number, string][] } {
  const rows: CommitRow[] = [];
  const rejected: [number, string][] = [];
  for (let index = 0; index < events.length; index++) {
    const ev = events[index]!;
    const kind = kindOf(ev.type)!;
    try {
      const bin = encoderOf(target, kind).encode(shapeRow(kind, ev));
      const row: CommitRow = { index, kind, type: ev.type, id: ev.id, bin };
      if (ev.type === 'session.start') row.start = ev;
      if ((ev.type === 'session.start' || ev.type === 'session.end') && typeof ev.session_id === 'string' && ev.session_id.length > 0 && ev.session_id.length <= MAX_TERM) row.session = ev.session_id;
      rows.push(row);
    } catch (e) {
      rejected.push([index, `cannot encode: ${(e as Error)?.message ?? String(e)}`]);
    }
  }
  return { rows, rejected };
}

type PutSync = (k: string, v: unknown, o: { noOverwrite?: boolean; append?: boolean }) => unknown;
const APPEND = { append: true, noOverwrite: true };
const NO_OVERWRITE = { noOverwrite: true };

/** The greatest key of `db` (read inside the caller's write transaction). */
function lastKey(db: { getKeys(o: { reverse: boolean; limit: number }): Iterable<unknown> }): string {
  for (const k of db.getKeys({ reverse: true, limit: 1 })) return String(k);
  return '';
}

/** The mac batch `b` chains on: the head in memory when it is b-1, else read from the store. */
function prevMacFor(target: StoreDbs, b: number, head: ChainHead | undefined): Buffer {
  if (b <= 1) return ZERO_MAC;
  if (head && head.b === b - 1 && head.mac) return head.mac;
  const prev = target.batches!.get(b - 1) as BatchRecord | undefined;
  if (prev?.mac) return Buffer.from(prev.mac);
  const anchor = target.meta.get(META.anchor) as { b?: unknown; mac?: Uint8Array } | undefined;
  if (anchor && anchor.b === b - 1 && anchor.mac) return Buffer.from(anchor.mac);
  return ZERO_MAC;
}

/** Must run inside a write transaction: a throw aborts the whole batch. */
export function commitRows(target: StoreDbs, rows: readonly CommitRow[], ctx: CommitContext): CommitResult {
  const duplicates: number[] = [];
  const counts = new Map<EventType, number>();
  const b = metaNumber(target.meta, META.batchLast) + 1;
  const listed: [Kind, string][] = [];
  const digests: Buffer[] = [];
  const sessions: [string, SessionIndexEntry][] = [];
  const storedAt: number[] = [];
  let seq = -1;
  // Ids are time-ordered, so nearly every row sorts after its database's last key: such a row
  // cannot be a duplicate, and MDB_APPEND puts it without a B-tree search, filling pages fully.
  // Any other row (backdated, out of order) takes the searched put that detects duplicates.
  const last = new Map<Kind, string>();
  for (const r of rows) {
    const db = target.rows[r.kind]!;
    const put = db.putSync as PutSync;
    let top = last.get(r.kind);
    if (top === undefined) top = lastKey(db);
    let bin = r.bin;
    let nextSeq = seq;
    if (r.start) {
      // Numbered only once stored: a duplicate start must not leave a hole in the numbering.
      if (nextSeq < 0) nextSeq = metaNumber(target.meta, META.sessionSeq);
      nextSeq++;
      bin = encoderOf(target, r.kind).encode(shapeRow(r.kind, r.start, nextSeq));
    }
    const value = asBinary(bin);
    let stored = r.id > top && put.call(db, r.id, value, APPEND) !== false;
    if (stored) top = r.id;
    else stored = put.call(db, r.id, value, NO_OVERWRITE) !== false;
    last.set(r.kind, top);
    if (!stored) {
      duplicates.push(r.index);
      continue;
    }
    if (r.start) seq = nextSeq;
    counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
    listed.push([r.kind, r.id]);
    storedAt.push(r.index);
    digests.push(rowDigest(r.kind, r.id, bin));
    if (r.session !== undefined) sessions.push([r.session, r.type === 'session.start' ? { s: r.id, sb: b } : { e: r.id, eb: b }]);
  }
  for (const [type, n] of counts) {
    const key = `count:${type}`;
    const prev = target.meta.get(key);
    target.meta.putSync(key, (typeof prev === 'number' ? prev : 0) + n);
  }
  if (seq >= 0) target.meta.putSync(META.sessionSeq, seq);
  for (const [sid, add] of sessions) {
    const cur = (target.sessionIndex!.get(sid) as SessionIndexEntry | undefined) ?? {};
    // The first start and the first end recorded win; later ones never rewrite the index.
    if ((add.s !== undefined && cur.s !== undefined) || (add.e !== undefined && cur.e !== undefined)) continue;
    target.sessionIndex!.putSync(sid, { ...cur, ...add });
  }
  if (!listed.length) return { duplicates, counts: [] };
  const digestBuf = Buffer.concat(digests, listed.length * DIGEST_BYTES);
  const mac = ctx.key ? batchMac(ctx.key, prevMacFor(target, b, ctx.head), b, ctx.now, digestBuf) : undefined;
  const record: BatchRecord = { b, ts: ctx.now, rows: listed, digests: digestBuf, ...(mac ? { mac } : {}) };
  if ((target.batches!.putSync as unknown as (k: number, v: unknown, o: object) => unknown)(b, record, NO_OVERWRITE) === false) {
    throw new Error(`batch record ${b} already exists: meta ${META.batchLast} is behind the batches database`);
  }
  target.meta.putSync(META.batchLast, b);
  return { duplicates, counts: [...counts], batch: { b, ts: ctx.now, rows: listed.length, mac }, stored: storedAt };
}

/** The stored events of a commit, as the open region tracker takes them. */
export function storedRows(events: readonly SgEvent[], done: CommitResult): [Kind, SgEvent][] | undefined {
  return done.stored?.map((i) => [kindOf(events[i]!.type)!, events[i]!]);
}
