// `GET /api/export`: any search of any kind, streamed as CSV or NDJSON (recorder/export), and
// `GET /api/export/:id/manifest`: its manifest. The manifest cannot precede the body it hashes
// and uWS sends no HTTP trailers, so each export's manifest is stored as the export's own
// `activity` event (action `export`), whose id the download announces in
// `X-Sessiongate-Export-Id`: the manifest lives in the tamper-evident store, next to the record
// that this user exported this data. The record is committed before the body ends; a download
// whose record cannot be stored is cut short (no final chunk), so it never looks complete.
//
// Encrypted exports (`export.encryption`): `POST /api/export/tickets` takes the same filters
// plus a passphrase and answers a one-time ticket; `GET /api/export?ticket=...` then streams
// the same export through the OpenPGP encryptor (export-tickets.ts says why two steps).
import { ID_RE } from '../../gateway/core/ids.js';
import { SgError } from '../../gateway/core/errors.js';
import { mintId } from '../../recorder/event-id.js';
import type { ActivityEvent } from '../../recorder/events.js';
import { encoderFor, EXPORT_FORMATS, type ExportFormat } from '../../recorder/export/formats.js';
import { checkExport, exportFilters, runExport, type QueryExport } from '../../recorder/export/query-export.js';
import { fileStamp } from '../../recorder/export/files.js';
import type { ExportManifest } from '../../recorder/export/manifest.js';
import { OPENPGP_ENCRYPTION } from '../../recorder/export/openpgp-encrypt.js';
import { checkPassphrase } from '../../recorder/export/passphrase.js';
import { SEARCH_KINDS, type SearchKind } from '../../recorder/store/types.js';
import { byUser, type Authed, type Route, type ViewerContext } from './context.js';
import { ExportTickets } from './export-tickets.js';
import { stringField } from './fields.js';
import type { Reply } from './http-io.js';
import { parseSearch } from './query-params.js';
import { badParam, json } from './reply.js';

export const EXPORTERS = ['admin', 'auditor'] as const;
export const ENCRYPTED_CONTENT_TYPE = 'application/pgp-encrypted';

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

/** What one export is: parsed and checked against the store before anything is sent. */
function planExport(ctx: ViewerContext, params: URLSearchParams, auth: Authed, ip: string): QueryExport {
  const kind = takeChoice<SearchKind>(params, 'kind', SEARCH_KINDS, 'requests');
  const format = takeChoice<ExportFormat>(params, 'format', EXPORT_FORMATS, 'csv');
  for (const p of ['limit', 'cursor']) if (params.has(p)) throw badParam(p, 'an export holds every match: no paging');
  const query = parseSearch(kind, params, { hideMe: { logins: auth.user.panel_identities, ips: [ip] } });
  const plan: QueryExport = { kind, format, query };
  checkExport(ctx.deps.store, plan);
  return plan;
}

function checkRecordable(ctx: ViewerContext): void {
  if (!ctx.deps.emitter.writable()) throw new SgError('SG_ERR_STORE_UNAVAILABLE', 'the audit store cannot record this export now; try again later');
}

/** The download: headers now, the body (plain, or encrypted with `passphrase`) as the client reads. */
function exportReply(ctx: ViewerContext, auth: Authed, ip: string, plan: QueryExport, enc?: { passphrase?: Buffer }): Reply {
  const { kind, format, query } = plan;
  const store = ctx.deps.store;
  const emitter = ctx.deps.emitter;
  const ts = ctx.deps.clock.now();
  const exportId = mintId(ts, ts);
  const encoder = encoderFor(kind, format);
  const plainFile = `sessiongate-${kind}-${fileStamp(ts)}.${encoder.ext}`;
  const file = enc ? `${plainFile}.gpg` : plainFile;
  const filters = exportFilters(query);
  return {
    status: 200,
    contentType: enc ? ENCRYPTED_CONTENT_TYPE : encoder.contentType,
    headers: [
      ['Content-Disposition', `attachment; filename="${file}"`],
      ['X-Sessiongate-Export-Id', exportId],
      ['Link', `</api/export/${exportId}/manifest>; rel="describedby"`],
    ],
    stream: async (write, signal) => {
      const passphrase = enc?.passphrase;
      if (enc && !passphrase) throw new SgError('SG_ERR_INTERNAL', 'encrypted export without a passphrase');
      let r;
      try {
        r = await runExport(store, plan, { write }, { createdAt: ts, file, exportId, signal, ...(passphrase ? { encrypt: { passphrase, fileName: plainFile } } : {}) });
      } finally {
        passphrase?.fill(0); // already zeroed once the key was derived; this covers a failure before
      }
      const m = r.manifest;
      const how = enc ? `${format}, encrypted (OpenPGP)` : format;
      const record: Omit<ActivityEvent, 'type'> = {
        id: exportId,
        ts,
        ...byUser(auth, ip),
        action: 'export',
        description: `exported ${m.count} ${kind} as ${how}${m.complete ? '' : ' (incomplete: the download stopped early)'}`,
        details: { kind, format, query: filters, count: m.count, complete: m.complete, ...(enc ? { encrypted: true, encryption: { ...OPENPGP_ENCRYPTION } } : {}), manifest: m },
      };
      // Committed before the last chunk: no complete download without its record.
      await emitter.emitDurable({ type: 'activity', ...record });
      if (r.error !== undefined) throw r.error;
    },
  };
}

/** A JSON key safe to echo in an error (bounded, no control characters). */
function printable(k: string): string {
  return (k.length > 64 ? `${k.slice(0, 64)}…` : k).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

export function exportRoutes(ctx: ViewerContext): Route[] {
  const mode = ctx.deps.exportEncryption ?? 'off';
  const tickets = new ExportTickets<QueryExport>(ctx.deps.clock);
  const encryptionOff = () => new SgError('SG_ERR_ENCRYPTION_OFF', 'encrypted exports are not offered here (export.encryption is off)');
  return [
    {
      method: 'GET',
      path: '/api/export',
      access: EXPORTERS,
      handler: ({ req, ip, auth }) => {
        const params = new URLSearchParams(req.query);
        if (params.has('ticket')) {
          if ([...params.keys()].length !== 1) throw badParam('ticket', 'a ticket carries its own filters: send it alone');
          if (mode === 'off') throw encryptionOff();
          checkRecordable(ctx);
          const ticket = params.get('ticket')!;
          // HEAD sends no body: it must not use up the ticket.
          if (req.method === 'HEAD') return exportReply(ctx, auth!, ip, tickets.peek(ticket, auth!.session.hash), {});
          const grant = tickets.take(ticket, auth!.session.hash);
          try {
            checkExport(ctx.deps.store, grant.plan);
          } catch (e) {
            grant.passphrase.fill(0);
            throw e;
          }
          return exportReply(ctx, auth!, ip, grant.plan, { passphrase: grant.passphrase });
        }
        if (mode === 'required') {
          throw new SgError('SG_ERR_ENCRYPTION_REQUIRED', 'export.encryption is required: POST the filters and a passphrase to /api/export/tickets, then GET /api/export?ticket=TICKET');
        }
        const plan = planExport(ctx, params, auth!, ip);
        checkRecordable(ctx);
        return exportReply(ctx, auth!, ip, plan);
      },
    },
    {
      method: 'POST',
      path: '/api/export/tickets',
      access: EXPORTERS,
      body: true,
      handler: ({ body, ip, auth }) => {
        if (mode === 'off') throw encryptionOff();
        const passphrase = stringField(body, 'passphrase', { max: 4096, required: true, raw: true })!;
        checkPassphrase(passphrase, 'passphrase');
        // Every other field is a GET /api/export parameter, as a string.
        const params = new URLSearchParams();
        for (const [k, v] of Object.entries(body)) {
          if (k === 'passphrase') continue;
          if (typeof v !== 'string') throw badParam(printable(k), 'must be a string (the values GET /api/export takes)');
          params.append(k, v);
        }
        const plan = planExport(ctx, params, auth!, ip);
        const { ticket, expires_at } = tickets.issue(auth!.session.hash, plan, passphrase);
        return json(201, { ticket, expires_at });
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
