// GET /api/requests end to end: events written through the real Recorder into LMDB, then read
// back through the viewer with each filter, each bad parameter, paging, and the search trail.
import t, { type Test } from 'tap';
import { newId } from '../gateway/core/ids.js';
import type { HttpRequestEvent } from '../recorder/events.js';
import { startHarness, type Harness } from '../viewer/server/test-harness.js';

const DAY = 86_400_000;
// UTC midnights ahead of now, a fresh one per test: ids are time-ordered and a process never
// issues one older than its last, so each test's events must be newer than the previous test's.
let nextBase = Math.ceil(Date.now() / DAY) * DAY + 10 * DAY;
const iso = (ms: number) => new Date(ms).toISOString();
const day = (ms: number) => iso(ms).slice(0, 10);

type Input = Omit<HttpRequestEvent, 'id' | 'type' | 'listener' | 'route' | 'bytes_in' | 'bytes_out' | 'duration_ms' | 'action' | 'identity_verified' | 'status'> & { status?: number };

const fixtures = (T0: number): Input[] => [
  { ts: T0, realm: 'admin', source: 'WEB', method: 'GET', url: 'https://panel.example.com/admin/clients', ip: '77.87.125.4', user: { name: 'PUQ Admin', email: 'demo-admin@example.com', login: 'puq' } },
  { ts: T0 + 1000, realm: 'client', source: 'API', method: 'GET', url: 'https://panel.example.com/api/logout', ip: '92.246.84.133', client: 'Demo Client', user: { name: 'Demo Client', email: 'demo-client@example.com', login: 'demo-client' } },
  { ts: T0 + 2000, realm: 'client', source: 'WEB', method: 'POST', url: 'https://panel.example.com/client/profile', ip: '10.0.0.5', client: 'Acme Ltd', user: { name: 'Bob', login: 'bob' } },
  { ts: T0 + 3000, realm: 'admin', source: 'API', method: 'DELETE', url: 'https://panel.example.com/admin/api/services/7', ip: '127.0.0.1', user: { name: 'Alice', login: 'alice' } },
  { ts: T0 + DAY + 5000, realm: 'client', source: 'WEB', method: 'GET', url: 'https://panel.example.com/client/?q=<script>alert(1)</script>', ip: '198.51.100.9', user: { name: '<b>Eve</b>', login: 'eve' }, status: 404 },
];

function event(i: Input): HttpRequestEvent {
  return {
    id: newId(i.ts),
    type: 'http.request',
    listener: 'panel',
    route: i.realm,
    bytes_in: 0,
    bytes_out: 100,
    duration_ms: 3,
    action: i.method === 'GET' ? 'view' : 'create',
    identity_verified: true,
    status: 200,
    ...i,
  };
}

async function setup(t: Test): Promise<{ h: Harness; s: Awaited<ReturnType<Harness['login']>>; events: HttpRequestEvent[]; T0: number }> {
  const T0 = nextBase;
  nextBase += 10 * DAY;
  const h = await startHarness({ dir: t.testdir(), teardown: (fn) => t.teardown(fn) });
  const events = fixtures(T0).map(event);
  for (const e of events) h.recorder.emit(e);
  await h.recorder.flush();
  const u = await h.addUser('aud', 'auditor', { panel_identities: ['puq'] });
  return { h, s: await h.login(u.name, u.password), events, T0 };
}

const urls = (r: { json: { items: HttpRequestEvent[] } }) => r.json.items.map((e) => e.url);

t.test('each filter', async (t) => {
  const { h, s, events, T0 } = await setup(t);
  const get = (qs: string) => h.call('GET', `/api/requests${qs}`, { session: s });
  const newestFirst = [...events].reverse().map((e) => e.url);

  const all = await get('');
  t.equal(all.status, 200);
  t.same(urls(all), newestFirst, 'newest first, everything');
  t.same(all.json.items[0], events[4], 'stored values round-trip');
  t.equal(all.json.next_cursor, undefined, 'one page');

  t.same(urls(await get('?realm=admin')), [events[3]!.url, events[0]!.url], 'realm');
  t.same(urls(await get(`?from=${encodeURIComponent(iso(T0 + 1000))}&to=${T0 + 2000}`)), [events[2]!.url, events[1]!.url], 'from ISO / to ms, inclusive');
  const plus3 = new Date(T0 + 1000 + 3 * 3_600_000).toISOString().replace('Z', '+03:00').replace(/\.\d{3}/, '.000');
  t.same(urls(await get(`?from=${encodeURIComponent(plus3)}&to=${encodeURIComponent(plus3)}`)), [events[1]!.url], 'ISO with +03:00 offset');
  t.same(urls(await get(`?from=${day(T0)}&to=${day(T0)}`)), [events[3]!.url, events[2]!.url, events[1]!.url, events[0]!.url], 'a whole UTC day');
  t.same(urls(await get(`?from=${day(T0 + DAY)}`)), [events[4]!.url], 'from a date');
  t.same(urls(await get('?q=ACME')), [events[2]!.url], 'q: client, case-insensitive');
  t.same(urls(await get('?q=demo-admin%40example')), [events[0]!.url], 'q: email');
  t.same(urls(await get('?q=92.246')), [events[1]!.url], 'q: IP');
  t.same(urls(await get('?q=api%2Flogout')), [events[1]!.url], 'q: URL');
  t.same(urls(await get('?q=alice')), [events[3]!.url], 'q: login');
  t.same(urls(await get('?q=.*')), [], 'q: regex characters are literal');
  t.same(urls(await get('?source=API')), [events[3]!.url, events[1]!.url], 'source');
  t.same(urls(await get('?source=web&method=post')), [events[2]!.url], 'source + method, any case');
  t.same(urls(await get('?realm=client&source=WEB&q=panel')), [events[4]!.url, events[2]!.url], 'combined');
  // Hide Me: the auditor's panel identity `puq` and this request's own IP (127.0.0.1).
  t.same(urls(await get('?hide_me=1')), [events[4]!.url, events[2]!.url, events[1]!.url], 'hide_me');
  t.same(urls(await get('?hide_me=0')), newestFirst, 'hide_me off');

  const html = await get('?q=eve');
  t.notMatch(html.text, /<script|<b>/, 'markup in recorded values is escaped in the JSON text');
  t.equal(html.json.items[0].user.name, '<b>Eve</b>', 'and intact once parsed');
  t.match(html.headers['content-type'], /^application\/json/);
});

t.test('paging with limit and cursor, also while new requests arrive', async (t) => {
  const { h, s, events, T0 } = await setup(t);
  const more: HttpRequestEvent[] = [];
  for (let i = 0; i < 23; i++) more.push(event({ ts: T0 + 2 * DAY + i, realm: 'client', source: 'WEB', method: 'GET', url: `https://panel.example.com/page/${i}`, ip: '10.9.9.9' }));
  for (const e of more) h.recorder.emit(e);
  await h.recorder.flush();
  const expected = [...events, ...more].reverse().map((e) => e.id);

  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const r = await h.call('GET', `/api/requests?limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { session: s });
    t.equal(r.status, 200);
    t.ok(r.json.items.length <= 5);
    seen.push(...r.json.items.map((e: HttpRequestEvent) => e.id));
    cursor = r.json.next_cursor;
    if (pages === 1) {
      // Newer requests recorded mid-paging never shift the pages being read.
      h.recorder.emit(event({ ts: T0 + 3 * DAY, realm: 'client', source: 'WEB', method: 'GET', url: 'https://panel.example.com/late', ip: '10.9.9.8' }));
      await h.recorder.flush();
    }
    pages++;
  } while (cursor && pages < 20);
  t.same(seen, expected, 'every request exactly once, newest first');
  t.equal(pages, 6);
});

t.test('bad parameters: 400 SG_ERR_BAD_PARAM naming the parameter', async (t) => {
  const { h, s, T0 } = await setup(t);
  const cases: [string, string][] = [
    ['realm=no%20spaces', 'realm'],
    ['from=last%20tuesday', 'from'],
    ['from=2025-10-27T10:00:00', 'from'],
    ['to=2025-02-30', 'to'],
    [`from=${day(T0 + DAY)}&to=${day(T0)}`, 'from'],
    [`q=${'x'.repeat(257)}`, 'q'],
    ['source=FTP', 'source'],
    ['method=G%20T', 'method'],
    ['limit=0', 'limit'],
    ['limit=501', 'limit'],
    ['limit=abc', 'limit'],
    ['cursor=%24%24%24', 'cursor'],
    ['cursor=AAAA', 'cursor'],
    ['hide_me=perhaps', 'hide_me'],
    ['sort=password', 'sort'],
    ['order=sideways', 'order'],
    ['realm=a&realm=b', 'realm'],
    ['relam=admin', 'relam'],
  ];
  for (const [qs, param] of cases) {
    const r = await h.call('GET', `/api/requests?${qs}`, { session: s });
    t.equal(r.status, 400, `${qs}: status`);
    t.equal(r.json?.error?.code, 'SG_ERR_BAD_PARAM', `${qs}: code`);
    t.equal(r.json?.error?.param, param, `${qs}: names ${param}`);
    t.match(r.json?.error?.message, param, `${qs}: message names ${param}`);
  }
  t.equal((await h.activity('search')).length, 0, 'refused searches are not recorded as searches');
});

t.test('every search is an activity event: who searched what', async (t) => {
  const { h, s } = await setup(t);
  await h.call('GET', '/api/requests?realm=admin&q=puq&limit=10', { session: s });
  await h.call('GET', '/api/requests?hide_me=1', { session: s });
  const searches = await h.activity('search');
  t.equal(searches.length, 2);
  t.equal(searches[0]!.initiator, 'aud');
  t.equal(searches[0]!.ip, '127.0.0.1');
  t.equal(searches[0]!.user?.role, 'auditor');
  t.same(searches[0]!.details?.query, { realm: 'admin', q: 'puq', limit: 10 });
  t.equal(searches[0]!.details?.returned, 1);
  t.match(searches[0]!.description, /puq/);
  t.same(searches[1]!.details?.query, { hide: { logins: ['puq'], ips: ['127.0.0.1'] } });
});
