// The store's databases (docs/store.md "Databases"), opened the same way by the Store (main
// thread) and by its writer thread. Rows are keyed by event id; batches and segments by their
// number (uint32 keys); postings by `[kind, field, term, segment]` (ordered-binary arrays).
import type { Database, RootDatabase } from 'lmdb';
import { DB_OPTIONS } from './lmdb-options.js';
import { KINDS, type Kind } from './kinds.js';

export type Db = Database<unknown, string>;
export type NumDb = Database<unknown, number>;
/** `[segment, kind, field, term]`: segment first, so closing a segment appends one contiguous
 * key range at the end of the tree (measured: term-first keys scatter each close over the whole
 * tree, and ingest fell to a quarter at 300k events). Build keys with postingKey(). */
export type PostingKey = [number, Kind, string, string];

export function postingKey(kind: Kind, field: string, term: string, s: number): PostingKey {
  return [s, kind, field, term];
}

/** The parts of a posting key. */
export function postingParts(key: PostingKey): { s: number; kind: Kind; field: string; term: string } {
  return { s: key[0], kind: key[1], field: key[2], term: key[3] };
}
export type PostingsDb = Database<Buffer, PostingKey>;

/** Databases of the store's own layout (others get theirs through Store.openDb). */
export const LAYOUT_DBS = ['meta', ...KINDS, 'batches', 'segments', 'segment_ranges', 'segment_ids', 'postings', 'session_index', 'tiers'] as const;

export interface StoreDbs {
  root: RootDatabase<unknown, string>;
  meta: Db;
  rows: Readonly<Record<Kind, Db | undefined>>;
  /** b -> BatchRecord. */
  batches: NumDb | undefined;
  /** s -> SegmentRecord. */
  segments: NumDb | undefined;
  /** s -> SegmentRange: the small summary queries plan with (never the ids). */
  segmentRanges: NumDb | undefined;
  postings: PostingsDb | undefined;
  /** [s, kind] -> the segment's ids of that kind, ID_BYTES each (latin1), offset order: a
   * query maps the few offsets it needs to ids without decoding the whole id list. */
  segmentIds: Database<Buffer, [number, Kind]> | undefined;
  /** session_id -> SessionIndexEntry: a session's start and end rows. */
  sessionIndex: Db | undefined;
  /** [t, kind, 'q', term] -> which of tier t's segments hold the keyword term (tiers.ts). */
  tiers: Database<Buffer, [number, Kind, string, string]> | undefined;
}

/** Opens (creating when writable) every database of the layout; in a read-only environment a
 * database that does not exist yet is undefined. */
export function openLayout(root: RootDatabase<unknown, string>): StoreDbs {
  const db = <K extends string | number>(name: string, extra: Record<string, unknown> = {}) => (root.openDB({ name, ...DB_OPTIONS, ...extra }) ?? undefined) as Database<unknown, K> | undefined;
  const rows = {} as Record<Kind, Db | undefined>;
  for (const k of KINDS) rows[k] = db<string>(k);
  return {
    root,
    meta: db<string>('meta')!,
    rows,
    batches: db<number>('batches', { keyEncoding: 'uint32' }),
    segments: db<number>('segments', { keyEncoding: 'uint32' }),
    segmentRanges: db<number>('segment_ranges', { keyEncoding: 'uint32' }),
    postings: (root.openDB({ name: 'postings', encoding: 'binary', keyEncoding: 'ordered-binary' }) ?? undefined) as unknown as PostingsDb | undefined,
    segmentIds: (root.openDB({ name: 'segment_ids', encoding: 'binary', keyEncoding: 'ordered-binary' }) ?? undefined) as unknown as Database<Buffer, [number, Kind]> | undefined,
    sessionIndex: db<string>('session_index'),
    tiers: (root.openDB({ name: 'tiers', encoding: 'binary', keyEncoding: 'ordered-binary' }) ?? undefined) as unknown as StoreDbs['tiers'],
  };
}

/** One committed write transaction's record. */
export interface BatchRecord {
  b: number;
  ts: number;
  rows: [Kind, string][];
  digests: Uint8Array;
  mac?: Uint8Array;
}

export interface SegmentKind {
  /** Only in segments closed before segment_ids was the one copy: read ids with segmentIdList(). */
  ids?: string[];
  /** Cumulative row counts per batch b0..b1. */
  batch_ends: number[];
  min_id: string;
  max_id: string;
}

export interface SegmentRecord {
  s: number;
  b0: number;
  b1: number;
  kinds: Partial<Record<Kind, SegmentKind>>;
}

/** Per kind: [min_id, max_id, rows]. */
export interface SegmentRange {
  s: number;
  b0: number;
  b1: number;
  kinds: Partial<Record<Kind, [string, string, number]>>;
}

export interface SessionIndexEntry {
  /** Id of the session.start row and its batch. */
  s?: string;
  sb?: number;
  /** Id of the first session.end row and its batch. */
  e?: string;
  eb?: number;
}

export const META = {
  version: 'schema_version',
  batchLast: 'batch:last',
  segmentLast: 'segment:last',
  openFrom: 'segment:open_from',
  sessionSeq: 'session:seq',
  anchor: 'chain:anchor',
  migration: 'migration:1-2',
} as const;

export function metaNumber(meta: Db, key: string, dflt = 0): number {
  const v = meta.get(key);
  return typeof v === 'number' && Number.isFinite(v) ? v : dflt;
}

/** Bytes of an event id (18 Crockford base32 characters). */
export const ID_BYTES = 18;

/** Exact terms and session ids longer than this are cut (LMDB keys are at most 1978 bytes). */
export const MAX_TERM = 200;
