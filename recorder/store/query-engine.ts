// Runs a query plan (docs/store.md "Queries"): candidate rows come from the postings of the
// closed segments (key gets per segment, offsets intersected) and from the open region's batch
// records; every candidate row is then confirmed with the whole filter. Chunks (one per
// segment and kind, plus the open region) can overlap in id range, so they are opened lazily in
// order of their range and merged with a heap in exact id order. Every page of a cursor sees the
// rows of batches <= its snapshot only, so pages never repeat or skip while writes go on.
import { SgError } from '../../gateway/core/errors.js';
import type { SgEvent } from '../events.js';
import type { Kind } from './kinds.js';
import { decodeRow } from './row-codec.js';
import { ID_BYTES, META, metaNumber, postingKey, type BatchRecord, type SegmentRange, type StoreDbs } from './layout.js';
import { countOffsets, decodeOffsets, intersect, union } from './postings.js';
import { TierFilter, tierLast } from './tiers.js';
import { Q } from './terms.js';
import type { SegmentCatalog } from './catalog.js';
import type { PreparedRegion } from './segments.js';
import { badCursor, decodeCursor, encodeCursor, type CursorState } from './cursor.js';
import type { Page, SortOrder } from './types.js';

export const SORT_MAX = 100_000;

export type SortValue = string | number | null;

/** One kind's part of a query. */
export interface SourcePlan {
  kind: Kind;
  /** AND of groups, each an OR of [field, term] postings; none: every row is a candidate. */
  groups: [string, string][][];
  /** The whole row filter (candidates are a superset); undefined: every candidate matches. */
  match?: (ev: SgEvent, seq: number | undefined, snap: number) => boolean;
  /** True when `groups` alone decide the match exactly (enables an exact total from postings). */
  exactByGroups?: boolean;
}

export interface QueryPlan<T> {
  /** Binds cursors: `requests`, `sessions`, ..., `timeline`. */
  name: string;
  sources: SourcePlan[];
  /** Inclusive ms bounds on ts (confirmed per row; used to prune by id range). */
  from?: number;
  to?: number;
  order: SortOrder;
  sort: string;
  sortKey?: (ev: SgEvent, kind: Kind, seq: number | undefined, snap: number) => SortValue;
  limit: number;
  hash: string;
  cursor?: string;
  /** The page item for a matching row (e.g. a session row with its end). */
  item(ev: SgEvent, kind: Kind, seq: number | undefined, snap: number): T;
}

export interface EngineEnv {
  dbs: StoreDbs;
  catalog: SegmentCatalog;
  budget: number;
  /** Most matches a sort by another column collects (SORT_MAX unless a test lowers it). */
  sortMax: number;
  cursorSecret: Buffer;
  /** Stored rows of a kind (the per-type counters: exact, O(1)). */
  countKind(kind: Kind): number;
  /** The writer's postings of the open region, when this process writes the store. */
  openPostings?: () => PreparedRegion | undefined;
}

/** A lazily opened run of candidate ids of one kind, in the query's order. */
interface Chunk {
  source: SourcePlan;
  /** Id bounds of the chunk (for ordering and pruning). */
  min: string;
  max: string;
  /** Segment number, or 0 for the open region. */
  s: number;
  /** The segment's batches. */
  b0: number;
  b1: number;
  /** Once opened: the chunk's current (next) candidate id, and how to step to the one after. */
  cur?: string;
  take?: () => string | undefined;
}

interface Bounds {
  lo: string | undefined; // inclusive
  hi: string | undefined; // inclusive
  after: string | undefined; // exclusive, in the query's order
}

const ALPHA = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
function enc10(ms: number): string {
  let s = '';
  for (let i = 0; i < 10; i++) {
    s = ALPHA[ms % 32] + s;
    ms = Math.floor(ms / 32);
  }
  return s;
}
const MAX_MS = 32 ** 10 - 1;

function idBounds(from: number | undefined, to: number | undefined): { lo?: string; hi?: string; empty: boolean } {
  const out: { lo?: string; hi?: string; empty: boolean } = { empty: false };
  if (from !== undefined) {
    const f = Math.ceil(from);
    if (f > MAX_MS) out.empty = true;
    else out.lo = enc10(Math.max(0, Math.floor(from))) + '00000000';
  }
  if (to !== undefined) {
    if (to < 0) out.empty = true;
    else out.hi = enc10(Math.min(MAX_MS, Math.floor(to))) + 'ZZZZZZZZ';
  }
  if (out.lo !== undefined && out.hi !== undefined && out.lo > out.hi) out.empty = true;
  return out;
}

function inBounds(id: string, b: Bounds, desc: boolean): boolean {
  if (b.lo !== undefined && id < b.lo) return false;
  if (b.hi !== undefined && id > b.hi) return false;
  if (b.after !== undefined && (desc ? id >= b.after : id <= b.after)) return false;
  return true;
}

/** The offsets of a segment's kind that hold every group's terms, or undefined for "all". */
function candidateOffsets(env: EngineEnv, kind: Kind, s: number, groups: [string, string][][]): Uint32Array | undefined | null {
  const postings = env.dbs.postings;
  if (!groups.length) return undefined;
  if (!postings) return null;
  let acc: Uint32Array | undefined;
  for (const g of groups) {
    const lists: Uint32Array[] = [];
    for (const [field, term] of g) {
      // No copy: decoded before the next read reuses the buffer.
      const v = fastGet(postings, postingKey(kind, field, term, s));
      if (v) lists.push(decodeOffsets(v));
    }
    if (!lists.length) return null;
    const u = union(lists);
    acc = acc ? intersect(acc, u) : u;
    if (!acc.length) return null;
    // A few candidates are read and confirmed faster than the other groups are looked up
    // (every source's row test states all its filters, so candidates may be a superset).
    if (acc.length <= FEW_CANDIDATES) return acc;
  }
  return acc;
}

/** Candidates below which candidateOffsets stops intersecting (a row read ~ a posting read). */
const FEW_CANDIDATES = 8;

/** Candidates of a segment from which its ids are sliced lazily rather than all decoded. */
const LAZY_MIN = 256;

/** Index of the batch (0-based from b0) holding `offset`, given cumulative ends. */
function batchIndexOf(ends: number[], offset: number): number {
  let lo = 0;
  let hi = ends.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ends[mid]! > offset) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

class Heap<T> {
  private readonly a: T[] = [];
  constructor(private readonly before: (x: T, y: T) => boolean) {}
  get size(): number {
    return this.a.length;
  }
  peek(): T | undefined {
    return this.a[0];
  }
  push(x: T): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): T | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.before(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** Candidate ids in the query's order across every chunk of every source. */
class Merger {
  private readonly pending: Chunk[];
  private readonly heap: Heap<Chunk>;
  /** Rows listed by chunks (for estimates): opened chunks' candidates, unopened chunks' rows. */
  openedCandidates = 0;
  /** Rows and candidates of the closed segments opened (candidate density, for estimates). */
  openedRows = 0;
  openedSegmentCandidates = 0;
  /** Candidates handed out. */
  examined = 0;

  constructor(
    private readonly env: EngineEnv,
    private readonly snap: number,
    private readonly bounds: Bounds,
    private readonly desc: boolean,
    chunks: Chunk[],
    private readonly rowsOf: Map<Chunk, number>,
    private readonly tiers?: TierFilter,
  ) {
    // Chunks are opened when the merge frontier reaches their first id in the query's order.
    this.pending = chunks.sort((a, b) => (desc ? cmp(b.max, a.max) : cmp(a.min, b.min)));
    this.pending.reverse(); // pop() takes the next
    this.heap = new Heap<Chunk>((x, y) => (desc ? x.cur! > y.cur! : x.cur! < y.cur!));
  }

  /** Chunks not opened yet, with their row counts. */
  *unopened(): Generator<[Chunk, number]> {
    for (const c of this.pending) yield [c, this.rowsOf.get(c) ?? 0];
  }

  /** The next candidate, or undefined when every chunk is exhausted. */
  next(): { id: string; source: SourcePlan } | undefined {
    for (;;) {
      const top = this.heap.peek();
      const p = this.pending[this.pending.length - 1];
      if (p && (!top || (this.desc ? p.max >= top.cur! : p.min <= top.cur!))) {
        this.pending.pop();
        // A segment its tier rules out holds no candidate: passed over, not opened.
        if (p.s === 0 || !this.tiers || this.tiers.may(p.source.kind, p.s, p.source.groups)) this.open(p);
        continue;
      }
      if (!top) return undefined;
      const id = top.cur!;
      this.heap.pop();
      const after = top.take!();
      if (after !== undefined) {
        top.cur = after;
        this.heap.push(top);
      }
      this.examined++;
      return { id, source: top.source };
    }
  }

  private open(c: Chunk): void {
    const lazy = c.s !== 0 ? this.sortedSegmentIds(c) : undefined;
    let count: number;
    if (lazy) {
      count = lazy.count;
      c.take = lazy.take;
    } else {
      const ids = c.s === 0 ? this.openRegionIds(c.source) : this.segmentIds(c);
      ids.sort(this.desc ? (a, b) => cmp(b, a) : cmp);
      count = ids.length;
      let i = 0;
      c.take = () => (i < ids.length ? ids[i++] : undefined);
    }
    this.openedCandidates += count;
    if (c.s !== 0) {
      this.openedRows += this.rowsOf.get(c) ?? 0;
      this.openedSegmentCandidates += count;
    }
    c.cur = c.take();
    if (c.cur !== undefined) this.heap.push(c);
  }

  /**
   * A segment's candidates without decoding its ids up front, when its packed ids are in
   * ascending order (the usual case: rows are appended in time order) and the whole segment is
   * in the snapshot: offset order is then id order, the bounds are two binary searches, and
   * only the ids a page reaches are sliced out. Undefined: take the general path.
   */
  private sortedSegmentIds(c: Chunk): { count: number; take: () => string | undefined } | undefined {
    if (c.b1 > this.snap) return undefined;
    const kind = c.source.kind;
    const offs = candidateOffsets(this.env, kind, c.s, c.source.groups);
    if (offs === null) return { count: 0, take: () => undefined };
    // A few candidates decode faster than the id list is fetched.
    if (offs && offs.length < LAZY_MIN) return this.eager(c, offs);
    const packed = this.env.catalog.packedIds(c.s, kind);
    if (!packed?.sorted) return this.eager(c, offs);
    const buf = packed.buf;
    const n = buf.length / ID_BYTES;
    // Candidate i's offset; offsets past the id list (never expected) are cut off.
    let m = offs ? offs.length : n;
    if (offs) while (m > 0 && offs[m - 1]! >= n) m--;
    const at = offs ? (i: number) => offs[i]! : (i: number) => i;
    const idOf = (i: number) => buf.toString('latin1', at(i) * ID_BYTES, at(i) * ID_BYTES + ID_BYTES);
    // First candidate whose id is >= (or, strict, >) `key`.
    const search = (key: string, strict: boolean) => {
      let lo = 0;
      let hi = m;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const id = idOf(mid);
        if (strict ? id <= key : id < key) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const b = this.bounds;
    let first = b.lo !== undefined ? search(b.lo, false) : 0;
    let end = b.hi !== undefined ? search(b.hi, true) : m;
    if (b.after !== undefined) {
      if (this.desc) end = Math.min(end, search(b.after, false));
      else first = Math.max(first, search(b.after, true));
    }
    if (end <= first) return { count: 0, take: () => undefined };
    let i = this.desc ? end - 1 : first;
    const take = this.desc ? () => (i >= first ? idOf(i--) : undefined) : () => (i < end ? idOf(i++) : undefined);
    return { count: end - first, take };
  }

  /** The general path, sorted, given the segment's candidate offsets. */
  private eager(c: Chunk, offs: Uint32Array | undefined): { count: number; take: () => string | undefined } {
    const ids = this.segmentIds(c, offs);
    ids.sort(this.desc ? (a, b) => cmp(b, a) : cmp);
    let i = 0;
    return { count: ids.length, take: () => (i < ids.length ? ids[i++] : undefined) };
  }

  private segmentIds(c: Chunk, known?: Uint32Array | null): string[] {
    const kind = c.source.kind;
    const offs = known !== undefined || c.source.groups.length === 0 ? known : candidateOffsets(this.env, kind, c.s, c.source.groups);
    if (offs === null) return [];
    // Batch numbers per offset are needed only when the segment reaches past the snapshot.
    const ids = this.env.dbs.segmentIds;
    const rec = !ids || c.b1 > this.snap ? this.env.catalog.record(c.s) : undefined;
    const k = rec?.kinds[kind];
    // No copy: the ids needed are sliced out before any other read reuses the buffer.
    const packed = ids ? ((ids as unknown as { getBinaryFast(k: unknown): Buffer | undefined }).getBinaryFast([c.s, kind]) ?? undefined) : undefined;
    if (!packed && !k) return [];
    const idAt = packed ? (o: number) => (o * ID_BYTES < packed.length ? packed.toString('latin1', o * ID_BYTES, (o + 1) * ID_BYTES) : undefined) : (o: number) => k!.ids?.[o];
    const out: string[] = [];
    const n = offs ? offs.length : packed ? packed.length / ID_BYTES : (k!.ids?.length ?? 0);
    for (let i = 0; i < n; i++) {
      const o = offs ? offs[i]! : i;
      const id = idAt(o);
      if (id === undefined || !inBounds(id, this.bounds, this.desc)) continue;
      if (c.b1 > this.snap && (!k || c.b0 + batchIndexOf(k.batch_ends, o) > this.snap)) continue;
      out.push(id);
    }
    return out;
  }

  private openRegionIds(source: SourcePlan): string[] {
    const kind = source.kind;
    const out: string[] = [];
    const fromPostings = this.openRegionFromPostings(source);
    if (fromPostings) return fromPostings;
    for (const [k, id] of openRegionRows(this.env.dbs, this.snap)) if (k === kind && inBounds(id, this.bounds, this.desc)) out.push(id);
    return out;
  }

  /** The open region's candidates from the writer's in-memory postings, when they are exactly
   * the open region this read sees. */
  private openRegionFromPostings(source: SourcePlan): string[] | undefined {
    if (!source.groups.length) return undefined;
    const p = this.env.openPostings?.();
    if (!p || p.from !== metaNumber(this.env.dbs.meta, META.openFrom, 1) || p.last !== metaNumber(this.env.dbs.meta, META.batchLast)) return undefined;
    const k = p.kinds.get(source.kind);
    if (!k) return [];
    let acc: Uint32Array | undefined;
    for (const g of source.groups) {
      const lists: Uint32Array[] = [];
      for (const [field, term] of g) {
        const l = k.acc.get(field, term);
        if (l) lists.push(Uint32Array.from(l));
      }
      if (!lists.length) return [];
      const u = union(lists);
      acc = acc ? intersect(acc, u) : u;
      if (!acc.length) return [];
    }
    const out: string[] = [];
    const checkBatch = p.last > this.snap;
    for (const o of acc!) {
      const id = k.ids[o];
      if (id === undefined || !inBounds(id, this.bounds, this.desc)) continue;
      if (checkBatch && p.from + batchIndexOf(k.ends, o) > this.snap) continue;
      out.push(id);
    }
    return out;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Rows of the open region's batches up to `snap`, as [kind, id]. */
export function openRegionRows(dbs: StoreDbs, snap: number): [Kind, string][] {
  const from = metaNumber(dbs.meta, META.openFrom, 1);
  const out: [Kind, string][] = [];
  if (!dbs.batches || from > snap) return out;
  for (const { value } of dbs.batches.getRange({ start: from, end: snap + 1 })) for (const r of (value as BatchRecord).rows) out.push(r);
  return out;
}

function overlaps(r: [string, string, number], b: Bounds, desc: boolean): boolean {
  const [min, max] = r;
  if (b.lo !== undefined && max < b.lo) return false;
  if (b.hi !== undefined && min > b.hi) return false;
  if (b.after !== undefined && (desc ? min >= b.after : max <= b.after)) return false;
  return true;
}

function compareSort(a: SortValue, b: SortValue): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A value without a copy: valid until the next read on this thread. */
function fastGet<K>(db: { getBinaryFast(k: K): Buffer | undefined }, key: K): Buffer | undefined {
  return db.getBinaryFast(key);
}

/** Sum of a single posting's sizes over the snapshot's segments (exact, no row read). */
function postingTotal(env: EngineEnv, src: SourcePlan, snap: number, ranges: readonly SegmentRange[]): number {
  const [[field, term]] = src.groups[0] as [[string, string]];
  let n = 0;
  for (const r of ranges) {
    if (r.b0 > snap || !r.kinds[src.kind]) continue;
    const value = fastGet(env.dbs.postings!, postingKey(src.kind, field, term, r.s));
    if (!value) continue;
    if (r.b1 <= snap) n += countOffsets(value);
    else {
      const rec = env.catalog.record(r.s);
      const k = rec?.kinds[src.kind];
      if (!rec || !k) continue;
      for (const o of decodeOffsets(value)) if (rec.b0 + batchIndexOf(k.batch_ends, o) <= snap) n++;
    }
  }
  return n;
}

function readRow(env: EngineEnv, kind: Kind, id: string): { ev: SgEvent; seq: number | undefined } | undefined {
  const v = env.dbs.rows[kind]?.get(id);
  if (v === undefined) return undefined;
  return decodeRow(kind, id, v);
}

export function runQuery<T>(env: EngineEnv, plan: QueryPlan<T>): Page<T> {
  const desc = plan.order === 'desc';
  const lastBatch = metaNumber(env.dbs.meta, META.batchLast);
  let cur: CursorState | undefined;
  if (plan.cursor) {
    cur = decodeCursor(plan.cursor, { kind: plan.name, sort: plan.sort, order: plan.order, hash: plan.hash }, env.cursorSecret);
    if (cur.snap > lastBatch) throw badCursor('made for another store');
  }
  const snap = cur ? cur.snap : lastBatch;
  const page: Page<T> = { items: [] };
  const rng = idBounds(plan.from, plan.to);
  const timeSort = plan.sort === 'time';
  const bounds: Bounds = { lo: rng.lo, hi: rng.hi, after: timeSort ? cur?.id : undefined };
  if (rng.empty) {
    if (!cur) page.total = 0;
    return page;
  }

  const ranges = env.catalog.list();
  const chunks: Chunk[] = [];
  const rowsOf = new Map<Chunk, number>();
  for (const src of plan.sources) {
    for (const r of ranges) {
      const k = r.kinds[src.kind];
      if (!k || r.b0 > snap || !overlaps(k, bounds, desc)) continue;
      const c: Chunk = { source: src, min: k[0], max: k[1], s: r.s, b0: r.b0, b1: r.b1 };
      chunks.push(c);
      rowsOf.set(c, k[2]);
    }
    // The open region: its id range is unknown until read; it is opened first.
    chunks.push({ source: src, min: '', max: '\uffff', s: 0, b0: 0, b1: 0 });
  }
  // Keyword queries pass over, tier by tier, the segments that lack one of their trigrams: a
  // few reads per tier instead of a posting read per segment. Checked as the merge reaches a
  // segment (a newest-first page of a common word reaches few tiers).
  const tiers = plan.sources.some((s) => s.groups.some((g) => g.length && g.every(([f]) => f === Q))) ? new TierFilter(env.dbs, tierLast(env.dbs)) : undefined;
  const merger = new Merger(env, snap, bounds, desc, chunks, rowsOf, tiers);

  let examined = 0;
  let matches = 0;
  const budget = env.budget;
  if (timeSort) {
    let lastExamined: string | undefined;
    let more = false;
    let partial = false;
    for (;;) {
      const c = merger.next();
      if (!c) break;
      if (examined >= budget) {
        if (page.items.length < plan.limit) partial = true;
        more = true;
        break;
      }
      examined++;
      const row = readRow(env, c.source.kind, c.id);
      lastExamined = c.id;
      if (!row || (c.source.match && !c.source.match(row.ev, row.seq, snap))) continue;
      matches++;
      if (page.items.length === plan.limit) {
        more = true;
        break;
      }
      page.items.push(plan.item(row.ev, c.source.kind, row.seq, snap));
    }
    const exhausted = !more;
    if (cur) {
      if (cur.total !== undefined) page.total = cur.total;
      if (cur.est) page.total_estimated = true;
    } else totalOf(env, plan, page, snap, ranges, exhausted, matches, merger);
    if (more) {
      const lastId = partial ? lastExamined : (page.items.length ? idOfLast(page, lastExamined) : lastExamined);
      if (lastId !== undefined) {
        page.next_cursor = encodeCursor(withTotal({ v: 1, kind: plan.name, snap, sort: plan.sort, order: plan.order, id: lastId }, page), plan.hash, env.cursorSecret);
        if (partial) page.partial = true;
      }
    }
    return page;
  }

  // Another column: collect every match (bounded), sort by (key, id), cut the page after the cursor.
  const found: { key: SortValue; id: string; ev: SgEvent; kind: Kind; seq: number | undefined }[] = [];
  for (;;) {
    const c = merger.next();
    if (!c) break;
    // Rows examined are bounded too: a sort reads at most twice the matches it may keep.
    if (++examined > Math.max(budget, 2 * env.sortMax) || found.length >= env.sortMax) throw tooBroad(found.length >= env.sortMax ? `${found.length + 1}+` : `more than ${Math.max(budget, 2 * env.sortMax)} rows to examine`, env.sortMax);
    const row = readRow(env, c.source.kind, c.id);
    if (!row || (c.source.match && !c.source.match(row.ev, row.seq, snap))) continue;
    found.push({ key: plan.sortKey!(row.ev, c.source.kind, row.seq, snap), id: c.id, ev: row.ev, kind: c.source.kind, seq: row.seq });
  }
  const sign = desc ? -1 : 1;
  found.sort((a, b) => sign * (compareSort(a.key, b.key) || cmp(a.id, b.id)));
  let start = 0;
  if (cur) {
    const ck = cur.key ?? null;
    start = found.findIndex((f) => sign * (compareSort(f.key, ck) || cmp(f.id, cur!.id)) > 0);
    if (start < 0) start = found.length;
    if (cur.total !== undefined) page.total = cur.total;
  } else page.total = found.length;
  const slice = found.slice(start, start + plan.limit);
  page.items = slice.map((f) => plan.item(f.ev, f.kind, f.seq, snap));
  if (start + plan.limit < found.length) {
    const last = slice[slice.length - 1]!;
    page.next_cursor = encodeCursor(withTotal({ v: 1, kind: plan.name, snap, sort: plan.sort, order: plan.order, key: last.key, id: last.id }, page), plan.hash, env.cursorSecret);
  }
  return page;
}

function idOfLast<T>(page: Page<T>, fallback: string | undefined): string | undefined {
  const last = page.items[page.items.length - 1] as unknown as { id?: string; start?: { id: string } };
  return last?.id ?? last?.start?.id ?? fallback;
}

function withTotal<T>(c: CursorState, page: Page<T>): CursorState {
  if (page.total !== undefined) c.total = page.total;
  if (page.total_estimated) c.est = true;
  return c;
}

function tooBroad(n: string, max: number): SgError {
  return new SgError('SG_ERR_BAD_PARAM', `too many matches to sort (${n} > ${max}): narrow the date range or filters`, { details: { param: 'sort', max } });
}

/** total: exact when the page saw everything, or from counters / one posting; else estimated. */
function totalOf<T>(env: EngineEnv, plan: QueryPlan<T>, page: Page<T>, snap: number, ranges: readonly SegmentRange[], exhausted: boolean, matches: number, merger: Merger): void {
  if (exhausted) {
    page.total = matches;
    return;
  }
  // Counters and single postings are exact for the snapshot of a first page (taken just now).
  if (snap === metaNumber(env.dbs.meta, META.batchLast)) {
    let n = 0;
    let exact = true;
    for (const src of plan.sources) {
      if (!src.groups.length && !src.match) n += env.countKind(src.kind);
      else if (src.exactByGroups && src.groups.length === 1 && src.groups[0]!.length === 1 && env.dbs.postings) {
        n += postingTotal(env, src, snap, ranges);
        for (const [k, id] of openRegionRows(env.dbs, snap)) {
          if (k !== src.kind) continue;
          const row = readRow(env, k, id);
          if (row && (!src.match || src.match(row.ev, row.seq, snap))) n++;
        }
      } else {
        exact = false;
        break;
      }
    }
    if (exact) {
      page.total = n;
      return;
    }
  }
  // Matches per candidate examined, times the candidates left: those of the opened chunks not
  // examined yet, and the unopened segments' rows at the opened segments' candidate density.
  const examined = merger.examined;
  const rate = examined ? matches / examined : 0;
  let unopened = 0;
  for (const [, rows] of merger.unopened()) unopened += rows;
  const density = merger.openedRows ? Math.min(1, merger.openedSegmentCandidates / merger.openedRows) : 1;
  const rest = Math.max(0, merger.openedCandidates - examined) + unopened * density;
  page.total = matches + Math.round(rate * rest);
  page.total_estimated = true;
}
