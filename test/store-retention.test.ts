// Retention: removes exactly the rows older than their kind's period (and their postings,
// counters, emptied batches and segments), keeps everything younger even while a writer keeps
// writing, records its run as activity, and leaves a chain that `verify` still accepts.
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { Retention, type RetentionActivity, type RetentionReport } from '../recorder/store/retention.js';
import { ANCHOR_KEY, parseAnchor, verifyStore } from '../recorder/store/integrity.js';
import { KIND_OF_TYPE, type Kind } from '../recorder/store/kinds.js';
import { decodeOffsets } from '../recorder/store/postings.js';
import { postingParts, type SegmentRecord, type StoreDbs } from '../recorder/store/layout.js';
import { segmentIdList } from '../recorder/store/segments.js';
import { tierLast, type TierKey } from '../recorder/store/tiers.js';
import type { SgEvent } from '../recorder/events.js';
import type { Store } from '../recorder/store/store.js';
import { KEY, eventsAt, layoutOf, openStore, withRaw, writeAll } from './helpers/store-chain.js';
import { manualClock, silentLogger } from './fixtures/recorder-helpers.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 1);
const PERIODS = { requests: 10 * DAY, sessions: 20 * DAY, activity: 30 * DAY, transfers: 10 * DAY };
const PERIOD_OF: Record<Kind, number> = { requests: PERIODS.requests, sessions: PERIODS.sessions, ssh: PERIODS.sessions, activity: PERIODS.activity, transfers: PERIODS.transfers };

function retention(store: Store, clock: { now(): number }, emitted: RetentionActivity[], over: Partial<ConstructorParameters<typeof Retention>[0]> = {}): Retention {
  return new Retention({ dbs: layoutOf(store), periods: PERIODS, interval: 3_600_000, key: KEY, clock, logger: silentLogger(), emit: (ev) => void emitted.push(ev), ...over });
}

const expired = (e: SgEvent, now: number) => e.ts < now - PERIOD_OF[KIND_OF_TYPE[e.type]];

/** Every posting points at a row that exists; every segment record left holds a row. */
function checkIndex(t: Test, dbs: StoreDbs): void {
  const segs = new Map<number, SegmentRecord>();
  for (const { key, value } of dbs.segments!.getRange({})) segs.set(key, value as SegmentRecord);
  let bad = 0;
  let n = 0;
  for (const { key, value } of dbs.postings!.getRange({})) {
    const { kind, s } = postingParts(key);
    const seg = segs.get(s);
    for (const o of decodeOffsets(value)) {
      n++;
      const id = seg ? segmentIdList(dbs, s, kind, seg)[o] : undefined;
      if (!id || !dbs.rows[kind]!.doesExist(id)) bad++;
    }
  }
  t.ok(n > 0, 'postings remain');
  t.equal(bad, 0, 'no posting points at a removed row');
  for (const [s, seg] of segs) {
    const rows = Object.keys(seg.kinds).flatMap((k) => segmentIdList(dbs, s, k as Kind, seg).filter((id) => dbs.rows[k as Kind]!.doesExist(id)));
    t.ok(rows.length > 0, `segment ${s} still holds rows`);
  }
}

t.test('prunes exactly the expired rows and verify still passes', async (t) => {
  const dir = join(t.testdir(), 'store');
  const clock = manualClock(T0);
  const store = openStore(dir, { key: KEY, clock, segmentRows: 24 });
  t.teardown(() => store.close());
  // 60 days of events, one round of every type every 12 hours, committed as time passes.
  const events = eventsAt(120, T0, DAY / 2);
  for (let i = 0; i < events.length; i += 8) {
    clock.set(events[i]!.ts);
    await writeAll(store, events.slice(i, i + 8));
  }
  // A backdated old event in a recent batch (a late-arriving record).
  const late = eventsAt(1, T0 + DAY)[0]!;
  await writeAll(store, [late]);
  await store.closeSegment();
  await store.buildTiers();
  const tierKeys = (tier: number) => [...layoutOf(store).tiers!.getKeys({ start: [tier] as unknown as TierKey, end: [tier + 1] as unknown as TierKey })].length;
  t.ok(tierLast(layoutOf(store)) >= 1 && tierKeys(0) > 0 && tierKeys(1) > 0, 'two keyword tiers built');
  const now = T0 + 60 * DAY;
  clock.set(now);
  const emitted: RetentionActivity[] = [];
  const r = retention(store, clock, emitted, { chunkRows: 7 });
  t.teardown(() => r.close());
  const rep: RetentionReport = await r.runOnce();

  const all = [...events, late];
  const want: Partial<Record<Kind, number>> = {};
  for (const e of all) if (expired(e, now)) want[KIND_OF_TYPE[e.type]] = (want[KIND_OF_TYPE[e.type]] ?? 0) + 1;
  t.same(rep.removed, want, 'removed counts per kind');
  t.ok(rep.batches_pruned > 0 && rep.batches_dropped > 0 && rep.segments_dropped > 0, JSON.stringify(rep));
  t.ok(rep.transactions > 5, 'many small transactions');
  for (const e of all) {
    const got = store.getEvent(e.id);
    if (expired(e, now)) t.equal(got, undefined, `${e.type} ${e.id} removed`);
    else if (!got) t.fail(`${e.type} ${e.id} (younger than its period) is gone`);
  }
  const counts = store.countByType();
  for (const type of Object.keys(counts) as (keyof typeof counts)[]) {
    t.equal(counts[type], all.filter((e) => e.type === type && !expired(e, now)).length, `count of ${type}`);
  }
  checkIndex(t, layoutOf(store));
  // Tier 0 (segments 1-16, the first 24 days) lost every segment; tier 1 keeps some.
  t.equal(tierKeys(0), 0, 'a tier whose segments are all gone goes with them');
  t.ok(tierKeys(1) > 0, 'a tier with a segment left stays');
  t.equal(emitted.length, 1, 'one activity for the run');
  t.match(emitted[0], { type: 'activity', initiator: 'system', action: 'retention_prune', details: { removed: want, cutoffs: { requests: new Date(now - PERIODS.requests).toISOString() } } });

  const v = await verifyStore({ storeDir: dir, key: KEY, logger: silentLogger() });
  t.ok(v.ok, JSON.stringify(v.breaks.slice(0, 3)));
  t.ok(v.anchor && v.anchor.b > 0, 'the chain now starts at the anchor');
  t.ok(v.pruned_rows > 0, 'rows removed from batches that stay are accounted for (the late event)');

  // Nothing more to do: no activity.
  const again = await r.runOnce();
  t.same(again.removed, {});
  t.equal(emitted.length, 1);
});

for (const mode of ['inline', 'worker'] as const) t.test(`retention while a writer (${mode}) keeps writing loses nothing younger than the cutoff`, async (t) => {
  const dir = join(t.testdir(), 'store');
  const now = T0 + 100 * DAY;
  const clock = manualClock(now);
  const store = openStore(dir, { key: KEY, clock, segmentRows: 40, writer: mode });
  t.teardown(() => store.close());
  // Old and young history, indexed.
  const history = eventsAt(150, T0 + 50 * DAY, DAY / 3);
  await writeAll(store, history, 16);
  await store.closeSegment();

  const emitted: RetentionActivity[] = [];
  const r = retention(store, clock, emitted, { chunkRows: 10 });
  t.teardown(() => r.close());
  const fresh: SgEvent[] = [];
  let stop = false;
  const writer = (async () => {
    for (let i = 0; !stop || i < 20; i++) {
      const evs = eventsAt(1, now + i * 1000);
      await writeAll(store, evs);
      fresh.push(...evs);
      if (i % 7 === 6) await store.closeSegment();
    }
  })();
  const running = r.runOnce();
  const before = fresh.length;
  const rep = await running;
  t.ok(fresh.length > before, `commits went on during the run (${fresh.length - before} batches)`);
  stop = true;
  await writer;
  await store.closeSegment();
  t.ok(Object.values(rep.removed).reduce((a, n) => a + n!, 0) > 0, 'something was removed');
  let kept = 0;
  for (const e of [...history, ...fresh]) {
    const got = store.getEvent(e.id);
    if (expired(e, now)) t.equal(got, undefined);
    else if (got) kept++;
    else t.fail(`${e.id} lost`);
  }
  t.equal(kept, [...history, ...fresh].filter((e) => !expired(e, now)).length, 'every younger event is kept');
  checkIndex(t, layoutOf(store));
  const v = await verifyStore({ storeDir: dir, key: KEY, logger: silentLogger() });
  t.ok(v.ok, JSON.stringify(v.breaks.slice(0, 3)));
});

t.test('what retention leaves cannot be abused: deleting a young row or forging the anchor is named', async (t) => {
  const dir = join(t.testdir(), 'store');
  const clock = manualClock(T0 + 60 * DAY);
  const store = openStore(dir, { key: KEY, clock });
  const events = eventsAt(60, T0, DAY);
  await writeAll(store, events);
  await store.closeSegment();
  const r = retention(store, clock, []);
  await r.runOnce();
  await r.close();
  await store.close();
  t.ok((await verifyStore({ storeDir: dir, key: KEY, logger: silentLogger() })).ok);

  const young = events.filter((e) => e.type === 'http.request' && !expired(e, clock.now()))[0]!;
  await withRaw(dir, (dbs) => dbs.rows.requests!.removeSync(young.id));
  const v = await verifyStore({ storeDir: dir, key: KEY, logger: silentLogger() });
  t.equal(v.break_count, 1);
  t.match(v.first_break, { problem: 'row_missing', id: young.id }, 'a row younger than the cutoff must be there');

  // Raising the cutoff so that the removed row looks pruned: the anchor's hmac no longer
  // matches, and its cutoffs are then not trusted at all.
  await withRaw(dir, (dbs) => {
    const a = parseAnchor(dbs.meta.get(ANCHOR_KEY));
    if (typeof a === 'string') throw new Error(a);
    dbs.meta.putSync(ANCHOR_KEY, { ...a, cutoffs: { ...a.cutoffs, requests: young.id + 'Z' } });
  });
  const forged = await verifyStore({ storeDir: dir, key: KEY, logger: silentLogger() });
  t.match(forged.first_break, { problem: 'anchor_invalid' });
  t.ok(forged.breaks.some((b) => b.problem === 'row_missing'), 'rows below the untrusted cutoffs are reported missing');
});

t.test('a batch turned into a stub by someone else is named', async (t) => {
  const dir = join(t.testdir(), 'store');
  const clock = manualClock(T0);
  const store = openStore(dir, { key: KEY, clock });
  await writeAll(store, eventsAt(10, T0, DAY));
  await store.closeSegment();
  await store.close();
  await withRaw(dir, async (dbs) => {
    const { pruneBatch, parseBatch } = await import('../recorder/store/integrity.js');
    const rec = parseBatch(5, dbs.batches!.get(5));
    if (typeof rec === 'string') throw new Error(rec);
    for (const [k, id] of rec.rows) dbs.rows[k]!.removeSync(id);
    // An attacker without the key: the stub's hmac cannot be made.
    dbs.batches!.putSync(5, pruneBatch(undefined, rec));
  });
  const v = await verifyStore({ storeDir: dir, key: KEY, logger: silentLogger() });
  t.match(v.first_break, { problem: 'batch_mac', b: 5, detail: /pruned/ });
});

t.test('refuses to run without the key on a signed store, and bad options', async (t) => {
  const dir = join(t.testdir(), 'store');
  const clock = manualClock(T0 + 60 * DAY);
  const store = openStore(dir, { key: KEY, clock });
  t.teardown(() => store.close());
  await writeAll(store, eventsAt(4, T0, DAY));
  const r = retention(store, clock, [], { key: undefined });
  t.teardown(() => r.close());
  const before = store.countByType();
  await t.rejects(r.runOnce(), { code: 'SG_ERR_CONFIG_INVALID' });
  t.same(store.countByType(), before, 'nothing was removed');
  t.throws(() => retention(store, clock, [], { chunkRows: 5000 }), { code: 'SG_ERR_CONFIG_INVALID' });
  t.throws(() => retention(store, clock, [], { periods: { requests: -1 } }), { code: 'SG_ERR_CONFIG_INVALID' });
  t.throws(() => retention(store, clock, [], { periods: { bogus: 1 } as never }), { code: 'SG_ERR_CONFIG_INVALID' });
});

t.test('start() runs on schedule until close()', async (t) => {
  const dir = join(t.testdir(), 'store');
  const clock = manualClock(T0 + 60 * DAY);
  const store = openStore(dir, { key: KEY, clock });
  t.teardown(() => store.close());
  await writeAll(store, eventsAt(30, T0, DAY));
  await store.closeSegment();
  const emitted: RetentionActivity[] = [];
  const r = retention(store, clock, emitted, { firstRunDelay: 0, interval: 60_000 });
  r.start();
  for (let i = 0; i < 500 && !emitted.length; i++) await new Promise((res) => setTimeout(res, 20));
  await r.close();
  t.equal(emitted.length, 1, 'the scheduled run pruned and recorded it');
  await t.rejects(r.runOnce(), { code: 'SG_ERR_INTERNAL' }, 'closed');
});
