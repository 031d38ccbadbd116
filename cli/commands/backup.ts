// `sessiongate backup [DIR]`: a consistent hot copy of the store, taken next to a running
// gateway (LMDB copies inside one read transaction; recorder/backup.ts), with the terminal
// recordings its session.end events name. DIR defaults to backup.dir; older backups beyond
// backup.keep are removed. `--restore BACKUP` puts one back into data_dir (gateway stopped).
// Both are evidence of handling the evidence: recorded as an `activity` event (initiator `cli`).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../config/loader.js';
import { SgError } from '../../gateway/core/errors.js';
import { systemClock } from '../../gateway/core/runtime.js';
import { StoreBackup, recordingsDetails, restoreBackup, type BackupResult, type RestoreResult } from '../../recorder/backup.js';
import { parseArgs, type CliIo } from '../io.js';
import { DEFAULT_CONFIG, UsageError, checkFlags, jsonLine, openCliStore, terminalSafe } from './common.js';

const USAGE = `usage: sessiongate backup [DIR] [--config FILE] [--keep N] [--no-compact] [--json]
       sessiongate backup --restore BACKUP [--config FILE] [--force] [--json]

A consistent copy of the store, taken while the gateway runs, into DIR/sessiongate-<time>/
(data.mdb + manifest.json with its SHA-256, and recordings/ with the terminal recordings the
copy names). DIR defaults to backup.dir of the config.
--keep N          whole backups kept in DIR (default backup.keep); older ones are removed
--no-compact      plain page copy (faster, bigger) instead of a compacting one
--restore BACKUP  put the backup BACKUP (a sessiongate-<time> directory) back into data_dir:
                  stop the gateway first; data.mdb is checked against its manifest
--force           with --restore: replace an existing store, and recordings that differ
--json            print the manifest (or the restore's result) as JSON
`;

function keepFlag(v: string | true | undefined, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (v === true || !Number.isInteger(n) || n < 1 || n > 100_000) throw new UsageError('--keep must be an integer from 1');
  return n;
}

function describe(r: BackupResult): string {
  const m = r.manifest;
  const mb = (m.size / 1048576).toFixed(1);
  const lines = [
    `backup written: ${terminalSafe(r.path)}`,
    `  size ${mb} MiB (${m.size} bytes), ${m.compact ? 'compacted' : 'plain copy'}, ${m.duration_ms} ms`,
    `  sha256 ${m.sha256}`,
    `  schema version ${m.schema_version}${m.last_batch !== null ? `, last batch ${m.last_batch}` : ''}, events: ${Object.values(m.counts).reduce((a, b) => a + b, 0)}`,
  ];
  const rec = m.recordings;
  if (rec) {
    lines.push(`  recordings: ${rec.copied} of ${rec.referenced} copied (${(rec.bytes / 1048576).toFixed(1)} MiB)${rec.missing ? `, ${rec.missing} MISSING` : ''}${rec.mismatched ? `, ${rec.mismatched} NOT MATCHING their SHA-256` : ''}`);
    for (const p of rec.problems.slice(0, 10)) lines.push(`    ${p.problem}: ${terminalSafe(p.path)}${p.detail ? ` (${terminalSafe(p.detail)})` : ''}`);
  }
  for (const p of r.removed) lines.push(`  removed old backup ${terminalSafe(p)}`);
  return lines.join('\n') + '\n';
}

function describeRestore(backup: string, r: RestoreResult): string {
  const x = r.recordings;
  const lines = [
    `restored ${terminalSafe(backup)}`,
    `  store ${terminalSafe(r.store.path)} (${r.store.size} bytes, sha256 ${r.store.sha256})`,
    `  recordings: ${x.restored} restored (${(x.bytes / 1048576).toFixed(1)} MiB), ${x.identical} already there${x.missing ? `, ${x.missing} not in the backup` : ''}${x.kept.length ? `, ${x.kept.length} differing ones kept (--force replaces them)` : ''}`,
    '  check it: sessiongate verify',
  ];
  return lines.join('\n') + '\n';
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, ['json', 'no-compact', 'force', 'help', 'h']);
  if (flags.help || flags.h) {
    io.stdout.write(USAGE);
    return 0;
  }
  try {
    checkFlags(flags, ['config', 'keep', 'restore'], ['json', 'no-compact', 'force']);
    if (positionals.length > (flags.restore ? 0 : 1)) throw new UsageError(`unexpected argument "${terminalSafe(positionals[flags.restore ? 0 : 1])}"`);
    if (flags.restore && (flags.keep || flags['no-compact'])) throw new UsageError('--keep and --no-compact do not go with --restore');
    if (flags.force && !flags.restore) throw new UsageError('--force goes with --restore');
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr.write(`sessiongate backup: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  const file = typeof flags.config === 'string' ? flags.config : DEFAULT_CONFIG;
  if (typeof flags.config !== 'string' && !existsSync(file)) throw new SgError('SG_ERR_CONFIG_NOT_FOUND', `no --config FILE given and ${DEFAULT_CONFIG} does not exist`);
  const { config } = await loadConfig(file);
  if (typeof flags.restore === 'string') return restore(flags.restore, file, config.data_dir, flags, io);
  let keep: number;
  try {
    keep = keepFlag(flags.keep, config.backup.keep);
    if (!positionals[0] && !config.backup.dir) throw new UsageError('no DIR given and the config has no backup.dir');
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr.write(`sessiongate backup: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  const dir = positionals[0] ? resolve(positionals[0]) : config.backup.dir!;
  const logger = pino({ level: io.env.SESSIONGATE_LOG_LEVEL ?? 'warn', base: { app: 'sessiongate-cli' } }, io.stderr);
  const backup = new StoreBackup({ dataDir: config.data_dir, dir, keep, compact: flags['no-compact'] ? false : config.backup.compact, clock: systemClock, logger });
  let r: BackupResult;
  try {
    r = await backup.run();
  } finally {
    await backup.close();
  }
  io.stdout.write(flags.json ? jsonLine({ path: r.path, removed: r.removed, manifest: r.manifest }) : describe(r));

  const m = r.manifest;
  const cli = await openCliStore(file, io);
  try {
    await cli.record({
      action: 'backup',
      description: `store backed up from the CLI to ${r.path}`,
      targets: [{ kind: 'backup', id: r.path }],
      details: { ok: true, name: m.name, size: m.size, sha256: m.sha256, schema_version: m.schema_version, last_batch: m.last_batch, compact: m.compact, removed: r.removed.length, ...recordingsDetails(m) },
    });
  } catch (e) {
    io.stderr.write(`sessiongate backup: the backup was written, but its activity record was not stored\n`);
    throw e;
  } finally {
    await cli.close();
  }
  return 0;
}

async function restore(backup: string, file: string, dataDir: string, flags: Record<string, string | true>, io: CliIo): Promise<number> {
  const logger = pino({ level: io.env.SESSIONGATE_LOG_LEVEL ?? 'warn', base: { app: 'sessiongate-cli' } }, io.stderr);
  const backupDir = resolve(backup);
  const r = await restoreBackup({ backupDir, dataDir, force: flags.force === true, logger });
  io.stdout.write(flags.json ? jsonLine({ backup: backupDir, ...r }) : describeRestore(backupDir, r));
  // Recorded in the restored store: the first record after the backup's own.
  const cli = await openCliStore(file, io);
  try {
    await cli.record({
      // ActivityAction has no `restore` (recorder/events.ts): a backup action, op restore.
      action: 'backup',
      description: `store and recordings restored from the CLI from ${backupDir}`,
      targets: [{ kind: 'backup', id: backupDir }],
      details: { ok: true, op: 'restore', sha256: r.store.sha256, size: r.store.size, recordings: r.recordings.restored, recordings_identical: r.recordings.identical, recordings_missing: r.recordings.missing, recordings_kept: r.recordings.kept.length, force: flags.force === true },
    });
  } catch (e) {
    io.stderr.write(`sessiongate backup: the backup was restored, but its activity record was not stored\n`);
    throw e;
  } finally {
    await cli.close();
  }
  return 0;
}
