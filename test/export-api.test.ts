// GET /api/export end to end: events written through the real Recorder into LMDB, exported
// through the real viewer (uWS) with real HTTP clients; the manifest's SHA-256 and count are
// checked against the bytes received; roles, bad parameters, and the export's own record.
import { createHash } from 'node:crypto';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { newId } from '../gateway/core/ids.js';
import type { HttpRequestEvent } from '../recorder/events.js';
import { httpEvent } from './fixtures/recorder-helpers.js';
import type { ExportManifest } from '../recorder/export/manifest.js';
import { columnsOf } from '../recorder/export/columns.js';
import { startHarness, type Harness, type SignedIn } from '../viewer/server/test-harness.js';
import { parseCsv } from './helpers/export.js';

const DAY = 86_400_000;
let nextBase = Math.ceil(Date.now() / DAY) * DAY + 400 * DAY;
const N = 1234; // more than two store pages of 500

function event(i: number, T0: number): HttpRequestEvent {
  return httpEvent(T0 + i * 1000, {
    realm: i % 3 ? 'client' : 'admin',
    route: 'r',
    source: i % 2 ? 'WEB' : 'API',
    method: i % 5 ? 'GET' : 'POST',
    url: i === 7 ? 'https://panel.example.com/x?q==cmd|"/C calc"!A0,\n"next"' : `https://panel.example.com/p/${i}`,
    action: i % 5 ? 'view' : 'create',
    ip: `10.0.${i >> 8}.${i & 255}`,
    user: { name: i === 9 ? 'Ünïcødé ✓ 🚀' : `User ${i % 17}`, email: `u${i % 17}@example.com`, login: `u${i % 17}` },
    client: `Client ${i % 5}`,
  });
}

async function setup(t: Test): Promise<{ h: Harness; s: SignedIn; events: HttpRequestEvent[] }> {
  const T0 = nextBase;
  nextBase += 10 * DAY;
  const h = await startHarness({ dir: t.testdir(), teardown: (fn) => t.teardown(fn) });
  const events = Array.from({ length: N }, (_, i) => event(i, T0));
  for (const e of events) h.recorder.emit(e);
  await h.recorder.flush();
  const u = await h.addUser('aud', 'auditor');
  return { h, s: await h.login(u.name, u.password), events };
}

const sha256 = (s: string) => createHash('sha256').update(Buffer.from(s, 'utf8')).digest('hex');

t.test('CSV of every request, with a manifest that matches the bytes', async (t) => {
  const { h, s, events } = await setup(t);
  const r = await h.call('GET', '/api/export?format=csv', { session: s });
  t.equal(r.status, 200, r.text.slice(0, 200));
  t.match(String(r.headers['content-type']), /^text\/csv; charset=utf-8/);
  t.match(String(r.headers['content-disposition']), /^attachment; filename="sessiongate-requests-\d{8}T\d{6}\.\d{3}Z\.csv"$/);
  t.equal(r.headers['cache-control'], 'no-store');
  const exportId = String(r.headers['x-sessiongate-export-id']);
  t.match(exportId, /^[0-9A-Z]{18}$/);
  const rows = parseCsv(r.text);
  t.same(rows[0], columnsOf('requests').map((c) => c.name));
  t.equal(rows.length, N + 1, 'every request, across store pages');
  const ids = rows.slice(1).map((row) => row[row.length - 1]);
  t.same(ids, [...events].reverse().map((e) => e.id), 'newest first, like the API');
  const hostile = rows.find((row) => row[row.length - 1] === events[7]!.id)!;
  t.equal(hostile[columnsOf('requests').findIndex((c) => c.name === 'url')], events[7]!.url, 'quotes, comma and newline survive');

  t.ok(h.recorder.store.getEvent(exportId), 'its record was committed before the download ended (no flush needed)');
  const m = await h.call('GET', `/api/export/${exportId}/manifest`, { session: s });
  t.equal(m.status, 200);
  const man = m.json as ExportManifest;
  t.equal(man.sha256, sha256(r.text), 'manifest SHA-256 = SHA-256 of the body');
  t.equal(man.bytes, Buffer.byteLength(r.text));
  t.equal(man.count, N);
  t.equal(man.complete, true);
  t.equal(man.kind, 'requests');
  t.equal(man.format, 'csv');
  t.same(man.first, { id: events[N - 1]!.id, ts: events[N - 1]!.ts });
  t.same(man.last, { id: events[0]!.id, ts: events[0]!.ts });
  t.equal(man.export_id, exportId);
  t.match(man.gateway, { name: 'sessiongate', version: /^\d+\.\d+\.\d+/ });

  const acts = await h.activity('export');
  t.equal(acts.length, 1, 'the export is itself an activity event');
  t.equal(acts[0]!.id, exportId, 'whose id the download announced');
  t.equal(acts[0]!.initiator, 'aud');
  t.match(acts[0]!.details, { kind: 'requests', format: 'csv', count: N, complete: true });
});

t.test('NDJSON with filters: exactly what the search returns, each event as the API returns it', async (t) => {
  const { h, s, events } = await setup(t);
  const qs = 'kind=requests&format=ndjson&realm=admin&method=post&q=example.com';
  const r = await h.call('GET', `/api/export?${qs}`, { session: s });
  t.equal(r.status, 200, r.text.slice(0, 200));
  t.match(String(r.headers['content-type']), /^application\/x-ndjson/);
  const lines = r.text.split('\n');
  t.equal(lines.pop(), '');
  const got = lines.map((l) => JSON.parse(l) as HttpRequestEvent);
  const want = [...events].reverse().filter((e) => e.realm === 'admin' && e.method === 'POST');
  t.ok(want.length > 10);
  t.same(got, JSON.parse(JSON.stringify(want)));
  const man = (await h.call('GET', `/api/export/${r.headers['x-sessiongate-export-id']}/manifest`, { session: s })).json as ExportManifest;
  t.equal(man.count, want.length);
  t.equal(man.sha256, sha256(r.text));
  t.match(man.filters, { realm: 'admin', method: 'POST', q: 'example.com' });
  const [act] = await h.activity('export');
  t.match(act!.details, { query: { realm: 'admin', method: 'POST', q: 'example.com' }, count: want.length });

  const empty = await h.call('GET', '/api/export?format=csv&q=no-such-thing-anywhere', { session: s });
  t.equal(empty.status, 200);
  t.equal(parseCsv(empty.text).length, 1, 'no match: the header row only');
});

t.test('roles: admin and auditor export, security may not; signed out: 401', async (t) => {
  const { h, s } = await setup(t);
  const sec = await h.addUser('sec', 'security');
  const adm = await h.addUser('adm', 'admin');
  const ss = await h.login(sec.name, sec.password);
  const sa = await h.login(adm.name, adm.password);
  const denied = await h.call('GET', '/api/export?format=csv', { session: ss });
  t.equal(denied.status, 403);
  t.equal(denied.json.error.code, 'SG_ERR_FORBIDDEN');
  t.equal((await h.call('GET', '/api/export?format=csv')).json.error.code, 'SG_ERR_AUTH_REQUIRED');
  t.equal((await h.call('GET', '/api/export?format=csv', { session: sa })).status, 200);
  t.equal((await h.call('GET', '/api/export?format=csv', { session: s })).status, 200);
  const manDenied = await h.call('GET', `/api/export/${'0'.repeat(18)}/manifest`, { session: ss });
  t.equal(manDenied.status, 403, 'manifests too');
  t.equal((await h.activity('export')).length, 2, 'only the exports that happened are recorded');
});

t.test('bad parameters: 400 with a code naming the parameter, nothing streamed', async (t) => {
  const { h, s } = await setup(t);
  const cases: [string, string][] = [
    ['format=xml', 'format'],
    ['format=csv&format=ndjson', 'format'],
    ['kind=users', 'kind'],
    ['limit=5', 'limit'],
    ['cursor=abc', 'cursor'],
    ['from=yesterday', 'from'],
    ['from=2025-10-02&to=2025-10-01', 'from'],
    ['method=G%20T', 'method'],
    ['source=FTP', 'source'],
    ['bogus=1', 'bogus'],
    ['q=' + 'x'.repeat(5000), 'q'],
    ['hide_me=maybe', 'hide_me'],
  ];
  for (const [qs, param] of cases) {
    const r = await h.call('GET', `/api/export?${qs}`, { session: s });
    t.equal(r.status, 400, qs.slice(0, 60));
    t.equal(r.json?.error?.code, 'SG_ERR_BAD_PARAM', qs.slice(0, 60));
    t.equal(r.json?.error?.param, param, qs.slice(0, 60));
    t.notOk(r.headers['x-sessiongate-export-id'], 'no export started');
  }
  const m = await h.call('GET', '/api/export/not-an-id/manifest', { session: s });
  t.equal(m.status, 400);
  t.equal(m.json.error.param, 'id');
  const missing = await h.call('GET', `/api/export/${newId()}/manifest`, { session: s });
  t.equal(missing.status, 404);
  t.equal(missing.json.error.code, 'SG_ERR_NOT_FOUND');
  t.equal((await h.activity('export')).length, 0, 'refused exports are not exports');
});

t.test('HEAD sends the headers only; a client that goes away leaves an incomplete record', async (t) => {
  const { h, s } = await setup(t);
  const head = await h.call('HEAD', '/api/export?format=ndjson', { session: s });
  t.equal(head.status, 200);
  t.equal(head.text, '');

  // Many more events than the socket buffers hold, read slowly then dropped.
  const T0 = nextBase;
  nextBase += 10 * DAY;
  const pad = 'x'.repeat(2000);
  for (let i = 0; i < 6000; i++) h.recorder.emit({ ...event(i, T0), user_agent: pad });
  await h.recorder.flush();
  const r = await request(`${h.base}/api/export?format=ndjson`, { headers: { cookie: s.cookie } });
  t.equal(r.statusCode, 200);
  for await (const _chunk of r.body) break; // one chunk, then the client goes away
  r.body.destroy();
  let acts = await h.activity('export');
  for (let i = 0; i < 100 && acts.length < 2; i++) {
    await new Promise((res) => setTimeout(res, 100));
    acts = await h.activity('export');
  }
  const last = acts[acts.length - 1]!;
  t.equal(last.details?.complete, false, 'recorded as incomplete');
  t.ok((last.details?.count as number) < N + 6000, `it counts only what was sent (${last.details?.count})`);
});

t.test('every searchable kind exports (once the store searches it)', async (t) => {
  const { h, s } = await setup(t);
  h.recorder.emit({ type: 'session.start', session_id: 's1', protocol: 'ssh', connected_from: 'proxy', account: 'root', server: { name: '=db1', os: 'Linux', host: '10.1.1.1', port: 22 } });
  h.recorder.emit({ type: 'file.transfer', session_id: 's1', protocol: 'sftp', path: '/etc/passwd', direction: 'download', bytes: 10, duration_ms: 1, result: 'ok' });
  await h.recorder.flush();
  const searches = typeof (h.recorder.store as { query?: unknown }).query === 'function';
  for (const kind of ['sessions', 'activity', 'transfers'] as const) {
    await h.recorder.flush(); // the previous search's own record is in before this export reads
    const r = await h.call('GET', `/api/export?kind=${kind}&format=csv`, { session: s });
    if (!searches) {
      t.equal(r.status, 400, `${kind}: this store cannot search it yet`);
      t.equal(r.json.error.param, 'kind');
      continue;
    }
    t.equal(r.status, 200, `${kind}: ${r.text.slice(0, 200)}`);
    const rows = parseCsv(r.text);
    t.same(rows[0], columnsOf(kind).map((c) => c.name));
    const api = await h.call('GET', `/api/${kind}?limit=500`, { session: s });
    // The activity log gained one entry since the export: the export's own record.
    t.equal(rows.length - 1 + (kind === 'activity' ? 1 : 0), api.json.items.length, `${kind}: as many rows as the search returns`);
  }
});

t.test('strict audit mode: the export is answered and recorded the same way', async (t) => {
  const T0 = nextBase;
  nextBase += 10 * DAY;
  const h = await startHarness({ dir: t.testdir(), teardown: (fn) => t.teardown(fn), audit: { mode: 'strict' } });
  for (let i = 0; i < 20; i++) h.recorder.emit(event(i, T0));
  await h.recorder.flush();
  const u = await h.addUser('aud', 'auditor');
  const s = await h.login(u.name, u.password);
  const r = await h.call('GET', '/api/export?format=ndjson', { session: s });
  t.equal(r.status, 200);
  t.equal(r.text.trim().split('\n').length, 20);
  const id = String(r.headers['x-sessiongate-export-id']);
  const ev = h.recorder.store.getEvent(id);
  t.match(ev, { type: 'activity', action: 'export', details: { count: 20, complete: true } });
});
