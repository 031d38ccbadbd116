// Hot backups of the store (recorder/backup.ts, `sessiongate backup`): a copy taken while a
// Recorder keeps writing opens, carries the schema version and holds every event committed
// before it started (in-process and from another process); files 0600 in 0700 dirs; manifest
// hash; rotation keeps `keep`; bad DIR, no store and a second concurrent run are clear errors;
// scheduled backups report success and failure as activity.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Recorder } from '../recorder/recorder.js';
import { Store, SCHEMA_VERSION } from '../recorder/store/store.js';
import type { ActivityEvent, SgEvent } from '../recorder/events.js';
import { BackupScheduler, MANIFEST_FILE, StoreBackup, listBackups, readManifest, rotateBackups, type BackupActivity, type BackupManifest } from '../recorder/backup.js';
import { systemClock } from '../gateway/core/runtime.js';
import { runCli } from '../viewer/server/test-harness.js';
import { audit, httpInput, oneOfEach, silentLogger } from './fixtures/recorder-helpers.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'sessiongate.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mode = (p: string) => statSync(p).mode & 0o777;

/** A Recorder that keeps emitting until stopped, and the ids it has seen committed. */
async function busyRecorder(t: Test, dataDir: string) {
  const rec = await Recorder.open({ dataDir, audit: audit({ flush_interval: 5, batch_max: 500 }), clock: systemClock, logger: silentLogger() });
  const committed = new Set<string>();
  rec.subscribe((evs: readonly SgEvent[]) => {
    for (const e of evs) committed.add(e.id);
  });
  let i = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      for (let k = 0; k < 200; k++) rec.emit(i % 50 === 0 ? oneOfEach(i)[(i / 50) % 8]! : httpInput(i, { url: `https://panel.example.com/p/${i}?pad=${'x'.repeat(300)}` })), i++;
      await sleep(2);
    }
  })();
  const stop = async () => {
    if (!running) return;
    running = false;
    await loop;
    await rec.close();
  };
  t.teardown(stop);
  // Some data first, so the copy has real pages to walk.
  while (committed.size < 5_000) await sleep(20);
  return { rec, committed, stop };
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Opens a backup as a store and checks it holds every id in `ids`. */
async function assertHolds(t: Test, backupPath: string, ids: Iterable<string>, m: BackupManifest): Promise<void> {
  const store = Store.open({ dir: backupPath, logger: silentLogger(), readOnly: true });
  try {
    let missing = 0;
    let n = 0;
    for (const id of ids) {
      n++;
      if (store.getEvent(id) === undefined) missing++;
    }
    t.ok(n > 0, `checked ${n} committed ids`);
    t.equal(missing, 0, 'every event committed before the backup started is in the copy');
    const counts = store.countByType();
    t.equal(counts['http.request'], m.counts['http.request'], 'the manifest counts are the copy\'s own');
  } finally {
    await store.close();
  }
}

function checkFiles(t: Test, r: { path: string; manifest: BackupManifest }): void {
  t.equal(mode(r.path), 0o700, 'backup dir 0700');
  t.same(readdirSync(r.path).sort(), ['data.mdb', MANIFEST_FILE], 'data file and manifest only (no lock file)');
  t.equal(mode(join(r.path, 'data.mdb')), 0o600, 'data file 0600');
  t.equal(mode(join(r.path, MANIFEST_FILE)), 0o600, 'manifest 0600');
  t.same(readManifest(r.path), r.manifest, 'manifest on disk = manifest returned');
  t.equal(r.manifest.size, statSync(join(r.path, 'data.mdb')).size, 'size');
  t.equal(r.manifest.schema_version, SCHEMA_VERSION, 'schema version read back from the copy');
}

t.test('a backup taken while a Recorder writes is a consistent store holding every committed event', async (t) => {
  const dir = t.testdir();
  const dataDir = join(dir, 'data');
  const { rec, committed, stop } = await busyRecorder(t, dataDir);
  const backup = new StoreBackup({ dataDir, dir: join(dir, 'backups'), keep: 3, clock: systemClock, logger: silentLogger() });
  t.teardown(() => backup.close());

  const before = [...committed];
  const r = await backup.run();
  const after = committed.size;
  checkFiles(t, r);
  t.equal(r.manifest.compact, true, 'compacting copy by default');
  t.equal(r.manifest.sha256, await sha256(join(r.path, 'data.mdb')), 'manifest SHA-256 matches data.mdb');
  t.match(r.manifest.name, /^sessiongate-\d{8}T\d{6}\.\d{3}Z$/);
  t.equal(mode(join(dir, 'backups')), 0o700, 'a DIR it creates is 0700');
  await assertHolds(t, r.path, before, r.manifest);
  t.ok(r.manifest.counts['http.request']! >= before.length - 200, 'the copy counts at least what was committed before it');

  // The gateway's store is unaffected: it keeps committing after the copy.
  while (committed.size < after + 2_000) await sleep(20);
  t.ok(rec.stats().writable, 'the recorder stays writable');
  await stop();
  t.equal(rec.stats().lost, 0, 'nothing lost while backing up');

  // A plain (non-compacting) copy of the same store opens too.
  const plain = new StoreBackup({ dataDir, dir: join(dir, 'backups'), keep: 3, compact: false, clock: systemClock, logger: silentLogger() });
  const p = await plain.run();
  await plain.close();
  t.equal(p.manifest.compact, false);
  await assertHolds(t, p.path, committed, p.manifest);
});

t.test('`sessiongate backup` from another process while the Recorder writes', async (t) => {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'commands', 'backup.js'))) throw new Error('dist/cli/commands/backup.js is missing: run "npm run build" (npm test does it first)');
  const dir = t.testdir();
  const dataDir = join(dir, 'data');
  const config = join(dir, 'sessiongate.yaml');
  writeFileSync(config, `data_dir: ./data\nbackup:\n  dir: ./backups\n  keep: 2\n`);
  const { committed, stop } = await busyRecorder(t, dataDir);
  const before = [...committed];
  const child = spawn(process.execPath, [CLI, 'backup', '--config', config, '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  t.equal(code, 0, `exit 0 (stderr: ${err})`);
  const printed = JSON.parse(out) as { path: string; manifest: BackupManifest; removed: string[] };
  t.equal(printed.path, join(dir, 'backups', printed.manifest.name), 'backup.dir of the config is the default DIR');
  checkFiles(t, printed);
  await assertHolds(t, printed.path, before, printed.manifest);
  await stop();
  // The CLI recorded what it did, as the operator running it.
  const store = Store.open({ dir: join(dataDir, 'store'), logger: silentLogger(), readOnly: true });
  t.teardown(() => store.close());
  const acts = [...store.iterateAll()].filter((e): e is ActivityEvent => e.type === 'activity' && e.action === 'backup');
  t.equal(acts.length, 1, 'one backup activity');
  t.equal(acts[0]!.initiator, 'cli');
  t.same(acts[0]!.targets, [{ kind: 'backup', id: printed.path }]);
  t.equal(acts[0]!.details?.sha256, printed.manifest.sha256);
});

t.test('rotation keeps the newest `keep` whole backups and nothing else is touched', async (t) => {
  const dir = t.testdir();
  const dataDir = join(dir, 'data');
  const store = Store.open({ dir: join(dataDir, 'store'), logger: silentLogger() });
  await store.close();
  const bdir = join(dir, 'backups');
  mkdirSync(bdir);
  mkdirSync(join(bdir, 'keep-me'));
  mkdirSync(join(bdir, 'sessiongate-20000101T000000.000Z')); // looks like one, no manifest: not a backup
  mkdirSync(join(bdir, '.sessiongate-old.partial'));
  const old = Date.now() / 1000 - 2 * 86_400;
  utimesSync(join(bdir, '.sessiongate-old.partial'), old, old);
  mkdirSync(join(bdir, '.sessiongate-young.partial')); // may be another process's backup in progress

  let now = Date.UTC(2025, 0, 1);
  const clock = { now: () => (now += 1000) };
  const backup = new StoreBackup({ dataDir, dir: bdir, keep: 2, clock, logger: silentLogger() });
  t.teardown(() => backup.close());
  const made = [];
  for (let i = 0; i < 4; i++) made.push(await backup.run());
  t.same(made[2]!.removed, [made[0]!.path], 'the third removes the oldest');
  t.same(made[3]!.removed, [made[1]!.path]);
  t.same(listBackups(bdir).map((b) => b.path), [made[2]!.path, made[3]!.path], 'the newest two remain, oldest first');
  t.ok(existsSync(join(bdir, 'keep-me')), 'other directories are left alone');
  t.ok(existsSync(join(bdir, 'sessiongate-20000101T000000.000Z')), 'a look-alike without a manifest is left alone');
  t.notOk(existsSync(join(bdir, '.sessiongate-old.partial')), 'a stale unfinished backup is cleaned up');
  t.ok(existsSync(join(bdir, '.sessiongate-young.partial')), 'a recent one is not');

  // Same-ms names do not collide.
  now += 60_000;
  const frozen = new StoreBackup({ dataDir, dir: bdir, keep: 10, clock: { now: () => now }, logger: silentLogger() });
  const a = await frozen.run();
  const b = await frozen.run();
  await frozen.close();
  t.equal(b.manifest.name, `${a.manifest.name}-2`);
  t.same(rotateBackups(bdir, 1, { logger: silentLogger(), protect: b.path }).length, 3, 'rotateBackups on its own keeps the protected one');
  t.same(listBackups(bdir).map((x) => x.path), [b.path]);
});

t.test('bad DIR, no store, a run already going, closed: clear errors, nothing left behind', async (t) => {
  const dir = t.testdir({ afile: 'x' });
  const dataDir = join(dir, 'data');
  const store = Store.open({ dir: join(dataDir, 'store'), logger: silentLogger() });
  await store.close();
  const mk = (d: string, over: { dataDir?: string } = {}) => new StoreBackup({ dataDir: over.dataDir ?? dataDir, dir: d, keep: 1, clock: systemClock, logger: silentLogger() });

  await t.rejects(mk(join(dir, 'afile')).run(), { code: 'SG_ERR_BAD_PARAM', message: /is not a directory/ }, 'DIR is a file');
  await t.rejects(mk(join(dir, 'afile', 'sub')).run(), { code: 'SG_ERR_BAD_PARAM', message: /part of its path is not a directory/ }, 'DIR under a file');
  t.throws(() => mk(join(dataDir, 'backups')), { code: 'SG_ERR_BAD_PARAM', message: /inside data_dir/ }, 'DIR inside data_dir');
  t.throws(() => mk(dataDir), { code: 'SG_ERR_BAD_PARAM' }, 'DIR = data_dir');
  t.throws(() => new StoreBackup({ dataDir, dir: join(dir, 'b'), keep: 0, clock: systemClock, logger: silentLogger() }), { code: 'SG_ERR_CONFIG_INVALID' });
  await t.rejects(mk(join(dir, 'b2'), { dataDir: join(dir, 'nodata') }).run(), { code: 'SG_ERR_STORE_OPEN', message: /no store/ }, 'no store to copy');
  t.notOk(existsSync(join(dir, 'nodata')), 'no store was created by trying');

  const b = mk(join(dir, 'b3'));
  const first = b.run();
  await t.rejects(b.run(), { code: 'SG_ERR_CONFLICT' }, 'one at a time');
  await first;
  await b.close();
  await t.rejects(b.run(), { code: 'SG_ERR_STORE_UNAVAILABLE' }, 'closed');
  t.same(readdirSync(join(dir, 'b3')).filter((n) => n.endsWith('.partial')), [], 'no partial left');

  // The CLI says the same, with exit codes.
  const cfg = join(dir, 'sg.yaml');
  writeFileSync(cfg, 'data_dir: ./data\n');
  let r = await runCli(['backup', join(dir, 'afile'), '--config', cfg]);
  t.equal(r.code, 1);
  t.match(r.err, /SG_ERR_BAD_PARAM: backup directory .*afile: exists and is not a directory/);
  r = await runCli(['backup', '--config', cfg]);
  t.equal(r.code, 2, 'no DIR and no backup.dir');
  t.match(r.err, /no DIR given/);
  r = await runCli(['backup', join(dir, 'c'), '--config', cfg, '--keep', '0']);
  t.equal(r.code, 2);
  r = await runCli(['backup', join(dir, 'c'), '--config', cfg, '--bogus']);
  t.equal(r.code, 2);
  r = await runCli(['backup', '--help']);
  t.equal(r.code, 0);
  t.match(r.out, /usage: sessiongate backup/);
  r = await runCli(['backup', join(dir, 'c'), '--config', cfg, '--no-compact', '--keep', '3']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /backup written: .*sessiongate-.*\n  size .* plain copy/);
});

t.test('scheduled backups: on time, reported as activity, failures too, close() stops them', async (t) => {
  const dir = t.testdir();
  const dataDir = join(dir, 'data');
  const store = Store.open({ dir: join(dataDir, 'store'), logger: silentLogger() });
  await store.close();
  const acts: BackupActivity[] = [];
  const s = new BackupScheduler({ dataDir, dir: join(dir, 'b'), keep: 2, interval: 1000, firstDelayMs: 0, clock: systemClock, logger: silentLogger(), onActivity: (a) => acts.push(a) });
  t.teardown(() => s.close());
  t.throws(() => new BackupScheduler({ dataDir, dir: join(dir, 'b'), keep: 2, interval: 10, clock: systemClock, logger: silentLogger() }), { code: 'SG_ERR_CONFIG_INVALID' });
  s.start();
  t.ok(s.status().next !== undefined, 'next backup scheduled');
  for (let i = 0; i < 200 && acts.length < 3; i++) await sleep(50);
  t.ok(acts.length >= 3, `three scheduled backups (${acts.length})`);
  for (const a of acts) {
    t.equal(a.initiator, 'system');
    t.equal(a.action, 'backup');
    t.equal(a.details?.ok, true);
  }
  t.equal(listBackups(join(dir, 'b')).length, 2, 'rotation applies to scheduled backups');
  t.ok(s.status().last_success, 'status has the last success');
  await s.close();
  const n = acts.length;
  await sleep(1500);
  t.equal(acts.length, n, 'no backup after close()');
  t.equal(s.status().next, undefined);

  // A new scheduler over the same DIR waits an interval after the newest backup.
  const later = new BackupScheduler({ dataDir, dir: join(dir, 'b'), keep: 2, interval: 3_600_000, firstDelayMs: 0, clock: systemClock, logger: silentLogger() });
  later.start();
  t.ok(later.status().next! > Date.now() + 3_500_000, 'first backup one interval after the newest one');
  await later.close();

  // A failing one (its store is gone) reports the failure and stays scheduled.
  const failed: BackupActivity[] = [];
  const bad = new BackupScheduler({ dataDir: join(dir, 'gone'), dir: join(dir, 'b2'), keep: 1, interval: 1000, firstDelayMs: 0, retryMs: 1000, clock: systemClock, logger: silentLogger(), onActivity: (a) => failed.push(a) });
  t.teardown(() => bad.close());
  bad.start();
  for (let i = 0; i < 100 && failed.length < 1; i++) await sleep(50);
  t.equal(failed[0]?.details?.ok, false, 'failure reported');
  t.equal(failed[0]?.details?.code, 'SG_ERR_STORE_OPEN');
  t.match(failed[0]?.description ?? '', /failed/);
  t.equal(bad.status().last_error?.code, 'SG_ERR_STORE_OPEN');
  t.ok(bad.status().next !== undefined, 'still scheduled after a failure');
});

t.test('config: backup.compact defaults on, interval needs dir and is at least a minute', async (t) => {
  const { parseConfigText } = await import('../config/loader.js');
  const dir = t.testdir();
  const ok = parseConfigText('backup:\n  dir: ./b\n  interval: 12h\n', undefined, { dir });
  t.equal(ok.config.backup.compact, true);
  t.equal(ok.config.backup.interval, 12 * 3_600_000);
  t.equal(ok.config.backup.keep, 7);
  const issue = (text: string) => {
    try {
      parseConfigText(text, undefined, { dir });
    } catch (e) {
      return (e as { issues: { key: string; line?: number; message: string }[] }).issues[0];
    }
    return undefined;
  };
  t.match(issue('backup:\n  interval: 1h\n'), { key: 'backup.interval', line: 2, message: /need backup\.dir/ });
  t.match(issue('backup:\n  dir: ./b\n  interval: 10s\n'), { key: 'backup.interval', line: 3, message: /at least 1m/ });
});

t.test('failure injection: a refused compacting copy falls back to a plain one; a full disk is SG_ERR_STORE_WRITE and leaves nothing', async (t) => {
  const lmdb = await import('lmdb');
  let fail: ((compact: boolean) => Error | undefined) | undefined;
  const fired: boolean[] = [];
  const { StoreBackup: MockedBackup } = await t.mockImport<typeof import('../recorder/backup.js')>('../recorder/backup.js', {
    lmdb: {
      ...lmdb,
      open: (...args: Parameters<typeof lmdb.open>) => {
        const root = lmdb.open(...args);
        const real = root.backup.bind(root);
        root.backup = async (path: string, compact: boolean) => {
          const e = fail?.(compact);
          if (e) {
            fired.push(compact);
            throw e;
          }
          return real(path, compact);
        };
        return root;
      },
    },
  });
  const dir = t.testdir();
  const dataDir = join(dir, 'data');
  const store = Store.open({ dir: join(dataDir, 'store'), logger: silentLogger() });
  await store.close();
  const mk = () => new MockedBackup({ dataDir, dir: join(dir, 'b'), keep: 5, clock: systemClock, logger: silentLogger() });

  fail = (compact) => (compact ? new Error('MDB_PROBLEM: Unexpected problem - txn should abort') : undefined);
  const b = mk();
  const r = await b.run();
  t.same(fired, [true], 'the injected compaction failure fired');
  t.equal(r.manifest.compact, false, 'the backup says it is a plain copy');
  t.equal(r.manifest.sha256, await sha256(join(r.path, 'data.mdb')));

  fired.length = 0;
  fail = () => Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  await t.rejects(b.run(), { code: 'SG_ERR_STORE_WRITE', details: { reason: 'disk_full' } });
  t.same(fired, [true], 'the injected disk-full fired, and no plain retry on a full disk');
  t.same(readdirSync(join(dir, 'b')).filter((n) => n !== r.manifest.name), [], 'no partial backup left');
  await b.close();
});
