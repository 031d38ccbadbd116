// The reader's memory of closed segments: every segment's range summary (small: a few hundred
// bytes each, read once and then only the new ones), and the last segment records used (their id
// lists, which decode in about a millisecond). Segments are immutable once written; retention
// only deletes whole ones, which the catalog notices and drops.
import { ID_BYTES, type SegmentRange, type SegmentRecord, type StoreDbs } from './layout.js';
import type { Kind } from './kinds.js';

const RECORD_CACHE = 48;
/** Packed id lists kept (up to ~110 KB each at 6,000 rows): the newest segments, which most first pages open. */
const IDS_CACHE = 32;

/** A segment's ids of one kind packed ID_BYTES each (segment_ids), and whether they ascend. */
export interface PackedIds {
  buf: Buffer;
  sorted: boolean;
}

export class SegmentCatalog {
  private ranges: SegmentRange[] = [];
  private readonly records = new Map<number, SegmentRecord>();
  private readonly packed = new Map<string, PackedIds>();

  constructor(private readonly dbs: StoreDbs) {}

  /** Every closed segment's range summary, ascending by segment number. */
  list(): readonly SegmentRange[] {
    const db = this.dbs.segmentRanges;
    if (!db) return this.ranges;
    let first: number | undefined;
    for (const k of db.getKeys({ limit: 1 })) first = k as number;
    if (first === undefined) {
      this.ranges = [];
      return this.ranges;
    }
    if (this.ranges.length && this.ranges[0]!.s < first) this.ranges = this.ranges.filter((r) => r.s >= first!);
    const top = this.ranges.length ? this.ranges[this.ranges.length - 1]!.s : 0;
    let fresh: SegmentRange[] | undefined;
    for (const { value } of db.getRange({ start: top + 1 })) (fresh ??= []).push(value as SegmentRange);
    if (fresh) this.ranges = this.ranges.concat(fresh);
    return this.ranges;
  }

  /** The segment record, or undefined when it is gone. */
  record(s: number): SegmentRecord | undefined {
    const hit = this.records.get(s);
    if (hit) {
      this.records.delete(s);
      this.records.set(s, hit);
      return hit;
    }
    const rec = this.dbs.segments?.get(s) as SegmentRecord | undefined;
    if (!rec) return undefined;
    this.records.set(s, rec);
    if (this.records.size > RECORD_CACHE) this.records.delete(this.records.keys().next().value!);
    return rec;
  }

  /** The segment's packed ids of `kind` (a copy, cached: segments are immutable), or undefined. */
  packedIds(s: number, kind: Kind): PackedIds | undefined {
    const key = `${s}:${kind}`;
    const hit = this.packed.get(key);
    if (hit) {
      this.packed.delete(key);
      this.packed.set(key, hit);
      return hit;
    }
    const raw = (this.dbs.segmentIds as unknown as { getBinary(k: unknown): Buffer | undefined } | undefined)?.getBinary([s, kind]);
    if (!raw || raw.length % ID_BYTES !== 0) return undefined;
    const entry: PackedIds = { buf: raw, sorted: ascending(raw) };
    this.packed.set(key, entry);
    if (this.packed.size > IDS_CACHE) this.packed.delete(this.packed.keys().next().value!);
    return entry;
  }
}

/** Whether the packed ids strictly ascend (byte order = string order for latin1 ids). */
function ascending(buf: Buffer): boolean {
  for (let p = ID_BYTES; p < buf.length; p += ID_BYTES) {
    let q = 0;
    while (q < ID_BYTES && buf[p - ID_BYTES + q] === buf[p + q]) q++;
    if (q === ID_BYTES || buf[p - ID_BYTES + q]! > buf[p + q]!) return false;
  }
  return true;
}
