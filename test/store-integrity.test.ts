// The integrity chain: digests and macs as documented (docs/store.md), the key file rules, and
// verify naming exactly what an attacker with write access to the files changed.
import t from 'tap';
import { createHash, createHmac } from 'node:crypto';
import { chmodSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { asBinary } from 'lmdb';
import { DIGEST_BYTES, ZERO_MAC, batchMac, loadIntegrityKey, rowDigest, verifyStore, type VerifyReport } from '../recorder/store/integrity.js';
import { KINDS, type Kind } from '../recorder/store/kinds.js';
import { KEY, OTHER_KEY, eventsAt, openStore, withRaw, writeAll } from './helpers/store-chain.js';
import { silentLogger } from './fixtures/recorder-helpers.js';

const T0 = Date.UTC(2025, 0, 1);

t.test('rowDigest and batchMac are the documented constructions', async (t) => {
  const bin = Buffer.from([0x81, 0xa1, 0x61, 0x01]);
  const want = createHash('sha256').update(Buffer.concat([Buffer.from('requests\0ID1\0'), bin])).digest().subarray(0, 16);
  t.same(rowDigest('requests', 'ID1', bin), want);
  t.equal(DIGEST_BYTES, 16);
  t.same(ZERO_MAC, Buffer.alloc(32));
  const digests = Buffer.concat([want, want]);
  const msg = Buffer.alloc(32 + 8 + 8 + 32);
  ZERO_MAC.copy(msg, 0);
  msg.writeBigUInt64BE(3n, 32);
  msg.writeBigUInt64BE(BigInt(T0), 40);
  createHash('sha256').update(digests).digest().copy(msg, 48);
  t.same(batchMac(KEY, ZERO_MAC, 3, T0, digests), createHmac('sha256', KEY).update(msg).digest());
  t.throws(() => batchMac(KEY, Buffer.alloc(31), 1, T0, digests), { code: 'SG_ERR_INTERNAL' });
});

t.test('loadIntegrityKey', async (t) => {
  const root = t.testdir({ data: {}, secrets: {} });
  const dataDir = join(root, 'data');
  const file = join(root, 'secrets', 'audit.key');
  t.throws(() => loadIntegrityKey(file, { dataDir, create: false }), { code: 'SG_ERR_CONFIG_INVALID' }, 'missing and not to be created');
  const key = loadIntegrityKey(file, { dataDir, create: true });
  t.equal(key.length, 32);
  t.equal(statSync(file).mode & 0o777, 0o600, 'created 0600');
  t.same(loadIntegrityKey(file, { dataDir, create: true }), key, 'the same key on the next start');

  t.throws(() => loadIntegrityKey(join(dataDir, 'k'), { dataDir, create: true }), { code: 'SG_ERR_CONFIG_INVALID' }, 'inside data_dir');
  mkdirSync(join(dataDir, 'inner'));
  symlinkSync(join(dataDir, 'inner'), join(root, 'link'));
  t.throws(() => loadIntegrityKey(join(root, 'link', 'k'), { dataDir, create: true }), { code: 'SG_ERR_CONFIG_INVALID' }, 'inside data_dir through a symbolic link');

  const short = join(root, 'secrets', 'short.key');
  writeFileSync(short, Buffer.alloc(31, 1), { mode: 0o600 });
  t.throws(() => loadIntegrityKey(short, { dataDir, create: false }), { code: 'SG_ERR_CONFIG_INVALID' }, 'shorter than 32 bytes');
  const open = join(root, 'secrets', 'open.key');
  writeFileSync(open, Buffer.alloc(32, 1), { mode: 0o600 });
  chmodSync(open, 0o640);
  t.throws(() => loadIntegrityKey(open, { dataDir, create: false }), { code: 'SG_ERR_CONFIG_INVALID' }, 'readable by group');
  chmodSync(open, 0o600);
  t.same(loadIntegrityKey(open, { dataDir, create: false }), Buffer.alloc(32, 1));
  t.throws(() => loadIntegrityKey(join(root, 'secrets'), { dataDir, create: false }), { code: 'SG_ERR_CONFIG_INVALID' }, 'a directory');
});

/** A keyed store with events of every kind over several batches and segments (some rows still open). */
async function makeStore(t: { testdir(): string }, opts: { key?: Buffer } = { key: KEY }): Promise<{ dir: string; events: ReturnType<typeof eventsAt> }> {
  const dir = join(t.testdir(), 'store');
  const store = openStore(dir, opts);
  const events = eventsAt(12, T0);
  await writeAll(store, events.slice(0, 64));
  await store.closeSegment();
  await writeAll(store, events.slice(64));
  await store.close();
  return { dir, events };
}

/** `null`: no key (an undefined argument would take the default). */
const verify = (dir: string, key: Buffer | null = KEY): Promise<VerifyReport> => verifyStore({ storeDir: dir, key: key ?? undefined, logger: silentLogger() });

t.test('an untouched store verifies', async (t) => {
  const { dir, events } = await makeStore(t);
  const r = await verify(dir);
  t.ok(r.ok, JSON.stringify(r.first_break));
  t.equal(r.keyed, true);
  t.equal(r.signed, true);
  t.equal(r.rows, events.length);
  t.equal(r.batches, Math.ceil(events.length / 8));
  t.equal(r.head?.b, r.batches);
  t.match(r.head?.mac, /^[0-9a-f]{64}$/);
  const unkeyed = await verify(dir, null);
  t.ok(unkeyed.ok);
  t.equal(unkeyed.keyed, false);
});

t.test('a changed row is named', async (t) => {
  const { dir, events } = await makeStore(t);
  const victim = events.find((e) => e.type === 'file.transfer')!;
  await withRaw(dir, (dbs) => {
    const db = dbs.rows.transfers!;
    const raw = db.getBinary(victim.id)!;
    // Flip one byte of the stored value (what an attacker with the files can do).
    const changed = Buffer.from(raw);
    const at = changed.indexOf(Buffer.from('/etc/passwd'));
    t.ok(at > 0, 'the path is in the raw value');
    changed[at + 1] = 'x'.charCodeAt(0);
    db.putSync(victim.id, asBinary(changed));
  });
  for (const key of [KEY, null]) {
    const r = await verify(dir, key);
    t.notOk(r.ok);
    t.equal(r.break_count, 1);
    t.match(r.first_break, { problem: 'row_changed', kind: 'transfers', id: victim.id });
  }
});

t.test('a changed row re-encoded by the attacker is named', async (t) => {
  const { dir, events } = await makeStore(t);
  const victim = events.find((e) => e.type === 'http.request')!;
  await withRaw(dir, (dbs) => {
    const db = dbs.rows.requests!;
    const v = db.get(victim.id) as Record<string, unknown>;
    db.putSync(victim.id, { ...v, status: 404 });
  });
  const r = await verify(dir);
  t.match(r.first_break, { problem: 'row_changed', kind: 'requests', id: victim.id });
});

t.test('a deleted row is named', async (t) => {
  const { dir, events } = await makeStore(t);
  const victim = events.find((e) => e.type === 'session.start')!;
  await withRaw(dir, (dbs) => dbs.rows.sessions!.removeSync(victim.id));
  const r = await verify(dir);
  t.equal(r.break_count, 1);
  t.match(r.first_break, { problem: 'row_missing', kind: 'sessions', id: victim.id });
});

t.test('an inserted row is named', async (t) => {
  const { dir, events } = await makeStore(t);
  const model = events.find((e) => e.type === 'activity')!;
  const fake = model.id.slice(0, 10) + 'ZZZZZZZZ';
  await withRaw(dir, (dbs) => dbs.rows.activity!.putSync(fake, { type: 'activity', ts: model.ts, initiator: 'nobody', action: 'login', description: 'forged' }));
  const r = await verify(dir);
  t.equal(r.break_count, 1);
  t.match(r.first_break, { problem: 'extra_row', kind: 'activity', id: fake });
});

t.test('a changed batch record is named', async (t) => {
  const { dir } = await makeStore(t);
  await withRaw(dir, (dbs) => {
    const rec = dbs.batches!.get(3) as Record<string, unknown>;
    dbs.batches!.putSync(3, { ...rec, ts: (rec.ts as number) + 1 });
  });
  const r = await verify(dir);
  t.equal(r.break_count, 1, 'the chain resumes after the bad batch');
  t.match(r.first_break, { problem: 'batch_mac', b: 3 });
  t.ok((await verify(dir, null)).ok, 'without the key a changed commit time cannot be seen: the report says unkeyed');
});

t.test('a batch whose row list and digests were rewritten consistently still breaks the mac', async (t) => {
  const { dir } = await makeStore(t);
  let hidden: [Kind, string] | undefined;
  await withRaw(dir, (dbs) => {
    const rec = dbs.batches!.get(2) as { rows: [Kind, string][]; digests: Uint8Array } & Record<string, unknown>;
    hidden = rec.rows[0];
    dbs.rows[hidden![0]]!.removeSync(hidden![1]);
    dbs.batches!.putSync(2, { ...rec, rows: rec.rows.slice(1), digests: Buffer.from(rec.digests).subarray(16) });
  });
  const r = await verify(dir);
  t.match(r.first_break, { problem: 'batch_mac', b: 2 });
  t.equal(r.break_count, 1);
});

t.test('a missing batch and a cut-off tail are named', async (t) => {
  const { dir } = await makeStore(t);
  let last = 0;
  await withRaw(dir, (dbs) => {
    last = dbs.meta.get('batch:last') as number;
    // Remove batch 4 and its rows, and the last batch and its rows.
    for (const b of [4, last]) {
      const rec = dbs.batches!.get(b) as { rows: [Kind, string][] };
      for (const [k, id] of rec.rows) dbs.rows[k]!.removeSync(id);
      dbs.batches!.removeSync(b);
    }
  });
  const r = await verify(dir);
  t.match(r.breaks, [{ problem: 'batch_missing', b: 4 }, { problem: 'batch_missing', b: last }]);
  t.equal(r.break_count, 2, 'batch 5 chains on a batch that is gone, but is not reported twice');
});

t.test('another key breaks at batch 1', async (t) => {
  const { dir } = await makeStore(t);
  const r = await verify(dir, OTHER_KEY);
  t.match(r.first_break, { problem: 'batch_mac', b: 1 });
});

t.test('a keyed verify of an unsigned store says every batch is unsigned', async (t) => {
  const { dir } = await makeStore(t, {});
  const r = await verify(dir, KEY);
  t.notOk(r.ok);
  t.match(r.first_break, { problem: 'batch_mac', b: 1, detail: /no mac/ });
  const unkeyed = await verify(dir, null);
  t.ok(unkeyed.ok);
  t.equal(unkeyed.signed, false);
});

t.test('verify reads a consistent snapshot while a writer keeps writing', async (t) => {
  const dir = join(t.testdir(), 'store');
  const store = openStore(dir, { key: KEY });
  t.teardown(() => store.close());
  let stop = false;
  let written = 0;
  const writer = (async () => {
    for (let i = 0; !stop && i < 400; i++) {
      await writeAll(store, eventsAt(1, T0 + i * 10_000));
      written++;
      if (i % 10 === 9) await store.closeSegment();
    }
  })();
  for (let i = 0; i < 5; i++) {
    const r = await verify(dir);
    t.ok(r.ok, `verify ${i} while writing: ${JSON.stringify(r.first_break)}`);
    await new Promise((res) => setTimeout(res, 20));
  }
  stop = true;
  await writer;
  t.ok(written > 0);
  const r = await verify(dir);
  t.ok(r.ok);
  t.equal(r.rows, written * 8);
  t.ok(KINDS.length);
});
