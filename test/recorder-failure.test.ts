// Store write failures (failure injection on Store.writeBatch): the recorder keeps events
// queued, reports unwritable, refuses durable emits, counts overflow exactly, retries with
// backoff and recovers on its own; close gives up on a dead store loudly and counts the loss.
import t from 'tap';
import { join } from 'node:path';
import { Recorder } from '../recorder/recorder.js';
import { Store } from '../recorder/store/store.js';
import { systemClock } from '../gateway/core/runtime.js';
import type { AuditGapEvent, SgEvent } from '../recorder/events.js';
import { audit, captureLogger, httpInput, oneOfEach, waitFor } from './fixtures/recorder-helpers.js';

/** Makes `store.writeBatch` fail with `err` while `fault.on` is true. */
function injectFault(store: Store, err: () => Error) {
  const orig = store.writeBatch.bind(store);
  const fault = { on: true, fired: 0, restore: () => (store.writeBatch = orig) };
  store.writeBatch = async (events) => {
    if (fault.on) {
      fault.fired++;
      throw err();
    }
    return orig(events);
  };
  return fault;
}

const eio = () => Object.assign(new Error('EIO: i/o error (injected)'), { code: 'EIO' });
const enospc = () => Object.assign(new Error('ENOSPC: no space left on device (injected)'), { code: 'ENOSPC' });

const readAll = (dataDir: string): SgEvent[] => {
  const s = Store.open({ dir: join(dataDir, 'store'), logger: captureLogger().logger, readOnly: true });
  try {
    return [...s.iterateAll()];
  } finally {
    void s.close();
  }
};

t.test('write failure: queued events survive, overflow is counted, recovery is automatic', async (t) => {
  const cap = captureLogger();
  const lost: string[] = [];
  const dataDir = t.testdir();
  const rec = await Recorder.open({ dataDir, audit: audit({ queue_max: 200, batch_max: 50, flush_interval: 10 }), clock: systemClock, logger: cap.logger, observer: { lost: (_n, r) => lost.push(r) } });
  t.teardown(() => rec.close());
  const fault = injectFault(rec.store, eio);

  const accepted: SgEvent[] = [];
  for (let i = 0; i < 20; i++) accepted.push(rec.emit(httpInput(i))!);
  t.ok(await waitFor(() => fault.fired > 0), 'the injected fault fired');
  t.ok(await waitFor(() => !rec.writable()), 'writable() turns false');
  t.equal(rec.stats().writable, false);
  await t.rejects(rec.emitDurable(httpInput(1)), { code: 'SG_ERR_STORE_UNAVAILABLE' }, 'durable emits are refused at once');
  await t.rejects(rec.flush(), { code: 'SG_ERR_STORE_UNAVAILABLE' });

  // Emit past queue_max while the store is down: overflow is dropped and counted.
  const byType: Record<string, number> = {};
  for (let i = 0; i < 250; i++) {
    const input = i % 4 ? httpInput(i) : oneOfEach(i)[7]!;
    const e = rec.emit(input);
    if (e) accepted.push(e);
    else byType[input.type] = (byType[input.type] ?? 0) + 1;
  }
  t.equal(accepted.length, 200, 'the queue holds queue_max events');
  t.equal(rec.stats().lost, 70);
  t.ok(lost.length === 70 && lost.every((r) => r === 'write_failed'), 'overflow counted with reason write_failed');
  const firedBefore = fault.fired;
  t.ok(await waitFor(() => fault.fired >= firedBefore + 2), 'it keeps retrying');
  t.equal(cap.lines.filter((l) => l.msg === 'audit store write failed: events stay queued, retrying').length, 1, 'the failure is logged once, then rate-limited');

  fault.on = false;
  t.ok(await waitFor(() => rec.writable()), 'recovers by itself');
  await rec.flush();
  t.ok(cap.lines.some((l) => l.msg === 'audit store writable again'), 'recovery logged');
  t.match(rec.stats(), { queued: 0, stored: 200, lost: 70, gaps: 1, writable: true });
  await rec.close();
  const stored = readAll(dataDir);
  t.same(
    stored.filter((e) => e.type !== 'audit.gap'),
    accepted,
    'no queued event was lost',
  );
  const gaps = stored.filter((e): e is AuditGapEvent => e.type === 'audit.gap');
  t.equal(gaps.length, 1);
  t.match(gaps[0], { lost: 70, reason: 'write_failed' });
  t.same(gaps[0]!.by_type, byType, 'exact per-type loss');
});

t.test('disk full: the loss reason says so', async (t) => {
  const dataDir = t.testdir();
  const rec = await Recorder.open({ dataDir, audit: audit({ queue_max: 100, batch_max: 100, flush_interval: 10 }), clock: systemClock, logger: captureLogger().logger });
  t.teardown(() => rec.close());
  const fault = injectFault(rec.store, enospc);
  for (let i = 0; i < 130; i++) rec.emit(httpInput(i));
  t.ok(await waitFor(() => fault.fired > 0), 'the injected fault fired');
  t.ok(await waitFor(() => !rec.writable()));
  for (let i = 0; i < 5; i++) t.equal(rec.emit(httpInput(i)), undefined);
  fault.on = false;
  t.ok(await waitFor(() => rec.writable()));
  await rec.flush();
  t.equal(rec.store.queryRequests({ limit: 500 }).items.length, 100, 'the queued events are stored');
  await rec.close();
  const reasons = readAll(dataDir)
    .filter((e): e is AuditGapEvent => e.type === 'audit.gap')
    .map((g) => [g.reason, g.lost]);
  t.same(reasons.sort(), [
    ['disk_full', 5],
    ['queue_full', 30],
  ]);
});

t.test('a durable emit caught by a failing write is rejected and withdrawn; others are kept', async (t) => {
  const dataDir = t.testdir();
  const rec = await Recorder.open({ dataDir, audit: audit({ flush_interval: 100 }), clock: systemClock, logger: captureLogger().logger });
  t.teardown(() => rec.close());
  const fault = injectFault(rec.store, eio);
  t.equal(rec.writable(), true, 'no failure seen yet');
  const plain = rec.emit(httpInput(1))!;
  const durable = rec.emitDurable(httpInput(2, { url: 'https://p.example/refused' }));
  await t.rejects(durable, { code: 'SG_ERR_STORE_UNAVAILABLE' });
  t.ok(fault.fired > 0, 'the injected fault fired');
  t.equal(rec.stats().rejected, 1);
  fault.on = false;
  t.ok(await waitFor(() => rec.writable()));
  await rec.flush();
  t.same(rec.store.getEvent(plain.id), plain, 'the best-effort event is stored');
  t.same(
    rec.store.queryRequests({ q: 'refused' }).items,
    [],
    'the refused durable event never appears in the record',
  );
  t.equal((await rec.emitDurable(httpInput(3))).type, 'http.request', 'durable emits work again');
});

t.test('close gives up on a dead store after its timeout and counts what it could not store', async (t) => {
  const cap = captureLogger();
  const dataDir = t.testdir();
  const rec = await Recorder.open({ dataDir, audit: audit({ flush_interval: 10 }), clock: systemClock, logger: cap.logger, closeTimeoutMs: 300 });
  const fault = injectFault(rec.store, eio);
  for (let i = 0; i < 40; i++) rec.emit(httpInput(i));
  await rec.close();
  t.ok(fault.fired > 0, 'the injected fault fired');
  t.match(rec.stats(), { queued: 0, stored: 0, lost: 40, writable: false });
  t.ok(cap.lines.some((l) => l.msg === 'recorder closing: the store cannot write, queued events are lost' && l.lost === 40), 'loss logged with its count');
  t.ok(cap.lines.some((l) => l.msg === 'audit losses that could not be recorded in the store'), 'uncommitted loss summary logged');
  t.same(readAll(dataDir), [], 'nothing was half-written');
});

t.test('an observer or listener that throws never breaks the writer', async (t) => {
  const rec = await Recorder.open({
    dataDir: t.testdir(),
    audit: audit({ flush_interval: 10, queue_max: 100 }),
    clock: systemClock,
    logger: captureLogger().logger,
    observer: {
      queueDepth: () => {
        throw new Error('metrics bug');
      },
      flushed: () => {
        throw new Error('metrics bug');
      },
      lost: () => {
        throw new Error('metrics bug');
      },
    },
  });
  t.teardown(() => rec.close());
  rec.subscribe(() => {
    throw new Error('listener bug');
  });
  for (let i = 0; i < 150; i++) rec.emit(httpInput(i));
  await rec.flush();
  t.match(rec.stats(), { stored: 100, lost: 50, gaps: 1, writable: true });
});
