// Snapshot cursors (docs/store.md "Queries"): base64url of JSON {v, kind, snap, sort, order,
// key, id, ...} followed by a tag, an HMAC under the store's own cursor secret over the body and
// the hash of the query's filters. A cursor is therefore bound to its filters and cannot be
// edited; anything that is not exactly what encodeCursor produced is SG_ERR_BAD_PARAM
// (details.param 'cursor'), so a cursor can never smuggle an arbitrary range into a scan.
import { timingSafeEqual } from 'node:crypto';
import { hmacSha256, sha256 } from './integrity.js';
import { ID_RE } from '../../gateway/core/ids.js';
import { SgError } from '../../gateway/core/errors.js';
import type { SortOrder } from './types.js';

export const CURSOR_MAX = 2048;
const TAG_BYTES = 12;

export interface CursorState {
  v: 1;
  /** The query's name: a requests cursor is no sessions cursor. */
  kind: string;
  /** Last batch of the snapshot the pages walk. */
  snap: number;
  sort: string;
  order: SortOrder;
  /** Sort key of the last item (sorts other than time). */
  key?: string | number | null;
  /** The next page continues strictly after this id (in the sort order). */
  id: string;
  /** The first page's total, repeated on every page. */
  total?: number;
  est?: boolean;
}

export function badCursor(why: string): SgError {
  return new SgError('SG_ERR_BAD_PARAM', `cursor: ${why}`, { details: { param: 'cursor' } });
}

/** Canonical hash of a parsed query's filters (what a cursor is bound to). */
export function filtersHash(filters: unknown): string {
  return sha256(Buffer.from(JSON.stringify(filters), 'utf8')).toString('base64url').slice(0, 22);
}

function tag(secret: Buffer, body: string, hash: string): string {
  return hmacSha256(secret, Buffer.from(`${body}\0${hash}`, 'utf8')).subarray(0, TAG_BYTES).toString('base64url');
}

export function encodeCursor(c: CursorState, hash: string, secret: Buffer): string {
  const body = Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');
  return `${body}.${tag(secret, body, hash)}`;
}

/** The cursor's state, checked against the query it is used with. */
export function decodeCursor(cursor: string, expect: { kind: string; sort: string; order: SortOrder; hash: string }, secret: Buffer): CursorState {
  if (typeof cursor !== 'string') throw badCursor('must be a string');
  if (cursor.length > CURSOR_MAX) throw badCursor('too long');
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(cursor);
  if (!m) throw badCursor('malformed');
  const [, body, got] = m as unknown as [string, string, string];
  const want = tag(secret, body, expect.hash);
  if (got.length !== want.length || !timingSafeEqual(Buffer.from(got), Buffer.from(want))) throw badCursor('edited, or made for other filters');
  let c: CursorState;
  try {
    c = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as CursorState;
  } catch {
    throw badCursor('malformed');
  }
  if (c === null || typeof c !== 'object' || c.v !== 1) throw badCursor('unknown version');
  if (c.kind !== expect.kind || c.sort !== expect.sort || c.order !== expect.order) throw badCursor('made for another query');
  if (typeof c.id !== 'string' || !ID_RE.test(c.id)) throw badCursor('malformed');
  if (!Number.isSafeInteger(c.snap) || c.snap < 0) throw badCursor('malformed');
  if (c.key !== undefined && c.key !== null && typeof c.key !== 'string' && !(typeof c.key === 'number' && Number.isFinite(c.key))) throw badCursor('malformed');
  if (c.total !== undefined && !(Number.isSafeInteger(c.total) && c.total >= 0)) throw badCursor('malformed');
  return c;
}
