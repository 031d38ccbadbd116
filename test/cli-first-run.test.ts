// First run: config `users:` are created when missing, and without any admin one is created with
// a password generated at that moment and shown once; nothing has a default password.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootstrapUsers, FIRST_ADMIN } from '../cli/bootstrap-users.js';
import { startTestGateway, tempDir } from './helpers/gateway.js';

const BASE = `data_dir: \${DATA}
viewer: { listen: 127.0.0.1:0 }
`;

t.test('no users at all: a first admin with a generated password, shown once', async (t) => {
  const { gw } = await startTestGateway(t, BASE);
  const lines = await bootstrapUsers(gw.config, gw.users);
  const m = /first run: viewer admin created: admin \/ (\S+)/.exec(lines.join('\n'));
  t.ok(m, 'the password is printed on the terminal');
  t.ok(await gw.users.verify(FIRST_ADMIN, m![1]!), 'and it signs in');
  t.equal(gw.users.get(FIRST_ADMIN)?.role, 'admin');
  t.same(await bootstrapUsers(gw.config, gw.users), [], 'the next start creates nothing and shows nothing');

  const other = await startTestGateway(t, BASE);
  const again = /admin \/ (\S+)/.exec((await bootstrapUsers(other.gw.config, other.gw.users)).join('\n'))![1];
  t.not(again, m![1], 'another installation gets another password');
});

t.test('config users: password from a file, or generated and shown once; no extra admin when one is listed', async (t) => {
  const dir = tempDir();
  const pw = join(dir, 'ops.pw');
  writeFileSync(pw, 'ops-initial-password-1\n', { mode: 0o600 });
  const { gw } = await startTestGateway(
    t,
    `${BASE}users:
  - { name: ops, role: admin, email: ops@example.com, password_file: ${pw}, panel_identities: [puq] }
  - { name: aud, role: auditor }
`,
  );
  const lines = (await bootstrapUsers(gw.config, gw.users)).join('\n');
  t.ok(await gw.users.verify('ops', 'ops-initial-password-1'), 'the file password (trailing newline dropped)');
  t.notMatch(lines, 'ops-initial-password-1', 'a password from a file is never printed');
  t.same(gw.users.get('ops')?.panel_identities, ['puq']);
  const aud = /first sign-in: aud \/ (\S+)/.exec(lines);
  t.ok(aud && (await gw.users.verify('aud', aud[1]!)), 'a user without password_file gets a generated one, printed');
  t.equal(gw.users.get(FIRST_ADMIN), undefined, 'an admin is listed: no first-run admin');
  await gw.users.setPassword('ops', 'changed-password-12345');
  t.same(await bootstrapUsers(gw.config, gw.users), [], 'existing users are never touched again');
  t.ok(await gw.users.verify('ops', 'changed-password-12345'));
});

t.test('a password file too short to be a password is refused with its code', async (t) => {
  const dir = tempDir();
  const pw = join(dir, 'short.pw');
  writeFileSync(pw, 'short\n', { mode: 0o600 });
  const { gw } = await startTestGateway(t, `${BASE}users:\n  - { name: ops, role: admin, password_file: ${pw} }\n`);
  await t.rejects(bootstrapUsers(gw.config, gw.users), { code: 'SG_ERR_BAD_PASSWORD' });
  t.equal(gw.users.get('ops'), undefined, 'nothing half-created');
});

t.test('a disabled viewer gets no first-run admin', async (t) => {
  const { gw } = await startTestGateway(t, `data_dir: \${DATA}\nviewer: { enabled: false }\n`);
  t.same(await bootstrapUsers(gw.config, gw.users), []);
});
