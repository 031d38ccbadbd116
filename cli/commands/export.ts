// `sessiongate export`: any search of any kind written as CSV or NDJSON, with a manifest
// (count, first/last event, SHA-256 and size of the file). Same filters as the API
// (viewer/server/query-params.ts); the store is paged, so memory stays flat for any size.
// Works next to a running gateway (LMDB has many readers); the export itself is recorded as
// `activity` (initiator `cli`). --encrypt writes the same export as an OpenPGP message
// (`gpg --decrypt` opens it); `export.encryption: required` allows nothing else.
import { basename } from 'node:path';
import type { Writable } from 'node:stream';
import { systemClock } from '../../gateway/core/runtime.js';
import { EXPORT_FORMATS, encoderFor, type ExportFormat } from '../../recorder/export/formats.js';
import { fileStamp, manifestPath, openExportFile, writeManifestFile, type OpenFile } from '../../recorder/export/files.js';
import { OPENPGP_ENCRYPTION } from '../../recorder/export/openpgp-encrypt.js';
import { checkPassphrase, readPassphraseFile } from '../../recorder/export/passphrase.js';
import { checkExport, exportFilters, runExport } from '../../recorder/export/query-export.js';
import { streamSink } from '../../recorder/export/writer.js';
import { SEARCH_KINDS, type SearchKind } from '../../recorder/store/types.js';
import { parseSearch, searchParamNames } from '../../viewer/server/query-params.js';
import { parseArgs, type CliIo } from '../io.js';
import { UsageError, checkFlags, openCliStore, terminalSafe } from './common.js';

const USAGE = `usage: sessiongate export --kind requests|sessions|activity|transfers --format csv|ndjson
                         [--out FILE] [--force] [--config FILE]
                         [--encrypt [--passphrase-file FILE]] [filters]

Writes every match of the search to FILE and its manifest to FILE.manifest.json (without --out:
the data to stdout, the manifest to stderr). Files are created 0600; an existing FILE is kept
unless --force. --encrypt writes an OpenPGP message (AES-256, the format of gpg --symmetric;
FILE gets .gpg appended unless it ends in .gpg) with the passphrase from --passphrase-file FILE
(one line) or else from the environment variable SESSIONGATE_EXPORT_PASSPHRASE (at least
12 characters); open it with: gpg --decrypt FILE.gpg > FILE. With export.encryption: required
in the config, --encrypt is mandatory; with off, it is refused.
Filters are the search's (T: ISO 8601 with offset, a local date, or ms):
  requests:  --from T --to T -q TEXT --realm R --source WEB|API --method M --action A
             --login L --email E --ip IP --sort COL --order asc|desc
  sessions:  --from --to -q --protocol P --os OS --connected-from proxy|web --state open|ended
             --login --email --ip --sort --order
  activity:  --from --to -q --action A --initiator NAME --types activity,audit.gap,http.request
             --sort --order
  transfers: --from --to -q --login --email --ip --server NAME --path P --direction D
             --result R --session-id ID --types file.transfer,ftp.command --sort --order
Exit: 0 written, 1 failed (bad filter or passphrase, store or write error), 2 usage (also an
export the config's export.encryption does not allow).
`;

const OWN = ['config', 'kind', 'format', 'out', 'passphrase_file'] as const;
export const PASSPHRASE_ENV = 'SESSIONGATE_EXPORT_PASSPHRASE';

function filterFlags(kind: SearchKind): string[] {
  return searchParamNames(kind).filter((p) => p !== 'limit' && p !== 'cursor' && p !== 'hide_me');
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { flags: raw, positionals } = parseArgs(argv, ['force', 'encrypt', 'help', 'h']);
  if (raw.help || raw.h) {
    io.stdout.write(USAGE);
    return 0;
  }
  // --connected-from and --connected_from are the same filter.
  const flags: Record<string, string | true> = {};
  for (const [k, v] of Object.entries(raw)) flags[k.replace(/-/g, '_')] = v;
  let kind: SearchKind;
  let format: ExportFormat;
  try {
    kind = flags.kind as SearchKind;
    format = flags.format as ExportFormat;
    if (typeof flags.kind !== 'string' || !SEARCH_KINDS.includes(kind)) throw new UsageError(`--kind: use one of ${SEARCH_KINDS.join(', ')}`);
    if (typeof flags.format !== 'string' || !EXPORT_FORMATS.includes(format)) throw new UsageError(`--format: use one of ${EXPORT_FORMATS.join(', ')}`);
    checkFlags(flags, [...OWN, ...filterFlags(kind)], ['force', 'encrypt']);
    if (positionals.length) throw new UsageError(`unexpected argument "${terminalSafe(positionals[0])}"`);
    if (flags.passphrase_file !== undefined && flags.encrypt !== true) throw new UsageError('--passphrase-file goes with --encrypt');
    if (flags.encrypt === true && flags.passphrase_file === undefined && !io.env[PASSPHRASE_ENV]) throw new UsageError(`--encrypt needs --passphrase-file FILE or ${PASSPHRASE_ENV}`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr.write(`sessiongate export: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  const params = new URLSearchParams();
  for (const k of filterFlags(kind)) if (typeof flags[k] === 'string') params.set(k, flags[k]);
  // Same parser as GET /api/export; dates are read in the auditor's own time zone.
  const query = parseSearch(kind, params, { localDates: true });
  const encrypt = flags.encrypt === true;
  // The name asked for, with .gpg when encrypting (an encrypted file never looks like a CSV).
  const out = typeof flags.out !== 'string' ? undefined : encrypt && !flags.out.endsWith('.gpg') ? `${flags.out}.gpg` : flags.out;

  const cli = await openCliStore(flags.config, io);
  let file: OpenFile | undefined;
  try {
    const policy = cli.config.export.encryption;
    if (policy === 'required' && !encrypt) return refuse(io, 'export.encryption is required in the config: add --encrypt --passphrase-file FILE (or set SESSIONGATE_EXPORT_PASSPHRASE)');
    if (policy === 'off' && encrypt) return refuse(io, 'export.encryption is off in the config: encrypted exports are not offered (set it to optional or required)');
    const passphrase = encrypt ? passphraseFrom(flags, io) : undefined;
    checkExport(cli.store, { kind, format, query });
    if (out) file = await openExportFile(out, flags.force !== true);
    const sink = file ? file.sink : streamSink(io.stdout as unknown as Writable);
    const createdAt = systemClock.now();
    const plainName = out ? basename(out).replace(/\.gpg$/, '') : `sessiongate-${kind}-${fileStamp(createdAt)}.${encoderFor(kind, format).ext}`;
    const r = await runExport(cli.store, { kind, format, query }, sink, { createdAt, ...(out ? { file: out } : {}), ...(passphrase !== undefined ? { encrypt: { passphrase, fileName: plainName } } : {}) });
    const m = r.manifest;
    let ok = m.complete;
    if (file) {
      if (ok) {
        try {
          await file.finish();
          await writeManifestFile(manifestPath(out!), m);
        } catch (e) {
          ok = false;
          r.error ??= e;
        }
      }
      if (!ok) await file.discard();
    } else {
      io.stderr.write(JSON.stringify(m, null, 2) + '\n');
    }
    const how = encrypt ? `${format}, encrypted (OpenPGP),` : format;
    await cli.record({
      action: 'export',
      description: `exported ${m.count} ${kind} as ${how} from the CLI${ok ? '' : ' (failed: incomplete)'}`,
      details: { kind, format, query: exportFilters(query), count: m.count, complete: ok, ...(encrypt ? { encrypted: true, encryption: { ...OPENPGP_ENCRYPTION } } : {}), manifest: m, ...(out ? { out } : {}) },
    });
    if (!ok) {
      io.stderr.write(`sessiongate export: failed after ${m.count} ${kind}: ${terminalSafe((r.error as Error)?.message ?? String(r.error))}${file ? ` (${terminalSafe(out)} removed)` : ''}\n`);
      return 1;
    }
    if (out) {
      io.stderr.write(`exported ${m.count} ${kind} to ${terminalSafe(out)} (sha256 ${m.sha256}); manifest ${terminalSafe(manifestPath(out))}\n`);
      if (encrypt) io.stderr.write(`encrypted (OpenPGP, AES-256); decrypt with: gpg --decrypt ${terminalSafe(out)} > ${terminalSafe(out.replace(/\.gpg$/, ''))}  (plaintext sha256 ${m.plaintext_sha256})\n`);
    }
    return 0;
  } catch (e) {
    // Never leave a partial file that looks like an export.
    await file?.discard().catch(() => undefined);
    throw e;
  } finally {
    await cli.close();
  }
}

function refuse(io: CliIo, why: string): number {
  io.stderr.write(`sessiongate export: ${why}\n`);
  return 2;
}

/** --passphrase-file wins over the environment variable (an explicit flag is what was meant). */
function passphraseFrom(flags: Record<string, string | true>, io: CliIo): string {
  if (typeof flags.passphrase_file === 'string') return readPassphraseFile(flags.passphrase_file, 'passphrase-file');
  const p = io.env[PASSPHRASE_ENV] ?? '';
  checkPassphrase(p, PASSPHRASE_ENV);
  return p;
}
