// The reader's memory of closed segments: every segment's range summary (small: a few hundred
// bytes each, read once and then only the new ones), and the last segment records used (their id
// lists, which decode in about a millisecond). Segments are immutable once written; retention
// only deletes whole ones, which the catalog notices and drops.
import type { SegmentRange, SegmentRecord, StoreDbs } from './layout.js';

const RECORD_CACHE = 48;

export class SegmentCatalog {
  private ranges: SegmentRange[] = [];
  private readonly records = new Map<number, SegmentRecord>();

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
}
