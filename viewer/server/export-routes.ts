// `GET /api/export`: any search of any kind, streamed as CSV or NDJSON (recorder/export), and
// `GET /api/export/:id/manifest`: its manifest. The manifest cannot precede the body it hashes
// and uWS sends no HTTP trailers, so each export's manifest is stored as the export's own
// `activity` event (action `export`), whose id the download announces in
// `X-Sessiongate-Export-Id`: the manifest lives in the tamper-evident store, next to the record
// that this user exported this data. The record is committed before the body ends; a download
// whose record cannot be stored is cut short (no final chunk), so it never looks complete.
import { ID_RE } from '../../gateway/core/ids.js';
import { SgError } from '../../gateway/core/errors.js';
import { mintId } from '../../recorder/event-id.js';
import type { ActivityEvent } from '../../recorder/events.js';
import { encoderFor, EXPORT_FORMATS, type ExportFormat } from '../../recorder/export/formats.js';
import { checkExport, exportFilters, runExport } from '../../recorder/export/query-export.js';
import { fileStamp } from '../../recorder/export/files.js';
import type { ExportManifest } from '../../recorder/export/manifest.js';
import { SEARCH_KINDS, type SearchKind } from '../../recorder/store/types.js';
import { byUser, type Route, type ViewerContext } from './context.js';
import { parseSearch } from './query-params.js';
import { badParam, json } from './reply.js';

export const EXPORTERS = ['admin', 'auditor'] as const;

/** Takes `name` out of the parameters (once, from a closed set). */
function takeChoice<T extends string>(params: URLSearchParams, name: string, choices: readonly T[], fallback: T): T {
  const all = params.getAll(name);
  params.delete(name);
  if (all.length > 1) throw badParam(name, 'given more than once');
  const v = all[0];
  if (v === undefined || v === '') return fallback;
  const lower = v.toLowerCase();
  if (!(choices as readonly string[]).includes(lower)) throw badParam(name, `use one of ${choices.join(', ')}`);
  return lower as T;
}

export function exportRoutes(ctx: ViewerContext): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/export',
      access: EXPORTERS,
      handler: ({ req, ip, auth }) => {
        const params = new URLSearchParams(req.query);
        const kind = takeChoice<SearchKind>(params, 'kind', SEARCH_KINDS, 'requests');
        const format = takeChoice<ExportFormat>(params, 'format', EXPORT_FORMATS, 'csv');
        for (const p of ['limit', 'cursor']) if (params.has(p)) throw badParam(p, 'an export holds every match: no paging');
        const query = parseSearch(kind, params, { hideMe: { logins: auth!.user.panel_identities, ips: [ip] } });
        const store = ctx.deps.store;
        checkExport(store, { kind, format, query });
        const emitter = ctx.deps.emitter;
        if (!emitter.writable()) throw new SgError('SG_ERR_STORE_UNAVAILABLE', 'the audit store cannot record this export now; try again later');

        const ts = ctx.deps.clock.now();
        const exportId = mintId(ts, ts);
        const enc = encoderFor(kind, format);
        const file = `sessiongate-${kind}-${fileStamp(ts)}.${enc.ext}`;
        const filters = exportFilters(query);
        return {
          status: 200,
          contentType: enc.contentType,
          headers: [
            ['Content-Disposition', `attachment; filename="${file}"`],
            ['X-Sessiongate-Export-Id', exportId],
            ['Link', `</api/export/${exportId}/manifest>; rel="describedby"`],
          ],
          stream: async (write, signal) => {
            const r = await runExport(store, { kind, format, query }, { write }, { createdAt: ts, file, exportId, signal });
            const m = r.manifest;
            const record: Omit<ActivityEvent, 'type'> = {
              id: exportId,
              ts,
              ...byUser(auth!, ip),
              action: 'export',
              description: `exported ${m.count} ${kind} as ${format}${m.complete ? '' : ' (incomplete: the download stopped early)'}`,
              details: { kind, format, query: filters, count: m.count, complete: m.complete, manifest: m },
            };
            // Committed before the last chunk: no complete download without its record.
            await emitter.emitDurable({ type: 'activity', ...record });
            if (r.error !== undefined) throw r.error;
          },
        };
      },
    },
    {
      method: 'GET',
      path: '/api/export/:id/manifest',
      access: EXPORTERS,
      handler: ({ params }) => {
        const id = params.id!;
        if (!ID_RE.test(id)) throw badParam('id', 'not an export id (X-Sessiongate-Export-Id)');
        const ev = ctx.deps.store.getEvent(id);
        const manifest = ev?.type === 'activity' && ev.action === 'export' ? (ev.details?.manifest as ExportManifest | undefined) : undefined;
        if (!manifest) throw new SgError('SG_ERR_NOT_FOUND', 'no export with this id (its record is stored when the download ends)');
        return json(200, manifest);
      },
    },
  ];
}
