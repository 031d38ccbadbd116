// `sessiongate users ...` in-process through cli/main.ts with a fake CliIo, against a real store.
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { KvDb } from '../gateway/core/access.js';
import { systemClock } from '../gateway/core/runtime.js';
import { UserStore } from '../gateway/core/users.js';
import type { ActivityEvent, SgEvent } from '../recorder/events.js';
import { Store } from '../recorder/store/store.js';
import { runCli } from '../viewer/server/test-harness.js';

function configFile(t: Test): { file: string; dataDir: string } {
  const dir = t.testdir();
  const file = join(dir, 'sessiongate.yaml');
  writeFileSync(file, 'data_dir: ./data\nlog:\n  level: warn\n');
  return { file, dataDir: join(dir, 'data') };
}

/** Opens the store the CLI wrote, reads users and activity, closes it again. */
async function inspect(dataDir: string): Promise<{ users: UserStore; store: Store; activity: ActivityEvent[]; all: SgEvent[]; close(): Promise<void> }> {
  const store = Store.open({ dir: join(dataDir, 'store'), logger: pino({ level: 'silent' }) });
  const users = new UserStore(store.openDb('users') as unknown as KvDb, { clock: systemClock });
  const all = [...store.iterateAll()];
  return { users, store, all, activity: all.filter((e): e is ActivityEvent => e.type === 'activity'), close: async () => store.close() };
}

t.test('add, list, passwd, role, remove, with activity records and no passwords stored', async (t) => {
  const { file, dataDir } = configFile(t);
  const c = ['--config', file];

  const add = await runCli(['users', 'add', 'alice', '--role', 'admin', '--email', 'alice@example.com', '--panel-identity', 'puq', '--panel-identity=alice-panel', '--password-stdin', ...c], { stdin: 'alice has a long password\n' });
  t.equal(add.code, 0, add.err);
  t.match(add.out, /created user alice \(role admin\)/);
  t.notMatch(add.out, /password for/, 'nothing generated, nothing printed');

  const gen = await runCli(['users', 'add', 'bob', '--role', 'auditor', ...c]);
  t.equal(gen.code, 0, gen.err);
  const m = /password for bob: ([1-9A-HJ-NP-Za-km-z]{20})\n/.exec(gen.out);
  t.ok(m, 'generated password printed once');
  const bobPassword = m![1]!;

  const nobody = await runCli(['users', 'add', 'carol', '--role', 'none', '--password-stdin', ...c], { stdin: 'carol password 1234' });
  t.equal(nobody.code, 0, 'a user without a viewer role');

  const list = await runCli(['users', 'list', ...c]);
  t.equal(list.code, 0);
  const lines = list.out.trim().split('\n');
  t.match(lines[0], /^NAME\s+ROLE\s+EMAIL\s+PANEL IDENTITIES\s+CREATED$/);
  t.match(lines[1], /^alice\s+admin\s+alice@example\.com\s+puq,alice-panel\s+\d{4}-/);
  t.match(lines[2], /^bob\s+auditor\s+-\s+-\s+/);
  t.match(lines[3], /^carol\s+-\s+/);

  const json = await runCli(['users', 'list', '--json', ...c]);
  const parsed = json.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(parsed.map((u) => u.name), ['alice', 'bob', 'carol']);
  t.notOk(json.out.includes('password_hash') || json.out.includes('scrypt$'), 'no hashes in the listing');

  t.equal((await runCli(['users', 'passwd', 'alice', '--password-stdin', ...c], { stdin: 'a new password for alice\r\n' })).code, 0);
  const regen = await runCli(['users', 'passwd', 'bob', ...c]);
  t.equal(regen.code, 0);
  const bobNew = /password for bob: (\S+)/.exec(regen.out)![1]!;
  t.not(bobNew, bobPassword);
  const role = await runCli(['users', 'role', 'bob', 'security', ...c]);
  t.equal(role.code, 0);
  t.match(role.out, /role of bob: security/);
  t.equal((await runCli(['users', 'remove', 'carol', ...c])).code, 0);

  const s = await inspect(dataDir);
  t.teardown(() => s.close());
  t.equal((await s.users.verify('alice', 'a new password for alice'))?.role, 'admin', 'passwd from stdin (CRLF trimmed)');
  t.equal(await s.users.verify('alice', 'alice has a long password'), undefined, 'old password gone');
  t.equal((await s.users.verify('bob', bobNew))?.role, 'security');
  t.equal(s.users.get('carol'), undefined);
  t.same(s.users.get('alice')?.panel_identities, ['puq', 'alice-panel']);

  const acts = s.activity.filter((e) => e.initiator === 'cli');
  t.same(acts.map((e) => `${e.action}:${e.targets?.[0]?.id}`), ['create:alice', 'create:bob', 'create:carol', 'update:alice', 'update:bob', 'update:bob', 'delete:carol']);
  t.equal(acts[0]!.details?.os_user, 'tester');
  const everything = JSON.stringify(s.all);
  for (const pw of ['alice has a long password', 'a new password for alice', bobPassword, bobNew, 'carol password 1234']) t.notOk(everything.includes(pw), 'no password in any record');
});

t.test('errors: codes and exit status', async (t) => {
  const { file } = configFile(t);
  const c = ['--config', file];
  t.equal((await runCli(['users', 'add', 'dave', '--role', 'admin', '--password-stdin', ...c], { stdin: 'dave password ok' })).code, 0);

  const dup = await runCli(['users', 'add', 'DAVE', '--role', 'admin', '--password-stdin', ...c], { stdin: 'dave password ok' });
  t.equal(dup.code, 1);
  t.match(dup.err, /SG_ERR_USER_EXISTS/);
  const short = await runCli(['users', 'add', 'erin', '--role', 'admin', '--password-stdin', ...c], { stdin: 'short\n' });
  t.equal(short.code, 1);
  t.match(short.err, /SG_ERR_BAD_PASSWORD/);
  const empty = await runCli(['users', 'add', 'erin', '--role', 'admin', '--password-stdin', ...c], { stdin: '' });
  t.match(empty.err, /SG_ERR_BAD_PASSWORD/);
  const badRole = await runCli(['users', 'add', 'erin', '--role', 'root', ...c]);
  t.equal(badRole.code, 1);
  t.match(badRole.err, /SG_ERR_BAD_PARAM/);
  const badName = await runCli(['users', 'add', 'no spaces', '--role', 'admin', ...c]);
  t.match(badName.err, /SG_ERR_BAD_PARAM/);
  t.equal((await runCli(['users', 'remove', 'nobody', ...c])).code, 1);
  t.match((await runCli(['users', 'remove', 'nobody', ...c])).err, /SG_ERR_USER_NOT_FOUND/);
  t.match((await runCli(['users', 'passwd', 'nobody', ...c])).err, /SG_ERR_USER_NOT_FOUND/);
  t.match((await runCli(['users', 'role', 'nobody', 'admin', ...c])).err, /SG_ERR_USER_NOT_FOUND/);

  const noRole = await runCli(['users', 'add', 'erin', ...c]);
  t.equal(noRole.code, 2, 'missing --role is a usage error');
  t.match(noRole.err, /--role is required/);
  const typo = await runCli(['users', 'add', 'erin', '--rol', 'admin', ...c]);
  t.equal(typo.code, 2, 'unknown option');
  t.match(typo.err, /unknown option --rol/);
  t.equal((await runCli(['users', 'frobnicate', ...c])).code, 2);
  t.equal((await runCli(['users', 'remove', ...c])).code, 2, 'missing NAME');
  t.equal((await runCli(['users', 'list', 'extra', ...c])).code, 2);
  t.equal((await runCli(['users'])).code, 2);
  t.match((await runCli(['users', '--help'])).out, /usage: sessiongate users/);

  const missing = await runCli(['users', 'list', '--config', join(t.testdir(), 'nope.yaml')]);
  t.equal(missing.code, 1);
  t.match(missing.err, /SG_ERR_CONFIG_NOT_FOUND/);
});

t.test('without --config: config/demo.yaml when it exists, else an error', async (t) => {
  const cwd = process.cwd();
  process.chdir(t.testdir());
  t.teardown(() => process.chdir(cwd));
  const r = await runCli(['users', 'list']);
  t.equal(r.code, 1);
  t.match(r.err, /SG_ERR_CONFIG_NOT_FOUND: no --config FILE given and config\/demo\.yaml does not exist/);
});

t.test('users ssh: keys and target accounts for the SSH gateway; bad input refused', async (t) => {
  const { file, dataDir } = configFile(t);
  const c = ['--config', file];
  t.equal((await runCli(['users', 'add', 'dave', '--role', 'none', ...c])).code, 0);
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf5cTMdNmnF7H0RzQhXa0vYwtQp4Ryxbn8F3Ak2u9Ui dave@laptop';
  const set = await runCli(['users', 'ssh', 'dave', '--key', key, '--target', 'web1:deploy', '--target', 'db:root', ...c]);
  t.equal(set.code, 0, set.err);
  t.match(set.out, 'dave: 1 SSH key(s); targets: web1:deploy, db:root');
  t.match((await runCli(['users', 'ssh', 'dave', ...c])).out, 'targets: web1:deploy, db:root', 'shown without changes');
  const bad = await runCli(['users', 'ssh', 'dave', '--key', 'not a key', ...c]);
  t.not(bad.code, 0, 'a malformed key is refused');
  t.match(bad.err, /OpenSSH public key/);
  const badT = await runCli(['users', 'ssh', 'dave', '--target', 'web1', ...c]);
  t.equal(badT.code, 2, 'a target without an account is a usage error');
  t.equal((await runCli(['users', 'ssh', 'dave', '--no-targets', ...c])).code, 0);
  const { users, activity, close } = await inspect(dataDir);
  t.same(users.get('dave')?.targets, []);
  t.equal(users.get('dave')?.ssh_keys.length, 1, 'keys kept when only targets were cleared');
  t.ok(activity.some((a) => a.description === 'set the SSH access of viewer user dave'), 'recorded as activity');
  await close();
});
