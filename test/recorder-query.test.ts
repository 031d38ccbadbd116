// queryRequests (= query('requests')) against a brute-force filter of the same events
// (fast-check), snapshot cursors that stay valid while writes go on, the scan budget of short
// keywords, and parameter validation.
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { join } from 'node:path';
import { Store } from '../recorder/store/store.js';
import { mintId } from '../recorder/event-id.js';
import type { HttpRequestEvent, SgEvent } from '../recorder/events.js';
import type { RequestQuery } from '../recorder/store/types.js';
import { httpInput, silentLogger, stamp } from './fixtures/recorder-helpers.js';

const logger = silentLogger();
const BASE = 1_750_000_000_000;

/** Independent re-statement of the query semantics (the oracle). */
const fold = (s: string) => s.normalize('NFKC').toLowerCase();

function oracle(events: HttpRequestEvent[], q: RequestQuery): HttpRequestEvent[] {
  const kw = q.q?.trim() ? fold(q.q.trim()) : undefined;
  const method = q.method?.trim().toUpperCase();
  // Hide Me IPs are compared as stored: IPv4-mapped IPv6 written as IPv4; logins case-insensitively.
  const hideIps = new Set((q.hide?.ips ?? []).map((ip) => ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1')));
  const hideLogins = new Set((q.hide?.logins ?? []).map(fold));
  return events
    .filter((e) => {
      if (q.from !== undefined && e.ts < q.from) return false;
      if (q.to !== undefined && e.ts > q.to) return false;
      if (q.realm !== undefined && fold(e.realm) !== fold(q.realm)) return false;
      if (q.source !== undefined && e.source !== q.source) return false;
      if (method && e.method.toUpperCase() !== method) return false;
      if (e.user?.login !== undefined && hideLogins.has(fold(e.user.login))) return false;
      if (e.ip !== undefined && hideIps.has(e.ip)) return false;
      if (kw) {
        const hay = [e.client, e.user?.name, e.user?.email, e.user?.login, e.ip, e.url];
        if (!hay.some((h) => h !== undefined && fold(h).includes(kw))) return false;
      }
      return true;
    })
    .sort((a, b) => (a.id < b.id ? 1 : -1));
}

interface Walk {
  items: HttpRequestEvent[];
  pages: number;
}

/** Follows next_cursor to the end, checking each page's shape. */
function walk(t: Test, s: Store, q: RequestQuery, limit: number, maxPages = 10_000): Walk {
  const items: HttpRequestEvent[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const page = s.queryRequests({ ...q, limit, cursor });
    pages++;
    if (page.items.length > limit) t.fail(`page longer than limit: ${page.items.length}`);
    if (page.next_cursor && !page.partial && page.items.length !== limit) t.fail('a non-partial page with a next cursor is full');
    for (let i = 1; i < page.items.length; i++) if (!(page.items[i - 1]!.id > page.items[i]!.id)) t.fail('page not newest first');
    if (items.length && page.items.length && !(items[items.length - 1]!.id > page.items[0]!.id)) t.fail('pages overlap or go back');
    items.push(...page.items);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
    if (pages >= maxPages) {
      t.fail('too many pages');
      break;
    }
  }
  return { items, pages };
}

const WORDS = ['Ünïcödé', 'ÄÖÜ', 'a.b', 'a*b+', '(x)', '[y]', 'back\\slash', 'straße', 'İstanbul', '🚀', 'Alice', 'alice', 'BOB', 'x^y$', '?', '%20', ' '];
const word = fc.constantFrom(...WORDS);
const text = fc.array(word, { minLength: 1, maxLength: 3 }).map((w) => w.join(''));
const ip = fc.constantFrom('10.0.0.1', '10.0.0.2', '192.0.2.5', '2001:db8::1', '203.0.113.9');

const eventArb = fc.record(
  {
    off: fc.integer({ min: 0, max: 40 }),
    frac: fc.constantFrom(0, 0, 0, 0.5),
    realm: fc.constantFrom('admin', 'client', 'ops'),
    source: fc.constantFrom('WEB' as const, 'API' as const),
    method: fc.constantFrom('GET', 'POST', 'get', 'DELETE'),
    path: text,
    client: fc.option(text, { nil: undefined }),
    name: fc.option(text, { nil: undefined }),
    email: fc.option(text, { nil: undefined }),
    login: fc.option(fc.constantFrom('alice', 'bob', 'carol', 'Alice'), { nil: undefined }),
    ip: fc.option(ip, { nil: undefined }),
  },
  { requiredKeys: ['off', 'frac', 'realm', 'source', 'method', 'path'] },
);

type GenEvent = typeof eventArb extends fc.Arbitrary<infer R> ? R : never;

function toEvents(gen: GenEvent[]): HttpRequestEvent[] {
  const inputs = gen.map((g, i) => {
    const user = g.name !== undefined || g.email !== undefined || g.login !== undefined ? { name: g.name, email: g.email, login: g.login } : undefined;
    return httpInput(i, {
      ts: BASE + g.off + g.frac,
      realm: g.realm,
      source: g.source,
      method: g.method,
      url: `https://panel.example.com/${encodeURI(g.path)}/${g.path}`,
      client: g.client,
      ip: g.ip,
      user,
    });
  });
  // Drop undefined fields the way the store does, so the comparison is exact.
  return JSON.parse(JSON.stringify(stamp(inputs, mintId, () => 0))) as HttpRequestEvent[];
}

const queryArb = fc.record(
  {
    from: fc.integer({ min: -2, max: 42 }).map((o) => BASE + o),
    to: fc.integer({ min: -2, max: 42 }).map((o) => BASE + o + 0.5),
    realm: fc.constantFrom('admin', 'client', 'ops', 'none'),
    source: fc.constantFrom('WEB' as const, 'API' as const),
    method: fc.constantFrom('GET', 'post', ' Delete ', 'PUT'),
    q: fc.oneof(word, text, fc.constantFrom('', '   ', '.', '*', 'ü', 'Ü', 'alice', '10.0', '::1', 'panel.example', '/')),
    hide: fc.record({ logins: fc.subarray(['alice', 'bob', 'Alice']), ips: fc.subarray(['10.0.0.1', '2001:db8::1', '::ffff:192.0.2.5']) }),
  },
  { requiredKeys: [] },
);

let n = 0;
t.test('pages over any query equal a brute-force filter of the same events', async (t) => {
  const root = t.testdir();
  await fc.assert(
    fc.asyncProperty(fc.array(eventArb, { maxLength: 120 }), queryArb, fc.integer({ min: 1, max: 12 }), fc.option(fc.integer({ min: 1, max: 25 }), { nil: undefined }), async (gen, query, limit, budget) => {
      const s = Store.open({ dir: join(root, `s${n++}`), logger, scanBudget: budget });
      try {
        const events = toEvents(gen);
        // Two batches, so the data spans more than one transaction.
        await s.writeBatch(events.slice(0, 50));
        await s.writeBatch(events.slice(50));
        const want = oracle(events, query).map((e) => e.id);
        const got = walk(t, s, query, limit);
        if (JSON.stringify(got.items.map((e) => e.id)) !== JSON.stringify(want)) {
          throw new Error(`mismatch: got ${got.items.length}, want ${want.length} for ${JSON.stringify(query)}`);
        }
        // Items come back exactly as stored.
        const byId = new Map(events.map((e) => [e.id, e]));
        for (const e of got.items) t.same(e, byId.get(e.id));
        return true;
      } finally {
        await s.close();
      }
    }),
    { numRuns: 120 },
  );
  t.pass('property held');
});

t.test('pagination while writes go on never repeats or skips', async (t) => {
  const s = Store.open({ dir: t.testdir(), logger });
  t.teardown(() => s.close());
  const initial = stamp(
    Array.from({ length: 600 }, (_, i) => httpInput(i)),
    mintId,
    (i) => BASE + 1_000_000 + Math.floor(i / 3),
  );
  await s.writeBatch(initial);
  const seen = new Map<string, number>();
  let cursor: string | undefined;
  let round = 0;
  let lastId: string | undefined;
  for (;;) {
    const page = s.queryRequests({ limit: 37, cursor, realm: 'client' });
    for (const e of page.items) {
      seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
      if (lastId !== undefined && !(e.id < lastId)) t.fail('order broken');
      lastId = e.id;
    }
    // New events keep arriving: newer than everything, and some backdated into the range.
    round++;
    const newer = stamp(
      Array.from({ length: 25 }, (_, i) => httpInput(i)),
      mintId,
      (i) => BASE + 2_000_000 + round * 100 + i,
    );
    const backdated = stamp(
      Array.from({ length: 5 }, (_, i) => httpInput(i)),
      mintId,
      (i) => BASE + 1_000_000 + ((round * 37 + i * 11) % 200),
    );
    await s.writeBatch([...newer, ...backdated]);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  const want = initial.filter((e) => (e as HttpRequestEvent).realm === 'client');
  t.ok(want.length > 300);
  for (const e of want) if (seen.get(e.id) !== 1) t.fail(`event ${e.id} seen ${seen.get(e.id) ?? 0} times`);
  t.ok([...seen.values()].every((c) => c === 1), 'no event repeated');
  const newerIds = new Set<string>();
  for (const [id] of seen) if (id > initial[initial.length - 1]!.id) newerIds.add(id);
  t.equal(newerIds.size, 0, 'events newer than the first page never shift into later pages');
});

t.test('a short keyword scans within the budget; the cursor continues from where it stopped', async (t) => {
  const s = Store.open({ dir: t.testdir(), logger, scanBudget: 300 });
  t.teardown(() => s.close());
  const evs = stamp(
    Array.from({ length: 1000 }, (_, i) => httpInput(i, i === 10 ? { url: 'https://x.example/needle-ŋ' } : {})),
    mintId,
    (i) => BASE + 3_000_000 + i,
  );
  await s.writeBatch(evs.slice(0, 400));
  await s.closeSegment();
  await s.writeBatch(evs.slice(400));
  const first = s.queryRequests({ q: 'ŋ' });
  t.same(first.items, [], 'nothing among the newest 300');
  t.equal(first.partial, true);
  t.ok(first.next_cursor);
  const got = walk(t, s, { q: 'ŋ' }, 50);
  t.same(
    got.items.map((e) => e.id),
    [evs[10]!.id],
  );
  t.equal(got.pages, 4, '1000 rows at 300 per call');
  t.same(s.queryRequests({ q: 'needle' }).items.map((e) => e.id), [evs[10]!.id], 'a keyword of 3+ characters uses the index: found at once');
  const reader = Store.open({ dir: s.dir, logger, readOnly: true, scanBudget: 300 });
  t.equal(reader.queryRequests({ q: 'needle' }).partial, true, 'another reader reads the open region (600 rows, not indexed yet) row by row');
  await s.closeSegment();
  t.same(reader.queryRequests({ q: 'needle' }).items.map((e) => e.id), [evs[10]!.id], 'once indexed, it is found at once there too');
  await reader.close();
  const unfiltered = s.queryRequests({ limit: 500 });
  t.equal(unfiltered.items.length, 300, 'a page can be cut by the budget too');
  t.equal(unfiltered.partial, true);
  t.equal(unfiltered.total, 1000, 'total is exact without filters (counters)');
  t.equal(s.queryRequests({ realm: 'client' }).total, evs.filter((e) => (e as HttpRequestEvent).realm === 'client').length, 'and exact for one exact filter (posting sizes)');
  const est = s.queryRequests({ q: 'panel', limit: 5 });
  t.equal(est.total_estimated, true, 'a keyword over many rows gives an estimate, flagged');
});

t.test('parameters are validated; malformed cursors are refused', async (t) => {
  const s = Store.open({ dir: t.testdir(), logger });
  t.teardown(() => s.close());
  const evs = stamp(
    Array.from({ length: 20 }, (_, i) => httpInput(i)),
    mintId,
    (i) => BASE + 4_000_000 + i,
  ) as SgEvent[];
  await s.writeBatch(evs);
  const valid = s.queryRequests({ limit: 15 }).next_cursor!;
  t.ok(valid);
  t.equal(s.queryRequests({ limit: 15, cursor: valid }).items.length, 5);
  t.equal(s.queryRequests({ cursor: valid }).items.length, 5, 'the limit may change between pages');
  t.equal(s.queryRequests({ cursor: '' }).items.length, 20, 'an empty cursor means the first page');
  const [body, tag] = valid.split('.') as [string, string];
  const state = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
  const forged = (o: Record<string, unknown>) => `${Buffer.from(JSON.stringify({ ...state, ...o })).toString('base64url')}.${tag}`;
  const bad = [
    'xyz',
    valid.slice(1),
    `${valid}=`,
    valid.replace(/.$/, valid.endsWith('A') ? 'B' : 'A'),
    forged({ id: evs[2]!.id }),
    forged({ snap: 0 }),
    forged({ total: 5 }),
    `${Buffer.from('{"v":1').toString('base64url')}.${tag}`,
    'é'.repeat(24),
    'A'.repeat(10_000),
    '../../etc/passwd',
  ];
  for (const c of bad) t.throws(() => s.queryRequests({ cursor: c }), { code: 'SG_ERR_BAD_PARAM', details: { param: 'cursor' } }, `cursor ${c.slice(0, 30)}`);
  t.throws(() => s.queryRequests({ cursor: valid, realm: 'admin' }), { code: 'SG_ERR_BAD_PARAM', details: { param: 'cursor' } }, 'a cursor is bound to its filters');
  t.throws(() => s.queryRequests({ cursor: valid, order: 'asc' }), { code: 'SG_ERR_BAD_PARAM', details: { param: 'cursor' } }, 'and to its order');
  t.throws(() => s.query('sessions', { cursor: valid }), { code: 'SG_ERR_BAD_PARAM', details: { param: 'cursor' } }, 'and to its kind');
  t.throws(() => s.queryRequests({ cursor: 5 as unknown as string }), { code: 'SG_ERR_BAD_PARAM' });
  for (const limit of [0, 501, 1.5, -1, NaN, '10' as unknown as number]) t.throws(() => s.queryRequests({ limit }), { code: 'SG_ERR_BAD_PARAM' }, `limit ${String(limit)}`);
  t.equal(s.queryRequests({ limit: 500 }).items.length, 20);
  t.equal(s.queryRequests({}).items.length, 20, 'default limit 50');
  for (const q of [{ from: -1 }, { to: Infinity }, { from: 'x' as unknown as number }, { source: 'FTP' as 'WEB' }, { q: 'x'.repeat(1025) }, { hide: { ips: [1 as unknown as string] } }, { realm: 3 as unknown as string }]) {
    t.throws(() => s.queryRequests(q), { code: 'SG_ERR_BAD_PARAM' }, JSON.stringify(q).slice(0, 40));
  }
  t.same(s.queryRequests({ from: BASE + 4_000_010, to: BASE + 4_000_005 }).items, [], 'from after to is empty');
  t.same(s.queryRequests({ from: 32 ** 10 }).items, [], 'far future');
  t.equal(s.queryRequests({ to: 1e300 }).items.length, 20, 'to beyond the id range');
});

t.test('odd keywords are literal and case-insensitive', async (t) => {
  const s = Store.open({ dir: t.testdir(), logger });
  t.teardown(() => s.close());
  const urls = ['https://p.example/a.b', 'https://p.example/axb', 'https://p.example/(x)', 'https://p.example/[y]*', 'https://p.example/back\\slash', 'https://p.example/ÜNÏCÖDÉ', 'https://p.example/🚀', 'https://p.example/$^'];
  const evs = stamp(
    urls.map((url, i) => httpInput(i, { url, client: i === 0 ? 'Straße GmbH' : 'Other' })),
    mintId,
    (i) => BASE + 5_000_000 + i,
  );
  await s.writeBatch(evs);
  const hits = (q: string) => s.queryRequests({ q }).items.map((e) => e.url);
  t.same(hits('a.b'), ['https://p.example/a.b'], '. is not a wildcard');
  t.same(hits('(x)'), ['https://p.example/(x)']);
  t.same(hits('[y]*'), ['https://p.example/[y]*']);
  t.same(hits('\\'), ['https://p.example/back\\slash']);
  t.same(hits('ünïcödé'), ['https://p.example/ÜNÏCÖDÉ'], 'unicode case folding');
  t.same(hits('🚀'), ['https://p.example/🚀']);
  t.same(hits('$^'), ['https://p.example/$^']);
  t.same(hits('STRASSE'), [], 'no locale-specific folding (ß stays ß)');
  t.same(hits('straße'), ['https://p.example/a.b']);
  t.equal(hits('').length, urls.length, 'empty keyword: no filter');
  t.equal(hits('   ').length, urls.length, 'blank keyword: no filter');
  t.same(hits(' a.b '), ['https://p.example/a.b'], 'keyword is trimmed');
});
