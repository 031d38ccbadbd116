// The `/api/stream` WebSocket end to end: a real viewer over a real Recorder and LMDB, `ws` as
// the client. Pushed events are exactly what the same HTTP search lists; handshakes pass the
// same gates as HTTP requests; bad messages get error frames; a signed-out session's socket is
// closed with 4401; a slow client gets one `overflow` instead of unbounded buffering.
import t, { type Test } from 'tap';
import type { EventInput, SgEvent } from '../recorder/events.js';
import type { SessionRow } from '../recorder/store/types.js';
import { httpEvent } from './fixtures/recorder-helpers.js';
import { JsonFrameClient, openWs, wsHandshake } from './helpers/http-harness.js';
import { startHarness, type Harness, type HarnessOptions, type SignedIn } from '../viewer/server/test-harness.js';

function harness(t: Test, opts: Omit<HarnessOptions, 'dir' | 'teardown'> = {}): Promise<Harness> {
  return startHarness({ ...opts, dir: t.testdir(), teardown: (fn) => t.teardown(fn) });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- frames are checked field by field
type Frame = any;

/** A stream client: every frame kept in order; waits read them one by one. */
class Client extends JsonFrameClient<Frame> {
  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }
  /** Pushed items up to and including the one with id `lastId`. */
  async itemsUntil(lastId: string, ms = 5000): Promise<Frame[]> {
    const items: Frame[] = [];
    for (;;) {
      const f = await this.next(ms);
      if (f.op !== 'events') throw new Error(`unexpected frame ${JSON.stringify(f)}`);
      items.push(...f.items);
      if (f.items.some((i: { id?: string; start?: { id: string } }) => (i.id ?? i.start?.id) === lastId)) return items;
    }
  }
  async closed(ms = 5000): Promise<number> {
    const end = Date.now() + ms;
    while (this.closeCode === undefined) {
      if (Date.now() > end) throw new Error('not closed');
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.closeCode;
  }
}

function wsUrl(h: Harness, query = ''): string {
  return `${h.base.replace(/^http/, 'ws')}/api/stream${query}`;
}

async function connect(h: Harness, s: SignedIn, query = ''): Promise<Client> {
  const ws = await openWs(wsUrl(h, query), [], { cookie: s.cookie, origin: h.base });
  t.teardown(() => ws.terminate());
  return new Client(ws);
}

async function subscribe(c: Client, kind: string, filter?: Record<string, unknown>): Promise<void> {
  c.send({ op: 'subscribe', kind, ...(filter ? { filter } : {}) });
  const f = await c.next();
  if (f.op !== 'subscribed') throw new Error(`subscribe: ${JSON.stringify(f)}`);
}

/** A raw handshake: the status and JSON body of a refused upgrade. */
function handshake(h: Harness, headers: Record<string, string>, query = ''): Promise<{ status: number; body: Frame }> {
  return wsHandshake<Frame>(`${h.base}/api/stream${query}`, headers);
}

/** Emits and commits; returns the events as stored (ids minted by the recorder). */
async function commit(h: Harness, inputs: EventInput[]): Promise<SgEvent[]> {
  const out = inputs.map((e) => h.recorder.emit({ ...e, id: undefined } as EventInput)!);
  await h.recorder.flush();
  return out;
}

const req = (over: Parameters<typeof httpEvent>[1]) => httpEvent(Date.now(), over);

t.test('requests: only events the same search lists are pushed, in commit order', async (t) => {
  const h = await harness(t);
  const u = await h.addUser('aud', 'auditor');
  const s = await h.login(u.name, u.password);
  const c = await connect(h, s);
  const filter = { realm: 'admin', q: 'Invoices', source: 'web', hide_me: false, from: '2000-01-01' };
  await subscribe(c, 'requests', filter);

  const first = await commit(h, [
    req({ realm: 'admin', url: 'https://panel.example.com/admin/invoices?id=1' }),
    req({ realm: 'client', url: 'https://panel.example.com/client/invoices' }),
    req({ realm: 'admin', url: 'https://panel.example.com/admin/clients' }),
    req({ realm: 'admin', source: 'API', url: 'https://panel.example.com/api/invoices' }),
  ]);
  const second = await commit(h, [
    req({ realm: 'admin', url: 'https://panel.example.com/admin/clients', user: { name: 'Invoices Clerk', login: 'clerk' } }),
    { type: 'activity', initiator: 'system', action: 'start', description: 'invoices admin' },
    req({ realm: 'ADMIN', url: 'https://panel.example.com/admin/INVOICES/9' }),
  ]);
  const pushed = await c.itemsUntil(second[2]!.id);
  t.same(pushed.map((i) => i.id), [first[0]!.id, second[0]!.id, second[2]!.id], 'matching events only, in commit order');
  t.same(pushed[0], first[0], 'items are the stored events');

  const qs = new URLSearchParams(Object.entries(filter).map(([k, v]): [string, string] => [k, String(v)])).toString();
  const page = await h.call('GET', `/api/requests?${qs}`, { session: s });
  t.equal(page.status, 200);
  t.same(page.json.items.map((i: SgEvent) => i.id).sort(), pushed.map((i) => i.id).sort(), 'exactly what GET /api/requests lists for the same filter');

  const searches = (await h.activity('search')).filter((a) => a.details?.stream === true);
  t.equal(searches.length, 1, 'one search activity per subscribe, none per push');
  t.match(searches[0]!.details, { kind: 'requests', stream: true, query: { realm: 'admin', q: 'Invoices', source: 'WEB' } });
  t.match(searches[0]!.description, /live stream/);

  // A new subscribe replaces the old one.
  await subscribe(c, 'requests', { realm: 'client' });
  const third = await commit(h, [req({ realm: 'admin', url: 'https://panel.example.com/admin/invoices' }), req({ realm: 'client' })]);
  t.same((await c.itemsUntil(third[1]!.id)).map((i) => i.id), [third[1]!.id], 'only the new filter');
  c.send({ op: 'unsubscribe' });
  t.same(await c.next(), { op: 'unsubscribed' });
  const fourth = await commit(h, [req({ realm: 'client' })]);
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(c.frames.some((f) => f.op === 'events' && f.items.some((i: SgEvent) => i.id === fourth[0]!.id)), 'nothing after unsubscribe');
});

t.test('activity and sessions: the kinds\' own rows', async (t) => {
  const h = await harness(t);
  const u = await h.addUser('adm', 'admin');
  const s = await h.login(u.name, u.password);
  const act = await connect(h, s);
  await subscribe(act, 'activity', { action: 'delete' });
  const sess = await connect(h, s);
  await subscribe(sess, 'sessions', { protocol: 'ssh' });

  const evs = await commit(h, [
    req({ realm: 'admin', method: 'POST', action: 'delete', url: 'https://panel.example.com/admin/clients/9/delete' }),
    req({ realm: 'admin', action: 'view' }),
    { type: 'activity', initiator: 'adm', action: 'delete', description: 'removed viewer user x', targets: [{ kind: 'user', id: 'x' }] },
    { type: 'activity', initiator: 'adm', action: 'create', description: 'created viewer user y' },
    { type: 'session.start', session_id: 'S-ftp', protocol: 'ftp', connected_from: 'proxy' },
    { type: 'session.start', session_id: 'S-ssh', protocol: 'ssh', account: 'root', server: { name: 'web1' }, connected_from: 'proxy', ip: '203.0.113.7' },
  ]);
  const acts = await act.itemsUntil(evs[2]!.id);
  t.same(acts.map((i) => i.id), [evs[0]!.id, evs[2]!.id], 'panel requests whose action is not view, and activity events');
  const page = await h.call('GET', '/api/activity?action=delete', { session: s });
  t.same(page.json.items.map((i: SgEvent) => i.id).sort(), acts.map((i) => i.id).sort(), 'as GET /api/activity lists');

  const started = (await sess.itemsUntil(evs[5]!.id)) as SessionRow[];
  t.equal(started.length, 1);
  t.equal(started[0]!.session_id, 'S-ssh');
  t.notOk(started[0]!.end);
  t.ok(started[0]!.seq >= 1, 'with its sequential number');
  const ended = await commit(h, [{ type: 'session.end', session_id: 'S-ssh', protocol: 'ssh', reason: 'client_exit', duration_ms: 5 }, { type: 'session.end', session_id: 'S-ftp', protocol: 'ftp', reason: 'client_exit' }]);
  const rows = (await sess.itemsUntil(evs[5]!.id)) as SessionRow[];
  t.equal(rows.length, 1, 'the ftp end is not an ssh row');
  t.equal(rows[0]!.end?.id, ended[0]!.id, 'the row again, now with its end');
  const listed = await h.call('GET', '/api/sessions?protocol=ssh', { session: s });
  t.same(rows[0], listed.json.items[0], 'the row as GET /api/sessions lists it');
});

t.test('handshakes pass the HTTP gates', async (t) => {
  const h = await harness(t);
  const aud = await h.addUser('aud', 'auditor');
  const sec = await h.addUser('sec', 'security');
  const sa = await h.login(aud.name, aud.password);
  const ss = await h.login(sec.name, sec.password);
  const origin = h.base;

  const refused = async (headers: Record<string, string>, status: number, code: string, what: string, query = '') => {
    const r = await handshake(h, headers, query);
    t.equal(r.status, status, `${what}: status`);
    t.equal(r.body?.error?.code, code, `${what}: code`);
  };
  await refused({ origin }, 401, 'SG_ERR_AUTH_REQUIRED', 'no cookie');
  await refused({ origin, cookie: 'sg_viewer=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, 401, 'SG_ERR_AUTH_REQUIRED', 'unknown cookie');
  await refused({ cookie: sa.cookie, origin: 'https://evil.example' }, 403, 'SG_ERR_CSRF', 'foreign Origin');
  await refused({ cookie: sa.cookie, origin: 'null' }, 403, 'SG_ERR_CSRF', 'Origin null');
  await refused({ cookie: sa.cookie }, 403, 'SG_ERR_CSRF', 'no Origin');
  await refused({ cookie: ss.cookie, origin }, 403, 'SG_ERR_FORBIDDEN', 'security role on requests', '?kind=requests');
  await refused({ cookie: sa.cookie, origin }, 400, 'SG_ERR_BAD_PARAM', 'unknown kind', '?kind=secrets');
  await refused({ cookie: sa.cookie, origin }, 400, 'SG_ERR_BAD_PARAM', 'unknown parameter', '?realm=admin');
  await t.rejects(openWs(wsUrl(h), [], { cookie: sa.cookie, origin: 'https://evil.example' }), { message: 'unexpected response 403' }, 'a ws client sees the refusal');
  t.equal((await handshake(h, { cookie: sa.cookie, origin }, '?kind=requests')).status, 101, 'auditor on requests');
  t.equal((await handshake(h, { cookie: ss.cookie, origin }, '?kind=live')).status, 101, 'security on live');

  const lock = h.access.lock({ kind: 'user', value: 'aud', actor: 'test' });
  await refused({ cookie: sa.cookie, origin }, 403, 'SG_ERR_LOCKED', 'locked user');
  h.access.unlock(lock.id);
  await refused({ cookie: sa.cookie, origin }, 401, 'SG_ERR_AUTH_REQUIRED', 'the lock ended the session');

  const plain = await h.call('GET', '/api/stream', { session: ss });
  t.equal(plain.status, 426, 'a plain GET is told to upgrade');
  t.equal(plain.json.error.code, 'SG_ERR_BAD_REQUEST');

  // Security: live only; evidence kinds are refused per subscribe, the socket stays.
  const c = await connect(h, ss);
  c.send({ op: 'subscribe', kind: 'requests' });
  t.match(await c.next(), { op: 'error', error: { code: 'SG_ERR_FORBIDDEN' } });
  await subscribe(c, 'live');
  const handle = h.registry.register({ id: 'p-1', protocol: 'http', listener: 'panel', login: 'puq' }, () => undefined);
  t.same(await c.next(), { op: 'live' }, 'a registry change is announced');
  handle.update({ client: 'Demo' });
  handle.remove();
  t.same(await c.next(), { op: 'live' }, 'a burst of changes: one nudge');
  await new Promise((r) => setTimeout(r, 400));
  t.equal(c.frames.filter((f) => f.op === 'live').length, 2, 'and no more');
  t.equal((await h.activity('search')).filter((a) => a.details?.stream).length, 0, 'live is not an evidence search');
});

t.test('bad messages get error frames; the socket stays usable', async (t) => {
  const h = await harness(t);
  const u = await h.addUser('aud', 'auditor');
  const s = await h.login(u.name, u.password);
  const c = await connect(h, s);
  const bad: [unknown, string, string?][] = [
    [{ op: 'subscribe', kind: 'requests', filter: { realm: '../x' } }, 'SG_ERR_BAD_PARAM', 'realm'],
    [{ op: 'subscribe', kind: 'requests', filter: { nope: 1 } }, 'SG_ERR_BAD_PARAM', 'nope'],
    [{ op: 'subscribe', kind: 'requests', filter: { from: 'yesterday' } }, 'SG_ERR_BAD_PARAM', 'from'],
    [{ op: 'subscribe', kind: 'requests', filter: { from: '2030-01-02', to: '2030-01-01' } }, 'SG_ERR_BAD_PARAM', 'from'],
    [{ op: 'subscribe', kind: 'requests', filter: { realm: { $ne: 1 } } }, 'SG_ERR_BAD_PARAM', 'realm'],
    [{ op: 'subscribe', kind: 'requests', filter: { q: 'x'.repeat(5000) } }, 'SG_ERR_BAD_PARAM', 'q'],
    [{ op: 'subscribe', kind: 'requests', filter: 'realm=admin' }, 'SG_ERR_BAD_PARAM', 'filter'],
    [{ op: 'subscribe', kind: 'activity', filter: { types: ['nope'] } }, 'SG_ERR_BAD_PARAM', 'types'],
    [{ op: 'subscribe', kind: 'sessions', filter: { sort: 'nope' } }, 'SG_ERR_BAD_PARAM', 'sort'],
    [{ op: 'subscribe', kind: 'timeline' }, 'SG_ERR_BAD_PARAM', 'kind'],
    [{ op: 'subscribe', kind: 'live', filter: { realm: 'x' } }, 'SG_ERR_BAD_PARAM', 'filter'],
    [{ op: 'subscribe', kind: 'requests', extra: 1 }, 'SG_ERR_BAD_PARAM', 'extra'],
    [{ op: 'dance' }, 'SG_ERR_BAD_PARAM', 'op'],
    [{}, 'SG_ERR_BAD_PARAM', 'op'],
    ['not json', 'SG_ERR_BAD_REQUEST'],
    ['[1,2]', 'SG_ERR_BAD_REQUEST'],
  ];
  for (const [msg, code, param] of bad) {
    c.send(msg);
    const f = await c.next();
    t.equal(f.op, 'error', `${JSON.stringify(msg).slice(0, 50)}: op`);
    t.equal(f.error.code, code, 'code');
    if (param) t.equal(f.error.param, param, 'param');
  }
  c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  t.match(await c.next(), { op: 'error', error: { code: 'SG_ERR_BAD_REQUEST' } }, 'binary frame');
  await subscribe(c, 'requests', { realm: 'admin' });
  const evs = await commit(h, [req({ realm: 'admin' })]);
  t.same((await c.itemsUntil(evs[0]!.id)).map((i) => i.id), [evs[0]!.id], 'still works');
  t.equal((await h.activity('search')).filter((a) => a.details?.stream).length, 1, 'failed subscribes record nothing');
});

t.test('a socket ends with its session (4401)', async (t) => {
  const h = await harness(t, { stream: { checkMs: 50 } });
  const u = await h.addUser('aud', 'auditor');
  const v = await h.addUser('vic', 'auditor');
  const s = await h.login(u.name, u.password);
  const c = await connect(h, s);
  await subscribe(c, 'requests');
  const live = await connect(h, s);
  await subscribe(live, 'live');
  t.equal((await h.call('POST', '/api/logout', { session: s })).status, 200);
  t.equal(await c.closed(), 4401, 'closed with 4401 after sign-out');
  t.equal(await live.closed(), 4401, 'every socket of that session');

  // Removed by an admin, password reset, or a role that no longer reads evidence.
  const sv = await h.login(v.name, v.password);
  const cv = await connect(h, sv);
  await subscribe(cv, 'requests');
  await h.users.setRole('vic', 'security');
  t.match(await cv.next(), { op: 'error', error: { code: 'SG_ERR_FORBIDDEN' } }, 'role change ends the subscription');
  await subscribe(cv, 'live');
  await h.users.remove('vic');
  t.equal(await cv.closed(), 4401, 'user removed');

});

t.test('a push to a signed-out session\'s socket closes it at once; Viewer.close() closes sockets', async (t) => {
  const h2 = await harness(t, { stream: { checkMs: 60_000 } });
  const w = await h2.addUser('aud', 'auditor');
  const s2 = await h2.login(w.name, w.password);
  const c2 = await connect(h2, s2);
  await subscribe(c2, 'requests');
  await h2.call('POST', '/api/logout', { session: s2 });
  await commit(h2, [req({})]);
  t.equal(await c2.closed(), 4401, 'closed on the next push');
  t.notOk(c2.frames.some((f) => f.op === 'events'), 'nothing was pushed after sign-out');

  await h2.restart();
  const s3 = await h2.login(w.name, w.password);
  const c3 = await connect(h2, s3);
  await h2.viewer.close();
  t.equal(await c3.closed(), 1001, 'Viewer.close() closes sockets');
});

t.test('a slow client gets one overflow, never unbounded buffering', async (t) => {
  const highWaterBytes = 64 * 1024;
  const h = await harness(t, { stream: { highWaterBytes } });
  const u = await h.addUser('aud', 'auditor');
  const s = await h.login(u.name, u.password);
  const c = await connect(h, s);
  await subscribe(c, 'requests', { realm: 'bulk' });
  // Stop reading: the kernel buffers fill, then uWS's, then pushes must stop.
  (c.ws as unknown as { pause(): void }).pause();
  const pad = 'x'.repeat(8 * 1024);
  let sent = 0;
  for (let round = 0; round < 40; round++) {
    const evs = await commit(h, Array.from({ length: 100 }, (_, i) => req({ realm: 'bulk', url: `https://panel.example.com/${round}/${i}?${pad}` })));
    sent += evs.length;
  }
  (c.ws as unknown as { resume(): void }).resume();
  // Read what was buffered until the socket is quiet.
  for (;;) {
    const f = await c.next(500).catch(() => undefined);
    if (!f) break;
  }
  const ops = c.frames.map((f) => f.op);
  const overflows = ops.filter((op) => op === 'overflow').length;
  const got = c.frames.filter((f) => f.op === 'events').reduce((n, f) => n + f.items.length, 0);
  t.ok(overflows >= 1, `overflow fired (${overflows} time(s))`);
  t.ok(got < sent, `pushes were dropped (${got} of ${sent} delivered)`);
  t.ok(ops.every((op, i) => op !== 'overflow' || ops[i + 1] !== 'overflow'), 'one overflow per episode: never two in a row');
  t.equal(ops[0], 'subscribed');
  t.ok(ops.slice(1).every((op) => op === 'events' || op === 'overflow'), 'nothing else');
  // Drained: pushes resume.
  const end = await commit(h, [req({ realm: 'bulk', url: 'https://panel.example.com/after' })]);
  const after = await c.itemsUntil(end[0]!.id);
  const afterSeen = after.some((i) => i.id === end[0]!.id);
  t.ok(afterSeen, 'pushes resumed after the client caught up');
});

t.test('store.liveMatcher lists exactly what store.query lists, filter by filter', async (t) => {
  const h = await harness(t);
  const T0 = Date.now() - 3_600_000;
  const users = [
    { name: 'Alice Admin', email: 'alice@corp.example', login: 'alice' },
    { name: 'Bob Ops', email: 'bob@acme.example', login: 'bob' },
    undefined,
  ];
  const inputs: EventInput[] = [];
  for (let i = 0; i < 60; i++) {
    const user = users[i % 3];
    const ts = T0 + i * 1000;
    const ip = ['203.0.113.7', '198.51.100.4', '10.0.0.1'][i % 3]!;
    inputs.push({
      ...httpEvent(ts, {
        realm: ['admin', 'client', 'api'][i % 3]!,
        source: i % 2 ? 'API' : 'WEB',
        method: ['GET', 'POST', 'DELETE', 'PUT'][i % 4]!,
        action: (['view', 'create', 'delete', 'update', 'login'] as const)[i % 5]!,
        url: `https://panel.example.com/${['invoices', 'clients', 'Services'][i % 3]}/${i}`,
        client: i % 4 === 0 ? 'Acme Ltd' : undefined,
        ip,
        user,
      }),
      id: undefined,
    });
    if (i % 6 === 0) inputs.push({ ts, type: 'activity', initiator: ['alice', 'system', 'cli'][i % 3]!, action: (['search', 'lock', 'delete'] as const)[i % 3]!, description: `did ${i} to invoices`, targets: [{ kind: 'user', id: `u${i}` }] });
    if (i % 10 === 0) inputs.push({ ts, type: 'audit.gap', lost: i, reason: 'queue_full', from_ts: ts, to_ts: ts });
    if (i % 5 === 0) inputs.push({ ts, type: 'session.start', session_id: `S${i}`, protocol: i % 2 ? 'ssh' : 'ftp', account: 'root', server: { name: `web${i % 3}`, os: 'Debian 12', host: '10.1.0.11' }, connected_from: 'proxy', ip, user });
    if (i % 10 === 5) inputs.push({ ts: ts + 1, type: 'session.end', session_id: `S${i}`, protocol: 'ssh', reason: 'client_exit' });
    if (i % 4 === 1) inputs.push({ ts, type: 'file.transfer', session_id: `S${i - 1}`, protocol: 'sftp', server: { name: 'files' }, path: `/var/www/${i % 8 === 1 ? 'Index' : 'index'}.php`, direction: i % 8 === 1 ? 'upload' : 'download', bytes: i, duration_ms: 1, result: 'ok', ip, user });
    if (i % 7 === 0) inputs.push({ ts, type: 'ftp.command', session_id: `S${i}`, command: 'DELE', args: `/tmp/f${i}`, reply_code: 250, ip, user });
  }
  const stored = await commit(h, inputs);
  const store = h.recorder.store;
  const hide = { logins: ['alice'], ips: ['198.51.100.4'] };
  const cases: [string, Record<string, unknown>][] = [
    ['requests', {}],
    ['requests', { realm: 'admin' }],
    ['requests', { realm: 'ADMIN', q: 'INVOICES' }],
    ['requests', { q: 'acme' }],
    ['requests', { q: '10.0.0' }],
    ['requests', { source: 'API', method: 'post' }],
    ['requests', { action: 'delete', login: 'BOB' }],
    ['requests', { email: 'ALICE@corp.example', ip: '203.0.113.7' }],
    ['requests', { ip: '::ffff:10.0.0.1' }],
    ['requests', { hide }],
    ['requests', { from: T0 + 10_000, to: T0 + 20_000, q: 'vic' }],
    ['activity', {}],
    ['activity', { action: 'delete' }],
    ['activity', { initiator: 'alice' }],
    ['activity', { types: ['audit.gap'] }],
    ['activity', { types: ['activity', 'http.request'], q: 'invoices' }],
    ['sessions', {}],
    ['sessions', { protocol: 'ssh' }],
    ['sessions', { state: 'ended' }],
    ['sessions', { state: 'open', q: 'web1' }],
    ['transfers', {}],
    ['transfers', { types: ['ftp.command'] }],
    ['transfers', { path: 'Index' }],
    ['transfers', { direction: 'download', login: 'alice' }],
    ['transfers', { q: 'index', from: T0 + 30_000 }],
  ];
  for (const [kind, q] of cases) {
    const page = store.query(kind as 'requests', { ...q, limit: 500 } as never);
    const keyOf = (item: { id?: string; start?: { id: string } }) => item.id ?? item.start!.id;
    const want = page.items.map((i) => keyOf(i as never)).sort();
    const match = store.liveMatcher(kind as 'requests', q as never);
    const got = new Set<string>();
    for (const ev of stored) {
      const item = match(ev) as { id?: string; start?: { id: string } } | undefined;
      if (item) got.add(keyOf(item));
    }
    t.same([...got].sort(), want, `${kind} ${JSON.stringify(q)}: ${want.length} rows`);
    t.ok(want.length > 0 || Object.keys(q).length > 0, 'fixtures cover the kind');
  }
  t.ok(store.matches('requests', { realm: 'admin' }, stored.find((e) => e.type === 'http.request' && e.realm === 'admin')!), 'matches(): the boolean form');
  t.throws(() => store.liveMatcher('requests', { realm: 7 } as never), { code: 'SG_ERR_BAD_PARAM' }, 'bad queries throw as query() does');
});
