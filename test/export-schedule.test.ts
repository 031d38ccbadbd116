// Scheduled export to a directory (seed 002: "export periodically for offline storage"): files
// per kind with manifests, 0600 in a 0700 directory, the events committed since the last run,
// a position that survives a restart (no repeats, no gaps), backdated events not skipped, a
// failed run that publishes nothing and is redone, the timer, and its own activity record.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import pino from 'pino';
import { exportScheduleSchema } from '../config/schema.js';
import { Recorder } from '../recorder/index.js';
import type { SgEvent } from '../recorder/events.js';
import { ScheduledExport } from '../recorder/export/schedule.js';
import type { ExportManifest } from '../recorder/export/manifest.js';
import { audit, httpInput, oneOfEach } from './fixtures/recorder-helpers.js';
import { parseCsv } from './helpers/export.js';

const logger = pino({ level: process.env.SG_TEST_LOG ?? 'silent' });

async function setup(t: Test) {
  const root = t.testdir();
  const clock = { t: 0, now: () => (clock.t ? clock.t : Date.now()) };
  const rec = await Recorder.open({ dataDir: join(root, 'data'), audit: audit({ flush_interval: 5 }), clock, logger });
  t.teardown(() => rec.close());
  const dir = join(root, 'exports');
  const make = (over: Record<string, unknown> = {}, emitter?: Recorder) => {
    const s = new ScheduledExport(exportScheduleSchema.parse({ dir, interval: '1h', ...over }), { store: rec.store, subscribe: rec.subscribe.bind(rec), clock, logger, emitter });
    t.teardown(() => s.close());
    return s;
  };
  return { root, dir, rec, clock, make };
}

/** Every data file in `dir` (no manifests), parsed: events per file. */
function readExports(dir: string): { name: string; events: SgEvent[]; manifest: ExportManifest; raw: Buffer }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ndjson'))
    .sort()
    .map((name) => {
      const raw = readFileSync(join(dir, name));
      return { name, raw, events: raw.toString('utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as SgEvent), manifest: JSON.parse(readFileSync(join(dir, `${name}.manifest.json`), 'utf8')) as ExportManifest };
    });
}

t.test('a run writes one file per kind with a manifest; the next run only what came since', async (t) => {
  const { dir, rec, make } = await setup(t);
  for (let i = 0; i < 3; i++) for (const e of oneOfEach(i)) rec.emit(e);
  await rec.flush();
  const sched = make({}, rec);
  const r1 = await sched.runOnce();
  t.notOk(r1.error);
  t.same(r1.files.map((f) => f.kind).sort(), ['activity', 'requests', 'sessions', 'ssh', 'transfers']);
  t.equal(statSync(dir).mode & 0o777, 0o700, 'directory 0700');
  const files = readExports(dir);
  for (const f of files) {
    t.match(f.name, /^(requests|sessions|activity|transfers|ssh)-begin-\d{8}T\d{6}\.\d{3}Z\.ndjson$/);
    t.equal(statSync(join(dir, f.name)).mode & 0o777, 0o600, `${f.name} 0600`);
    t.equal(statSync(join(dir, `${f.name}.manifest.json`)).mode & 0o777, 0o600);
    t.equal(f.manifest.sha256, createHash('sha256').update(f.raw).digest('hex'), `${f.name}: manifest SHA-256 = file`);
    t.equal(f.manifest.count, f.events.length);
    t.equal(f.manifest.bytes, f.raw.length);
  }
  const stored = [...rec.store.iterateAll()];
  t.same(files.flatMap((f) => f.events.map((e) => e.id)).sort(), stored.map((e) => e.id).sort(), 'every stored event, once');
  t.same(files.find((f) => f.name.startsWith('sessions'))!.events.map((e) => e.type), ['session.start', 'session.end', 'session.start', 'session.end', 'session.start', 'session.end']);
  t.equal(readdirSync(dir).filter((f) => f.startsWith('.')).length, 0, 'no partial files left');

  await rec.flush();
  const act = [...rec.store.iterateAll()].filter((e) => e.type === 'activity' && e.action === 'export');
  t.equal(act.length, 1, 'the run is recorded');
  t.match(act[0], { initiator: 'system', details: { scheduled: true, files: r1.files } });

  const ev = rec.emit(httpInput(77))!;
  await rec.flush();
  const r2 = await sched.runOnce();
  t.same(r2.files.map((f) => [f.kind, f.count]).sort(), [['activity', 1], ['requests', 1]], 'only the new request and the first run\'s own record');
  const f2 = readExports(dir).find((f) => f.name === r2.files.find((x) => x.kind === 'requests')!.file)!;
  t.same(f2.events.map((e) => e.id), [ev.id]);
  t.equal(f2.name.split('-')[1], r1.files[0]!.file.split('-')[2]!.replace('.ndjson', ''), "from = the previous run's to");
  await rec.flush();
  const r3 = await sched.runOnce();
  t.same(r3.files.map((f) => f.kind), ['activity'], 'nothing new but the last record: no empty files');
});

t.test('a restart neither repeats nor skips; a backdated event lands in the next file', async (t) => {
  const { dir, rec, make } = await setup(t);
  for (let i = 0; i < 40; i++) rec.emit(httpInput(i));
  await rec.flush();
  const s1 = make({ kinds: ['requests'] });
  await s1.runOnce();
  // A panel request that started before the run and ended after it (stamped at its start).
  const late = rec.emit(httpInput(1000, { ts: Date.now() - 30_000 } as never))!;
  for (let i = 40; i < 60; i++) rec.emit(httpInput(i));
  await rec.flush();
  const r2 = await s1.runOnce();
  t.equal(r2.count, 21, '20 new and the late one');
  await s1.close();
  for (let i = 60; i < 90; i++) rec.emit(httpInput(i));
  await rec.flush();
  const s2 = make({ kinds: ['requests'] }); // a restart: a new instance over the same store
  const r3 = await s2.runOnce();
  t.equal(r3.count, 30, 'resumes after the saved position');
  const ids = readExports(dir).flatMap((f) => f.events.map((e) => e.id));
  t.equal(new Set(ids).size, ids.length, 'no event in two files');
  t.same(new Set(ids), new Set([...rec.store.iterateAll()].map((e) => e.id)), 'none skipped, the late one included');
  t.ok(ids.includes(late.id));
});

t.test('a failed run publishes nothing and the next run redoes it', async (t) => {
  const { root, dir, rec, make } = await setup(t);
  mkdirSync(dir, { mode: 0o700 });
  for (let i = 0; i < 10; i++) rec.emit(httpInput(i));
  await rec.flush();
  const s = make({ format: 'csv', kinds: ['requests'] });
  if (process.getuid?.() === 0) {
    t.comment('running as root: directory permissions do not stop writes; only the file-in-the-way case below applies');
  } else {
    chmodSync(dir, 0o500); // not writable
    const bad = await s.runOnce();
    chmodSync(dir, 0o700);
    t.ok(bad.error, `the run failed: ${bad.error}`);
    t.equal(bad.files.length, 0);
    t.same(readdirSync(dir), [], 'nothing published, no partial file left');
  }
  writeFileSync(join(dir, '.requests-begin-20250101T000000.000Z.csv.partial'), 'left by a crash');
  const notDir = join(root, 'file-not-dir');
  writeFileSync(notDir, 'x');
  const s2 = new ScheduledExport(exportScheduleSchema.parse({ dir: notDir, interval: '1h' }), { store: rec.store, clock: { now: () => Date.now() }, logger });
  t.teardown(() => s2.close());
  const bad2 = await s2.runOnce();
  t.ok(bad2.error, 'a file where the directory should be: the run fails');
  t.equal(bad2.files.length, 0);
  // The same instance succeeds once the directory is usable: the failed run is redone.
  const s3 = new ScheduledExport(exportScheduleSchema.parse({ dir: notDir, interval: '1h', format: 'csv', kinds: ['requests'] }), { store: rec.store, clock: { now: () => Date.now() }, logger });
  t.teardown(() => s3.close());
  t.ok((await s3.runOnce()).error);
  rmSync(notDir);
  const redone = await s3.runOnce();
  t.notOk(redone.error);
  t.equal(redone.count, 10, 'everything the failed run should have written');

  for (let i = 10; i < 15; i++) rec.emit(httpInput(i));
  await rec.flush();
  // One schedule per store: the position is shared, so `s` continues where s3 stopped.
  const ok = await s.runOnce();
  t.notOk(ok.error);
  const csvIds = (d: string) =>
    readdirSync(d)
      .filter((f) => f.endsWith('.csv'))
      .flatMap((f) => parseCsv(readFileSync(join(d, f), 'utf8')).slice(1).map((r) => r[r.length - 1]!));
  t.notOk(readdirSync(dir).some((f) => f.endsWith('.partial')), 'a crashed run\'s temporary file was removed');
  const ids = [...csvIds(notDir), ...csvIds(dir)];
  t.equal(ids.length, 15, 'all 15 requests across the runs');
  t.equal(new Set(ids).size, 15, 'none twice');
});

t.test('the timer runs it every interval; close stops it; bad config refused', async (t) => {
  const { dir, rec, make } = await setup(t);
  const s = make({ interval: '1s', kinds: ['requests'] });
  s.start();
  rec.emit(httpInput(1));
  await rec.flush();
  const end = Date.now() + 30_000;
  while (Date.now() < end && !(existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.ndjson')))) await new Promise((r) => setTimeout(r, 50));
  t.equal(readExports(dir).length, 1, 'a file appeared on its own');
  await s.close();
  await t.rejects(s.runOnce(), { code: 'SG_ERR_CONFLICT' });
  t.throws(() => new ScheduledExport({ dir: '', interval: 10, format: 'ndjson', kinds: ['requests'] }, { store: rec.store, clock: Date, logger }), { code: 'SG_ERR_CONFIG_INVALID' });
  t.notOk(exportScheduleSchema.safeParse({ dir: 'x', interval: '10ms' }).success, 'interval at least 1s');
  t.notOk(exportScheduleSchema.safeParse({ dir: 'x', kinds: ['users'] }).success);
  t.notOk(exportScheduleSchema.safeParse({ dir: 'x', format: 'xml' }).success);
});

t.test('a run that fails while publishing removes what it published (all or nothing)', async (t) => {
  const { dir, rec } = await setup(t);
  for (const e of oneOfEach(1)) rec.emit(e);
  await rec.flush();
  const files = await import('../recorder/export/files.js');
  let publishes = 0;
  let injected = 0;
  const { ScheduledExport: Mocked } = await t.mockImport<typeof import('../recorder/export/schedule.js')>('../recorder/export/schedule.js', {
    '../recorder/export/files.js': {
      ...files,
      publish: async (from: string, to: string) => {
        if (++publishes === 2) {
          injected++;
          throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
        }
        return files.publish(from, to);
      },
    },
  });
  const s = new Mocked(exportScheduleSchema.parse({ dir, interval: '1h' }), { store: rec.store, clock: { now: () => Date.now() }, logger });
  t.teardown(() => s.close());
  const r = await s.runOnce();
  t.equal(injected, 1, 'the injected fault fired');
  t.match(r.error, /EIO: injected/);
  t.same(readdirSync(dir), [], 'the file published before the fault was removed, and its manifest');
  const again = await s.runOnce();
  t.notOk(again.error);
  t.equal(again.count, [...rec.store.iterateAll()].length, 'the next run exports everything');
});

t.test('a backdated event committed between runs survives a restart before the next run', async (t) => {
  const { dir, rec, make } = await setup(t);
  for (let i = 0; i < 5; i++) rec.emit(httpInput(i));
  await rec.flush();
  const s1 = make({ kinds: ['requests'] });
  await s1.runOnce();
  const late = rec.emit(httpInput(500, { ts: Date.now() - 60_000 } as never))!;
  await rec.flush();
  await s1.close(); // e.g. a deploy: the gateway restarts before the next run
  const s2 = make({ kinds: ['requests'] });
  const r = await s2.runOnce();
  t.equal(r.count, 1);
  const ids = readExports(dir).flatMap((f) => f.events.map((e) => e.id));
  t.ok(ids.includes(late.id), 'the late event is in the next file');
  t.equal(new Set(ids).size, 6);
  await s2.close();
  const s3 = make({ kinds: ['requests'] });
  t.equal((await s3.runOnce()).count, 0, 'and only once: delivered late ids are forgotten');
});
