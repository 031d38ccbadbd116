// `sessiongate verify`: walks the store's integrity chain (recorder/store/integrity.ts) from a
// read-only snapshot, so it runs next to a live gateway, and names the first event or batch
// that does not match; then compares every terminal recording a session.end names with the
// size and SHA-256 it recorded (recorder/cast/verify.ts). Exit codes: 0 intact, 1 broken, 2
// usage, 3 could not verify (no store, key unreadable): a script must not read "could not
// check" as "intact" nor as "tampered".
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../config/loader.js';
import { SgError } from '../../gateway/core/errors.js';
import { idTime } from '../../gateway/core/ids.js';
import { loadIntegrityKey, verifyStore, type VerifyBreak, type VerifyReport } from '../../recorder/store/integrity.js';
import { recordingsCheck, type RecordingProblem, type RecordingsReport } from '../../recorder/cast/verify.js';
import { parseArgs, type CliIo } from '../io.js';
import { DEFAULT_CONFIG, UsageError, checkFlags, jsonLine, terminalSafe } from './common.js';
import { localTime } from './search.js';

const USAGE = `usage: sessiongate verify [--config FILE] [--store DIR] [--key-file FILE] [--recordings DIR] [--json]

Checks every stored event against the digest its batch recorded and, with audit.key_file, the
HMAC-SHA-256 chain of batches; names the first event or batch that does not match. Then checks
every terminal recording a session.end names: missing, truncated or altered (size, SHA-256).
--store DIR       verify the store in DIR (e.g. a backup) instead of <data_dir>/store
--key-file FILE   the chain key (default: audit.key_file of the config)
--recordings DIR  the recordings (default: DIR/recordings of --store when it exists, as in a
                  backup; else <data_dir>/recordings, or recordings/ beside a --store DIR
                  named store)
--json            the full report as one JSON object
Exit: 0 intact, 1 broken, 2 usage error, 3 could not verify.
`;

const FLAGS = ['config', 'store', 'key-file', 'recordings'] as const;
/** Breaks listed after the first in the text output. */
const SHOWN_BREAKS = 20;

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, ['json', 'help', 'h']);
  if (flags.help || flags.h) {
    io.stdout.write(USAGE);
    return 0;
  }
  try {
    checkFlags(flags, FLAGS, ['json']);
    if (positionals.length) throw new UsageError(`unexpected argument "${terminalSafe(positionals[0])}"`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr.write(`sessiongate verify: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  const logger = pino({ level: io.env.SESSIONGATE_LOG_LEVEL ?? 'warn', base: { app: 'sessiongate-cli' } }, io.stderr);
  let report: VerifyReport;
  let recordings: RecordingsReport;
  let storeDir: string;
  try {
    let keyFile = typeof flags['key-file'] === 'string' ? flags['key-file'] : undefined;
    let dataDir: string | undefined;
    let configured = false;
    if (typeof flags.store === 'string' && typeof flags.config !== 'string') storeDir = flags.store;
    else {
      const { config } = await loadConfig(typeof flags.config === 'string' ? flags.config : DEFAULT_CONFIG);
      dataDir = config.data_dir;
      configured = true;
      storeDir = typeof flags.store === 'string' ? flags.store : join(config.data_dir, 'store');
      keyFile ??= config.audit.key_file;
    }
    // Never create a key here: a missing key must not look like a fresh, valid one.
    const key = keyFile ? loadIntegrityKey(keyFile, { dataDir: dataDir ?? storeDir, create: false }) : undefined;
    const recs = recordingsCheck(key);
    report = await verifyStore({ storeDir, key, logger, checks: [recs.check] });
    recordings = await recs.checkFiles(recordingsDirFor(flags.recordings, storeDir, configured ? dataDir : undefined));
  } catch (e) {
    if (!(e instanceof SgError)) throw e;
    io.stderr.write(`sessiongate verify: could not verify: ${e.code}: ${terminalSafe(e.message)}\n`);
    return 3;
  }
  const ok = report.ok && recordings.problem_count === 0;
  if (flags.json) io.stdout.write(jsonLine({ store: storeDir, ...report, ok, store_ok: report.ok, recordings }));
  else io.stdout.write(textReport(storeDir, report) + recordingsText(recordings));
  return ok ? 0 : 1;
}

/** --recordings; a backup's own recordings/; <data_dir>/recordings; recordings/ beside a `store` dir. */
function recordingsDirFor(flag: string | true | undefined, storeDir: string, dataDir: string | undefined): string | undefined {
  if (typeof flag === 'string') return flag;
  if (existsSync(join(storeDir, 'recordings'))) return join(storeDir, 'recordings');
  if (dataDir) return join(dataDir, 'recordings');
  if (basename(storeDir) === 'store') return join(dirname(storeDir), 'recordings');
  return undefined;
}

function describeRecording(p: RecordingProblem): string {
  const what = p.id ? `recording ${p.id}${p.session_id ? ` of session ${p.session_id}` : ''}${p.path ? ` (${p.path})` : ''}: ` : '';
  return `  ${terminalSafe(`${p.problem}: ${what}`)}\n    ${terminalSafe(p.detail)}\n`;
}

export function recordingsText(r: RecordingsReport): string {
  if (!r.checked) return r.refs ? `recordings: NOT CHECKED (no recordings directory: give --recordings DIR); ${r.refs} referenced\n` : '';
  const parts = [`${r.intact} intact`];
  if (r.removed_by_retention) parts.push(`${r.removed_by_retention} removed by retention`);
  if (r.unverifiable) parts.push(`${r.unverifiable} without a hash to check`);
  if (!r.refs && !r.problem_count) return 'recordings: none referenced by session.end\n';
  let out = `recordings: ${r.refs} referenced by session.end in ${terminalSafe(r.dir)}: ${parts.join(', ')} (${r.bytes} bytes hashed)\n`;
  if (!r.problem_count) return out + 'OK: every recording matches its session.end\n';
  out += `RECORDINGS BROKEN: ${r.problem_count} problem${r.problem_count === 1 ? '' : 's'}:\n${r.problems.map(describeRecording).join('')}`;
  if (r.problem_count > r.problems.length) out += `  ... ${r.problem_count - r.problems.length} more\n`;
  return out;
}

function when(ms: number | undefined): string {
  return ms === undefined || !Number.isFinite(ms) ? '?' : localTime(ms);
}

function describe(x: VerifyBreak): string {
  const parts: string[] = [x.problem];
  if (x.kind && x.id) parts.push(`event ${x.id} (${x.kind}, event time ${when(idTime(x.id))})`);
  if (x.b !== undefined) parts.push(`batch ${x.b}${x.ts !== undefined ? ` committed ${when(x.ts)}` : ''}`);
  return `${terminalSafe(parts.join(': '))}\n    ${terminalSafe(x.detail)}\n`;
}

export function textReport(storeDir: string, r: VerifyReport): string {
  let out = `store: ${terminalSafe(storeDir)}\n`;
  if (r.keyed) out += 'chain: keyed (HMAC-SHA-256 over every batch)\n';
  else out += `chain: UNKEYED (audit.key_file is not set): row digests checked, batch macs not${r.signed ? ' (the batches carry macs: give the key to check them)' : ''}; whoever can write the store could recompute digests\n`;
  out += `batches: ${r.batches}${r.pruned_batches ? ` (${r.pruned_batches} emptied by retention)` : ''}, rows checked: ${r.rows}${r.pruned_rows ? `, rows removed by retention: ${r.pruned_rows}` : ''}\n`;
  if (r.anchor) {
    const cut = Object.entries(r.anchor.cutoffs).map(([k, id]) => `${k} before ${when(idTime(id))}`);
    out += `retention anchor: batches up to ${r.anchor.b} dropped${cut.length ? `; removed ${cut.join(', ')}` : ''}\n`;
  }
  if (r.head) out += `last batch: ${r.head.b} committed ${when(r.head.ts)}${r.head.mac ? ` mac ${r.head.mac}` : ''}\n`;
  if (r.checks.length) out += `also checked: ${r.checks.join(', ')}\n`;
  if (r.ok) return out + 'OK: every batch and event matches\n';
  out += `BROKEN: ${r.break_count} problem${r.break_count === 1 ? '' : 's'}; first:\n  ${describe(r.breaks[0]!)}`;
  const more = r.breaks.slice(1, 1 + SHOWN_BREAKS);
  if (more.length) out += `then:\n${more.map((x) => `  ${describe(x)}`).join('')}`;
  if (r.break_count > 1 + more.length) out += `  ... ${r.break_count - 1 - more.length} more (--json lists the first ${r.breaks.length})\n`;
  return out;
}
