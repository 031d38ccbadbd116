// One-off exports of a search (`GET /api/export`, `sessiongate export`): any filter of the
// kind's search, every match (paged through the store, never the whole result in memory),
// as CSV or NDJSON with a manifest; encrypted (OpenPGP) when a passphrase is given: the same
// stream, piped through the encryptor.
import type { QueryByKind, SearchKind } from '../store/types.js';
import { queryAll, queryPage, type SearchSource } from './source.js';
import type { ExportFormat } from './formats.js';
import { streamExport, type ExportSink, type StreamExportResult } from './writer.js';
import { encryptedManifest, encryptedSink } from './encrypted-sink.js';

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

export interface ExportEncryptOptions {
  /** Checked by the caller (checkPassphrase). Never stored; a Buffer is zeroed once the key is derived. */
  passphrase: string | Buffer;
  /** The plaintext file's name, stored inside the OpenPGP message. */
  fileName: string;
}

export async function runExport<K extends SearchKind>(
  store: SearchSource,
  x: QueryExport<K>,
  sink: ExportSink,
  meta: { createdAt: number; file?: string; exportId?: string; signal?: AbortSignal; encrypt?: ExportEncryptOptions },
): Promise<StreamExportResult> {
  const query = exportFilters(x.query) as QueryByKind[K];
  const { encrypt, ...opts } = meta;
  const run = (to: ExportSink) => streamExport(queryAll(store, x.kind, query), to, { kind: x.kind, format: x.format, filters: query as Record<string, unknown>, ...opts });
  if (!encrypt) return run(sink);

  const enc = await encryptedSink(sink, { passphrase: encrypt.passphrase, fileName: encrypt.fileName, date: meta.createdAt });
  let r: StreamExportResult;
  try {
    r = await run(enc.sink);
  } catch (e) {
    enc.abort(e);
    throw e;
  }
  if (r.error !== undefined) {
    enc.abort(r.error);
    return { manifest: encryptedManifest(r.manifest, enc.written(), false), error: r.error };
  }
  try {
    return { manifest: encryptedManifest(r.manifest, await enc.finish()) };
  } catch (e) {
    return { manifest: encryptedManifest(r.manifest, enc.written(), false), error: e };
  }
}
