import t, { type Test } from 'tap';
import { open } from 'lmdb';
import pino from 'pino';
import { join } from 'node:path';
import { UserStore, generatePassword, hashPassword, checkPassword, USER_NAME_RE } from './users.js';
import type { KvDb } from './access.js';

const logger = pino({ level: 'silent' });

function setup(t: Test, now = { t: 1_700_000_000_000 }) {
  const env = open({ path: join(t.testdir(), 'store.mdb'), compression: false });
  const db = env.openDB<unknown, string>({ name: 'users', encoding: 'msgpack' });
  t.teardown(() => env.close());
  const clock = { now: () => now.t };
  return { users: new UserStore(db as KvDb, { clock, logger }), db, now, env };
}


const PW = 'correct horse battery';

t.test('add, get, list, remove', async (t) => {
  const { users } = setup(t);
  const u = await users.add({ name: 'alice', email: 'alice@example.com', role: 'admin', password: PW, panel_identities: ['puq', 'puq', ' alice-panel '] });
  t.equal(u.name, 'alice');
  t.equal(u.role, 'admin');
  t.same(u.panel_identities, ['puq', 'alice-panel']);
  t.same(u.ssh_keys, []);
  t.same(u.targets, []);
  t.notOk('password_hash' in u, 'no hash in the public view');
  t.same(users.get('alice'), u);
  t.same(users.get('ALICE'), u, 'names are case-insensitive for lookup');
  await users.add({ name: 'bob', password: PW });
  t.same(users.list().map((x) => x.name), ['alice', 'bob']);
  t.equal(users.get('bob')!.role, undefined);
  for (const x of users.list()) t.notOk('password_hash' in x);
  const removed = await users.remove('bob');
  t.equal(removed.name, 'bob');
  t.equal(users.get('bob'), undefined);
});

t.test('stored hash is self-describing scrypt and never the password', async (t) => {
  const { users, db } = setup(t);
  await users.add({ name: 'carol', password: PW });
  const raw = db.get('u:carol') as { password_hash: string };
  t.match(raw.password_hash, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
  t.notMatch(JSON.stringify(raw), /horse/);
});

t.test('validation errors carry stable codes', async (t) => {
  const { users } = setup(t);
  await t.rejects(users.add({ name: 'bad name', password: PW }), { code: 'SG_ERR_BAD_PARAM' });
  await t.rejects(users.add({ name: '', password: PW }), { code: 'SG_ERR_BAD_PARAM' });
  await t.rejects(users.add({ name: 'x'.repeat(65), password: PW }), { code: 'SG_ERR_BAD_PARAM' });
  await t.rejects(users.add({ name: '<script>', password: PW }), { code: 'SG_ERR_BAD_PARAM' });
  await t.rejects(users.add({ name: 'dave', password: 'short' }), { code: 'SG_ERR_BAD_PASSWORD' });
  await t.rejects(users.add({ name: 'dave', password: '12345678901' }), { code: 'SG_ERR_BAD_PASSWORD' }, '11 chars');
  await t.rejects(users.add({ name: 'dave', password: PW, role: 'root' as never }), { code: 'SG_ERR_BAD_PARAM' });
  await t.rejects(users.add({ name: 'dave', password: PW, email: 'not an email' }), { code: 'SG_ERR_BAD_PARAM' });
  await t.rejects(users.add({ name: 'dave', password: PW, email: 'a@b\x1b[31m' }), { code: 'SG_ERR_BAD_PARAM' });
  await t.rejects(users.add({ name: 'dave', password: PW, panel_identities: ['ok', 'x\ny'] }), { code: 'SG_ERR_BAD_PARAM' });
  await users.add({ name: 'dave', password: '123456789012' });
  await t.rejects(users.add({ name: 'dave', password: PW }), { code: 'SG_ERR_USER_EXISTS' });
  await t.rejects(users.add({ name: 'DAVE', password: PW }), { code: 'SG_ERR_USER_EXISTS' }, 'case-insensitive duplicate');
  await t.rejects(users.remove('nobody'), { code: 'SG_ERR_USER_NOT_FOUND' });
  await t.rejects(users.setPassword('nobody', PW), { code: 'SG_ERR_USER_NOT_FOUND' });
  await t.rejects(users.setRole('nobody', 'admin'), { code: 'SG_ERR_USER_NOT_FOUND' });
  await t.rejects(users.setPassword('dave', 'short'), { code: 'SG_ERR_BAD_PASSWORD' });
});

t.test('verify: right password, wrong password, unknown user, hostile names', async (t) => {
  const { users } = setup(t);
  await users.add({ name: 'erin', role: 'auditor', password: PW });
  const ok = await users.verify('erin', PW);
  t.equal(ok?.name, 'erin');
  t.notOk(ok && 'password_hash' in ok);
  t.equal(await users.verify('erin', PW + 'x'), undefined);
  t.equal(await users.verify('erin', ''), undefined);
  t.equal(await users.verify('nobody', PW), undefined);
  t.equal(await users.verify('../../etc', PW), undefined);
  t.equal(await users.verify('erin', 'x'.repeat(100_000)), undefined);
  t.equal((await users.verify('ERIN', PW))?.name, 'erin', 'canonical name returned');
});

t.test('setPassword, setRole, update', async (t) => {
  const { users, now } = setup(t);
  const u0 = await users.add({ name: 'frank', password: PW });
  now.t += 1000;
  const u1 = await users.setPassword('frank', 'another long password');
  t.ok(u1.password_changed_at > u0.password_changed_at);
  t.equal(u1.updated_at, now.t);
  t.equal(await users.verify('frank', PW), undefined, 'old password refused');
  t.equal((await users.verify('frank', 'another long password'))?.name, 'frank');
  t.equal((await users.setRole('frank', 'security')).role, 'security');
  t.equal((await users.setRole('frank', undefined)).role, undefined);
  t.equal(users.get('frank')!.role, undefined);
  await t.rejects(users.setRole('frank', 'boss' as never), { code: 'SG_ERR_BAD_PARAM' });
  const u2 = await users.update('frank', { email: 'f@example.com', panel_identities: ['frank-panel'] });
  t.equal(u2.email, 'f@example.com');
  t.same(u2.panel_identities, ['frank-panel']);
  t.equal((await users.update('frank', { email: null })).email, undefined);
});

t.test('hash helpers refuse malformed or absurd stored hashes', async (t) => {
  const h = await hashPassword(PW, { N: 1024, r: 8, p: 1 });
  t.ok(await checkPassword(PW, h));
  t.notOk(await checkPassword('nope nope nope', h));
  t.notOk(await checkPassword(PW, 'plain'));
  t.notOk(await checkPassword(PW, h.replace('$1024$', '$1000$')), 'N not a power of two');
  t.notOk(await checkPassword(PW, h.replace('$1024$', '$2097152$')), 'N too large');
  t.throws(() => new UserStore({ get: () => undefined } as unknown as KvDb, { clock: { now: () => 0 }, logger, scrypt: { N: 3, r: 1, p: 1 } }), { code: 'SG_ERR_CONFIG_INVALID' });
});

t.test('a user with a corrupt hash cannot sign in and is logged', async (t) => {
  const { users, db } = setup(t);
  await users.add({ name: 'gina', password: PW });
  const raw = db.get('u:gina') as Record<string, unknown>;
  await db.put('u:gina', { ...raw, password_hash: 'md5$abc' });
  t.equal(await users.verify('gina', PW), undefined);
});

t.test('generatePassword', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const p = generatePassword();
    t.equal(p.length, 20);
    t.match(p, /^[1-9A-HJ-NP-Za-km-z]+$/);
    seen.add(p);
  }
  t.equal(seen.size, 200);
  t.ok(USER_NAME_RE.test('a.b-c_d'));
});

t.test('unknown users cost a scrypt too (CPU work, not wall time)', async (t) => {
  const { users } = setup(t);
  await users.add({ name: 'hank', password: PW });
  await users.verify('warmup', PW); // computes the dummy hash once
  const cpu = async (name: string) => {
    const before = process.cpuUsage();
    for (let i = 0; i < 3; i++) t.equal(await users.verify(name, 'wrong password!'), undefined);
    const d = process.cpuUsage(before);
    return d.user + d.system;
  };
  const known = await cpu('hank');
  const unknown = await cpu('nohank');
  const malformed = await cpu('no such user!');
  t.comment(`cpu us: known ${known}, unknown ${unknown}, malformed ${malformed}`);
  // A skipped hash would cost ~0; a real scrypt costs about the same as the known user's.
  t.ok(unknown > known * 0.3, 'unknown user pays a scrypt');
  t.ok(malformed > known * 0.3, 'malformed name pays a scrypt');
});
