// The one place exports touch the store's read API. Searches go through `store.query(kind, q)`
// (docs/store.md "Queries"); a store that predates it only searches requests (`queryRequests`).
// Committed events are read in id order with `iterateAll`. When the store changes, only this
// file changes.
import { SgError } from '../../gateway/core/errors.js';
import type { SgEvent } from '../events.js';
import type { ItemByKind, Page, QueryByKind, RequestPage, RequestQuery, SearchKind } from '../store/types.js';
import type { KvDatabase } from '../store/store.js';

/** The store as exports use it (the real Store satisfies it). */
export interface ExportStore {
  query?<K extends SearchKind>(kind: K, q: QueryByKind[K]): Page<ItemByKind[K]>;
  queryRequests?(q: RequestQuery): RequestPage;
  iterateAll(fromId?: string): Generator<SgEvent, void, undefined>;
  getEvent(id: string): SgEvent | undefined;
  openDb(name: string): KvDatabase;
}

/** The search part of the store (the viewer holds only this much of it). */
export type SearchSource = Pick<ExportStore, 'query' | 'queryRequests'>;

/** Rows per store page: the largest page the store serves (docs/store.md). */
export const PAGE_LIMIT = 500;

export function queryPage<K extends SearchKind>(store: SearchSource, kind: K, q: QueryByKind[K]): Page<ItemByKind[K]> {
  if (typeof store.query === 'function') return store.query(kind, q);
  if (kind === 'requests' && typeof store.queryRequests === 'function') return store.queryRequests(q as RequestQuery) as Page<ItemByKind[K]>;
  throw new SgError('SG_ERR_BAD_PARAM', `kind: this store cannot search ${kind} yet`, { details: { param: 'kind' } });
}

/**
 * Every item matching `q`, page by page (PAGE_LIMIT, following cursors; v2 cursors pin a
 * snapshot so the export never repeats or skips a row while writes go on). Pages are pulled
 * only as the consumer asks for them: memory stays one page.
 */
export function* queryAll<K extends SearchKind>(store: SearchSource, kind: K, q: QueryByKind[K]): Generator<ItemByKind[K], void, undefined> {
  let cursor: string | undefined;
  for (;;) {
    const page = queryPage(store, kind, { ...q, limit: PAGE_LIMIT, ...(cursor ? { cursor } : {}) } as QueryByKind[K]);
    yield* page.items;
    if (!page.next_cursor || page.next_cursor === cursor) return;
    cursor = page.next_cursor;
  }
}

/**
 * Up to `max` committed events with id > `afterId` (all when absent) and <= `upTo` (when given),
 * in id order, from one read snapshot (the iterator is closed before returning).
 */
export function readAfter(store: ExportStore, afterId: string | undefined, max: number, upTo?: string): SgEvent[] {
  const out: SgEvent[] = [];
  const it = store.iterateAll(afterId);
  try {
    for (const ev of it) {
      if (ev.id === afterId) continue;
      if (upTo !== undefined && ev.id > upTo) break;
      out.push(ev);
      if (out.length >= max) break;
    }
  } finally {
    it.return();
  }
  return out;
}
