// Store v2 write side (docs/store.md): batch records written with their rows (no holes, a
// digest per row over the stored bytes, the HMAC chain when keyed), session numbers, segments
// and postings equal to termsOf, closing by size, by age and on close, both writers; snapshot
// pagination while writes and segment closes go on; bad input; migration 1 -> 2 (resumable).
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { open } from 'lmdb';
import { Store } from '../recorder/store/store.js';
import { DB_OPTIONS } from '../recorder/store/lmdb-options.js';
import { toStored, kindOf, type Kind } from '../recorder/store/kinds.js';
import { fromStored } from '../recorder/store/row-codec.js';
import { META, openLayout, postingParts, type BatchRecord, type SegmentRecord, type StoreDbs } from '../recorder/store/layout.js';
import { decodeOffsets } from '../recorder/store/postings.js';
import { segmentIdList } from '../recorder/store/segments.js';
import { termsOf } from '../recorder/store/terms.js';
import { migrate } from '../recorder/store/migrate.js';
import { DIGEST_BYTES, ZERO_MAC, batchMac, rowDigest } from '../recorder/store/integrity.js';
import { mintId } from '../recorder/event-id.js';
import type { SgEvent } from '../recorder/events.js';
import { httpInput, manualClock, oneOfEach, silentLogger, stamp, waitFor } from './fixtures/recorder-helpers.js';

const logger = silentLogger();
const KEY = Buffer.alloc(32, 9);
let base = 1_770_000_000_000;
const layoutOf = (s: Store) => (s as unknown as { layout: StoreDbs }).layout;
const events = (n: number, over: (i: number) => Record<string, unknown> = () => ({})): SgEvent[] => {
  const start = (base += 1_000_000);
  return stamp(
    Array.from({ length: n }, (_, i) => oneOfEach(i).map((e) => ({ ...e, ...over(i) }))).flat() as never,
    mintId,
    (i) => start + i,
  );
};

/** Checks every batch record against the rows it lists; returns the listed ids in order. */
function checkBatches(t: Test, dbs: StoreDbs, key: Buffer | undefined): string[] {
  const listed: string[] = [];
  let prevMac = ZERO_MAC;
  let expect = 1;
  for (const { key: b, value } of dbs.batches!.getRange({})) {
    const rec = value as BatchRecord;
    if (b !== expect) t.fail(`batch ${expect} missing (found ${b})`);
    expect = b + 1;
    t.equal(rec.b, b);
    t.equal(rec.digests.length, rec.rows.length * DIGEST_BYTES);
    rec.rows.forEach(([kind, id], i) => {
      const bin = dbs.rows[kind]!.getBinary(id) as Uint8Array;
      if (!Buffer.from(rec.digests).subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES).equals(rowDigest(kind, id, bin))) t.fail(`digest of ${kind} ${id} in batch ${b}`);
      listed.push(id);
    });
    if (key) {
      const mac = batchMac(key, prevMac, b, rec.ts, Buffer.from(rec.digests));
      if (!rec.mac || !mac.equals(Buffer.from(rec.mac))) t.fail(`mac of batch ${b}`);
      prevMac = mac;
    } else t.notOk(rec.mac, 'no mac without a key');
  }
  t.equal(dbs.meta.get(META.batchLast) ?? 0, expect - 1, 'batch:last is the last record');
  return listed;
}

/** Checks segments: contiguous batches, ids = the batches' rows, postings = termsOf. */
function checkSegments(t: Test, dbs: StoreDbs): void {
  let nextB = 1;
  for (const { key: s, value } of dbs.segments!.getRange({})) {
    const rec = value as SegmentRecord;
    t.equal(rec.b0, nextB, `segment ${s} starts where the previous ended`);
    nextB = rec.b1 + 1;
    const want = new Map<Kind, string[]>();
    for (let b = rec.b0; b <= rec.b1; b++) for (const [k, id] of (dbs.batches!.get(b) as BatchRecord).rows) (want.get(k) ?? want.set(k, []).get(k)!).push(id);
    for (const [kind, k] of Object.entries(rec.kinds) as [Kind, SegmentRecord['kinds'][Kind]][]) {
      const ids = segmentIdList(dbs, s, kind, rec);
      t.same(ids, want.get(kind), `segment ${s} ${kind}: ids in batch order`);
      t.notOk(k!.ids, 'the record does not repeat the ids');
      t.equal(k!.batch_ends.length, rec.b1 - rec.b0 + 1);
      t.equal(k!.batch_ends[k!.batch_ends.length - 1], ids.length);
      // Postings of this segment and kind, against termsOf of each row.
      const expected = new Map<string, number[]>();
      ids.forEach((id, i) => {
        const ev = fromStored(kind, id, dbs.rows[kind]!.get(id));
        for (const [f, term] of termsOf(kind, ev)) {
          const key = `${f}\0${term}`;
          (expected.get(key) ?? expected.set(key, []).get(key)!).push(i);
        }
      });
      const got = new Map<string, number[]>();
      for (const { key, value: v } of dbs.postings!.getRange({ start: [s, kind], end: [s, kind, '\uffff'] })) {
        const { field: f, term } = postingParts(key);
        got.set(`${f}\0${term}`, [...decodeOffsets(v)]);
      }
      t.equal(got.size, expected.size, `segment ${s} ${kind}: one posting per term`);
      for (const [k2, offs] of expected) if (JSON.stringify(got.get(k2)) !== JSON.stringify(offs)) t.fail(`posting ${JSON.stringify(k2)} of segment ${s}: ${JSON.stringify(got.get(k2))} != ${JSON.stringify(offs)}`);
    }
  }
  t.equal(dbs.meta.get(META.openFrom) ?? 1, nextB, 'the open region starts after the last segment');
}

for (const writer of ['inline', 'worker'] as const) {
  t.test(`batch records, digests, chain, session numbers and segments (${writer} writer)`, async (t) => {
    const dir = t.testdir();
    const s = Store.open({ dir, logger, writer, integrityKey: KEY, segmentRows: 40 });
    const all: SgEvent[] = [];
    for (let i = 0; i < 12; i++) {
      const batch = events(3 + i);
      all.push(...batch);
      await s.writeBatch(batch);
    }
    // A batch of duplicates only stores nothing and takes no batch number.
    const before = s.position().batch;
    t.same((await s.writeBatch(all.slice(0, 5))).stored, 0);
    t.equal(s.position().batch, before, 'no batch record for a batch that stored nothing');
    // Duplicated starts are never numbered.
    const dupStart = all.find((e) => e.type === 'session.start')!;
    const fresh = events(1);
    await s.writeBatch([dupStart, ...fresh]);
    all.push(...fresh);
    await s.closeSegment();
    const dbs = layoutOf(s);
    const listed = checkBatches(t, dbs, KEY);
    t.same(listed.slice().sort(), all.map((e) => e.id).sort(), 'every stored row is listed once');
    checkSegments(t, dbs);
    t.ok(s.position().segment > 3, 'several segments closed by size');
    const starts = all.filter((e) => e.type === 'session.start');
    t.equal(s.position().sessionSeq, starts.length, 'one number per stored start');
    const rows = [];
    for (let c: string | undefined, i = 0; i < 100; i++) {
      const p = s.query('sessions', { limit: 500, order: 'asc', cursor: c });
      rows.push(...p.items);
      if (!(c = p.next_cursor)) break;
    }
    t.same(
      rows.map((r) => r.seq),
      starts.map((_, i) => i + 1),
      'seq 1..n in commit order, no holes',
    );
    t.same(s.getEvent(starts[0]!.id), starts[0], 'getEvent does not show seq');
    await s.close();
    // Reopened: the chain continues from the last record.
    const s2 = Store.open({ dir, logger, writer, integrityKey: KEY, segmentRows: 40 });
    await s2.writeBatch(events(2));
    checkBatches(t, layoutOf(s2), KEY);
    await s2.close();
  });
}

t.test('segments close by age (clock) and on graceful close; an idle open region is still queried', async (t) => {
  const clock = manualClock(base);
  const dir = t.testdir();
  const s = Store.open({ dir, logger, clock, segmentRows: 10_000, segmentMaxAgeMs: 300 });
  const batch = events(2);
  await s.writeBatch(batch);
  t.equal(s.position().segment, 0, 'young and small: still open');
  t.equal(s.query('requests', {}).items.length, 2, 'the open region is queried row by row');
  clock.advance(301);
  t.ok(await waitFor(() => s.position().segment === 1), 'closed once its first batch is older than the limit');
  t.equal(s.query('requests', {}).items.length, 2);
  await s.writeBatch(events(1));
  await s.close();
  const r = Store.open({ dir, logger, readOnly: true });
  t.teardown(() => r.close());
  t.same(r.position().openFrom, r.position().batch + 1, 'close() indexed the open region');
  t.equal(r.query('requests', { q: 'panel.example' }).items.length, 3);
});

t.test('pagination while writes and segment closes go on never repeats or skips (snapshot)', async (t) => {
  const s = Store.open({ dir: t.testdir(), logger, segmentRows: 25 });
  t.teardown(() => s.close());
  const t0 = (base += 1_000_000);
  const initial = stamp(Array.from({ length: 300 }, (_, i) => httpInput(i)), mintId, (i) => t0 + Math.floor(i / 2));
  for (let i = 0; i < 300; i += 30) await s.writeBatch(initial.slice(i, i + 30));
  for (const q of [{ realm: 'client' }, { q: 'example.com/p/1' }, {}, { order: 'asc' as const }]) {
    const want: string[] = [];
    for (let c: string | undefined, i = 0; i < 100; i++) {
      const p = s.query('requests', { ...q, limit: 500, cursor: c });
      want.push(...p.items.map((e) => e.id));
      if (i === 0) t.type(p.total, 'number', 'the first page has a total');
      if (!(c = p.next_cursor)) break;
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let round = 0;
    for (;;) {
      const page = s.query('requests', { ...q, limit: 13, cursor });
      seen.push(...page.items.map((e) => e.id));
      round++;
      // Newer events and backdated ones (into the range already paged) keep arriving.
      const newer = stamp(Array.from({ length: 12 }, (_, i) => httpInput(i)), mintId, (i) => t0 + 10_000 + round * 100 + i);
      const back = stamp(Array.from({ length: 4 }, (_, i) => httpInput(i)), mintId, (i) => t0 + ((round * 37 + i * 11) % 150));
      await s.writeBatch([...newer, ...back]);
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    t.same(seen, want, `${JSON.stringify(q)}: the pages are exactly the first page's snapshot`);
  }
  t.ok(s.position().segment > 5, 'segments closed meanwhile');
});

t.test('bad input: a clear SG_ERR_BAD_PARAM naming the parameter, never a crash or a full scan', async (t) => {
  const s = Store.open({ dir: t.testdir(), logger, scanBudget: 10, sortMax: 5, segmentRows: 20 });
  t.teardown(() => s.close());
  await s.writeBatch(events(20));
  await s.closeSegment();
  const badParam = (f: () => unknown, param: string, what: string) => t.throws(f, { code: 'SG_ERR_BAD_PARAM', details: { param } }, what);
  badParam(() => s.query('requests', { q: 'x'.repeat(1025) }), 'q', 'keyword over 1024 characters');
  badParam(() => s.query('sessions', { q: '🚀'.repeat(1025) }), 'q', '1025 astral characters');
  t.ok(s.query('activity', { q: '🚀'.repeat(1024) }), '1024 astral characters are fine');
  badParam(() => s.query('requests', { relam: 'x' } as never), 'relam', 'unknown filter');
  badParam(() => s.query('sessions', { realm: 'x' } as never), 'realm', 'a filter of another kind');
  badParam(() => s.query('requests', { sort: 'nope' } as never), 'sort', 'unknown sort');
  badParam(() => s.query('transfers', { sort: 'seq' } as never), 'sort', 'sort of another kind');
  badParam(() => s.query('activity', { order: 'up' } as never), 'order', 'order');
  badParam(() => s.query('activity', { types: [] } as never), 'types', 'empty types');
  badParam(() => s.query('activity', { types: ['ssh.exec'] } as never), 'types', 'foreign type');
  badParam(() => s.query('sessions', { protocol: 'telnet' } as never), 'protocol', 'protocol');
  badParam(() => s.query('sessions', { state: 'closed' } as never), 'state', 'state');
  badParam(() => s.query('transfers', { direction: 'sideways' } as never), 'direction', 'direction');
  badParam(() => s.query('transfers', { path: 5 } as never), 'path', 'path type');
  badParam(() => s.query('requests', { from: '2025-01-01' } as never), 'from', 'date as text');
  badParam(() => s.query('requests', { to: -5 }), 'to', 'negative');
  badParam(() => s.query('requests', { limit: 0 }), 'limit', 'limit');
  badParam(() => s.query('requests', { hide: { logins: 'alice' } } as never), 'hide.logins', 'hide list');
  badParam(() => s.query('requests', { hide: { logins: Array(101).fill('a') } }), 'hide.logins', 'hide list too long');
  badParam(() => s.query('requests', null as never), 'query', 'not an object');
  badParam(() => s.query('nope' as never, {} as never), 'kind', 'unknown kind');
  badParam(() => s.timeline({}), 'login', 'timeline without identity');
  badParam(() => s.timeline({ login: 'a', ip: '10.0.0.1' }), 'identity', 'timeline with two identities');
  badParam(() => s.query('requests', { sort: 'url', limit: 5 }), 'sort', 'more matches to sort than sortMax');
  t.equal(s.query('requests', { sort: 'url', q: 'p/1?' }).items.length, 1, 'a narrower query sorts');
  for (const q of ['.*', '(', '[', '\\', '$^', '%', '\u0000', '\ud800', 'a\u0301', '\u212b', '   ', '']) t.ok(Array.isArray(s.query('requests', { q }).items), `keyword ${JSON.stringify(q)}`);
  t.same(s.query('requests', { q: '\u212b' }).items, s.query('requests', { q: '\u00e5' }).items, 'NFKC: Angstrom sign = a-ring');
  const p = s.query('requests', { q: 'zz' });
  t.equal(p.partial, true, 'a short keyword scans within the budget and says so');
});

t.test('the worker writer indexes the same segments as the inline writer', async (t) => {
  const evs = events(30);
  const pages: unknown[] = [];
  for (const writer of ['inline', 'worker'] as const) {
    const s = Store.open({ dir: join(t.testdir(), writer), logger, writer, segmentRows: 33 });
    for (let i = 0; i < evs.length; i += 17) await s.writeBatch(evs.slice(i, i + 17));
    await s.closeSegment();
    checkSegments(t, layoutOf(s));
    pages.push([s.query('requests', { q: 'example', limit: 500 }).items.map((e) => e.id), s.query('sessions', { limit: 500 }).items.map((r) => [r.seq, r.end?.id]), s.timeline({ ip: '1.2.3.4' }).items.length]);
    await s.close();
  }
  t.same(pages[0], pages[1]);
});

t.test('migration 1 -> 2: existing rows get batch records, numbers and segments; resumable', async (t) => {
  const dir = t.testdir();
  const old = events(700, (i) => (i % 3 === 0 ? { client: `Migrated ${i}` } : {})); // 5600 rows
  // A v1 store, written with the old layout: rows by id, counts, schema_version 1.
  const raw = open<unknown, string>({ path: join(dir, 'data.mdb'), ...DB_OPTIONS, maxDbs: 64 });
  const meta = raw.openDB<unknown, string>({ name: 'meta', ...DB_OPTIONS });
  await raw.transaction(() => {
    meta.putSync('schema_version', 1);
    const counts = new Map<string, number>();
    for (const e of old) {
      const kind = kindOf(e.type)!;
      raw.openDB<unknown, string>({ name: kind, ...DB_OPTIONS }).putSync(e.id, toStored(kind, e));
      counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
    }
    for (const [type, n] of counts) meta.putSync(`count:${type}`, n);
  });
  // A crash in the middle: the first chunk commits, the second fails.
  const dbs = openLayout(raw);
  let calls = 0;
  t.throws(() =>
    migrate(dbs, {
      from: 1,
      key: KEY,
      logger,
      segmentRows: 1000,
      now: () => {
        if (++calls === 2) throw new Error('injected crash');
        return base;
      },
    }),
  );
  t.equal(calls, 2, 'the injected fault fired after one chunk');
  t.equal(dbs.meta.get(META.batchLast), 1, 'one chunk committed');
  await raw.close();

  const s = Store.open({ dir, logger, integrityKey: KEY });
  t.teardown(() => s.close());
  const d = layoutOf(s);
  t.equal(d.meta.get(META.version), 2);
  t.equal(d.meta.get(META.migration), undefined, 'progress cleared');
  const listed = checkBatches(t, d, KEY);
  t.same(listed, old.map((e) => e.id).sort(), 'every row listed exactly once, in id order');
  checkSegments(t, d);
  t.equal(s.position().openFrom, s.position().batch + 1, 'everything indexed');
  t.equal(s.query('requests', { q: 'migrated 69', limit: 500 }).items.length, old.filter((e) => e.type === 'http.request' && /Migrated 69/.test((e as { client?: string }).client ?? '')).length);
  const sessions = s.query('sessions', { limit: 500, order: 'asc' });
  t.same(
    sessions.items.map((r) => r.seq),
    Array.from({ length: 500 }, (_, i) => i + 1),
  );
  t.equal(sessions.total, 700);
  t.ok(sessions.items.every((r) => r.end), 'ends found through the session index');
  t.same([...s.iterateAll()].length, old.length);
  await s.writeBatch(events(1));
  checkBatches(t, d, KEY);
});
