// `sessiongate verify` in-process: exit codes (0 intact, 1 broken, 2 usage, 3 could not
// verify), the first break named with event id, kind, batch and time, JSON output, and
// attacker-written ids never reaching the terminal raw.
import t, { type Test } from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { asBinary } from 'lmdb';
import { runCli } from '../viewer/server/test-harness.js';
import { KEY, eventsAt, openStore, withRaw, writeAll } from './helpers/store-chain.js';

const T0 = Date.UTC(2025, 2, 1);

async function setup(t: Test, opts: { keyed?: boolean } = { keyed: true }) {
  const dir = t.testdir();
  mkdirSync(join(dir, 'secrets'), { mode: 0o700 });
  const keyFile = join(dir, 'secrets', 'audit.key');
  writeFileSync(keyFile, KEY, { mode: 0o600 });
  const file = join(dir, 'sessiongate.yaml');
  writeFileSync(file, `data_dir: ./data\n${opts.keyed ? 'audit:\n  key_file: ./secrets/audit.key\n' : ''}`);
  const storeDir = join(dir, 'data', 'store');
  const store = openStore(storeDir, opts.keyed ? { key: KEY } : {});
  const events = eventsAt(6, T0);
  await writeAll(store, events);
  await store.closeSegment();
  await store.close();
  return { dir, file, keyFile, storeDir, events, c: ['--config', file] };
}

t.test('an intact store: exit 0', async (t) => {
  const { c, events } = await setup(t);
  const r = await runCli(['verify', ...c]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /chain: keyed/);
  t.match(r.out, new RegExp(`rows checked: ${events.length}\\b`));
  t.match(r.out, /OK: every batch and event matches/);
  const j = await runCli(['verify', ...c, '--json']);
  t.equal(j.code, 0);
  const rep = JSON.parse(j.out) as { ok: boolean; keyed: boolean; rows: number };
  t.match(rep, { ok: true, keyed: true, rows: events.length });
});

t.test('a tampered event: exit 1, named with id, kind, batch and time', async (t) => {
  const { c, storeDir, events } = await setup(t);
  const victim = events.find((e) => e.type === 'ssh.exec')!;
  await withRaw(storeDir, (dbs) => {
    const raw = Buffer.from(dbs.rows.ssh!.getBinary(victim.id)!);
    const at = raw.indexOf(Buffer.from('ls -la'));
    raw[at] = 'r'.charCodeAt(0);
    raw[at + 1] = 'm'.charCodeAt(0);
    dbs.rows.ssh!.putSync(victim.id, asBinary(raw));
  });
  const r = await runCli(['verify', ...c]);
  t.equal(r.code, 1, r.err);
  t.match(r.out, /BROKEN: 1 problem; first:/);
  t.match(r.out, new RegExp(`row_changed: event ${victim.id} \\(ssh, event time 2025-03-0\\d [0-9:.]+[+-]\\d\\d:\\d\\d\\): batch \\d+ committed 20\\d\\d-`));
  const j = await runCli(['verify', ...c, '--json']);
  t.equal(j.code, 1);
  t.match(JSON.parse(j.out), { ok: false, break_count: 1, first_break: { problem: 'row_changed', kind: 'ssh', id: victim.id } });
});

t.test('ids written by an attacker are shown escaped', async (t) => {
  const { c, storeDir } = await setup(t);
  const evil = '01JNFZZZZZ\x1b[2J\x07';
  await withRaw(storeDir, (dbs) => dbs.rows.requests!.putSync(evil, { url: 'x' }));
  const r = await runCli(['verify', ...c]);
  t.equal(r.code, 1);
  t.notMatch(r.out, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/, 'no raw control character');
  t.ok(r.out.includes('extra_row: event 01JNFZZZZZ\\x1b[2J\\x07'), r.out);
});

t.test('without audit.key_file: digests only, said plainly', async (t) => {
  const { c } = await setup(t, { keyed: false });
  const r = await runCli(['verify', ...c]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /chain: UNKEYED \(audit\.key_file is not set\)/);
});

t.test('--store and --key-file verify a copy without a config', async (t) => {
  const { storeDir, keyFile, dir } = await setup(t);
  const r = await runCli(['verify', '--store', storeDir, '--key-file', keyFile]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /chain: keyed/);
  const wrong = join(dir, 'secrets', 'other.key');
  writeFileSync(wrong, Buffer.alloc(32, 1), { mode: 0o600 });
  const w = await runCli(['verify', '--store', storeDir, '--key-file', wrong]);
  t.equal(w.code, 1);
  t.match(w.out, /batch_mac: batch 1/);
});

t.test('usage errors exit 2, could-not-verify exits 3', async (t) => {
  const { c, dir } = await setup(t);
  t.equal((await runCli(['verify', ...c, '--bogus'])).code, 2);
  t.equal((await runCli(['verify', ...c, 'extra'])).code, 2);
  t.equal((await runCli(['verify', ...c, '--json=yes'])).code, 2);
  t.equal((await runCli(['verify', '--help'])).code, 0);
  const noStore = await runCli(['verify', '--store', join(dir, 'nowhere')]);
  t.equal(noStore.code, 3);
  t.match(noStore.err, /could not verify: SG_ERR_STORE_OPEN/);
  const noKey = await runCli(['verify', ...c, '--key-file', join(dir, 'secrets', 'missing.key')]);
  t.equal(noKey.code, 3);
  t.match(noKey.err, /SG_ERR_CONFIG_INVALID/);
});

t.test('records the CLI itself writes (a search) are signed into the same chain', async (t) => {
  const { c } = await setup(t);
  const s = await runCli(['search', '--kind', 'activity', ...c]);
  t.equal(s.code, 0, s.err);
  const r = await runCli(['verify', ...c]);
  t.equal(r.code, 0, `${r.out}${r.err}`);
  t.match(r.out, /OK: every batch and event matches/);
});
