import t, { type Test } from 'tap';
import { join } from 'node:path';
import { open } from 'lmdb';
import pino from 'pino';
import { ViewerSessions, hashToken, safeEqual } from './sessions.js';
import type { KvDb } from '../../gateway/core/access.js';

const logger = pino({ level: 'silent' });
const HOUR = 3_600_000;

function make(t: Test, db?: KvDb, now = { t: 1_700_000_000_000 }) {
  const s = new ViewerSessions({ clock: { now: () => now.t }, logger, ttlMs: 8 * HOUR, idleMs: HOUR, db, persistEveryMs: 60_000 });
  t.teardown(() => s.close());
  return { s, now };
}

t.test('create and look up; only the hash is kept', async (t) => {
  const { s } = make(t);
  const { token, session } = s.create('alice', { ip: '127.0.0.1', user_agent: 'x'.repeat(1000) });
  t.match(token, /^[A-Za-z0-9_-]{43}$/);
  t.equal(session.hash, hashToken(token));
  t.not(session.hash, token);
  t.equal(session.user_agent!.length, 256);
  t.equal(s.lookup(token), session);
  t.equal(s.lookup(undefined), undefined);
  t.equal(s.lookup('short'), undefined);
  t.equal(s.lookup(session.hash + 'x'), undefined);
  t.equal(s.lookup(token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))), undefined);
  t.not(session.csrf, token);
});

t.test('absolute ttl and idle expiry', async (t) => {
  const { s, now } = make(t);
  const a = s.create('a').token;
  now.t += HOUR - 1;
  t.ok(s.lookup(a), 'used just before the idle limit');
  now.t += HOUR - 1;
  t.ok(s.lookup(a), 'idle timer restarted by use');
  now.t += HOUR;
  t.equal(s.lookup(a), undefined, 'idle for an hour');
  t.equal(s.size(), 0);

  const b = s.create('b').token;
  let alive = 0;
  for (let i = 0; i < 20; i++) {
    now.t += HOUR / 2;
    if (!s.lookup(b)) break;
    alive++;
  }
  t.equal(alive, 15, 'used every half hour: alive until the 8 h ttl');
  t.equal(s.lookup(b), undefined, 'absolute ttl ends even an active session');
});

t.test('destroy, destroyUser and the per-user cap', async (t) => {
  const { s, now } = make(t);
  const tokens: string[] = [];
  for (let i = 0; i < 22; i++) {
    now.t += 1;
    tokens.push(s.create('carol').token);
  }
  t.equal(s.lookup(tokens[0]), undefined, 'oldest dropped past 20');
  t.equal(s.lookup(tokens[1]), undefined);
  t.ok(s.lookup(tokens[2]));
  const other = s.create('dave').token;
  t.equal(s.destroyUser('carol'), 20);
  t.ok(s.lookup(other));
  s.destroy(s.lookup(other)!);
  t.equal(s.lookup(other), undefined);
});

t.test('sessions survive a restart through the db (hash only on disk)', async (t) => {
  const env = open({ path: join(t.testdir(), 'store.mdb'), compression: false });
  t.teardown(() => env.close());
  const db = env.openDB<unknown, string>({ name: 'viewer_sessions', encoding: 'msgpack' }) as unknown as KvDb & { flushed: Promise<boolean> };
  const now = { t: 1_700_000_000_000 };
  const first = make(t, db, now);
  const { token, session } = first.s.create('erin');
  const gone = first.s.create('frank').token;
  first.s.destroy(first.s.lookup(gone)!);
  await db.flushed;
  first.s.close();
  const raw = JSON.stringify([...db.getRange({ start: 's:', end: 's;' })]);
  t.notMatch(raw, token, 'the token itself is never stored');
  t.match(raw, session.hash);

  const second = make(t, db, now);
  t.equal(second.s.lookup(token)?.user, 'erin', 'restored');
  t.equal(second.s.lookup(gone), undefined, 'destroyed stays destroyed');

  now.t += 2 * HOUR;
  const third = make(t, db, now);
  t.equal(third.s.lookup(token), undefined, 'expired while down');
  await db.flushed;
  t.equal([...db.getRange({ start: 's:', end: 's;' })].length, 0, 'expired records removed on load');
});

t.test('refuses nonsense options; safeEqual', async (t) => {
  t.throws(() => new ViewerSessions({ clock: { now: () => 0 }, logger, ttlMs: 0, idleMs: 1 }), { code: 'SG_ERR_CONFIG_INVALID' });
  t.ok(safeEqual('abc', 'abc'));
  t.notOk(safeEqual('abc', 'abd'));
  t.notOk(safeEqual('abc', 'abcd'));
});
