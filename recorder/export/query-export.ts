// One-off exports of a search (`GET /api/export`, `sessiongate export`): any filter of the
// kind's search, every match (paged through the store, never the whole result in memory),
// as CSV or NDJSON with a manifest.
import type { QueryByKind, SearchKind } from '../store/types.js';
import { queryAll, queryPage, type SearchSource } from './source.js';
import type { ExportFormat } from './formats.js';
import { streamExport, type ExportSink, type StreamExportResult } from './writer.js';

export interface QueryExport<K extends SearchKind = SearchKind> {
  kind: K;
  format: ExportFormat;
  query: QueryByKind[K];
}

/** The query as recorded in manifests and activity: filters and order, no paging. */
export function exportFilters(query: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(query)) if (k !== 'cursor' && k !== 'limit' && v !== undefined) out[k] = v;
  return out;
}

/**
 * Checks the query against the store before anything is sent (bad filters, a kind the store
 * cannot search, a sort over too many rows): throws the store's SgError, so an HTTP client
 * gets a 400 instead of a 200 with a cut body.
 */
export function checkExport<K extends SearchKind>(store: SearchSource, x: QueryExport<K>): void {
  queryPage(store, x.kind, { ...exportFilters(x.query), limit: 1 } as QueryByKind[K]);
}

export async function runExport<K extends SearchKind>(
  store: SearchSource,
  x: QueryExport<K>,
  sink: ExportSink,
  meta: { createdAt: number; file?: string; exportId?: string; signal?: AbortSignal },
): Promise<StreamExportResult> {
  const query = exportFilters(x.query) as QueryByKind[K];
  return streamExport(queryAll(store, x.kind, query), sink, { kind: x.kind, format: x.format, filters: query as Record<string, unknown>, ...meta });
}
