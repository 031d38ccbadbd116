// Segments: the unit of indexing (docs/store.md "Segment record and the open region"). The
// batches after the last closed segment form the open region, which queries read row by row;
// the writer closes it into a segment (segment record, its range summary and one posting per
// (kind, field, term)) in a transaction of its own, after a row commit, never inside one.
import * as lmdb from 'lmdb';
import type { SgEvent } from '../events.js';
import type { Kind } from './kinds.js';
import { fromStored } from './row-codec.js';
import { ID_BYTES, META, metaNumber, type BatchRecord, type SegmentKind, type SegmentRange, type SegmentRecord, type StoreDbs, type PostingsDb, postingKey } from './layout.js';
import { TermAccumulator } from './indexer.js';
import { OffsetsEncoder } from './postings.js';
import type { CommittedBatch } from './commit.js';

export const SEGMENT_ROWS = 4096;
export const SEGMENT_MAX_AGE_MS = 30_000;

export interface SegmentPolicy {
  /** Close when the open region holds at least this many rows. */
  rows: number;
  /** Close when the open region's first batch is older than this (ms). */
  maxAgeMs: number;
}

/** The writer's view of the open region (rebuilt from the batch records when out of step). */
export interface OpenRegion {
  /** First batch of the open region. */
  from: number;
  /** Last batch counted. */
  last: number;
  rows: number;
  /** Commit time of its first batch (undefined when empty). */
  firstTs: number | undefined;
}

/** Reads the open region from the store (inside any transaction, read or write). */
export function readOpenRegion(dbs: StoreDbs): OpenRegion {
  const from = metaNumber(dbs.meta, META.openFrom, 1);
  const last = metaNumber(dbs.meta, META.batchLast);
  const region: OpenRegion = { from, last, rows: 0, firstTs: undefined };
  if (!dbs.batches || from > last) return region;
  for (const { value } of dbs.batches.getRange({ start: from, end: last + 1 })) {
    const rec = value as BatchRecord;
    region.firstTs ??= rec.ts;
    region.rows += rec.rows.length;
  }
  return region;
}

/** Postings of the open region built as its batches commit (from the events in hand), so that
 * closing it only writes: valid when it covers exactly batches from..last of the open region. */
export interface PreparedRegion {
  from: number;
  last: number;
  kinds: Map<Kind, RegionKind>;
}

interface RegionKind {
  ids: string[];
  ends: number[];
  acc: TermAccumulator;
}

/** Adds a batch's rows ([kind, id, event or undefined when gone]) as batch number `nb` (0-based). */
function addBatch(kinds: Map<Kind, RegionKind>, nb: number, rows: Iterable<[Kind, string, SgEvent | undefined]>): void {
  for (const [kind, id, ev] of rows) {
    let k = kinds.get(kind);
    if (!k) kinds.set(kind, (k = { ids: [], ends: [], acc: new TermAccumulator() }));
    // A row removed since (retention) keeps its offset and gets no posting.
    if (ev) k.acc.add(kind, ev, k.ids.length);
    k.ids.push(id);
  }
  for (const k of kinds.values()) {
    while (k.ends.length < nb) k.ends.push(k.ends.length ? k.ends[k.ends.length - 1]! : 0);
    k.ends[nb] = k.ids.length;
  }
}

/** Follows the commits of one writer so that deciding to close costs no read, and indexes the
 * committed events while they are in hand. */
export class OpenRegionTracker {
  private region: OpenRegion | undefined;
  private prepared: PreparedRegion | undefined;

  constructor(
    private readonly dbs: StoreDbs,
    private readonly policy: SegmentPolicy,
  ) {}

  /** After a commit: `rows` are the stored events, in put order. */
  committed(batch: CommittedBatch | undefined, rows?: readonly [Kind, SgEvent][]): void {
    if (!batch) return;
    const r = this.region;
    if (r && r.last === batch.b - 1) {
      r.last = batch.b;
      r.rows += batch.rows;
      r.firstTs ??= batch.ts;
    } else this.region = undefined;
    this.prepare(batch, rows);
  }

  private prepare(batch: CommittedBatch, rows: readonly [Kind, SgEvent][] | undefined): void {
    let p = this.prepared;
    if (!rows || rows.length !== batch.rows) {
      this.prepared = undefined;
      return;
    }
    if (!p || p.last !== batch.b - 1) {
      // A fresh region can start here only if this batch opens it.
      if (this.current().from !== batch.b) {
        this.prepared = undefined;
        return;
      }
      p = this.prepared = { from: batch.b, last: batch.b - 1, kinds: new Map() };
    }
    addBatch(p.kinds, batch.b - p.from, rows.map(([kind, ev]) => [kind, ev.id, ev]));
    p.last = batch.b;
  }

  /** After a close or a failure: read again when next needed. */
  forget(): void {
    this.region = undefined;
    this.prepared = undefined;
  }

  /** The prepared postings, when they cover the whole open region. */
  preparedRegion(): PreparedRegion | undefined {
    const p = this.prepared;
    const r = this.current();
    return p && p.from === r.from && p.last === r.last ? p : undefined;
  }

  current(): OpenRegion {
    this.region ??= readOpenRegion(this.dbs);
    return this.region;
  }

  due(now: number): boolean {
    const r = this.current();
    if (r.rows === 0) return false;
    return r.rows >= this.policy.rows || (r.firstTs !== undefined && now - r.firstTs >= this.policy.maxAgeMs);
  }
}

/**
 * Must run inside a write transaction: closes the first segment of the open region (its
 * batches up to the first that brings it to `maxRows` rows, at least one), or, given postings
 * prepared for exactly the whole open region, all of it. Returns the new segment number, or 0
 * when the open region is empty.
 */
export function closeOneSegment(dbs: StoreDbs, maxRows: number, prepared?: PreparedRegion): number {
  const { meta, batches, segments, segmentRanges, postings, segmentIds } = dbs;
  if (!batches || !segments || !segmentRanges || !postings || !segmentIds) throw new Error('the store layout is not open for writing');
  const from = metaNumber(meta, META.openFrom, 1);
  const last = metaNumber(meta, META.batchLast);
  if (from > last) return 0;
  let kinds: Map<Kind, RegionKind>;
  let b1: number;
  if (prepared && prepared.from === from && prepared.last === last) {
    kinds = prepared.kinds;
    b1 = last;
  } else ({ kinds, b1 } = readRegion(dbs, from, last, maxRows));
  const s = metaNumber(meta, META.segmentLast) + 1;
  const record: SegmentRecord = { s, b0: from, b1, kinds: {} };
  const range: SegmentRange = { s, b0: from, b1, kinds: {} };
  const keys = new PostingBatch();
  const values = new OffsetsEncoder();
  const nBatches = b1 - from + 1;
  const keyOf = postingKeyBytes(s);
  for (const kind of [...kinds.keys()].sort()) {
    const k = kinds.get(kind)!;
    if (!k.ids.length) continue;
    while (k.ends.length < nBatches) k.ends.push(k.ends[k.ends.length - 1] ?? 0);
    let min = k.ids[0]!;
    let max = k.ids[0]!;
    for (const id of k.ids) {
      if (id < min) min = id;
      else if (id > max) max = id;
    }
    // The ids go to segment_ids only (packed, 18 bytes each): a second copy in the record cost
    // ~20 bytes per event and a msgpack string each.
    const sk: SegmentKind = { batch_ends: k.ends, min_id: min, max_id: max };
    record.kinds[kind] = sk;
    range.kinds[kind] = [min, max, k.ids.length];
    segmentIds.putSync([s, kind], Buffer.from(k.ids.join(''), 'latin1'));
    k.acc.forEachEntry((field, term, offs) => keys.add(keyOf(kind, field, term), values.encode(offs)));
  }
  keys.put(postings);
  segments.putSync(s, record);
  segmentRanges.putSync(s, range);
  meta.putSync(META.segmentLast, s);
  meta.putSync(META.openFrom, b1 + 1);
  return s;
}

/** A closed segment's ids of one kind, in offset order (empty when it has none). */
export function segmentIdList(dbs: StoreDbs, s: number, kind: Kind, rec?: SegmentRecord): string[] {
  const packed = (dbs.segmentIds as unknown as { getBinary(k: unknown): Buffer | undefined } | undefined)?.getBinary([s, kind]);
  if (!packed) return rec?.kinds[kind]?.ids ?? [];
  const out: string[] = new Array(Math.floor(packed.length / ID_BYTES));
  for (let i = 0; i < out.length; i++) out[i] = packed.toString('latin1', i * ID_BYTES, (i + 1) * ID_BYTES);
  return out;
}

/** The first segment's worth of the open region, re-read from the batch records and rows. */
function readRegion(dbs: StoreDbs, from: number, last: number, maxRows: number): { kinds: Map<Kind, RegionKind>; b1: number } {
  const kinds = new Map<Kind, RegionKind>();
  let rows = 0;
  let b1 = from;
  for (const { key, value } of dbs.batches!.getRange({ start: from, end: last + 1 })) {
    const rec = value as BatchRecord;
    b1 = key;
    addBatch(
      kinds,
      key - from,
      rec.rows.map(([kind, id]): [Kind, string, SgEvent | undefined] => {
        const v = dbs.rows[kind]?.get(id);
        return [kind, id, v === undefined ? undefined : fromStored(kind, id, v)];
      }),
    );
    rows += rec.rows.length;
    if (rows >= maxRows) break;
  }
  return { kinds, b1 };
}

type RawPut = (k: Uint8Array, v: Buffer, o?: { append: boolean }) => boolean;
const APPEND = { append: true };
/** The ordered-binary bytes of a key, exactly as the database's put would write them. */
const keyBytes = (lmdb as unknown as { keyValueToBuffer(k: unknown): Buffer }).keyValueToBuffer;
/** Terms whose ordered-binary bytes are their latin1 bytes: short (< 64 chars), no control
 * character the encoding escapes (<= 4), not starting below 28 (which gets a prefix byte). */
const PLAIN_TERM = /^[\x1c-\x7f][\x05-\x7f]{0,62}$/;

/**
 * Posting keys of segment `s` as bytes: an array key is its elements' encodings joined by a 0
 * byte, so the `[s, kind, field]` prefix is encoded once per field and a plain term appended;
 * any other term takes the library's encoder for the whole key. Keys share 1 MiB slabs.
 */
export function postingKeyBytes(s: number): (kind: Kind, field: string, term: string) => Buffer {
  const prefixes = new Map<string, Buffer>();
  let slab = Buffer.alloc(0);
  let p = 0;
  return (kind, field, term) => {
    if (!PLAIN_TERM.test(term)) return keyBytes(postingKey(kind, field, term, s));
    const pk = `${kind}\0${field}`;
    let prefix = prefixes.get(pk);
    if (!prefix) prefixes.set(pk, (prefix = keyBytes([s, kind, field])));
    const need = prefix.length + 1 + term.length;
    if (p + need > slab.length) {
      slab = Buffer.allocUnsafe(1 << 20);
      p = 0;
    }
    const start = p;
    prefix.copy(slab, p);
    p += prefix.length;
    slab[p++] = 0;
    p += slab.write(term, p, 'latin1');
    return slab.subarray(start, p);
  };
}

/**
 * A new segment's postings (keys already encoded), put in the database's byte order. Its keys
 * all start with the new (greatest) segment number, so they sort after every stored key and
 * go in with MDB_APPEND: no B-tree search per key, and full pages. They come in string order,
 * which is their byte order but for rare characters (ordered-binary escapes control characters
 * and writes UTF-8): each key is checked against the one before as it is added and, if any is
 * out of order, all are sorted by bytes. A store whose last posting sorts after this segment's
 * (never expected) takes searched puts.
 */
class PostingBatch {
  private readonly keys: Buffer[] = [];
  private readonly values: Buffer[] = [];
  private sorted = true;

  add(key: Buffer, value: Buffer): void {
    const n = this.keys.length;
    if (this.sorted && n && Buffer.compare(this.keys[n - 1]!, key) >= 0) this.sorted = false;
    this.keys.push(key);
    this.values.push(value);
  }

  put(postings: PostingsDb): void {
    let keys = this.keys;
    let values = this.values;
    if (!keys.length) return;
    if (!this.sorted) {
      const order = keys.map((_k, i) => i).sort((a, b) => Buffer.compare(this.keys[a]!, this.keys[b]!));
      keys = order.map((i) => this.keys[i]!);
      values = order.map((i) => this.values[i]!);
    }
    let last: Buffer | undefined;
    for (const k of postings.getKeys({ reverse: true, limit: 1 })) last = keyBytes(k);
    const append = last === undefined || Buffer.compare(last, keys[0]!) < 0;
    const put = postings.putSync as unknown as RawPut;
    for (let i = 0; i < keys.length; i++) {
      if (!(append ? put.call(postings, keys[i]!, values[i]!, APPEND) : put.call(postings, keys[i]!, values[i]!))) throw new Error('a posting key of the new segment is already stored');
    }
  }
}
