// Replay data for terminal recordings (DESIGN "Viewer API"): `GET /api/recordings/:id` (what it
// is and whether the browser may replay it: the 700 MB rule, `viewer.replay_max_bytes`),
// `/cast` (the asciicast file, Range supported), `/index` and `/segments/:n` (asciinema-player's
// segmented format: each segment starts from a keyframe, so a seek reads one segment, not the
// file), `/download` (the file as an attachment). Every replay and download is an `activity`.
// Encrypted downloads (`export.encryption`) take the export's two steps: `POST
// /api/recordings/:id/download-tickets` trades the passphrase (JSON body, never a URL) for a
// one-time ticket, then `GET /download?ticket=...` streams the file through the OpenPGP encryptor.
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { SgError } from '../../gateway/core/errors.js';
import { CastReader, findCast, SESSION_ID_RE } from '../../recorder/cast/index.js';
import { createOpenPgpEncryptor, OPENPGP_ENCRYPTION } from '../../recorder/export/openpgp-encrypt.js';
import { checkPassphrase } from '../../recorder/export/passphrase.js';
import { byUser, recordActivity, type Route, type RouteInput, type ViewerContext } from './context.js';
import { ENCRYPTED_CONTENT_TYPE, EXPORTERS } from './export-routes.js';
import { ExportTickets } from './export-tickets.js';
import { onlyFields, stringField } from './fields.js';
import type { Reply } from './http-io.js';
import { onlyParams } from './live-routes.js';
import { badParam, json } from './reply.js';
import { REQUEST_READERS } from './requests-routes.js';

/** `bytes=a-b` / `bytes=a-` / `bytes=-n` against `size`: [start, end] inclusive, or 'bad'. */
export function parseRange(h: string | undefined, size: number): [number, number] | 'bad' | undefined {
  if (h === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'bad';
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return Number.isSafeInteger(start) && Number.isSafeInteger(end) && start <= end && start < size ? [start, end] : 'bad';
}

function fileStream(file: string, start: number, end: number): Reply['stream'] {
  return async (write, signal) => {
    const rs = createReadStream(file, { start, end, highWaterMark: 256 * 1024 });
    signal.addEventListener('abort', () => rs.destroy(), { once: true });
    for await (const chunk of rs) await write(chunk as Buffer);
  };
}

/** The first `size` bytes of `file` as an OpenPGP message (what `gpg --symmetric` writes). */
function encryptedStream(file: string, size: number, passphrase: Buffer, date: number): Reply['stream'] {
  return async (write, signal) => {
    let enc;
    try {
      enc = await createOpenPgpEncryptor({ passphrase, fileName: basename(file), date });
    } finally {
      passphrase.fill(0);
    }
    const rs = size ? createReadStream(file, { start: 0, end: size - 1, highWaterMark: 256 * 1024 }) : undefined;
    const stop = (e?: Error) => {
      rs?.destroy();
      enc.destroy(e);
    };
    signal.addEventListener('abort', () => stop(), { once: true });
    if (rs) {
      rs.on('error', (e) => stop(e));
      rs.pipe(enc);
    } else enc.end();
    for await (const chunk of enc) await write(chunk as Buffer);
  };
}

/** What a download ticket lets its holder fetch. */
interface DownloadPlan {
  id: string;
}

export function recordingRoutes(ctx: ViewerContext): Route[] {
  const dir = ctx.deps.recordingsDir;
  /** The recording's file, after checking the id; 404 when there is none. */
  const fileOf = (params: Record<string, string>): string => {
    const id = params.id!;
    if (!SESSION_ID_RE.test(id)) throw badParam('id', 'not a recording id');
    const f = dir ? findCast(dir, id) : undefined;
    if (!f) throw new SgError('SG_ERR_NOT_FOUND', 'no recording with this id');
    return f;
  };
  const withReader = async <T>(file: string, fn: (r: CastReader) => Promise<T>): Promise<T> => {
    const r = await CastReader.open(file);
    try {
      return await fn(r);
    } finally {
      await r.close();
    }
  };
  // A download is an export of evidence (action `export`, details.kind `recording`).
  const trace = (input: RouteInput, what: 'replay' | 'download', id: string, details: Record<string, unknown> = {}) =>
    recordActivity(ctx, {
      ...byUser(input.auth!, input.ip),
      action: what === 'replay' ? 'replay' : 'export',
      description: `${what === 'replay' ? 'replayed' : 'downloaded'} the recording of session ${id}`,
      targets: [{ kind: 'recording', id }],
      details: { kind: 'recording', ...details },
    });
  const maxBytes = ctx.cfg.replay_max_bytes;
  const encryption = ctx.deps.exportEncryption ?? 'off';
  const tickets = new ExportTickets<DownloadPlan>(ctx.deps.clock);
  /** A GET route on one recording: the id checked and its file found; query parameters only as listed. */
  const route = (suffix: string, handler: (input: RouteInput, file: string, query: URLSearchParams) => Promise<Reply>, params: readonly string[] = []): Route => ({
    method: 'GET',
    path: `/api/recordings/:id${suffix}`,
    access: REQUEST_READERS,
    handler: (input) => {
      const query = onlyParams(input.req.query, params);
      return handler(input, fileOf(input.params), query);
    },
  });
  const encryptionOff = () => new SgError('SG_ERR_ENCRYPTION_OFF', 'encrypted downloads are not offered here (export.encryption is off)');
  const sizeOf = (file: string) => withReader(file, async (r) => r.meta().size);

  return [
    route('', async ({ params }, file) => {
      return withReader(file, async (r) => {
        const m = r.meta();
        const h = r.header();
        return json(200, {
          id: params.id,
          size: m.size,
          duration: m.duration,
          keyframes: m.keyframes,
          complete: m.complete,
          ...(m.sha256 ? { sha256: m.sha256 } : {}),
          width: h.width,
          height: h.height,
          started_at: h.timestamp ? h.timestamp * 1000 : undefined,
          replayable: m.size <= maxBytes,
          replay_max_bytes: maxBytes,
        });
      });
    }),
    route('/cast', async (input, file) => {
      const size = await withReader(file, async (r) => r.meta().size);
      const range = parseRange(input.req.headers.get('range') ?? undefined, size);
      if (range === 'bad') return { ...json(416, { error: { code: 'SG_ERR_BAD_PARAM', message: 'range not satisfiable', param: 'range' } }), headers: [['Content-Range', `bytes */${size}`]] };
      if (!range && size > maxBytes) throw new SgError('SG_ERR_FORBIDDEN', `this recording is over ${maxBytes} bytes: download it instead`);
      const [start, end] = range ?? [0, size - 1];
      if (start === 0) await trace(input, 'replay', input.params.id!, { range: range ? `${start}-${end}` : 'all' });
      return {
        status: range ? 206 : 200,
        contentType: 'application/x-asciicast',
        headers: [['Accept-Ranges', 'bytes'], ...(range ? ([['Content-Range', `bytes ${start}-${end}/${size}`]] as [string, string][]) : [])],
        stream: size ? fileStream(file, start, end) : async () => {},
      };
    }),
    route('/index', async (input, file) => {
      const index = await withReader(file, async (r) => r.playerIndex((i) => `/api/recordings/${encodeURIComponent(input.params.id!)}/segments/${i}`));
      await trace(input, 'replay', input.params.id!, { via: 'index' });
      return json(200, index);
    }),
    route('/segments/:n', async ({ params }, file) => {
      const n = Number(params.n);
      if (!Number.isSafeInteger(n) || n < 0 || !/^\d{1,9}$/.test(params.n!)) throw badParam('n', 'a segment number');
      const body = await withReader(file, (r) => r.playerSegment(n));
      return { status: 200, contentType: 'application/json; charset=utf-8', body };
    }),
    route(
      '/download',
      async (input, file, query) => {
        const id = input.params.id!;
        const ticket = query.get('ticket');
        if (ticket === null) {
          if (encryption === 'required') {
            throw new SgError('SG_ERR_ENCRYPTION_REQUIRED', `export.encryption is required: POST a passphrase to /api/recordings/${id}/download-tickets, then GET /api/recordings/${id}/download?ticket=TICKET`);
          }
          const size = await sizeOf(file);
          await trace(input, 'download', id, { bytes: size });
          return {
            status: 200,
            contentType: 'application/x-asciicast',
            headers: [['Content-Disposition', `attachment; filename="${basename(file)}"`]],
            stream: size ? fileStream(file, 0, size - 1) : async () => {},
          };
        }
        if (encryption === 'off') throw encryptionOff();
        const session = input.auth!.session.hash;
        // HEAD sends no body: it must not use up the ticket.
        const plan = input.req.method === 'HEAD' ? tickets.peek(ticket, session) : undefined;
        const grant = plan ? undefined : tickets.take(ticket, session);
        if ((plan ?? grant!.plan).id !== id) {
          grant?.passphrase.fill(0);
          throw new SgError('SG_ERR_EXPORT_TICKET', 'this download ticket is for another recording');
        }
        const size = await sizeOf(file);
        const headers: [string, string][] = [['Content-Disposition', `attachment; filename="${basename(file)}.gpg"`]];
        if (!grant) return { status: 200, contentType: ENCRYPTED_CONTENT_TYPE, headers, body: '' };
        try {
          await trace(input, 'download', id, { bytes: size, encrypted: true, encryption: { ...OPENPGP_ENCRYPTION } });
        } catch (e) {
          grant.passphrase.fill(0);
          throw e;
        }
        return { status: 200, contentType: ENCRYPTED_CONTENT_TYPE, headers, stream: encryptedStream(file, size, grant.passphrase, ctx.deps.clock.now()) };
      },
      ['ticket'],
    ),
    {
      method: 'POST',
      path: '/api/recordings/:id/download-tickets',
      access: EXPORTERS,
      body: true,
      handler: ({ req, params, body, auth }) => {
        onlyParams(req.query, []);
        if (encryption === 'off') throw encryptionOff();
        onlyFields(body, ['passphrase']);
        const passphrase = stringField(body, 'passphrase', { max: 4096, required: true, raw: true })!;
        checkPassphrase(passphrase, 'passphrase');
        fileOf(params);
        const { ticket, expires_at } = tickets.issue(auth!.session.hash, { id: params.id! }, passphrase);
        return json(201, { ticket, expires_at });
      },
    },
  ];
}
