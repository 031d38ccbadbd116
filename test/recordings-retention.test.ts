// Terminal recordings join retention, verify and backup (issue 5 item 4), on real recordings
// written by CastWriter (with keyframe index and snapshots) and a real keyed store:
// - retention removes a recording with its session's records, or after retention.recordings,
//   never one still being written or of a live session, records what it removed, and leaves a
//   store that `sessiongate verify` accepts (a removed recording is not a missing one);
// - verify reports a flipped byte, a truncated file and a missing file, and does not trust a
//   forged retention cutoff;
// - backup copies the recordings the snapshot names, restore puts back identical bytes.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CastWriter, type CastRecording } from '../recorder/cast/index.js';
import { Retention, type RetentionActivity } from '../recorder/store/retention.js';
import { StoreBackup, restoreBackup } from '../recorder/backup.js';
import { RECORDINGS_CUTOFF_KEY, parseRecordingsCutoff } from '../recorder/store/recording-cutoff.js';
import { mintId } from '../recorder/event-id.js';
import type { SgEvent } from '../recorder/events.js';
import type { Store } from '../recorder/store/store.js';
import { systemClock } from '../gateway/core/runtime.js';
import { runCli } from '../viewer/server/test-harness.js';
import { KEY, layoutOf, openStore, withRaw } from './helpers/store-chain.js';
import { manualClock, silentLogger } from './fixtures/recorder-helpers.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1, 12);
const mode = (p: string) => statSync(p).mode & 0o777;
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const sideFiles = (file: string) => [file, `${file}.idx`, `${file}.snap`];
/** The files a recording has (a .snap only when the keyframe thread kept up: under load it may skip them all). */
const filesOf = (file: string) => sideFiles(file).filter((f) => existsSync(f));

interface Env {
  dir: string;
  dataDir: string;
  recordingsDir: string;
  config: string;
  keyFile: string;
  store: Store;
  clock: ReturnType<typeof manualClock>;
}

/** A data dir with a keyed store and a config that names it (the key outside data_dir). */
function setup(t: Test, name = 'data'): Env {
  const dir = t.testdir();
  const dataDir = join(dir, name);
  mkdirSync(join(dir, 'secrets'), { mode: 0o700 });
  const keyFile = join(dir, 'secrets', 'audit.key');
  writeFileSync(keyFile, KEY, { mode: 0o600 });
  const config = join(dir, 'sessiongate.yaml');
  writeFileSync(config, `data_dir: ./${name}\naudit:\n  key_file: ./secrets/audit.key\n`);
  const clock = manualClock(NOW);
  const store = openStore(join(dataDir, 'store'), { key: KEY, clock, segmentRows: 4 });
  t.teardown(() => store.close());
  return { dir, dataDir, recordingsDir: join(dataDir, 'recordings'), config, keyFile, store, clock };
}

/** A real recording: output with keyframes (a .snap) over a few seconds, closed. */
async function recording(env: Env, id: string, startMs: number): Promise<CastRecording> {
  const clock = manualClock(startMs);
  const w = new CastWriter({ dir: env.recordingsDir, sessionId: id, width: 80, height: 24, recordInput: false, clock, logger: silentLogger(), keyframeEveryBytes: 1024, flushIntervalMs: 10 });
  for (let i = 0; i < 40; i++) {
    clock.advance(100);
    w.output(`\x1b[3${i % 8}mline ${i} of ${id}\x1b[0m ${'x'.repeat(60)}\r\n`);
    if (i % 10 === 9) await w.flush();
  }
  return w.close('client_exit');
}

/** Makes a closed recording look like one still being written: its index loses the trailer.
 * Returns what puts it back (the writer finishing). */
function reopen(rec: CastRecording): () => void {
  const idx = `${rec.file}.idx`;
  const text = readFileSync(idx, 'utf8');
  const lines = text.split('\n').filter(Boolean);
  if (!lines.at(-1)!.startsWith('{"end"')) throw new Error('no trailer');
  writeFileSync(idx, lines.slice(0, -1).map((l) => `${l}\n`).join(''));
  return () => writeFileSync(idx, text);
}

const ref = (r: CastRecording) => ({ id: r.id, path: r.path, size: r.size, sha256: r.sha256 });

function start(sessionId: string, ts: number): SgEvent {
  return { id: mintId(ts, ts), ts, type: 'session.start', session_id: sessionId, protocol: 'ssh', connected_from: 'proxy', account: 'root', user: { name: 'alice', login: 'alice' } } as SgEvent;
}

function end(sessionId: string, ts: number, recs: CastRecording[]): SgEvent {
  return {
    id: mintId(ts, ts),
    ts,
    type: 'session.end',
    session_id: sessionId,
    protocol: 'ssh',
    reason: 'client_exit',
    user: { name: 'alice', login: 'alice' },
    ...(recs[0] ? { recording: ref(recs[0]) } : {}),
    ...(recs.length > 1 ? { recordings: recs.map(ref) } : {}),
  } as SgEvent;
}

async function write(store: Store, events: SgEvent[]): Promise<void> {
  const r = await store.writeBatch(events.sort((a, b) => (a.id < b.id ? -1 : 1)));
  if (r.stored !== events.length) throw new Error(`stored ${r.stored} of ${events.length}: ${JSON.stringify(r.rejected)}`);
}

/** A session that began `ago` ms before NOW and lasted a minute, with its recordings. */
async function session(env: Env, ago: number, opts: { ended?: boolean; stored?: boolean; casts?: number } = {}) {
  const t0 = NOW - ago;
  const id = mintId(t0, t0); // a session id of that time (newId never goes back)
  const recs: CastRecording[] = [];
  for (let i = 1; i <= (opts.casts ?? 1); i++) recs.push(await recording(env, i === 1 ? id : `${id}.${i}`, t0 + i));
  const events = opts.stored === false ? [] : [start(id, t0), ...(opts.ended === false ? [] : [end(id, t0 + 60_000, recs)])];
  return { id, recs, events };
}

const exists = (r: CastRecording) => sideFiles(r.file).map((f) => existsSync(f));

t.test('retention removes recordings with their sessions or after retention.recordings; never live ones; verify agrees', async (t) => {
  const env = setup(t);
  const old = await session(env, 60 * DAY); // its records go (sessions: 30d): the recording too
  const mid = await session(env, 18 * DAY); // records stay, recording older than 10d: goes
  const fresh = await session(env, 2 * DAY); // stays
  const live = await session(env, 12 * DAY, { ended: false, casts: 2 }); // live: start, no end
  const finish = reopen(live.recs[1]!); // its second recording is still being written
  const orphanOld = await session(env, 60 * DAY, { stored: false }); // no records at all, old: goes
  const orphanNew = await session(env, 2 * DAY, { stored: false }); // no records, young: stays
  const crashed = await session(env, 65 * DAY, { stored: false });
  reopen(crashed.recs[0]!); // left open by a crash (repair comes at the next start): stays
  for (const s of [old, mid, fresh, live]) await write(env.store, s.events);
  await env.store.closeSegment();
  const all = [old, mid, fresh, live, orphanOld, orphanNew, crashed].flatMap((s) => s.recs);
  const before = new Map(all.flatMap((r) => sideFiles(r.file)).filter(existsSync).map((f) => [f, sha(f)]));
  const size = (r: CastRecording) => filesOf(r.file).reduce((n, f) => n + statSync(f).size, 0);
  const removedBytes = size(old.recs[0]!) + size(mid.recs[0]!) + size(orphanOld.recs[0]!);
  t.ok(all.every((r) => existsSync(`${r.file}.idx`)), 'every recording has its index');
  t.ok(all.some((r) => existsSync(`${r.file}.snap`)), 'and snapshots');

  const emitted: RetentionActivity[] = [];
  const retention = new Retention({ dbs: layoutOf(env.store), periods: { sessions: 30 * DAY, recordings: 10 * DAY }, interval: 3_600_000, key: KEY, clock: env.clock, logger: silentLogger(), emit: (ev) => void emitted.push(ev) });
  t.teardown(() => retention.close());
  const report = await retention.runOnce();

  t.same(exists(old.recs[0]!), [false, false, false], 'the recording of a session whose records went: .cast, .idx and .snap removed');
  t.same(exists(mid.recs[0]!), [false, false, false], 'a recording older than retention.recordings: removed');
  t.same(exists(orphanOld.recs[0]!), [false, false, false], 'an old recording whose session is gone: removed');
  for (const r of [fresh.recs[0]!, ...live.recs, orphanNew.recs[0]!, crashed.recs[0]!]) {
    t.ok(sideFiles(r.file).filter((f) => before.has(f)).every((f) => existsSync(f) && sha(f) === before.get(f)), `kept untouched: ${r.id}`);
  }
  t.notOk(existsSync(join(env.recordingsDir, old.recs[0]!.path, '..')), 'an emptied day directory goes too');
  t.match(report, { recordings_removed: 3, recordings_kept_live: 3, recording_errors: 0 });
  t.equal(report.recording_bytes_removed, removedBytes, 'their bytes (three files each) counted');
  const reasons = Object.fromEntries(report.recordings.map((r) => [r.id, r.reason]));
  t.same(reasons, { [old.id]: 'sessions', [mid.id]: 'recordings', [orphanOld.id]: 'sessions' }, 'why each went');
  t.ok(report.removed.sessions! >= 2, 'the old session records went in the same run');

  const act = emitted.find((e) => e.action === 'retention_prune');
  t.match(act, { initiator: 'system', description: /and 3 recordings \(\d+ bytes\)/, details: { recordings_removed: 3, recordings: [{ id: String, path: String, bytes: Number, reason: String }] } }, 'recorded as retention_prune activity');
  t.same(new Set(act!.targets!.map((x) => x.id)), new Set([old.id, mid.id, orphanOld.id]), 'naming the recordings');

  const cutoff = parseRecordingsCutoff(layoutOf(env.store).meta.get(RECORDINGS_CUTOFF_KEY), KEY);
  t.match(cutoff, { before: /^[0-9A-Z]{18}$/ }, 'the signed recordings cutoff is stored');

  const again = await retention.runOnce();
  t.equal(again.recordings_removed, 0, 'a second run finds nothing more');

  const v = await runCli(['verify', '--config', env.config]);
  t.equal(v.code, 0, `verify accepts the store and recordings after retention: ${v.out}${v.err}`);
  t.match(v.out, /recordings: 2 referenced by session\.end in .*: 1 intact, 1 removed by retention/, 'the removed recording is counted as removed by retention, not missing');

  // The live session ends (a day ago) and its writer finishes: its recordings stay while they
  // are younger than 10 days, and go once they are older.
  finish();
  await write(env.store, [end(live.id, NOW - DAY, live.recs)]);
  t.equal((await retention.runOnce()).recordings_removed, 0, 'ended a day ago: its recordings stay');
  env.clock.set(NOW + 10 * DAY);
  const later = await retention.runOnce();
  t.same(new Set(later.recordings.map((r) => r.id)), new Set([live.recs[0]!.id, live.recs[1]!.id, fresh.recs[0]!.id, orphanNew.recs[0]!.id]), 'ten days later: the ended session\'s two, and the then old ones');
  t.ok(existsSync(crashed.recs[0]!.file), 'the one without a trailer still stays');

  await retention.close();
  const v2 = await runCli(['verify', '--config', env.config]);
  t.equal(v2.code, 0, v2.out + v2.err);
  t.match(v2.out, /recordings: 4 referenced by session\.end in .*: 0 intact, 4 removed by retention/);
});

t.test('verify reports a flipped byte, a truncated file and a missing file', async (t) => {
  const env = setup(t);
  const s = await Promise.all([0, 1, 2, 3].map((i) => session(env, (i + 1) * DAY)));
  const many = await session(env, 5 * DAY, { casts: 2 });
  await write(env.store, [...s, many].flatMap((x) => x.events));
  await env.store.close();

  const ok = await runCli(['verify', '--config', env.config]);
  t.equal(ok.code, 0, ok.out + ok.err);
  t.match(ok.out, /recordings: 6 referenced by session\.end in .*: 6 intact \(\d+ bytes hashed\)\nOK: every recording matches its session\.end/);

  const [flipped, truncated, missing] = [s[0]!.recs[0]!, s[1]!.recs[0]!, many.recs[1]!];
  const bytes = readFileSync(flipped.file);
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  writeFileSync(flipped.file, bytes);
  truncateSync(truncated.file, truncated.size - 100);
  unlinkSync(missing.file);

  const r = await runCli(['verify', '--config', env.config]);
  t.equal(r.code, 1, 'exit 1');
  t.match(r.out, /OK: every batch and event matches/, 'the store itself is intact');
  t.match(r.out, /RECORDINGS BROKEN: 3 problems:/);
  t.match(r.out, new RegExp(`recording_altered: recording ${flipped.id} of session ${s[0]!.id} \\(${flipped.path}\\):\\s+its SHA-256 is [0-9a-f]{64}; session\\.end \\w+ recorded ${flipped.sha256} over ${flipped.size} bytes`));
  t.match(r.out, new RegExp(`recording_truncated: recording ${truncated.id} .*\\n\\s+it is ${truncated.size - 100} bytes; session\\.end \\w+ recorded ${truncated.size} bytes \\(100 missing\\)`));
  t.match(r.out, new RegExp(`recording_missing: recording ${missing.id.replace('.', '\\.')} of session ${many.id} .*\\n\\s+the file is gone`));
  const j = await runCli(['verify', '--config', env.config, '--json']);
  t.equal(j.code, 1);
  const rep = JSON.parse(j.out) as { ok: boolean; store_ok: boolean; recordings: { intact: number; problem_count: number; problems: { problem: string; id: string }[] } };
  t.match(rep, { ok: false, store_ok: true, recordings: { intact: 3, problem_count: 3 } });
  t.same(rep.recordings.problems.map((p) => [p.problem, p.id]).sort(), [['recording_altered', flipped.id], ['recording_missing', missing.id], ['recording_truncated', truncated.id]].sort());

  // A cutoff written by someone without the key does not excuse the missing file.
  await withRaw(join(env.dataDir, 'store'), (dbs) => dbs.meta.putSync(RECORDINGS_CUTOFF_KEY, { before: mintId(NOW + 1000 * DAY, NOW + 1000 * DAY), hmac: Buffer.alloc(32, 1) }));
  const f = await runCli(['verify', '--config', env.config]);
  t.equal(f.code, 1);
  t.match(f.out, /recordings_cutoff_invalid:[^\n]*\n\s+meta retention:recordings: hmac does not match/);
  t.match(f.out, /recording_missing/, 'the missing recording is still reported');

  // A recording dir that is not there at all: every reference is missing.
  const other = await runCli(['verify', '--config', env.config, '--recordings', join(env.dir, 'nowhere')]);
  t.equal(other.code, 1);
  t.match(other.out, /RECORDINGS BROKEN: 7 problems/);
});

t.test('backup copies the recordings the snapshot names; restore brings back identical bytes', async (t) => {
  const env = setup(t);
  const a = await session(env, DAY);
  const b = await session(env, 2 * DAY, { casts: 2 });
  const open = await session(env, 3 * DAY, { ended: false }); // live: named by no session.end
  reopen(open.recs[0]!);
  await write(env.store, [...a.events, ...b.events, ...open.events]);
  const named = [...a.recs, ...b.recs];

  const backups = join(env.dir, 'backups');
  const backup = new StoreBackup({ dataDir: env.dataDir, dir: backups, keep: 3, clock: systemClock, logger: silentLogger() });
  t.teardown(() => backup.close());
  const r = await backup.run();
  t.match(r.manifest.recordings, { dir: 'recordings', referenced: 3, copied: 3, missing: 0, mismatched: 0, problems: [] }, 'manifest: the three named recordings copied');
  for (const rec of named) {
    for (const f of filesOf(rec.file)) {
      const copy = join(r.path, 'recordings', f.slice(env.recordingsDir.length + 1));
      t.equal(sha(copy), sha(f), `identical copy of ${f.slice(env.recordingsDir.length + 1)}`);
      t.equal(mode(copy), 0o600, 'file 0600');
    }
  }
  t.notOk(existsSync(join(r.path, 'recordings', open.recs[0]!.path)), 'a recording still being written is not in the backup');
  t.equal(mode(join(r.path, 'recordings')), 0o700, 'directories 0700');
  t.equal(mode(join(r.path, 'recordings', a.recs[0]!.path, '..')), 0o700);
  t.equal(r.manifest.recordings!.bytes, named.flatMap((x) => filesOf(x.file)).reduce((n, f) => n + statSync(f).size, 0), 'bytes copied');

  // The backup verifies on its own: its store and its recordings/.
  const vb = await runCli(['verify', '--store', r.path, '--key-file', env.keyFile]);
  t.equal(vb.code, 0, vb.out + vb.err);
  t.match(vb.out, /recordings: 3 referenced by session\.end in .*recordings: 3 intact/);

  // Restore into an empty data dir: the same bytes come back.
  const restored = join(env.dir, 'restored');
  const res = await restoreBackup({ backupDir: r.path, dataDir: restored, logger: silentLogger() });
  t.match(res, { recordings: { restored: 3, identical: 0, missing: 0, kept: [] } });
  t.equal(sha(join(restored, 'store', 'data.mdb')), r.manifest.sha256, 'data.mdb as in the backup');
  for (const rec of named) for (const f of filesOf(rec.file)) t.equal(sha(join(restored, 'recordings', f.slice(env.recordingsDir.length + 1))), sha(f), `restored byte for byte: ${f.slice(env.recordingsDir.length + 1)}`);
  await t.rejects(restoreBackup({ backupDir: r.path, dataDir: restored, logger: silentLogger() }), { code: 'SG_ERR_CONFLICT' }, 'an existing store is not replaced without force');
  const twice = await restoreBackup({ backupDir: r.path, dataDir: restored, force: true, logger: silentLogger() });
  t.match(twice.recordings, { restored: 0, identical: 3 }, 'with force: identical recordings are left as they are');

  // Through the CLI, into the data dir of a config, then verify there.
  await env.store.close();
  const cfg2 = join(env.dir, 'restore.yaml');
  writeFileSync(cfg2, 'data_dir: ./again\naudit:\n  key_file: ./secrets/audit.key\n');
  const cli = await runCli(['backup', '--restore', r.path, '--config', cfg2]);
  t.equal(cli.code, 0, cli.out + cli.err);
  t.match(cli.out, /recordings: 3 restored/);
  const v = await runCli(['verify', '--config', cfg2]);
  t.equal(v.code, 0, v.out + v.err);
  t.match(v.out, /recordings: 3 referenced by session\.end .*: 3 intact/);
  const bad = await runCli(['backup', '--restore', join(env.dir, 'nowhere'), '--config', cfg2]);
  t.equal(bad.code, 1);
  t.match(bad.err, /SG_ERR_BAD_PARAM: .* is not a backup/);

  // A recording altered on disk before a backup: copied, and flagged in the manifest.
  const buf = readFileSync(a.recs[0]!.file);
  buf[10] ^= 0x20;
  writeFileSync(a.recs[0]!.file, buf);
  rmSync(b.recs[1]!.file);
  const r2 = await backup.run();
  t.match(r2.manifest.recordings, { referenced: 3, copied: 2, missing: 1, mismatched: 1 });
  t.same(r2.manifest.recordings!.problems.map((p) => p.problem).sort(), ['mismatched', 'missing']);
  t.ok(readdirSync(backups).length >= 2);
});
