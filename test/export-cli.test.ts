// `sessiongate export` in-process over a real LMDB store: FILE and FILE.manifest.json (0600,
// SHA-256 and count matching the file), stdout mode with the manifest on stderr, the same
// filters as the API, exit codes, never overwriting evidence by accident, its own record.
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import pino from 'pino';
import type { ActivityEvent, HttpRequestEvent } from '../recorder/events.js';
import { httpEvent } from './fixtures/recorder-helpers.js';
import type { ExportManifest } from '../recorder/export/manifest.js';
import { Store } from '../recorder/store/store.js';
import { runCli } from '../viewer/server/test-harness.js';
import { parseCsv } from './helpers/export.js';

const DAY = 86_400_000;
let nextBase = Math.ceil(Date.now() / DAY) * DAY + 800 * DAY;

function req(i: number, ts: number): HttpRequestEvent {
  return httpEvent(ts, {
    realm: i % 2 ? 'client' : 'admin',
    route: 'r',
    method: i % 3 ? 'GET' : 'POST',
    url: `https://panel.example.com/p/${i}${i === 4 ? '?x="a,b"\n=1' : ''}`,
    ip: '10.0.0.1',
    user: { name: `User ${i}`, login: `u${i}` },
  });
}

async function setup(t: Test, n = 700) {
  const T0 = nextBase;
  nextBase += 10 * DAY;
  const dir = t.testdir();
  const config = join(dir, 'sessiongate.yaml');
  writeFileSync(config, 'data_dir: ./data\n');
  const events = Array.from({ length: n }, (_, i) => req(i, T0 + i * 1000));
  const store = Store.open({ dir: join(dir, 'data', 'store'), logger: pino({ level: 'silent' }) });
  await store.writeBatch(events);
  await store.close();
  const activity = async (): Promise<ActivityEvent[]> => {
    const s = Store.open({ dir: join(dir, 'data', 'store'), logger: pino({ level: 'silent' }), readOnly: true });
    try {
      return [...s.iterateAll()].filter((e): e is ActivityEvent => e.type === 'activity' && e.action === 'export');
    } finally {
      await s.close();
    }
  };
  return { dir, config, events, T0, activity };
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

t.test('--out FILE writes the file and its manifest, 0600, hash and count matching', async (t) => {
  const { dir, config, events, activity } = await setup(t);
  const out = join(dir, 'requests.csv');
  const r = await runCli(['export', '--config', config, '--kind', 'requests', '--format', 'csv', '--out', out]);
  t.equal(r.code, 0, r.err);
  t.equal(r.out, '', 'nothing on stdout');
  const bytes = readFileSync(out);
  const man = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8')) as ExportManifest;
  t.equal(man.sha256, sha(bytes), 'manifest SHA-256 = the file');
  t.equal(man.bytes, bytes.length);
  t.equal(man.count, events.length);
  t.equal(man.complete, true);
  t.equal(man.file, out);
  t.equal(parseCsv(bytes.toString('utf8')).length, events.length + 1);
  t.equal(statSync(out).mode & 0o777, 0o600);
  t.equal(statSync(`${out}.manifest.json`).mode & 0o777, 0o600);
  t.match(r.err, new RegExp(`exported ${events.length} requests .*sha256 ${man.sha256}`));
  const [act] = await activity();
  t.match(act, { initiator: 'cli', action: 'export', details: { kind: 'requests', format: 'csv', count: events.length, complete: true, out } });

  const again = await runCli(['export', '--config', config, '--kind', 'requests', '--format', 'csv', '--out', out]);
  t.equal(again.code, 1, 'an existing file is kept');
  t.match(again.err, /SG_ERR_CONFLICT.*--force/);
  t.equal(sha(readFileSync(out)), man.sha256, 'untouched');
  const forced = await runCli(['export', '--config', config, '--kind', 'requests', '--format', 'ndjson', '--out', out, '--force', '--realm', 'admin']);
  t.equal(forced.code, 0, forced.err);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  t.equal(lines.length, events.filter((e) => e.realm === 'admin').length, '--force overwrites; filters apply');
  t.ok(lines.every((l) => (JSON.parse(l) as HttpRequestEvent).realm === 'admin'));
});

t.test('stdout: data on stdout, manifest on stderr', async (t) => {
  const { config, events, T0 } = await setup(t, 50);
  const from = new Date(T0 + 10_000).toISOString();
  const to = new Date(T0 + 19_999).toISOString();
  const r = await runCli(['export', '--config', config, '--kind', 'requests', '--format', 'ndjson', '--from', from, '--to', to, '--order', 'asc']);
  t.equal(r.code, 0, r.err);
  const got = r.out.trim().split('\n').map((l) => (JSON.parse(l) as HttpRequestEvent).id);
  const want = events.filter((e) => e.ts >= T0 + 10_000 && e.ts <= T0 + 19_999).map((e) => e.id);
  t.same(new Set(got), new Set(want), 'the date range');
  const man = JSON.parse(r.err) as ExportManifest;
  t.equal(man.sha256, sha(r.out));
  t.equal(man.count, want.length);
  t.match(man.filters, { from: T0 + 10_000, to: T0 + 19_999 });
});

t.test('usage and bad filters', async (t) => {
  const { dir, config } = await setup(t, 3);
  const usage: string[][] = [
    ['export', '--config', config, '--format', 'csv'],
    ['export', '--config', config, '--kind', 'requests'],
    ['export', '--config', config, '--kind', 'nope', '--format', 'csv'],
    ['export', '--config', config, '--kind', 'requests', '--format', 'xml'],
    ['export', '--config', config, '--kind', 'requests', '--format', 'csv', '--limit', '5'],
    ['export', '--config', config, '--kind', 'requests', '--format', 'csv', '--protocol', 'ssh'],
    ['export', '--config', config, '--kind', 'requests', '--format', 'csv', 'extra'],
    ['export', '--config', config, '--kind', 'requests', '--format', 'csv', '--force=yes'],
  ];
  for (const argv of usage) {
    const r = await runCli(argv);
    t.equal(r.code, 2, argv.slice(3).join(' '));
    t.match(r.err, /usage: sessiongate export/);
  }
  const bad = await runCli(['export', '--config', config, '--kind', 'requests', '--format', 'csv', '--from', 'yesterday', '--out', join(dir, 'x.csv')]);
  t.equal(bad.code, 1);
  t.match(bad.err, /SG_ERR_BAD_PARAM: from/);
  t.notOk(existsSync(join(dir, 'x.csv')), 'no file for a refused export');
  const noDir = await runCli(['export', '--config', config, '--kind', 'requests', '--format', 'csv', '--out', join(dir, 'missing', 'x.csv')]);
  t.equal(noDir.code, 1);
  t.match(noDir.err, /SG_ERR_BAD_PARAM: cannot create/);
  const help = await runCli(['export', '--help']);
  t.equal(help.code, 0);
  t.match(help.out, /--kind requests\|sessions\|activity\|transfers/);
});
