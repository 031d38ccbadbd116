// One batch's work, shared by both store writers (inline on the main thread, or the writer
// thread): encode each valid event to its stored form (one bad event cannot poison the batch),
// then, inside the caller's transaction, put every row without overwriting a stored id and add
// what was stored to the per-type counts in `meta`.
import { asBinary } from 'lmdb';
import type { Database } from 'lmdb';
import type { EventType, SgEvent } from '../events.js';
import { kindOf, toStored, type Kind } from './kinds.js';

type Db = Database<unknown, string>;
type Encoder = { encode(v: unknown): Uint8Array };

export interface CommitDbs {
  meta: Db;
  dbs: Readonly<Record<Kind, Db | undefined>>;
}

/** One encoded event ready to put; `index` is its position in the batch. */
export interface CommitRow {
  index: number;
  kind: Kind;
  type: EventType;
  id: string;
  /** The msgpack-encoded stored value. */
  bin: Uint8Array;
}

export interface CommitOutcome {
  /** Batch indexes of ids already stored: kept, not overwritten. */
  duplicates: number[];
  /** Batch indexes of events that could not be encoded, with why. */
  rejected: [number, string][];
  /** Rows stored, per event type. */
  counts: [EventType, number][];
}

/** Encodes events already checked by `eventProblem` (their type has a kind). */
export function encodeEvents(target: CommitDbs, events: readonly SgEvent[]): { rows: CommitRow[]; rejected: [number, string][] } {
  const rows: CommitRow[] = [];
  const rejected: [number, string][] = [];
  for (let index = 0; index < events.length; index++) {
    const ev = events[index]!;
    const kind = kindOf(ev.type)!;
    try {
      const bin = (target.dbs[kind] as unknown as { encoder: Encoder }).encoder.encode(toStored(kind, ev));
      rows.push({ index, kind, type: ev.type, id: ev.id, bin });
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
function lastKey(db: Db): string {
  for (const k of db.getKeys({ reverse: true, limit: 1 })) return String(k);
  return '';
}

/** Must run inside a write transaction: a throw aborts the whole batch. */
export function commitRows(target: CommitDbs, rows: readonly CommitRow[]): Omit<CommitOutcome, 'rejected'> {
  const duplicates: number[] = [];
  const counts = new Map<EventType, number>();
  // Ids are time-ordered, so nearly every row sorts after its database's last key: such a row
  // cannot be a duplicate, and MDB_APPEND puts it without a B-tree search, filling pages fully.
  // Any other row (backdated, out of order) takes the searched put that detects duplicates.
  const last = new Map<Kind, string>();
  for (const r of rows) {
    const db = target.dbs[r.kind]!;
    const put = db.putSync as PutSync;
    let top = last.get(r.kind);
    if (top === undefined) top = lastKey(db);
    const value = asBinary(r.bin);
    let stored = r.id > top && put.call(db, r.id, value, APPEND) !== false;
    if (stored) top = r.id;
    else stored = put.call(db, r.id, value, NO_OVERWRITE) !== false;
    last.set(r.kind, top);
    if (stored) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
    else duplicates.push(r.index);
  }
  for (const [type, n] of counts) {
    const key = `count:${type}`;
    const prev = target.meta.get(key);
    target.meta.putSync(key, (typeof prev === 'number' ? prev : 0) + n);
  }
  return { duplicates, counts: [...counts] };
}
