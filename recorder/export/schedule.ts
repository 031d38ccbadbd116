// Scheduled export (seed 002: "export logs periodically for offline storage or integration with
// external auditing systems"). Every interval, the events committed since the last run go into
// DIR/<kind>-<from>-<to>.<ext> plus a manifest per file. The position (greatest event id
// exported) is saved in the store after the files are complete and synced, so a restart neither
// repeats nor skips; a failed run publishes nothing and the next run redoes it. Events stamped
// before the previous run's end but committed after it (a long panel request is stamped when it
// starts) are caught by the commit listener and go into the next run's files. With
// `passphrase_file` every file is an OpenPGP message (`<name>.gpg`, export.encryption); the
// passphrase is read from its file at each run and kept only while the run writes.
import { basename, join } from 'node:path';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { exportScheduleSchema, type ExportEncryptionMode, type ExportScheduleConfig } from '../../config/schema.js';
import { checkConfig, checkDeps } from './checks.js';
import { SgError } from '../../gateway/core/errors.js';
import { idCeil } from '../../gateway/core/ids.js';
import type { Clock, Logger } from '../../gateway/core/runtime.js';
import type { Emitter } from '../emitter.js';
import { kindOf } from '../store/kinds.js';
import type { ExportKind } from './columns.js';
import { CommitFeed, type Subscribe } from './feed.js';
import { ensureDir, fileStamp, manifestPath, openExportFile, partialPath, publish, syncDir, writeManifestFile, type OpenFile } from './files.js';
import { encryptedManifest, encryptedSink, type EncryptedSink } from './encrypted-sink.js';
import { encoderFor } from './formats.js';
import type { ExportManifest } from './manifest.js';
import { OPENPGP_ENCRYPTION } from './openpgp-encrypt.js';
import { readPassphraseFile } from './passphrase.js';
import type { ExportStore } from './source.js';
import { ExportState } from './state.js';
import { ExportWriter } from './writer.js';

export const SCHEDULE_STATE_KEY = 'schedule';
const TAKE = 500;

export interface ScheduledExportDeps {
  store: ExportStore;
  /** Recorder.subscribe: catches events committed after their window was exported. */
  subscribe?: Subscribe;
  clock: Clock;
  logger: Logger;
  /** Each run that writes files is recorded as `activity` (initiator `system`, action `export`). */
  emitter?: Pick<Emitter, 'emit'>;
}

export interface ScheduleRunReport {
  from: number | undefined;
  to: number;
  files: { file: string; kind: ExportKind; count: number; sha256: string; bytes: number }[];
  /** Events exported (all files). */
  count: number;
  /** The run failed: nothing was published, the next run redoes it. */
  error?: string;
}

export interface ScheduledExportOptions {
  /** `export.encryption`: `required` needs `passphrase_file`, `off` refuses it. Absent: as the config says. */
  encryption?: ExportEncryptionMode;
}

interface KindFile {
  kind: ExportKind;
  final: string;
  file: OpenFile;
  writer: ExportWriter;
  enc?: EncryptedSink;
}

const PASSPHRASE_KEY = 'export.schedule.passphrase_file';

export class ScheduledExport {
  private readonly cfg: ExportScheduleConfig;
  private readonly deps: ScheduledExportDeps;
  private readonly logger: Logger;
  private readonly state: ExportState;
  private readonly kinds: ReadonlySet<string>;
  private feed: CommitFeed | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ScheduleRunReport> | undefined;
  private abort = new AbortController();
  private closed = false;

  constructor(cfg: ExportScheduleConfig, deps: ScheduledExportDeps, opts: ScheduledExportOptions = {}) {
    const parsed = checkConfig(exportScheduleSchema, cfg, 'export.schedule');
    checkDeps(deps, 'scheduled export');
    checkEncryption(parsed, opts.encryption);
    this.cfg = parsed;
    this.deps = deps;
    this.logger = deps.logger.child({ component: 'scheduled-export' });
    this.kinds = new Set(this.cfg.kinds);
    this.state = new ExportState(deps.store);
  }

  /** Runs every interval (the first when the interval since the last saved run has passed). */
  start(): void {
    if (this.closed) throw new SgError('SG_ERR_CONFLICT', 'scheduled export is closed');
    if (this.timer) return;
    this.ensureFeed();
    const last = this.state.get(SCHEDULE_STATE_KEY)?.last_run;
    const due = typeof last === 'number' ? last + this.cfg.interval - this.deps.clock.now() : this.cfg.interval;
    this.arm(Math.max(0, Math.min(due, this.cfg.interval)));
    this.logger.info({ dir: this.cfg.dir, interval: this.cfg.interval, format: this.cfg.format, kinds: this.cfg.kinds }, 'scheduled export started');
  }

  /** One run now (also what the timer calls). Concurrent calls share the run in progress. */
  runOnce(): Promise<ScheduleRunReport> {
    if (this.closed) return Promise.reject(new SgError('SG_ERR_CONFLICT', 'scheduled export is closed'));
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Stops the timer; a run in progress is abandoned (nothing published, position kept). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort();
    await this.running?.catch(() => undefined);
    this.feed?.close();
    await this.feed?.settled();
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      void this.runOnce()
        .catch(() => undefined)
        .finally(() => {
          if (!this.closed) this.arm(this.cfg.interval);
        });
    }, ms);
    this.timer.unref();
  }

  private ensureFeed(): CommitFeed {
    this.feed ??= new CommitFeed({
      store: this.deps.store,
      subscribe: this.deps.subscribe,
      after: this.state.get(SCHEDULE_STATE_KEY)?.after,
      logger: this.logger,
      liveMax: 0,
      readMax: TAKE,
      ledger: this.state.lateFor(SCHEDULE_STATE_KEY),
    });
    return this.feed;
  }

  private async run(): Promise<ScheduleRunReport> {
    const feed = this.ensureFeed();
    const saved = this.state.get(SCHEDULE_STATE_KEY);
    const from = typeof saved?.last_run === 'number' ? saved.last_run : undefined;
    const to = this.deps.clock.now();
    const startAfter = feed.position;
    const upTo = idCeil(to);
    const late: string[] = [];
    const open = new Map<ExportKind, KindFile>();
    const report: ScheduleRunReport = { from, to, files: [], count: 0 };
    const published: string[] = [];
    let passphrase: string | undefined;
    try {
      if (this.cfg.passphrase_file !== undefined) passphrase = passphraseOf(this.cfg.passphrase_file);
      await ensureDir(this.cfg.dir);
      await removeStalePartials(this.cfg.dir);
      for (;;) {
        const evs = feed.take(TAKE, upTo);
        if (!evs.length) break;
        for (const ev of evs) {
          if (startAfter !== undefined && ev.id <= startAfter) late.push(ev.id);
          const kind = kindOf(ev.type);
          if (!kind || !this.kinds.has(kind)) continue;
          const f = open.get(kind) ?? (await this.openKind(kind, from, to, open, passphrase));
          await f.writer.add(ev);
        }
      }
      const manifests: [KindFile, ExportManifest][] = [];
      passphrase = undefined; // every file has its key by now
      for (const f of open.values()) {
        let m = await f.writer.finish();
        if (!m.complete) throw new SgError('SG_ERR_INTERNAL', `writing ${f.final} failed`);
        if (f.enc) m = encryptedManifest(m, await f.enc.finish());
        await f.file.finish();
        manifests.push([f, m]);
      }
      for (const [f, m] of manifests) {
        if (existsSync(f.final)) throw new SgError('SG_ERR_CONFLICT', `${f.final} already exists`);
        // The manifest first: whoever sees a data file finds its manifest beside it.
        published.push(manifestPath(f.final));
        await writeManifestFile(manifestPath(f.final), m);
        published.push(f.final);
        await publish(f.file.path, f.final);
        report.files.push({ file: basename(f.final), kind: f.kind, count: m.count, sha256: m.sha256, bytes: m.bytes });
        report.count += m.count;
      }
      if (manifests.length) await syncDir(this.cfg.dir);
      await this.state.set(SCHEDULE_STATE_KEY, { ...(feed.position !== undefined ? { after: feed.position } : {}), last_run: to, saved_at: this.deps.clock.now() });
      await feed.ack(late);
    } catch (e) {
      passphrase = undefined;
      for (const f of open.values()) {
        f.enc?.abort(e);
        await f.file.discard().catch(() => undefined);
      }
      // All or nothing: the next run redoes these events, so no file of this run may stay.
      for (const p of published) await rm(p, { force: true }).catch(() => undefined);
      feed.rewind(startAfter, late);
      report.files = [];
      report.count = 0;
      report.error = (e as Error)?.message ?? String(e);
      this.logger.error({ err: e, dir: this.cfg.dir }, 'scheduled export failed: nothing published, the next run retries');
      return report;
    }
    if (report.files.length) {
      this.logger.info({ files: report.files.length, count: report.count }, 'scheduled export written');
      this.deps.emitter?.emit({
        type: 'activity',
        initiator: 'system',
        action: 'export',
        description: `scheduled export: ${report.count} events in ${report.files.length} file(s)`,
        details: { scheduled: true, dir: this.cfg.dir, format: this.cfg.format, from: from ?? null, to, files: report.files, ...(this.cfg.passphrase_file !== undefined ? { encrypted: true, encryption: { ...OPENPGP_ENCRYPTION } } : {}) },
      });
    }
    return report;
  }

  private async openKind(kind: ExportKind, from: number | undefined, to: number, open: Map<ExportKind, KindFile>, passphrase: string | undefined): Promise<KindFile> {
    const ext = encoderFor(kind, this.cfg.format).ext;
    const plain = `${kind}-${from === undefined ? 'begin' : fileStamp(from)}-${fileStamp(to)}.${ext}`;
    const final = join(this.cfg.dir, passphrase === undefined ? plain : `${plain}.gpg`);
    const file = await openExportFile(partialPath(final), false);
    // Encrypted: the same writer, writing into the encryptor instead of the file.
    let enc: EncryptedSink | undefined;
    try {
      if (passphrase !== undefined) enc = await encryptedSink(file.sink, { passphrase, fileName: plain, date: to });
    } catch (e) {
      await file.discard().catch(() => undefined);
      throw e;
    }
    const writer = new ExportWriter(enc?.sink ?? file.sink, { kind, format: this.cfg.format, filters: { scheduled: true, committed_after: from ?? null, committed_until: to }, createdAt: to, file: basename(final), signal: this.abort.signal });
    const f: KindFile = { kind, final, file, writer, ...(enc ? { enc } : {}) };
    open.set(kind, f);
    return f;
  }
}

/** `required` without a passphrase file, or one configured while encryption is `off`: refused. */
function checkEncryption(cfg: ExportScheduleConfig, mode: ExportEncryptionMode | undefined): void {
  const invalid = (msg: string) => new SgError('SG_ERR_CONFIG_INVALID', `${PASSPHRASE_KEY}: ${msg}`, { details: { key: PASSPHRASE_KEY } });
  if (mode === 'required' && cfg.passphrase_file === undefined) throw invalid('required when export.encryption is required');
  if (mode === 'off' && cfg.passphrase_file !== undefined) throw invalid('export.encryption is off, so nothing would be encrypted');
  if (cfg.passphrase_file !== undefined) passphraseOf(cfg.passphrase_file); // a bad file fails at start, not at the first run
}

/** The passphrase in the configured file; a problem with it is a config problem. */
function passphraseOf(file: string): string {
  try {
    return readPassphraseFile(file, PASSPHRASE_KEY);
  } catch (e) {
    throw new SgError('SG_ERR_CONFIG_INVALID', (e as Error).message, { cause: e, details: { key: PASSPHRASE_KEY } });
  }
}

/** Temporary files a crashed run left behind (no run is in progress when this is called). */
async function removeStalePartials(dir: string): Promise<void> {
  for (const name of await readdir(dir)) if (/^\..+\.partial$/.test(name)) await rm(join(dir, name), { force: true });
}
