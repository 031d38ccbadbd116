// `sessiongate backup [DIR]`: a consistent hot copy of the store, taken next to a running
// gateway (LMDB copies inside one read transaction; recorder/backup.ts). DIR defaults to
// backup.dir; older backups beyond backup.keep are removed. The backup is itself evidence of
// handling the evidence: it is recorded as an `activity` event (initiator `cli`).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../config/loader.js';
import { SgError } from '../../gateway/core/errors.js';
import { systemClock } from '../../gateway/core/runtime.js';
import { StoreBackup, type BackupResult } from '../../recorder/backup.js';
import { parseArgs, type CliIo } from '../io.js';
import { DEFAULT_CONFIG, UsageError, checkFlags, jsonLine, openCliStore, terminalSafe } from './common.js';

const USAGE = `usage: sessiongate backup [DIR] [--config FILE] [--keep N] [--no-compact] [--json]

A consistent copy of the store, taken while the gateway runs, into DIR/sessiongate-<time>/
(data.mdb + manifest.json with its SHA-256). DIR defaults to backup.dir of the config.
--keep N      whole backups kept in DIR (default backup.keep); older ones are removed
--no-compact  plain page copy (faster, bigger) instead of a compacting one
--json        print the manifest as JSON
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
  for (const p of r.removed) lines.push(`  removed old backup ${terminalSafe(p)}`);
  return lines.join('\n') + '\n';
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, ['json', 'no-compact', 'help', 'h']);
  if (flags.help || flags.h) {
    io.stdout.write(USAGE);
    return 0;
  }
  try {
    checkFlags(flags, ['config', 'keep'], ['json', 'no-compact']);
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${terminalSafe(positionals[1])}"`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr.write(`sessiongate backup: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  const file = typeof flags.config === 'string' ? flags.config : DEFAULT_CONFIG;
  if (typeof flags.config !== 'string' && !existsSync(file)) throw new SgError('SG_ERR_CONFIG_NOT_FOUND', `no --config FILE given and ${DEFAULT_CONFIG} does not exist`);
  const { config } = await loadConfig(file);
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
      details: { ok: true, name: m.name, size: m.size, sha256: m.sha256, schema_version: m.schema_version, last_batch: m.last_batch, compact: m.compact, removed: r.removed.length },
    });
  } catch (e) {
    io.stderr.write(`sessiongate backup: the backup was written, but its activity record was not stored\n`);
    throw e;
  } finally {
    await cli.close();
  }
  return 0;
}
