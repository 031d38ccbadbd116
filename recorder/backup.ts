// Hot backups of the audit store. LMDB copies an environment inside one read transaction
// (mdb_env_copy2, compacting by default), so the copy is a consistent snapshot holding every
// batch committed before it began, while the Recorder goes on writing; any process that can open
// the environment read-only can take it (the CLI next to a running gateway). A backup is built in
// a hidden `.partial` directory, verified (the copy opens and has a schema version), hashed,
// fsynced and only then renamed to DIR/sessiongate-<time>/: every `sessiongate-*` directory
// with a manifest is a whole backup, and rotation only ever counts and removes those.
// Terminal recordings go with it: those the copy's session.end events name (closed ones, as of
// the snapshot), each checked against its SHA-256 while copied. restoreBackup() puts both back.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir, open as openFile, rename, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { z } from 'zod';
import { SgError } from '../gateway/core/errors.js';
import type { Clock, Logger } from '../gateway/core/runtime.js';
import type { ActivityEvent } from './events.js';
import { DB_OPTIONS, ENV_FILE, LOCK_FILE, rootOptions } from './store/lmdb-options.js';
import { isDiskFull } from './store/store.js';
import { fromStored } from './store/row-codec.js';
import { hashFile, recordingFiles, recordingRefs, resolveRecording, type FullRecordingRef } from './cast/files.js';

export const BACKUP_PREFIX = 'sessiongate-';
export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'sessiongate-store-backup';
/** `sessiongate-20251122T134800.123Z`, `-2`... when two backups start in the same ms. */
const NAME_RE = /^sessiongate-(\d{8}T\d{6}\.\d{3}Z)(?:-(\d{1,4}))?$/;
const PARTIAL_RE = /^\.sessiongate-.*\.partial$/;
/** A `.partial` directory this old was left by a crash, not by a backup still running. */
export const STALE_PARTIAL_MS = 24 * 3_600_000;

export interface BackupManifest {
  format: typeof MANIFEST_FORMAT;
  format_version: 1;
  /** The backup's directory name. */
  name: string;
  /** When the copy started (ISO 8601, UTC) and in ms since epoch. */
  created: string;
  created_ms: number;
  duration_ms: number;
  /** The store directory that was copied. */
  source: string;
  /** Free pages left out and pages renumbered (MDB_CP_COMPACT). */
  compact: boolean;
  /** `meta.schema_version` read back from the copy. */
  schema_version: number;
  /** `meta.batch:last` read back from the copy (absent in schema 1 stores: null). */
  last_batch: number | null;
  /** `meta.count:<type>` read back from the copy. */
  counts: Record<string, number>;
  /** The data file in the backup directory, its size and SHA-256 (hex). */
  file: string;
  size: number;
  sha256: string;
  /** Terminal recordings copied with it (absent in backups made before recordings were). */
  recordings?: BackupRecordings;
}

/** The recordings part of a backup: the `.cast` files (with `.idx` and `.snap`) that the copy's
 * session.end events name, under `recordings/` with their relative paths. */
export interface BackupRecordings {
  /** Directory in the backup (relative). */
  dir: 'recordings';
  /** References in the copy's session.end events. */
  referenced: number;
  /** `.cast` files copied, and bytes copied (side files included). */
  copied: number;
  bytes: number;
  /** Not there to copy (removed by retention after the snapshot, or lost). */
  missing: number;
  /** Copied, but their size or SHA-256 did not match the reference (verify will report them). */
  mismatched: number;
  /** The first MAX_LISTED missing / mismatched / unusable ones. */
  problems: { id: string; path: string; problem: 'missing' | 'mismatched' | 'bad_path'; detail?: string }[];
}

const MAX_LISTED = 100;

export interface BackupResult {
  /** Absolute path of the new backup directory. */
  path: string;
  manifest: BackupManifest;
  /** Older backups removed by rotation (absolute paths). */
  removed: string[];
}

export interface BackupEntry {
  name: string;
  path: string;
  manifest: BackupManifest;
}

export interface BackupOptions {
  /** The gateway's data_dir: the store is `${dataDir}/store`, the recordings `${dataDir}/recordings`; `dir` must be outside it. */
  dataDir: string;
  /** Where backups go (created 0700 when missing). */
  dir: string;
  /** Whole backups kept in `dir` after each new one (older ones are removed). */
  keep: number;
  /** Compact while copying (default true): smaller copy, more CPU. */
  compact?: boolean;
  clock: Clock;
  logger: Logger;
}

const loggerSchema = z.custom<Logger>((v) => typeof (v as Logger | null)?.error === 'function', 'a pino logger');
const clockSchema = z.custom<Clock>((v) => typeof (v as Clock | null)?.now === 'function', 'a Clock');
const optionsSchema = z.object({
  dataDir: z.string().min(1),
  dir: z.string().min(1),
  keep: z.number().int().min(1),
  compact: z.boolean().optional(),
  clock: clockSchema,
  logger: loggerSchema,
});

function badDir(dir: string, why: string, cause?: unknown): SgError {
  return new SgError('SG_ERR_BAD_PARAM', `backup directory ${dir}: ${why}`, { details: { param: 'dir', dir }, ...(cause ? { cause } : {}) });
}

/** The real path of `p`, or of its nearest existing ancestor joined with the rest. */
function canonical(p: string): string {
  const abs = resolve(p);
  let cur = abs;
  while (!existsSync(cur) && dirname(cur) !== cur) cur = dirname(cur);
  try {
    return join(realpathSync(cur), relative(cur, abs));
  } catch {
    return abs;
  }
}

function isInside(child: string, parent: string): boolean {
  const r = relative(parent, child);
  return r === '' || (!r.startsWith('..' + sep) && r !== '..' && !isAbsolute(r));
}

/** `sessiongate-20251122T134800.123Z` for a time in ms. */
export function backupName(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2025-11-22T13:48:00.123Z
  return BACKUP_PREFIX + iso.replace(/[-:]/g, '');
}

/** fsync off the event loop: a fresh multi-GB copy can take seconds to reach the disk. */
async function fsyncPath(path: string): Promise<void> {
  const fh = await openFile(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Reads and checks a backup's manifest; undefined when the directory holds no valid one. */
export function readManifest(backupDir: string): BackupManifest | undefined {
  let m: unknown;
  try {
    m = JSON.parse(readFileSync(join(backupDir, MANIFEST_FILE), 'utf8'));
  } catch {
    return undefined;
  }
  const x = m as Partial<BackupManifest> | null;
  if (!x || x.format !== MANIFEST_FORMAT || typeof x.created_ms !== 'number' || typeof x.sha256 !== 'string' || typeof x.file !== 'string') return undefined;
  return x as BackupManifest;
}

/** Whole backups in `dir` (named sessiongate-<time>, with a valid manifest), oldest first. */
export function listBackups(dir: string): BackupEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: BackupEntry[] = [];
  for (const name of names) {
    if (!NAME_RE.test(name)) continue;
    const path = join(dir, name);
    const manifest = readManifest(path);
    if (manifest) out.push({ name, path, manifest });
  }
  return out.sort((a, b) => a.manifest.created_ms - b.manifest.created_ms || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Keeps the newest `keep` whole backups in `dir` and removes the rest, never `protect` (the
 * backup just made). Also removes `.partial` directories older than STALE_PARTIAL_MS (a crash's
 * leftovers; a younger one may be another process's backup in progress). Returns removed paths.
 */
export function rotateBackups(dir: string, keep: number, opts: { logger: Logger; protect?: string }): string[] {
  const removed: string[] = [];
  const all = listBackups(dir).filter((b) => b.path !== opts.protect);
  const excess = all.length + (opts.protect ? 1 : 0) - keep;
  for (const b of all.slice(0, Math.max(0, excess))) {
    try {
      rmSync(b.path, { recursive: true, force: true });
      removed.push(b.path);
    } catch (e) {
      opts.logger.warn({ backup: b.path, err: (e as Error).message }, 'could not remove an old backup');
    }
  }
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    /* the directory went away: nothing to clean */
  }
  for (const name of names) {
    if (!PARTIAL_RE.test(name)) continue;
    const path = join(dir, name);
    try {
      // File times come from the system clock: compared with it, not with an injected one.
      if (Date.now() - statSync(path).mtimeMs > STALE_PARTIAL_MS) {
        rmSync(path, { recursive: true, force: true });
        opts.logger.warn({ path }, 'removed an unfinished backup left by an earlier run');
      }
    } catch {
      /* gone meanwhile */
    }
  }
  return removed;
}

/** What the copy says about itself (opening it is the proof it is a usable store) and, with
 * `refs`, the recordings its session.end events name. */
async function readCopy(file: string, refs: boolean): Promise<{ facts: { schema_version: number; last_batch: number | null; counts: Record<string, number> }; refs: FullRecordingRef[] }> {
  let root: RootDatabase<unknown, string> | undefined;
  try {
    root = open<unknown, string>(rootOptions(file, true, undefined) as Parameters<typeof open>[0] & { path: string });
    const meta = root.openDB<unknown, string>({ name: 'meta', ...DB_OPTIONS });
    if (!meta) throw new Error('the copy has no meta database');
    const v = meta.get('schema_version');
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`the copy has no valid schema_version (${JSON.stringify(v)})`);
    const lb = meta.get('batch:last');
    const counts: Record<string, number> = {};
    for (const { key, value } of meta.getRange({ start: 'count:', end: 'count;' })) if (typeof value === 'number') counts[key.slice(6)] = value;
    const out: FullRecordingRef[] = [];
    const sessions = refs ? root.openDB<unknown, string>({ name: 'sessions', ...DB_OPTIONS }) : undefined;
    for (const { key, value } of sessions?.getRange({}) ?? []) {
      try {
        const ev = fromStored('sessions', String(key), value);
        if (ev.type === 'session.end') out.push(...recordingRefs(ev));
      } catch {
        /* a row that does not decode names no recording we could check */
      }
    }
    return { facts: { schema_version: v, last_batch: typeof lb === 'number' ? lb : null, counts }, refs: out };
  } finally {
    await root?.close();
  }
}

/** Copies `src` to `dst` (0600) and fsyncs it; with `hash`, its size and SHA-256 as read. */
async function copyOut(src: string, dst: string, hash: boolean): Promise<{ size: number; sha256?: string }> {
  await copyFile(src, dst);
  chmodSync(dst, 0o600);
  await fsyncPath(dst);
  // Hashing the copy (not the source) proves what the backup holds.
  return hash ? hashFile(dst) : { size: statSync(dst).size };
}

/**
 * Copies the recordings `refs` name from `from` into `to` (same relative paths, directories
 * 0700): the `.cast` (checked against its reference) and its `.idx` / `.snap` when present.
 */
async function copyRecordings(refs: FullRecordingRef[], from: string, to: string): Promise<BackupRecordings> {
  const r: BackupRecordings = { dir: 'recordings', referenced: refs.length, copied: 0, bytes: 0, missing: 0, mismatched: 0, problems: [] };
  const problem = (p: BackupRecordings['problems'][number]) => r.problems.length < MAX_LISTED && r.problems.push(p);
  const dirs = new Set<string>();
  for (const ref of refs) {
    const src = resolveRecording(from, ref.path);
    const dst = resolveRecording(to, ref.path);
    if (!src || !dst) {
      r.missing++;
      problem({ id: ref.id, path: String(ref.path).slice(0, 300), problem: 'bad_path' });
      continue;
    }
    if (!existsSync(src)) {
      r.missing++;
      problem({ id: ref.id, path: ref.path, problem: 'missing' });
      continue;
    }
    await mkdir(dirname(dst), { recursive: true, mode: 0o700 });
    for (let d = dirname(dst); d.startsWith(to) && !dirs.has(d); d = dirname(d)) dirs.add(d);
    const got = await copyOut(src, dst, true);
    r.copied++;
    r.bytes += got.size;
    if (got.size !== ref.size || got.sha256 !== ref.sha256) {
      r.mismatched++;
      problem({ id: ref.id, path: ref.path, problem: 'mismatched', detail: `${got.size} bytes, SHA-256 ${got.sha256}; session.end recorded ${ref.size} bytes, ${ref.sha256}` });
    }
    const [, idx, snap] = recordingFiles(src);
    const [, idxDst, snapDst] = recordingFiles(dst);
    for (const [a, b] of [[idx, idxDst], [snap, snapDst]] as const) if (existsSync(a)) r.bytes += (await copyOut(a, b, false)).size;
  }
  for (const d of dirs) {
    chmodSync(d, 0o700);
    await fsyncPath(d);
  }
  return r;
}

/**
 * Takes backups of one store into one directory. `run()` makes one (one at a time per
 * instance); `close()` waits for a backup in progress and refuses new ones.
 */
export class StoreBackup {
  readonly dir: string;
  readonly storeDir: string;
  readonly recordingsDir: string;
  readonly keep: number;
  readonly compact: boolean;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private running: Promise<BackupResult> | undefined;
  private closed = false;

  constructor(opts: BackupOptions) {
    const p = optionsSchema.safeParse(opts);
    if (!p.success) throw new SgError('SG_ERR_CONFIG_INVALID', `invalid backup options: ${p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    this.dir = resolve(p.data.dir);
    this.storeDir = resolve(p.data.dataDir, 'store');
    this.recordingsDir = resolve(p.data.dataDir, 'recordings');
    this.keep = p.data.keep;
    this.compact = p.data.compact ?? true;
    this.clock = opts.clock;
    this.logger = opts.logger;
    if (isInside(canonical(this.dir), canonical(p.data.dataDir))) throw badDir(this.dir, `is inside data_dir (${resolve(p.data.dataDir)}): a backup inside the data it copies is lost with it`);
  }

  /** True while a backup is being taken. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /**
   * Takes one backup, then rotates. Rejects with SG_ERR_BAD_PARAM (bad dir),
   * SG_ERR_STORE_OPEN (no store to copy), SG_ERR_STORE_WRITE (copy failed; details.reason
   * `disk_full` or `backup_failed`), SG_ERR_CONFLICT (one is already running here),
   * SG_ERR_STORE_UNAVAILABLE (closed).
   */
  run(): Promise<BackupResult> {
    if (this.closed) return Promise.reject(new SgError('SG_ERR_STORE_UNAVAILABLE', 'backup is closed'));
    if (this.running) return Promise.reject(new SgError('SG_ERR_CONFLICT', 'a backup is already running'));
    const p = this.take().finally(() => {
      this.running = undefined;
    });
    this.running = p;
    return p;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.running?.catch(() => undefined);
  }

  private prepareDir(): void {
    const dir = this.dir;
    try {
      const st = statSync(dir);
      if (!st.isDirectory()) throw badDir(dir, 'exists and is not a directory');
    } catch (e) {
      if (e instanceof SgError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') throw badDir(dir, 'a part of its path is not a directory', e);
      if (code !== 'ENOENT') throw badDir(dir, `cannot be read (${code ?? (e as Error).message})`, e);
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
      } catch (e2) {
        throw badDir(dir, `cannot be created (${(e2 as NodeJS.ErrnoException).code ?? (e2 as Error).message})`, e2);
      }
    }
  }

  private async take(): Promise<BackupResult> {
    const source = join(this.storeDir, ENV_FILE);
    if (!existsSync(source)) throw new SgError('SG_ERR_STORE_OPEN', `no store at ${this.storeDir} to back up`);
    this.prepareDir();
    const started = this.clock.now();
    const t0 = performance.now();
    const partial = join(this.dir, `.${backupName(started)}-${process.pid}-${randomBytes(4).toString('hex')}.partial`);
    try {
      mkdirSync(partial, { mode: 0o700 });
    } catch (e) {
      throw badDir(this.dir, `is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, e);
    }
    let src: RootDatabase<unknown, string> | undefined;
    try {
      chmodSync(partial, 0o700);
      const file = join(partial, ENV_FILE);
      try {
        // Read-only handle: in the gateway's own process lmdb-js shares the open environment
        // (reference counted), in another process it opens the files next to the writer.
        src = open<unknown, string>(rootOptions(source, true, undefined) as Parameters<typeof open>[0] & { path: string });
      } catch (e) {
        throw new SgError('SG_ERR_STORE_OPEN', `cannot open the store at ${this.storeDir}: ${(e as Error).message}`, { cause: e });
      }
      let compact = this.compact;
      try {
        await src.backup(file, compact);
      } catch (e) {
        if (!compact || isDiskFull(e)) throw e;
        // LMDB refuses a compacting copy of an environment with a page leak: a plain copy still works.
        this.logger.warn({ err: (e as Error).message }, 'compacting backup failed; taking a plain copy');
        rmSync(file, { force: true });
        compact = false;
        await src.backup(file, false);
      }
      await src.close();
      src = undefined;
      chmodSync(file, 0o600);
      const { facts, refs } = await readCopy(file, true);
      // Opening the copy made a lock file: LMDB recreates it at need, it is not part of a backup.
      rmSync(join(partial, LOCK_FILE), { force: true });
      // The recordings the copy names: closed before the snapshot, so they no longer change.
      const recordings = await copyRecordings(refs, this.recordingsDir, join(partial, 'recordings'));
      if (recordings.missing || recordings.mismatched) this.logger.warn({ missing: recordings.missing, mismatched: recordings.mismatched, problems: recordings.problems.slice(0, 5) }, 'backup: some recordings the store names are missing or do not match their SHA-256 (run sessiongate verify)');
      const name = this.finalName(started);
      const manifest: BackupManifest = {
        format: MANIFEST_FORMAT,
        format_version: 1,
        name,
        created: new Date(started).toISOString(),
        created_ms: started,
        duration_ms: 0,
        source: this.storeDir,
        compact,
        ...facts,
        file: ENV_FILE,
        size: statSync(file).size,
        sha256: await sha256File(file),
        recordings,
      };
      manifest.duration_ms = Math.round(performance.now() - t0);
      writeFileSync(join(partial, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
      await fsyncPath(file);
      await fsyncPath(join(partial, MANIFEST_FILE));
      await fsyncPath(partial);
      const path = join(this.dir, name);
      renameSync(partial, path);
      await fsyncPath(this.dir);
      const removed = rotateBackups(this.dir, this.keep, { logger: this.logger, protect: path });
      this.logger.info({ backup: path, size: manifest.size, last_batch: manifest.last_batch, ms: manifest.duration_ms, removed: removed.length }, 'store backup written');
      return { path, manifest, removed };
    } catch (e) {
      await src?.close().catch(() => undefined);
      rmSync(partial, { recursive: true, force: true });
      if (e instanceof SgError) throw e;
      const reason = isDiskFull(e) ? 'disk_full' : 'backup_failed';
      throw new SgError('SG_ERR_STORE_WRITE', `store backup into ${this.dir} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e, details: { reason, dir: this.dir } });
    }
  }

  /** sessiongate-<time>, with -2, -3... when that name is taken (two backups in one ms). */
  private finalName(ms: number): string {
    const base = backupName(ms);
    if (!existsSync(join(this.dir, base))) return base;
    for (let i = 2; i < 10_000; i++) if (!existsSync(join(this.dir, `${base}-${i}`))) return `${base}-${i}`;
    throw badDir(this.dir, `too many backups named ${base}`);
  }
}

/** The recordings counts of a backup, for its activity record. */
export function recordingsDetails(m: BackupManifest): Record<string, number> {
  const r = m.recordings;
  return r ? { recordings: r.copied, recording_bytes: r.bytes, recordings_missing: r.missing, recordings_mismatched: r.mismatched } : {};
}

export interface RestoreOptions {
  /** A whole backup: `sessiongate-<time>/` with its manifest. */
  backupDir: string;
  /** The data_dir to restore into: `store/data.mdb` and `recordings/`. */
  dataDir: string;
  /** Replace an existing store, and recordings whose content differs from the backup's. */
  force?: boolean;
  logger: Logger;
}

export interface RestoreResult {
  store: { path: string; size: number; sha256: string };
  recordings: {
    /** `.cast` files written (with their side files), and bytes. */
    restored: number;
    bytes: number;
    /** Already there with the same SHA-256. */
    identical: number;
    /** There with other content and not replaced (no `force`). */
    kept: string[];
    /** Named by the backup's store but not in the backup. */
    missing: number;
  };
}

/**
 * Puts a backup back: `data.mdb` (checked against the manifest's SHA-256) into `dataDir/store/`
 * and the recordings into `dataDir/recordings/`, each file written under a temporary name and
 * renamed. The gateway must be stopped (a running one keeps its own store open). Refuses an
 * existing store without `force` (SG_ERR_CONFLICT), and a backup whose data file does not match
 * its manifest (SG_ERR_BAD_PARAM).
 */
export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const manifest = readManifest(opts.backupDir);
  if (!manifest) throw new SgError('SG_ERR_BAD_PARAM', `${opts.backupDir} is not a backup (no valid ${MANIFEST_FILE})`, { details: { param: 'backup' } });
  const data = join(opts.backupDir, manifest.file);
  const got = existsSync(data) ? await hashFile(data) : undefined;
  if (!got || got.sha256 !== manifest.sha256 || got.size !== manifest.size) {
    throw new SgError('SG_ERR_BAD_PARAM', `backup ${opts.backupDir}: ${manifest.file} ${got ? `has SHA-256 ${got.sha256} (${got.size} bytes)` : 'is missing'}, its manifest says ${manifest.sha256} (${manifest.size} bytes)`, { details: { param: 'backup' } });
  }
  const storeDir = join(opts.dataDir, 'store');
  const target = join(storeDir, ENV_FILE);
  if (existsSync(target) && !opts.force) throw new SgError('SG_ERR_CONFLICT', `${target} exists: stop the gateway and restore with force to replace it`);
  await mkdir(storeDir, { recursive: true, mode: 0o700 });
  const tmp = join(storeDir, `.${ENV_FILE}.restore-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await copyOut(data, tmp, false);
    await rename(tmp, target);
  } finally {
    await rm(tmp, { force: true });
  }
  await fsyncPath(storeDir);
  // The recordings the restored store names (read there: the backup may be read-only). A lock
  // file belongs to the environment it was made for: the gateway makes its own.
  await rm(join(storeDir, LOCK_FILE), { force: true });
  const { refs } = await readCopy(target, true);
  await rm(join(storeDir, LOCK_FILE), { force: true });
  const from = join(opts.backupDir, 'recordings');
  const to = join(opts.dataDir, 'recordings');
  const rec: RestoreResult['recordings'] = { restored: 0, bytes: 0, identical: 0, kept: [], missing: 0 };
  for (const ref of refs) {
    const src = resolveRecording(from, ref.path);
    const dst = resolveRecording(to, ref.path);
    if (!src || !dst || !existsSync(src)) {
      rec.missing++;
      continue;
    }
    if (existsSync(dst)) {
      const have = await hashFile(dst);
      if (have.sha256 === ref.sha256 && have.size === ref.size) {
        rec.identical++;
        continue;
      }
      if (!opts.force) {
        if (rec.kept.length < MAX_LISTED) rec.kept.push(ref.path);
        continue;
      }
    }
    await mkdir(dirname(dst), { recursive: true, mode: 0o700 });
    for (const [a, b] of recordingFiles(src).map((f, i) => [f, recordingFiles(dst)[i]!] as const)) {
      if (!existsSync(a)) continue;
      const t = `${b}.restore-${randomBytes(4).toString('hex')}`;
      try {
        rec.bytes += (await copyOut(a, t, false)).size;
        await rename(t, b);
      } finally {
        await rm(t, { force: true });
      }
    }
    rec.restored++;
  }
  opts.logger.info({ backup: opts.backupDir, store: target, ...rec, kept: rec.kept.length }, 'backup restored');
  return { store: { path: target, size: got.size, sha256: got.sha256 }, recordings: rec };
}

/** What the scheduler reports for the activity log (the app stores it as an `activity` event). */
export type BackupActivity = Omit<ActivityEvent, 'id' | 'ts' | 'type'>;

export interface BackupSchedulerOptions extends BackupOptions {
  /** Time between backups (ms, >= 1 s). */
  interval: number;
  /** Earliest first backup after start() (default 60 s: not in the middle of start-up). The first
   * one is otherwise due one interval after the newest backup already in `dir`. */
  firstDelayMs?: number;
  /** After a failed backup, the next try comes after min(interval, this) (default 1 h). */
  retryMs?: number;
  /** Called after each scheduled backup, success or failure. */
  onActivity?: (a: BackupActivity) => void;
}

export interface BackupSchedulerStatus {
  /** ms of the next scheduled backup (undefined when stopped). */
  next?: number;
  last_success?: { at: number; path: string; size: number; last_batch: number | null };
  last_error?: { at: number; code: string; message: string };
}

const schedulerSchema = z.object({
  interval: z.number().int().min(1000),
  firstDelayMs: z.number().int().nonnegative().optional(),
  retryMs: z.number().int().min(1000).optional(),
  onActivity: z.custom<(a: BackupActivity) => void>((v) => typeof v === 'function', 'a function').optional(),
});

/** Largest delay setTimeout takes; longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Scheduled backups (`backup.dir` + `backup.interval`): start() arms the timer, close() stops it and waits for a backup in progress. */
export class BackupScheduler {
  private readonly backup: StoreBackup;
  private readonly interval: number;
  private readonly firstDelayMs: number;
  private readonly retryMs: number;
  private readonly onActivity: ((a: BackupActivity) => void) | undefined;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private timer: NodeJS.Timeout | undefined;
  private due: number | undefined;
  private stopped = false;
  private readonly state: BackupSchedulerStatus = {};

  constructor(opts: BackupSchedulerOptions) {
    const p = schedulerSchema.safeParse(opts);
    if (!p.success) throw new SgError('SG_ERR_CONFIG_INVALID', `invalid backup schedule: ${p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    this.backup = new StoreBackup(opts);
    this.interval = p.data.interval;
    this.firstDelayMs = p.data.firstDelayMs ?? 60_000;
    this.retryMs = p.data.retryMs ?? 3_600_000;
    this.onActivity = opts.onActivity;
    this.clock = opts.clock;
    this.logger = opts.logger;
  }

  start(): void {
    if (this.stopped) throw new SgError('SG_ERR_STORE_UNAVAILABLE', 'backup scheduler is closed');
    if (this.due !== undefined) return;
    const now = this.clock.now();
    let newest: number | undefined;
    try {
      newest = listBackups(this.backup.dir).at(-1)?.manifest.created_ms;
    } catch (e) {
      this.logger.warn({ dir: this.backup.dir, err: (e as Error).message }, 'cannot list existing backups');
    }
    const first = Math.max(now + this.firstDelayMs, newest !== undefined ? newest + this.interval : 0);
    this.arm(first);
    this.logger.info({ dir: this.backup.dir, interval_ms: this.interval, first: new Date(first).toISOString() }, 'scheduled backups on');
  }

  status(): BackupSchedulerStatus {
    return { ...this.state, ...(this.due !== undefined ? { next: this.due } : {}) };
  }

  /** Stops the schedule; waits for a backup in progress (an LMDB copy cannot be interrupted). */
  async close(): Promise<void> {
    this.stopped = true;
    this.due = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.backup.close();
  }

  private arm(at: number): void {
    if (this.stopped) return;
    this.due = at;
    const wait = Math.min(Math.max(0, at - this.clock.now()), MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.clock.now() < at) this.arm(at);
      else void this.fire();
    }, wait);
    this.timer.unref();
  }

  private async fire(): Promise<void> {
    const started = this.clock.now();
    let ok = false;
    try {
      const r = await this.backup.run();
      ok = true;
      this.state.last_success = { at: r.manifest.created_ms, path: r.path, size: r.manifest.size, last_batch: r.manifest.last_batch };
      this.report({
        initiator: 'system',
        action: 'backup',
        description: `store backed up to ${r.path} (${r.manifest.size} bytes${r.manifest.last_batch !== null ? `, through batch ${r.manifest.last_batch}` : ''})`,
        targets: [{ kind: 'backup', id: r.path }],
        details: { ok: true, scheduled: true, name: r.manifest.name, size: r.manifest.size, sha256: r.manifest.sha256, schema_version: r.manifest.schema_version, last_batch: r.manifest.last_batch, compact: r.manifest.compact, duration_ms: r.manifest.duration_ms, removed: r.removed.length, ...recordingsDetails(r.manifest) },
      });
    } catch (e) {
      const err = e instanceof SgError ? e : new SgError('SG_ERR_INTERNAL', (e as Error)?.message ?? String(e), { cause: e });
      if (this.stopped && err.code === 'SG_ERR_STORE_UNAVAILABLE') return;
      this.state.last_error = { at: started, code: err.code, message: err.message };
      this.logger.error({ dir: this.backup.dir, code: err.code, err: err.message }, 'scheduled store backup failed');
      this.report({
        initiator: 'system',
        action: 'backup',
        description: `scheduled store backup into ${this.backup.dir} failed: ${err.message}`,
        targets: [{ kind: 'backup', id: this.backup.dir }],
        details: { ok: false, scheduled: true, code: err.code, ...(err.details?.reason ? { reason: err.details.reason } : {}) },
      });
    }
    this.arm(started + (ok ? this.interval : Math.min(this.interval, this.retryMs)));
  }

  private report(a: BackupActivity): void {
    try {
      this.onActivity?.(a);
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'backup activity callback failed');
    }
  }
}
