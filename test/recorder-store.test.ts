// Store: file modes, schema version, one-transaction batches, compact values, never
// overwriting a stored id, per-type counts, id-ordered iteration, databases for other parts.
import t from 'tap';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { DB_OPTIONS, Store, SCHEMA_VERSION } from '../recorder/store/store.js';
import { SHAPE_V1, fromStored } from '../recorder/store/row-codec.js';
import { mintId } from '../recorder/event-id.js';
import { AccessControl, type KvDb } from '../gateway/core/access.js';
import type { SgError } from '../gateway/core/errors.js';
import type { SgEvent } from '../recorder/events.js';
import { captureLogger, httpInput, oneOfEach, silentLogger, stamp } from './fixtures/recorder-helpers.js';

const logger = silentLogger();
const code = (e: unknown) => (e as SgError).code;
let base = 1_700_000_000_000;
const events = (n: number): SgEvent[] => {
  const start = (base += 1_000_000);
  return stamp(
    Array.from({ length: n }, (_, i) => oneOfEach(i)).flat(),
    mintId,
    (i) => start + i,
  );
};

t.test('directory 0700, files 0600, schema version recorded and checked', async (t) => {
  const dir = join(t.testdir(), 'data', 'store');
  const s = Store.open({ dir, logger });
  t.equal(statSync(dir).mode & 0o777, 0o700);
  t.equal(statSync(join(dir, 'data.mdb')).mode & 0o777, 0o600);
  t.equal(statSync(join(dir, 'data.mdb-lock')).mode & 0o777, 0o600);
  t.throws(() => Store.open({ dir, logger }), { code: 'SG_ERR_STORE_OPEN' }, 'a second writable open in one process is refused');
  await s.close();
  await s.close();
  t.throws(() => s.getEvent(mintId(base, base)), { code: 'SG_ERR_STORE_UNAVAILABLE' }, 'closed store refuses reads');

  // A newer schema on disk must not be opened (nor touched).
  const raw = open<unknown, string>({ path: join(dir, 'data.mdb'), maxDbs: 32 });
  const meta = raw.openDB<unknown, string>({ name: 'meta', ...DB_OPTIONS });
  t.equal(meta.get('schema_version'), SCHEMA_VERSION);
  await meta.put('schema_version', SCHEMA_VERSION + 1);
  await raw.close();
  t.throws(() => Store.open({ dir, logger }), { code: 'SG_ERR_STORE_OPEN' });
  t.throws(() => Store.open({ dir, logger, readOnly: true }), { code: 'SG_ERR_STORE_OPEN' });

  t.throws(() => Store.open({ dir: join(t.testdirName, 'nothing-here'), logger, readOnly: true }), { code: 'SG_ERR_STORE_OPEN' });
  t.throws(() => Store.open({ dir: '', logger }), { code: 'SG_ERR_STORE_OPEN' });
});

t.test('a batch of every type round-trips; ids are kept in time order across kinds', async (t) => {
  const dir = t.testdir();
  const s = Store.open({ dir, logger });
  t.teardown(() => s.close());
  const batch = events(50);
  const res = await s.writeBatch(batch);
  t.same(res, { stored: batch.length, duplicates: [], rejected: [] });
  for (const e of batch) t.same(s.getEvent(e.id), e, `getEvent ${e.type}`);
  t.equal(s.getEvent(mintId(base - 5e9, base)), undefined, 'unknown id');
  t.throws(() => s.getEvent('nope'), { code: 'SG_ERR_BAD_PARAM' });

  const all = [...s.iterateAll()];
  const sorted = [...batch].sort((a, b) => (a.id < b.id ? -1 : 1));
  t.same(all, sorted, 'iterateAll merges kinds in id order and equals what was written');
  const from = sorted[123]!.id;
  t.same([...s.iterateAll(from)], sorted.slice(123), 'iterateAll(fromId) starts at fromId, inclusive');
  const it = s.iterateAll();
  it.next();
  it.return(undefined);
  t.throws(() => s.iterateAll('x'), { code: 'SG_ERR_BAD_PARAM' });

  const counts = s.countByType();
  t.equal(counts['http.request'], 50);
  t.equal(counts['session.start'], 50);
  t.equal(counts['audit.gap'], 0);
  t.ok(s.sizeBytes() > 0);
});

t.test('values are compact: shaped arrays, no id, no implied type, no undefined fields', async (t) => {
  const dir = t.testdir();
  const s = Store.open({ dir, logger });
  const [req, start] = stamp([httpInput(1, { user_agent: undefined, user: { name: 'A', email: undefined } }), oneOfEach()[1]!], mintId, () => base + 7);
  await s.writeBatch([req!, start!]);
  await s.close();
  const raw = open<unknown, string>({ path: join(dir, 'data.mdb'), maxDbs: 32, readOnly: true });
  t.teardown(() => raw.close());
  const requests = raw.openDB<unknown[], string>({ name: 'requests', ...DB_OPTIONS });
  const sessions = raw.openDB<unknown[], string>({ name: 'sessions', ...DB_OPTIONS });
  const r = requests.get(req!.id)!;
  t.ok(Array.isArray(r) && r[0] === SHAPE_V1 && r[1] === null, 'a shaped row without extras');
  t.notOk(r.includes(req!.id), 'id is the key, not in the value');
  t.notOk(r.includes('http.request'), 'requests hold one type: not stored');
  t.notOk(r.includes(undefined) && r.length > 24, 'no trailing absent fields');
  t.notOk(JSON.stringify(r).includes('Mozilla'), 'undefined top-level field dropped');
  t.ok(r.some((v) => JSON.stringify(v) === '["A"]'), 'user shaped, undefined nested field dropped');
  t.ok(sessions.get(start!.id)!.includes('session.start'), 'mixed-type kinds keep the type');
  t.strictSame(fromStored('requests', req!.id, r), JSON.parse(JSON.stringify(req)), 'decodes to the event');
});

for (const writer of ['worker', 'inline'] as const) {
  t.test(`a stored id is never overwritten; bad events do not poison a batch (${writer} writer)`, async (t) => {
    const cap = captureLogger();
    const s = Store.open({ dir: t.testdir(), logger: cap.logger, writer });
    t.teardown(() => s.close());
    const [a, b] = events(1);
    await s.writeBatch([a!]);
    const forged = { ...a!, url: 'https://evil.example/' } as SgEvent;
    const bad = { ...b!, id: 'not-an-id' } as SgEvent;
    const wrongTime = { ...b!, ts: b!.ts + 10_000 } as SgEvent;
    const unknownType = { ...b!, type: 'nope' } as unknown as SgEvent;
    const unencodable = { ...b!, id: mintId(b!.ts, b!.ts), details: { f: 10n ** 30n } } as unknown as SgEvent;
    const res = await s.writeBatch([forged, bad, wrongTime, unknownType, unencodable, b!]);
    t.equal(res.stored, 1);
    t.same(res.duplicates, [forged]);
    t.same(
      res.rejected.map((r) => r.event),
      [bad, wrongTime, unknownType, unencodable],
    );
    t.same(s.getEvent(a!.id), a, 'original kept');
    t.same(s.getEvent(b!.id), b);
    t.equal(s.countByType()['http.request'], 1, 'counts only what was stored');
    t.match(
      cap.lines.filter((l) => l.msg === 'store refused events: not written'),
      [{ refused: 5, examples: [{ id: a!.id, problem: /duplicate/ }, { problem: /malformed/ }, { problem: /differs/ }, { problem: /unknown event type/ }, { problem: /cannot encode/ }] }],
      'refusals are logged even if the caller ignores the result',
    );
    t.same(await s.writeBatch([]), { stored: 0, duplicates: [], rejected: [] });
  });

  t.test(`out-of-order and repeated ids in one batch (${writer} writer)`, async (t) => {
    const s = Store.open({ dir: t.testdir(), logger: silentLogger(), writer });
    t.teardown(() => s.close());
    const at = (base += 1_000_000);
    const mk = (ms: number, i: number) => stamp([httpInput(i)], mintId, () => at + ms)[0]!;
    const b = mk(50, 1);
    await s.writeBatch([b]);
    const older = mk(10, 2);
    const newest = mk(90, 3);
    const oldest = mk(1, 4);
    const again = { ...newest, url: 'https://evil.example/' } as SgEvent;
    const forged = { ...b, url: 'https://evil.example/' } as SgEvent;
    const res = await s.writeBatch([older, forged, newest, again, oldest]);
    t.equal(res.stored, 3);
    t.same(res.duplicates, [forged, again], 'a stored id and an id repeated in the batch are both refused');
    t.ok(res.duplicates[0] === forged && res.duplicates[1] === again, 'reported as the very objects passed');
    for (const e of [b, older, newest, oldest]) t.same(s.getEvent(e.id), e);
    t.equal(s.countByType()['http.request'], 4);
    t.same(
      s.queryRequests({ limit: 10 }).items.map((e) => e.id),
      [newest.id, b.id, older.id, oldest.id],
      'newest first, whatever order they were written in',
    );
  });
}

t.test('a batch is all or nothing (inline writer: fault inside the main-thread transaction)', async (t) => {
  const s = Store.open({ dir: t.testdir(), logger, writer: 'inline' });
  t.teardown(() => s.close());
  const meta = (s as unknown as { meta: { putSync: (...a: unknown[]) => unknown } }).meta;
  const orig = meta.putSync;
  let fired = 0;
  meta.putSync = function (this: unknown, ...a: unknown[]) {
    if (String(a[0]).startsWith('count:')) {
      fired++;
      throw new Error('injected failure inside the transaction');
    }
    return orig.apply(this, a);
  };
  const batch = events(3);
  const err = await s.writeBatch(batch).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(fired > 0, 'the injected fault fired');
  t.equal(code(err), 'SG_ERR_STORE_WRITE');
  t.equal((err as SgError).details?.reason, 'write_failed');
  for (const e of batch) t.equal(s.getEvent(e.id), undefined, `${e.type} rolled back`);
  meta.putSync = orig;
  t.equal((await s.writeBatch(batch)).stored, batch.length, 'the same batch commits once the fault is gone');
});

type ThreadHandle = { write(events: SgEvent[]): Promise<unknown>; thread: { terminate(): Promise<number>; ref(): void } | undefined };
const writerThreadOf = (s: Store) => (s as unknown as { writerThread: ThreadHandle }).writerThread;

t.test('a batch is all or nothing (writer thread: a put fails mid-transaction there)', async (t) => {
  const s = Store.open({ dir: t.testdir(), logger, writer: 'worker' });
  t.teardown(() => s.close());
  const wt = writerThreadOf(s);
  const orig = wt.write.bind(wt);
  let fired = 0;
  // The valid events go first; a key LMDB refuses (too long) comes last, so the thread has
  // already put the others when its transaction fails.
  wt.write = (evs) => {
    fired++;
    return orig([...evs, { ...evs[0]!, id: 'K'.repeat(4000) }]);
  };
  const batch = events(3);
  const err = await s.writeBatch(batch).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.equal(fired, 1, 'the injected fault fired');
  t.equal(code(err), 'SG_ERR_STORE_WRITE', 'the failure inside the thread surfaces as SG_ERR_STORE_WRITE');
  t.equal((err as SgError).details?.reason, 'write_failed');
  for (const e of batch) t.equal(s.getEvent(e.id), undefined, `${e.type} rolled back`);
  t.same(Object.values(s.countByType()).filter((n) => n > 0), [], 'counts rolled back too');
  wt.write = orig;
  t.equal((await s.writeBatch(batch)).stored, batch.length, 'the same batch commits once the fault is gone');
  t.equal(s.countByType()['http.request'], 3);
});

t.test('writer thread: dies and is replaced; commits are visible to reads at once; durable flush', async (t) => {
  const s = Store.open({ dir: t.testdir(), logger, writer: 'worker' });
  t.teardown(() => s.close());
  const wt = writerThreadOf(s);
  const batch = events(4);
  t.equal((await s.writeBatch(batch.slice(0, 8))).stored, 8);
  const first = wt.thread;
  t.ok(first, 'the writer thread runs');
  // An idle thread is unref'd: hold the process open until its termination is reported.
  first!.ref();
  await first!.terminate();
  t.equal(wt.thread, undefined, 'a dead thread is forgotten');
  // Killed while a write is posted: the write is rejected (the recorder keeps it queued).
  const second = (await s.writeBatch(batch.slice(8, 16)), wt.thread);
  t.ok(second && second !== first, 'the next write started a new thread');
  const dying = second!.terminate();
  const lost = await s.writeBatch(batch.slice(16, 24)).then(
    () => undefined,
    (e: unknown) => e,
  );
  await dying;
  t.equal(code(lost), 'SG_ERR_STORE_WRITE', 'a write posted to a dying thread is rejected');
  for (const e of batch.slice(16, 24)) t.equal(s.getEvent(e.id), undefined, 'and was not written');
  t.equal((await s.writeBatch(batch.slice(16))).stored, batch.length - 16, 'the retry commits on a fresh thread');

  // A read snapshot taken just before a commit never hides it from reads just after.
  for (let i = 0; i < 30; i++) {
    const [e] = events(1);
    t.equal(s.getEvent(e!.id), undefined);
    await s.writeBatch([e!]);
    if (s.getEvent(e!.id) === undefined) {
      t.fail(`commit ${i} not visible after writeBatch resolved`);
      break;
    }
  }
  t.equal(s.countByType()['http.request'], 4 + 30);
  await s.flushed();
  t.pass('flushed() resolves after writer-thread commits');
});

t.test('an event that cannot cross to the writer thread is refused alone', async (t) => {
  const cap = captureLogger();
  const s = Store.open({ dir: t.testdir(), logger: cap.logger, writer: 'worker' });
  t.teardown(() => s.close());
  const [a, b, c] = events(1);
  const withFn = { ...b!, details: { f: () => 1 } } as unknown as SgEvent;
  const res = await s.writeBatch([a!, withFn, c!]);
  t.equal(res.stored, 2);
  t.same(res.duplicates, []);
  t.equal(res.rejected.length, 1);
  t.equal(res.rejected[0]!.event, withFn);
  t.match(res.rejected[0]!.error, /cannot encode/);
  t.same(s.getEvent(a!.id), a);
  t.same(s.getEvent(c!.id), c);
  t.equal(s.getEvent(b!.id), undefined);
});

t.test('read-only store sees committed data and refuses writes', async (t) => {
  const dir = t.testdir();
  const w = Store.open({ dir, logger });
  t.teardown(() => w.close());
  const batch = events(2);
  await w.writeBatch(batch.slice(0, 8));
  const r = Store.open({ dir, logger, readOnly: true });
  t.teardown(() => r.close());
  t.same(r.getEvent(batch[0]!.id), batch[0]);
  await w.writeBatch(batch.slice(8));
  t.same(r.getEvent(batch[9]!.id), batch[9], 'a later commit is visible');
  await t.rejects(r.writeBatch(batch), { code: 'SG_ERR_STORE_UNAVAILABLE' });
  t.throws(() => r.openDb('never-made'), { code: 'SG_ERR_STORE_OPEN' });
});

t.test('openDb hands out databases that satisfy KvDb (AccessControl persists through it)', async (t) => {
  const dir = t.testdir();
  let s = Store.open({ dir, logger });
  const db: KvDb = s.openDb('access');
  t.equal(s.openDb('access'), db, 'same handle each time');
  for (const name of ['requests', 'meta', 'sessions', 'Bad Name', '', '../x']) t.throws(() => s.openDb(name), { code: 'SG_ERR_BAD_PARAM' }, name);
  const clock = { now: () => Date.now() };
  const ac = new AccessControl({ clock, db });
  const lock = ac.lock({ kind: 'ip', value: '192.0.2.0/24', actor: 'alice' });
  await s.openDb('access').committed;
  await s.close();
  s = Store.open({ dir, logger });
  t.teardown(() => s.close());
  const again = new AccessControl({ clock, db: s.openDb('access') });
  t.same(again.listLocks().map((l) => l.id), [lock.id]);
  t.equal(again.check({ ip: '192.0.2.77' })?.id, lock.id);
  const users = s.openDb('users');
  await users.put('alice', { role: 'admin' });
  t.same(users.get('alice'), { role: 'admin' });
  t.equal(s.countByType()['http.request'], 0, 'other databases do not count as events');
});
