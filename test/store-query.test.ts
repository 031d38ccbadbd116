// Every kind's query (requests, sessions, activity, transfers, timeline) against a brute-force
// restatement of its filters over the same events (fast-check): random events of every type with
// unicode and backdated timestamps (so segments overlap), some batches indexed into small
// segments and some left in the open region (read by the writer and by a read-only reader), random filters, sorts, orders and page sizes; the
// concatenated pages must equal the brute force exactly.
import t from 'tap';
import fc from 'fast-check';
import { join } from 'node:path';
import { Store } from '../recorder/store/store.js';
import { tierLast } from '../recorder/store/tiers.js';
import { mintId } from '../recorder/event-id.js';
import type { SgEvent, SessionStartEvent, SessionEndEvent } from '../recorder/events.js';
import type { Page, SessionRow } from '../recorder/store/types.js';
import { silentLogger } from './fixtures/recorder-helpers.js';

const logger = silentLogger();
const BASE = 1_760_000_000_000;
const fold = (s: string) => s.normalize('NFKC').toLowerCase();

// ---------- events ----------

const WORDS = ['Alice', 'alice', 'BOB', 'Ünïcödé', 'straße', 'İstanbul', '🚀', 'a.b', '(x)', '[y]*', 'x^y$', '%20', 'db', 'web', 'Σίσυφος', 'ǅ', 'ﬁle'];
const word = fc.constantFrom(...WORDS);
const text = fc.array(word, { minLength: 1, maxLength: 3 }).map((w) => w.join(' '));
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const login = fc.constantFrom('alice', 'Alice', 'bob', 'carol', 'ǆoe');
const email = fc.constantFrom('alice@example.com', 'ALICE@example.com', 'bob@x.org', 'straße@example.de');
const ip = fc.constantFrom('10.0.0.1', '10.0.0.2', '192.0.2.5', '2001:db8::1');
const user = opt(fc.record({ name: opt(text), email: opt(email), login: opt(login) }, { requiredKeys: [] }));

const common = { off: fc.integer({ min: 0, max: 60 }), ip: opt(ip), user, client: opt(text) };

const requestArb = fc.record({
  ...common,
  type: fc.constant('http.request' as const),
  realm: fc.constantFrom('admin', 'client', 'Client'),
  source: fc.constantFrom('WEB', 'API'),
  method: fc.constantFrom('GET', 'POST', 'get', 'DELETE'),
  path: text,
  status: fc.constantFrom(200, 302, 404, 500),
  duration_ms: fc.constantFrom(1, 2.5, 30),
  action: fc.constantFrom('view', 'view', 'create', 'update', 'delete', 'login'),
});
const sid = fc.constantFrom('s1', 's2', 's3', 's4', 's5', 'S1');
const startArb = fc.record({
  ...common,
  type: fc.constant('session.start' as const),
  session_id: sid,
  protocol: fc.constantFrom('ssh', 'sftp', 'ftp', 'web-ssh'),
  account: opt(fc.constantFrom('root', 'deploy', 'ĸ')),
  server: opt(fc.record({ name: fc.constantFrom('db1', 'web1', 'Ωmega'), os: opt(fc.constantFrom('Linux', 'linux', 'Windows')), host: opt(fc.constantFrom('10.1.1.1', 'db1.internal')) }, { requiredKeys: ['name'] })),
  client_name: opt(fc.constantFrom('SSH-2.0-OpenSSH_9.2p1', 'PuTTY', 'Mozilla/5.0')),
  connected_from: fc.constantFrom('proxy', 'web'),
});
const endArb = fc.record({ ...common, type: fc.constant('session.end' as const), session_id: sid, protocol: fc.constantFrom('ssh', 'sftp'), reason: fc.constantFrom('client_exit', 'terminated'), duration_ms: opt(fc.constantFrom(5, 500, 50_000)) });
const activityArb = fc.record({
  ...common,
  type: fc.constant('activity' as const),
  initiator: fc.constantFrom('alice', 'Alice', 'system', 'bob'),
  action: fc.constantFrom('login', 'lock', 'update', 'create', 'search'),
  description: text,
  targets: opt(fc.array(fc.record({ kind: fc.constant('ip'), id: fc.constantFrom('1.2.3.4', 'ŧarget') }), { maxLength: 2 })),
});
const gapArb = fc.record({ off: fc.integer({ min: 0, max: 60 }), type: fc.constant('audit.gap' as const), lost: fc.integer({ min: 1, max: 9 }), reason: fc.constantFrom('queue_full', 'disk_full') });
const transferArb = fc.record({
  ...common,
  type: fc.constant('file.transfer' as const),
  session_id: sid,
  protocol: fc.constantFrom('sftp', 'ftp'),
  server: opt(fc.record({ name: fc.constantFrom('db1', 'Web1', 'Ωmega') })),
  path: fc.constantFrom('/etc/passwd', '/home/Alice/Ünïcödé.txt', '/var/www/a.b', '/tmp/🚀', '/x'),
  to_path: opt(fc.constantFrom('/tmp/new', '/home/bob/renamed')),
  direction: fc.constantFrom('upload', 'download', 'rename'),
  bytes: fc.integer({ min: 0, max: 5000 }),
  duration_ms: fc.constant(3),
  result: fc.constantFrom('ok', 'failed', 'denied'),
});
const ftpArb = fc.record({ ...common, type: fc.constant('ftp.command' as const), session_id: sid, command: fc.constantFrom('RETR', 'STOR', 'CWD'), args: opt(fc.constantFrom('file.txt', '/home/Alice/x', 'ünï')) });
const sshArb = fc.record({ ...common, type: fc.constant('ssh.exec' as const), session_id: sid, command: fc.constantFrom('ls -la', 'cat /etc/passwd', 'whoami'), pty: fc.boolean() });

const anyEvent = fc.oneof(requestArb, requestArb, startArb, endArb, activityArb, gapArb, transferArb, ftpArb, sshArb);
type Gen = Record<string, unknown> & { off: number; type: string };

/** Undefined fields dropped (as the store stores them), ids minted from ts. */
function toEvents(gen: Gen[]): SgEvent[] {
  return gen.map((g) => {
    const { off, path, ...rest } = g as Gen & { path?: string };
    const ts = BASE + off;
    const ev: Record<string, unknown> = { ...rest, ts, id: mintId(ts, 0) };
    if (g.type === 'http.request') Object.assign(ev, { url: `https://panel.example.com/${path}`, listener: 'main', route: 'r', bytes_in: 1, bytes_out: 2, identity_verified: false });
    else if (path !== undefined) ev.path = path;
    if (g.type === 'audit.gap') Object.assign(ev, { from_ts: ts - 5, to_ts: ts });
    return JSON.parse(JSON.stringify(ev)) as SgEvent;
  });
}

/** Writes in batches; indexes some of them into segments, leaves the rest open. */
async function load(dir: string, events: SgEvent[], cuts: number[], indexAfter: boolean[], segmentRows: number): Promise<Store> {
  const s = Store.open({ dir, logger, segmentRows, segmentMaxAgeMs: 3_600_000 });
  let at = 0;
  const bounds = [...new Set(cuts.map((c) => c % (events.length + 1)))].sort((a, b) => a - b);
  bounds.push(events.length);
  for (let i = 0; i < bounds.length; i++) {
    const b = bounds[i]!;
    if (b > at) await s.writeBatch(events.slice(at, b));
    at = Math.max(at, b);
    if (indexAfter[i % indexAfter.length] && i < bounds.length - 1) await s.closeSegment();
  }
  return s;
}

// ---------- the brute force ----------

type Key = string | number | null;
const str = (v: unknown): Key => (typeof v === 'string' ? fold(v) : null);
const num = (v: unknown): Key => (typeof v === 'number' ? v : null);
const eq = (v: unknown, want: string | undefined) => want === undefined || (typeof v === 'string' && fold(v) === fold(want.trim()));
function cmpKey(a: Key, b: Key): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}
function ordered<T extends { id: string }>(rows: T[], key: ((r: T) => Key) | undefined, order: 'asc' | 'desc' | undefined): string[] {
  const sign = order === 'asc' ? 1 : -1;
  return rows
    .slice()
    .sort((a, b) => sign * ((key ? cmpKey(key(a), key(b)) : 0) || (a.id < b.id ? -1 : 1)))
    .map((r) => r.id);
}
const has = (vals: unknown[], kw: string | undefined) => {
  const k = kw?.trim() ? fold(kw.trim()) : undefined;
  return k === undefined || vals.some((v) => typeof v === 'string' && fold(v).includes(k));
};
const inRange = (e: SgEvent, q: { from?: number; to?: number }) => (q.from === undefined || e.ts >= q.from) && (q.to === undefined || e.ts <= q.to);
const U = (e: SgEvent) => [e.user?.name, e.user?.email, e.user?.login];
type E = SgEvent & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function kwTexts(e: E): unknown[] {
  switch (e.type) {
    case 'http.request':
      return [e.client, ...U(e), e.ip, e.url];
    case 'session.start':
    case 'session.end':
      return [...U(e), e.account, e.server?.name, e.server?.host, e.ip, e.client, e.client_name];
    case 'activity':
      return [e.initiator, e.action, e.description, ...U(e), e.ip, e.client, ...(e.targets ?? []).map((x: { id: string }) => x.id)];
    case 'audit.gap':
      return [e.reason, ...U(e), e.ip, e.client];
    case 'file.transfer':
    case 'ftp.command':
      return [...U(e), e.ip, e.client, e.server?.name, e.server?.host, e.path, e.to_path, e.command, e.args];
    default:
      return [...U(e), e.ip, e.command, e.dest_host];
  }
}

/** Walks every page; checks the shape of each. */
function walkAll<T>(page: (cursor: string | undefined) => Page<T>, idOf: (x: T) => string): string[] {
  const out: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10_000; i++) {
    const p = page(cursor);
    out.push(...p.items.map(idOf));
    if (!p.next_cursor) return out;
    cursor = p.next_cursor;
  }
  throw new Error('too many pages');
}

const order = fc.constantFrom(undefined, 'asc' as const, 'desc' as const);
/** Queries with few filters (each random record keeps at most two of its keys, sort aside). */
function sparse<T extends Record<string, unknown>>(rec: fc.Arbitrary<T>): fc.Arbitrary<Partial<T>> {
  return fc.tuple(rec, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 2 })).map(([q, a, b, k]) => {
    const keys = Object.keys(q).filter((x) => x !== 'sort');
    const keep = new Set(k === 0 || !keys.length ? [] : k === 1 ? [keys[a % keys.length]] : [keys[a % keys.length], keys[b % keys.length]]);
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(q)) if (key === 'sort' || keep.has(key)) out[key] = v;
    return out as Partial<T>;
  });
}
const range = fc.oneof(
  { weight: 3, arbitrary: fc.constant({} as { from?: number; to?: number }) },
  { weight: 2, arbitrary: fc.record({ from: opt(fc.integer({ min: -1, max: 61 }).map((o) => BASE + o)), to: opt(fc.integer({ min: -1, max: 61 }).map((o) => BASE + o + 0.5)) }, { requiredKeys: [] }) },
);
const limit = fc.integer({ min: 1, max: 9 });
/** A keyword: a word, a slice of a stored text (incl. unicode and 1-2 characters), or odd input. */
const kwPick = fc.record({ which: fc.nat(), start: fc.nat(), len: fc.integer({ min: 1, max: 8 }), fixed: fc.oneof(word, fc.constantFrom('', '  ', '.', '*', 'ü', 'Ü', 'ALICE', '10.0', '::1', 'example', '/', 'ﬁ', 'fi')), useFixed: fc.nat(3).map((x) => x === 0) });
function keyword(all: SgEvent[], p: { which: number; start: number; len: number; fixed: string; useFixed: boolean }, types?: string[]): string {
  const events = types ? all.filter((e) => types.includes(e.type)) : all;
  if (p.useFixed || !events.length) return p.fixed;
  const texts = kwTexts(events[p.which % events.length] as E).filter((x): x is string => typeof x === 'string');
  if (!texts.length) return p.fixed;
  const tx = [...texts[p.start % texts.length]!];
  const a = p.start % tx.length;
  return tx.slice(a, a + p.len).join('');
}

const storeArb = fc.record({ events: fc.array(anyEvent, { minLength: 20, maxLength: 90 }), cuts: fc.array(fc.nat(), { maxLength: 6 }), indexAfter: fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }), segmentRows: fc.integer({ min: 1, max: 12 }) });

let n = 0;
const stats = { runs: 0, nonEmpty: 0 };

const RUNS = 40;

async function withStore(root: string, gen: { events: Gen[]; cuts: number[]; indexAfter: boolean[]; segmentRows: number }, f: (s: Store, events: SgEvent[]) => void): Promise<boolean> {
  const events = toEvents(gen.events);
  const s = await load(join(root, `s${n++}`), events, gen.cuts, gen.indexAfter, gen.segmentRows);
  // The writer's store serves the open region from its in-memory postings; a reader (another
  // process: the CLI) reads it row by row. Both must answer the same.
  const reader = Store.open({ dir: s.dir, logger, readOnly: true });
  try {
    f(s, events);
    f(reader, events);
    return true;
  } finally {
    await reader.close();
    await s.close();
  }
}

function same(got: string[], want: string[], what: unknown): void {
  stats.runs++;
  if (want.length) stats.nonEmpty++;
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`mismatch for ${JSON.stringify(what)}:\n got ${JSON.stringify(got)}\nwant ${JSON.stringify(want)}`);
}

t.test('requests: every filter, sort and order equals the brute force', async (t) => {
  const root = t.testdir();
  const qArb = fc.record(
    {
      realm: fc.constantFrom('admin', 'client', 'CLIENT'),
      source: fc.constantFrom('WEB' as const, 'API' as const),
      method: fc.constantFrom('GET', 'post', ' Delete '),
      action: fc.constantFrom('view', 'create', 'login'),
      login: login,
      email: email,
      ip: fc.constantFrom('10.0.0.1', '::ffff:192.0.2.5', '2001:DB8::1'),
      hide: fc.record({ logins: fc.subarray(['alice', 'BOB']), ips: fc.subarray(['10.0.0.1', '::ffff:192.0.2.5']) }),
      sort: fc.constantFrom('time', 'client', 'user', 'email', 'ip', 'url', 'source', 'method', 'status', 'action', 'realm', 'duration'),
    },
  );
  await fc.assert(
    fc.asyncProperty(storeArb, sparse(qArb), range, kwPick, order, limit, fc.boolean(), async (gen, q0, r, kp, ord, lim, useKw) =>
      withStore(root, gen, (s, events) => {
        const q = { ...q0, ...r, ...(ord ? { order: ord } : {}), ...(useKw ? { q: keyword(events, kp, ['http.request']) } : {}) };
        const hideIps = new Set((q.hide?.ips ?? []).map((x) => x.replace(/^::ffff:/, '')));
        const hideLogins = new Set((q.hide?.logins ?? []).map(fold));
        const ipWant = q.ip?.replace(/^::ffff:/, '').toLowerCase();
        const rows = (events as E[]).filter(
          (e) =>
            e.type === 'http.request' &&
            inRange(e, q) &&
            eq(e.realm, q.realm) &&
            eq(e.source, q.source) &&
            eq(e.method, q.method) &&
            eq(e.action, q.action) &&
            eq(e.user?.login, q.login) &&
            eq(e.user?.email, q.email) &&
            eq(e.ip, ipWant) &&
            !(e.user?.login !== undefined && hideLogins.has(fold(e.user.login))) &&
            !(e.ip !== undefined && hideIps.has(e.ip)) &&
            has(kwTexts(e), q.q),
        );
        const keys: Record<string, (e: E) => Key> = { client: (e) => str(e.client), user: (e) => str(e.user?.name), email: (e) => str(e.user?.email), ip: (e) => str(e.ip), url: (e) => str(e.url), source: (e) => str(e.source), method: (e) => str(e.method), status: (e) => num(e.status), action: (e) => str(e.action), realm: (e) => str(e.realm), duration: (e) => num(e.duration_ms) };
        const want = ordered(rows, q.sort && q.sort !== 'time' ? keys[q.sort] : undefined, q.order);
        const got = walkAll((cursor) => s.query('requests', { ...q, limit: lim, cursor }), (e) => e.id);
        same(got, want, q);
        const first = s.query('requests', { ...q, limit: lim });
        if (!first.total_estimated && first.total !== want.length) throw new Error(`exact total ${first.total} != ${want.length} for ${JSON.stringify(q)}`);
      }),
    ),
    { numRuns: RUNS },
  );
  t.pass('property held');
});

t.test('sessions: one row per session with its seq and end; seed 003 filters; every sort', async (t) => {
  const root = t.testdir();
  const qArb = fc.record(
    {
      protocol: fc.constantFrom('ssh' as const, 'sftp' as const, 'web-ssh' as const),
      os: fc.constantFrom('linux', 'WINDOWS'),
      connected_from: fc.constantFrom('proxy' as const, 'web' as const),
      login,
      email,
      ip: fc.constantFrom('10.0.0.1', '2001:db8::1'),
      state: fc.constantFrom('open' as const, 'ended' as const),
      sort: fc.constantFrom('time', 'seq', 'user', 'email', 'account', 'server', 'host', 'ip', 'protocol', 'os', 'duration', 'client_name'),
    },
  );
  await fc.assert(
    fc.asyncProperty(storeArb, sparse(qArb), range, kwPick, order, limit, fc.boolean(), async (gen, q0, r, kp, ord, lim, useKw) =>
      withStore(root, gen, (s, events) => {
        const q = { ...q0, ...r, ...(ord ? { order: ord } : {}), ...(useKw ? { q: keyword(events, kp, ['session.start']) } : {}) };
        const starts = (events as E[]).filter((e) => e.type === 'session.start') as (SessionStartEvent & E)[];
        const seq = new Map(starts.map((e, i): [string, number] => [e.id, i + 1]));
        const ends = new Map<string, SessionEndEvent>();
        for (const e of events) if (e.type === 'session.end' && !ends.has(e.session_id)) ends.set(e.session_id, e);
        const rows = starts.filter(
          (e) =>
            inRange(e, q) &&
            eq(e.protocol, q.protocol) &&
            eq(e.server?.os, q.os) &&
            eq(e.connected_from, q.connected_from) &&
            eq(e.user?.login, q.login) &&
            eq(e.user?.email, q.email) &&
            eq(e.ip, q.ip) &&
            (q.state === undefined || ends.has(e.session_id) === (q.state === 'ended')) &&
            has(kwTexts(e), q.q),
        );
        const keys: Record<string, (e: E) => Key> = {
          seq: (e) => seq.get(e.id)!,
          user: (e) => str(e.user?.name),
          email: (e) => str(e.user?.email),
          account: (e) => str(e.account),
          server: (e) => str(e.server?.name),
          host: (e) => str(e.server?.host),
          ip: (e) => str(e.ip),
          protocol: (e) => str(e.protocol),
          os: (e) => str(e.server?.os),
          duration: (e) => num(ends.get(e.session_id as string)?.duration_ms),
          client_name: (e) => str(e.client_name),
        };
        const want = ordered(rows, q.sort && q.sort !== 'time' ? keys[q.sort] : undefined, q.order);
        const seen: SessionRow[] = [];
        const got = walkAll(
          (cursor) => s.query('sessions', { ...q, limit: lim, cursor }),
          (row) => (seen.push(row), row.start.id),
        );
        same(got, want, q);
        for (const row of seen) {
          if (row.seq !== seq.get(row.start.id)) throw new Error(`seq ${row.seq} != ${seq.get(row.start.id)}`);
          if (row.end?.id !== ends.get(row.session_id)?.id) throw new Error(`end of ${row.session_id}: ${row.end?.id} != ${ends.get(row.session_id)?.id}`);
          if ('seq' in row.start) throw new Error('seq leaked into the event');
        }
      }),
    ),
    { numRuns: RUNS },
  );
  t.pass('property held');
});

t.test('activity: activity + audit.gap + non-view panel requests; action, initiator, types, keyword', async (t) => {
  const root = t.testdir();
  const qArb = fc.record(
    {
      action: fc.constantFrom('login', 'update', 'LOCK', 'view'),
      initiator: fc.constantFrom('alice', 'SYSTEM', 'bob'),
      types: fc.subarray(['activity', 'audit.gap', 'http.request'] as ('activity' | 'audit.gap' | 'http.request')[], { minLength: 1 }),
      sort: fc.constantFrom('time', 'initiator', 'action', 'type'),
    },
  );
  await fc.assert(
    fc.asyncProperty(storeArb, sparse(qArb), range, kwPick, order, limit, fc.boolean(), async (gen, q0, r, kp, ord, lim, useKw) =>
      withStore(root, gen, (s, events) => {
        const q = { ...q0, ...r, ...(ord ? { order: ord } : {}), ...(useKw ? { q: keyword(events, kp, ['activity', 'audit.gap', 'http.request']) } : {}) };
        const types = q.types ?? ['activity', 'audit.gap', 'http.request'];
        const rows = (events as E[]).filter(
          (e) =>
            types.includes(e.type as 'activity') &&
            (e.type !== 'http.request' || e.action !== 'view') &&
            inRange(e, q) &&
            (q.action === undefined || eq(e.type === 'audit.gap' ? undefined : e.action, q.action)) &&
            (q.initiator === undefined || eq(e.type === 'activity' ? e.initiator : e.type === 'http.request' ? e.user?.login : undefined, q.initiator)) &&
            has(kwTexts(e), q.q),
        );
        const keys: Record<string, (e: E) => Key> = {
          initiator: (e) => str(e.type === 'activity' ? e.initiator : e.type === 'http.request' ? e.user?.login : undefined),
          action: (e) => str(e.type === 'audit.gap' ? undefined : e.action),
          type: (e) => str(e.type),
        };
        const want = ordered(rows, q.sort && q.sort !== 'time' ? keys[q.sort] : undefined, q.order);
        same(
          walkAll((cursor) => s.query('activity', { ...q, limit: lim, cursor }), (e) => e.id),
          want,
          q,
        );
      }),
    ),
    { numRuns: RUNS },
  );
  t.pass('property held');
});

t.test('transfers: user, server, path (case-sensitive), direction, result, types, session', async (t) => {
  const root = t.testdir();
  const qArb = fc.record(
    {
      types: fc.subarray(['file.transfer', 'ftp.command'] as ('file.transfer' | 'ftp.command')[], { minLength: 1 }),
      login,
      email,
      ip: fc.constantFrom('10.0.0.1', '192.0.2.5'),
      server: fc.constantFrom('db1', 'WEB1', 'ωmega'),
      path: fc.constantFrom('/etc', 'passwd', '/home/Alice', '/home/alice', 'Ünï', 'a.b', '🚀', '/tmp/new', 'x', 'file'),
      direction: fc.constantFrom('upload' as const, 'download' as const, 'rename' as const),
      result: fc.constantFrom('ok' as const, 'failed' as const),
      session_id: fc.constantFrom('s1', 's2'),
      sort: fc.constantFrom('time', 'user', 'server', 'path', 'direction', 'result', 'bytes'),
    },
  );
  await fc.assert(
    fc.asyncProperty(storeArb, sparse(qArb), range, kwPick, order, limit, fc.boolean(), async (gen, q0, r, kp, ord, lim, useKw) =>
      withStore(root, gen, (s, events) => {
        const q = { ...q0, ...r, ...(ord ? { order: ord } : {}), ...(useKw ? { q: keyword(events, kp, ['file.transfer', 'ftp.command']) } : {}) };
        const types = q.types ?? ['file.transfer', 'ftp.command'];
        const paths = (e: E) => (e.type === 'file.transfer' ? [e.path, e.to_path] : []);
        const rows = (events as E[]).filter(
          (e) =>
            types.includes(e.type as 'ftp.command') &&
            inRange(e, q) &&
            eq(e.user?.login, q.login) &&
            eq(e.user?.email, q.email) &&
            eq(e.ip, q.ip) &&
            eq(e.server?.name, q.server) &&
            eq(e.direction, q.direction) &&
            eq(e.result, q.result) &&
            eq(e.session_id, q.session_id) &&
            (q.path === undefined || paths(e).some((p) => typeof p === 'string' && p.includes(q.path!))) &&
            has(kwTexts(e), q.q),
        );
        const keys: Record<string, (e: E) => Key> = {
          user: (e) => str(e.user?.name),
          server: (e) => str(e.type === 'file.transfer' ? e.server?.name : undefined),
          path: (e) => str(e.type === 'file.transfer' ? e.path : e.args),
          direction: (e) => str(e.direction),
          result: (e) => str(e.result),
          bytes: (e) => num(e.bytes),
        };
        const want = ordered(rows, q.sort && q.sort !== 'time' ? keys[q.sort] : undefined, q.order);
        same(
          walkAll((cursor) => s.query('transfers', { ...q, limit: lim, cursor }), (e) => e.id),
          want,
          q,
        );
      }),
    ),
    { numRuns: RUNS },
  );
  t.pass('property held');
});

t.test('timeline: one identity across every kind, merged in id order', async (t) => {
  const root = t.testdir();
  const idArb = fc.oneof(login.map((login) => ({ login })), email.map((email) => ({ email })), ip.map((ip) => ({ ip })));
  await fc.assert(
    fc.asyncProperty(storeArb, idArb, range, order, limit, async (gen, id, r, ord, lim) =>
      withStore(root, gen, (s, events) => {
        const q = { ...id, ...r, ...(ord ? { order: ord } : {}) };
        const rows = (events as E[]).filter((e) => inRange(e, q) && ('login' in id ? eq(e.user?.login, id.login) : 'email' in id ? eq(e.user?.email, id.email) : eq(e.ip, id.ip)));
        same(
          walkAll((cursor) => s.timeline({ ...q, limit: lim, cursor }), (e) => e.id),
          ordered(rows, undefined, q.order),
          q,
        );
      }),
    ),
    { numRuns: RUNS },
  );
  t.pass('property held');
});

t.test('tiers: keyword queries over tiered and untiered segments equal the brute force', async (t) => {
  const root = t.testdir();
  // One event per batch and segment: 40-60 segments, so some tiers (TIER_SEGMENTS = 16) are
  // built and the last segments are read without one.
  const tierArb = fc.array(anyEvent, { minLength: 40, maxLength: 60 });
  let tiered = 0;
  await fc.assert(
    fc.asyncProperty(tierArb, fc.array(kwPick, { minLength: 3, maxLength: 3 }), order, limit, async (gen, kps, ord, lim) => {
      const events = toEvents(gen);
      const s = Store.open({ dir: join(root, `s${n++}`), logger, segmentRows: 1, segmentMaxAgeMs: 3_600_000 });
      for (const e of events) await s.writeBatch([e]);
      try {
        await s.closeSegment();
        await s.buildTiers();
        if (tierLast(s.maintenanceDbs()) >= 0) tiered++;
        for (const kp of kps) {
          const q = { q: keyword(events, kp), ...(ord ? { order: ord } : {}) };
          const wantReq = ordered((events as E[]).filter((e) => e.type === 'http.request' && has(kwTexts(e), q.q)), undefined, q.order);
          same(walkAll((cursor) => s.query('requests', { ...q, limit: lim, cursor }), (e) => e.id), wantReq, { requests: q });
          const wantAct = ordered((events as E[]).filter((e) => (e.type === 'activity' || e.type === 'audit.gap') && has(kwTexts(e), q.q)), undefined, q.order);
          same(walkAll((cursor) => s.query('activity', { ...q, types: ['activity', 'audit.gap'], limit: lim, cursor }), (e) => e.id), wantAct, { activity: q });
        }
      } finally {
        await s.close();
      }
    }),
    { numRuns: 12 },
  );
  t.equal(tiered, 12, 'every run built a tier');
});

t.test('the properties ran on real matches, not mostly on empty results', async (t) => {
  t.ok(stats.runs >= 5 * RUNS, `${stats.runs} queries checked`);
  t.ok(stats.nonEmpty > stats.runs / 3, `${stats.nonEmpty} of ${stats.runs} matched something`);
});
