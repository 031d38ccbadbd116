// Viewer users management end to end (`/api/users`): a real viewer over a real LMDB store,
// signed in as an admin; the lifecycle, generated passwords, roles, CSRF, the last-admin and
// self-removal guards, strict input checks, and the activity trail (never a password).
import t, { type Test } from 'tap';
import { startHarness, type Harness, type HarnessOptions, type SignedIn } from '../viewer/server/test-harness.js';

function harness(t: Test, opts: Omit<HarnessOptions, 'dir' | 'teardown'> = {}): Promise<Harness> {
  return startHarness({ ...opts, dir: t.testdir(), teardown: (fn) => t.teardown(fn) });
}

function errorCode(t: Test, r: { status: number; json: { error?: { code: string; param?: string } } }, status: number, code: string, param?: string, msg = '') {
  t.equal(r.status, status, `${msg} status`);
  t.equal(r.json?.error?.code, code, `${msg} code`);
  if (param !== undefined) t.equal(r.json?.error?.param, param, `${msg} param`);
}

async function asAdmin(t: Test): Promise<{ h: Harness; s: SignedIn }> {
  const h = await harness(t);
  const a = await h.addUser('root-admin', 'admin', { email: 'root@corp.example' });
  return { h, s: await h.login(a.name, a.password) };
}

t.test('users: full lifecycle by an admin; generated passwords sign in; activity without passwords', async (t) => {
  const { h, s } = await asAdmin(t);
  const secrets: string[] = [];

  const created = await h.call('POST', '/api/users', { session: s, json: { name: 'alice', email: 'alice@corp.example', role: 'auditor' } });
  t.equal(created.status, 201, JSON.stringify(created.json));
  t.match(created.json.password, /^[1-9A-HJ-NP-Za-km-z]{20}$/, 'a generated password, returned once');
  secrets.push(created.json.password);
  t.same(Object.keys(created.json.user).sort(), ['created_at', 'email', 'name', 'panel_identities', 'password_changed_at', 'role', 'ssh_keys', 'targets']);
  t.match(created.json.user, { name: 'alice', email: 'alice@corp.example', role: 'auditor', panel_identities: [] });

  const alice = await h.login('alice', created.json.password);
  t.equal((await h.call('GET', '/api/me', { session: alice })).json.user.role, 'auditor', 'the generated password signs in');

  const given = 'bob-chosen-password-1';
  secrets.push(given);
  const bob = await h.call('POST', '/api/users', { session: s, json: { name: 'bob', role: null, password: given, panel_identities: ['bob-panel'] } });
  t.equal(bob.status, 201);
  t.notOk('password' in bob.json, 'a given password is not echoed');
  t.same(bob.json.user.role, null);
  t.same(bob.json.user.email, null);
  t.same(bob.json.user.panel_identities, ['bob-panel']);

  errorCode(t, await h.call('POST', '/api/users', { session: s, json: { name: 'ALICE', role: 'auditor' } }), 409, 'SG_ERR_CONFLICT', 'name', 'duplicate (case-insensitive)');
  errorCode(t, await h.call('POST', '/api/users', { session: s, json: { name: 'carol', role: 'auditor', password: 'short' } }), 400, 'SG_ERR_BAD_PARAM', 'password', 'short password');

  const list = await h.call('GET', '/api/users', { session: s });
  t.equal(list.status, 200);
  t.equal(list.json.total, 3);
  t.same(list.json.items.map((u: { name: string }) => u.name), ['alice', 'bob', 'root-admin']);
  t.notMatch(list.text, /scrypt|password_hash/, 'no password hashes');

  const patched = await h.call('PATCH', '/api/users/alice', { session: s, json: { role: 'security', email: null, panel_identities: ['a-panel', 'a-panel'] } });
  t.equal(patched.status, 200, JSON.stringify(patched.json));
  t.match(patched.json.user, { name: 'alice', role: 'security', email: null, panel_identities: ['a-panel'] });
  t.equal((await h.call('GET', '/api/me', { session: alice })).json.user.role, 'security', 'a role change applies at once');

  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf5cTMdNmnF7H0RzQhXa0vYwtQp4Ryxbn8F3Ak2u9Ui alice@laptop';
  const ssh = await h.call('PATCH', '/api/users/alice', { session: s, json: { ssh_keys: [key], targets: ['web1:deploy', 'db:root'] } });
  t.equal(ssh.status, 200, JSON.stringify(ssh.json));
  t.match(ssh.json.user, { ssh_keys: [key], targets: ['web1:deploy', 'db:root'] }, 'SSH access set (public keys are not secrets)');
  errorCode(t, await h.call('PATCH', '/api/users/alice', { session: s, json: { ssh_keys: ['ssh-ed25519 not base64!'] } }), 400, 'SG_ERR_BAD_PARAM', 'ssh_keys', 'a malformed key');
  errorCode(t, await h.call('PATCH', '/api/users/alice', { session: s, json: { targets: ['web1'] } }), 400, 'SG_ERR_BAD_PARAM', 'targets', 'a target without an account');
  errorCode(t, await h.call('PATCH', '/api/users/alice', { session: s, json: { targets: 'web1:root' } }), 400, 'SG_ERR_BAD_PARAM', 'targets', 'not a list');

  const reset = await h.call('POST', '/api/users/alice/password', { session: s, json: {} });
  t.equal(reset.status, 200);
  t.match(reset.json.password, /^[1-9A-HJ-NP-Za-km-z]{20}$/);
  secrets.push(reset.json.password);
  errorCode(t, await h.call('GET', '/api/me', { session: alice }), 401, 'SG_ERR_AUTH_REQUIRED', undefined, 'the reset ends her sessions');
  await t.rejects(h.login('alice', created.json.password), /401/, 'the old password is gone');
  h.clock.t += 1000; // the test clock stands still; a sign-in after a reset comes later
  const alice2 = await h.login('alice', reset.json.password);
  t.equal((await h.call('GET', '/api/me', { session: alice2 })).status, 200, 'the new one works');

  const chosen = 'alice-own-choice-99';
  secrets.push(chosen);
  const reset2 = await h.call('POST', '/api/users/alice/password', { session: s, json: { password: chosen } });
  t.equal(reset2.status, 200);
  t.notOk('password' in reset2.json);
  h.clock.t += 1000;
  const alice3 = await h.login('alice', chosen);
  t.equal((await h.call('GET', '/api/me', { session: alice3 })).status, 200, 'the chosen one works');

  const removed = await h.call('DELETE', '/api/users/alice', { session: s });
  t.equal(removed.status, 200);
  t.equal(removed.json.user.name, 'alice');
  errorCode(t, await h.call('DELETE', '/api/users/alice', { session: s }), 404, 'SG_ERR_NOT_FOUND', undefined, 'gone');
  errorCode(t, await h.call('PATCH', '/api/users/nobody', { session: s, json: { role: 'admin' } }), 404, 'SG_ERR_NOT_FOUND', undefined, 'unknown user');
  errorCode(t, await h.call('POST', '/api/users/nobody/password', { session: s, json: {} }), 404, 'SG_ERR_NOT_FOUND', undefined, 'unknown user password');

  const acts = await h.activity();
  const mine = acts.filter((a) => a.initiator === 'root-admin' && ['create', 'update', 'delete'].includes(a.action));
  t.same(mine.map((a) => a.action), ['create', 'create', 'update', 'update', 'update', 'update', 'delete']);
  t.equal(mine[0]!.description, 'created viewer user alice (auditor)');
  t.equal(mine[1]!.description, 'created viewer user bob (no role)');
  t.match(mine[2]!.description, /^updated viewer user alice: role auditor -> security, email, panel_identities$/);
  t.same(mine[2]!.details?.changes, { role: { from: 'auditor', to: 'security' }, email: { from: 'alice@corp.example', to: null }, panel_identities: { from: [], to: ['a-panel'] } });
  t.match(mine[3]!.description, /^updated viewer user alice: ssh_keys, targets$/, 'SSH access changes are recorded too');
  t.equal(mine[4]!.details?.field, 'password');
  t.equal(mine[4]!.description, 'reset the password of viewer user alice');
  t.equal(mine[6]!.description, 'removed viewer user alice (security)');
  for (const a of mine) {
    t.same(a.targets, [{ kind: 'user', id: a.description.includes('bob') ? 'bob' : 'alice' }]);
    t.equal(a.ip, '127.0.0.1');
  }
  const all = JSON.stringify(h.committed);
  for (const p of secrets) t.notOk(all.includes(p), 'no password in any record');
});

t.test('users: roles, sign-in and CSRF', async (t) => {
  const { h, s } = await asAdmin(t);
  const calls: [string, string, unknown?][] = [
    ['GET', '/api/users'],
    ['POST', '/api/users', { name: 'x1', role: 'auditor' }],
    ['PATCH', '/api/users/root-admin', { role: 'auditor' }],
    ['POST', '/api/users/root-admin/password', {}],
    ['DELETE', '/api/users/root-admin'],
  ];
  for (const role of ['auditor', 'security'] as const) {
    const u = await h.addUser(`${role}-user`, role);
    const us = await h.login(u.name, u.password);
    for (const [m, p, body] of calls) errorCode(t, await h.call(m, p, { session: us, json: body }), 403, 'SG_ERR_FORBIDDEN', undefined, `${role} ${m} ${p}`);
  }
  for (const [m, p, body] of calls) errorCode(t, await h.call(m, p, { json: body }), 401, 'SG_ERR_AUTH_REQUIRED', undefined, `anonymous ${m} ${p}`);
  errorCode(t, await h.call('POST', '/api/users', { session: s, json: { name: 'x2', role: 'auditor' }, headers: { origin: 'https://evil.example' } }), 403, 'SG_ERR_CSRF', undefined, 'cross-origin POST');
  errorCode(t, await h.call('PATCH', '/api/users/auditor-user', { session: s, json: { role: 'admin' }, headers: { origin: 'https://evil.example' } }), 403, 'SG_ERR_CSRF', undefined, 'cross-origin PATCH');
  errorCode(t, await h.call('DELETE', '/api/users/auditor-user', { session: s, csrf: null }), 403, 'SG_ERR_CSRF', undefined, 'no token');
  t.equal(h.users.get('auditor-user')?.role, 'auditor', 'nothing changed');
  t.notOk(h.users.get('x2'));
});

t.test('users: the last admin and yourself', async (t) => {
  const { h, s } = await asAdmin(t);
  errorCode(t, await h.call('DELETE', '/api/users/root-admin', { session: s }), 409, 'SG_ERR_CONFLICT', 'name', 'remove yourself');
  errorCode(t, await h.call('PATCH', '/api/users/root-admin', { session: s, json: { role: 'auditor' } }), 409, 'SG_ERR_CONFLICT', 'role', 'demote the last admin');
  errorCode(t, await h.call('PATCH', '/api/users/Root-Admin', { session: s, json: { role: null } }), 409, 'SG_ERR_CONFLICT', 'role', 'remove the last admin role');
  t.equal((await h.call('PATCH', '/api/users/root-admin', { session: s, json: { email: 'new@corp.example' } })).status, 200, 'other changes to the last admin are fine');

  await h.addUser('second', 'admin');
  t.equal((await h.call('PATCH', '/api/users/second', { session: s, json: { role: 'auditor' } })).status, 200, 'demote an admin while another remains');
  errorCode(t, await h.call('DELETE', '/api/users/ROOT-ADMIN', { session: s }), 409, 'SG_ERR_CONFLICT', 'name', 'yourself, any case');
  t.equal((await h.call('PATCH', '/api/users/second', { session: s, json: { role: 'admin' } })).status, 200);
  // Two admins demote each other at once: one of them must stay admin.
  const other = await h.login('second', 'second-long-enough-pw');
  const [a, b] = await Promise.all([
    h.call('PATCH', '/api/users/second', { session: s, json: { role: 'auditor' } }),
    h.call('PATCH', '/api/users/root-admin', { session: other, json: { role: 'auditor' } }),
  ]);
  const [win, lose] = [a.status, b.status].sort();
  t.equal(win, 200, 'one wins');
  t.ok(lose === 409 || lose === 403, `the other is refused: the last admin (409) or no longer an admin (403): ${lose}`);
  t.equal(h.users.list().filter((u) => u.role === 'admin').length, 1);
});

t.test('users: bad input is 400 with the field', async (t) => {
  const { h, s } = await asAdmin(t);
  const post = (json: unknown) => h.call('POST', '/api/users', { session: s, json });
  const cases: [unknown, string][] = [
    [{ name: '../x', role: 'auditor' }, 'name'],
    [{ name: 'x'.repeat(10 * 1024), role: 'auditor' }, 'name'],
    [{ name: '', role: 'auditor' }, 'name'],
    [{ role: 'auditor' }, 'name'],
    [{ name: 42, role: 'auditor' }, 'name'],
    [{ name: 'dave', role: 'root' }, 'role'],
    [{ name: 'dave', role: 'none' }, 'role'],
    [{ name: 'dave', role: ['admin'] }, 'role'],
    [{ name: 'dave' }, 'role'],
    [{ name: 'dave', role: 'auditor', email: 'not an email' }, 'email'],
    [{ name: 'dave', role: 'auditor', email: 7 }, 'email'],
    [{ name: 'dave', role: 'auditor', password: 123456789012345 }, 'password'],
    [{ name: 'dave', role: 'auditor', panel_identities: 'dave' }, 'panel_identities'],
    [{ name: 'dave', role: 'auditor', panel_identities: [1] }, 'panel_identities'],
    [{ name: 'dave', role: 'auditor', is_admin: true }, 'is_admin'],
  ];
  for (const [body, param] of cases) errorCode(t, await post(body), 400, 'SG_ERR_BAD_PARAM', param, JSON.stringify(body).slice(0, 60));
  t.notOk(h.users.get('dave'), 'nothing was created');

  const patch = (name: string, json: unknown) => h.call('PATCH', `/api/users/${name}`, { session: s, json });
  errorCode(t, await patch('root-admin', { role: 'superuser' }), 400, 'SG_ERR_BAD_PARAM', 'role');
  errorCode(t, await patch('root-admin', { email: 'a b@c' }), 400, 'SG_ERR_BAD_PARAM', 'email');
  errorCode(t, await patch('root-admin', { name: 'other' }), 400, 'SG_ERR_BAD_PARAM', 'name', 'name cannot be patched');
  errorCode(t, await patch('root-admin', { panel_identities: {} }), 400, 'SG_ERR_BAD_PARAM', 'panel_identities');
  errorCode(t, await patch('root-admin', {}), 400, 'SG_ERR_BAD_REQUEST', undefined, 'nothing to change');
  errorCode(t, await patch('%2E%2E%2Fx', { role: 'auditor' }), 400, 'SG_ERR_BAD_PARAM', 'name', 'encoded ../x');
  errorCode(t, await patch('a%20b', { role: 'auditor' }), 400, 'SG_ERR_BAD_PARAM', 'name');
  errorCode(t, await h.call('DELETE', `/api/users/${'y'.repeat(300)}`, { session: s }), 400, 'SG_ERR_BAD_PARAM', 'name');
  errorCode(t, await h.call('POST', '/api/users/root-admin/password', { session: s, json: { password: 'short' } }), 400, 'SG_ERR_BAD_PARAM', 'password');
  errorCode(t, await h.call('POST', '/api/users/root-admin/password', { session: s, json: { pw: 'x' } }), 400, 'SG_ERR_BAD_PARAM', 'pw');
  errorCode(t, await h.call('POST', '/api/users', { session: s, body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'SG_ERR_BAD_REQUEST', undefined, 'form body');
  errorCode(t, await h.call('GET', '/api/users?role=admin', { session: s }), 400, 'SG_ERR_BAD_PARAM', 'role', 'no filters on the list');
  t.equal((await h.call('PUT', '/api/users/root-admin', { session: s, json: {} })).status, 405);
  t.equal(h.users.get('root-admin')?.role, 'admin');
  t.equal(h.users.get('root-admin')?.email, 'root@corp.example');
});
