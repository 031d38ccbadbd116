// The bundled demo panel on its own: real node:http server on 127.0.0.1:0, real undici client.
import t, { type Test } from 'tap';
import { request } from 'undici';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDemoPanel, DEMO_USERS, type DemoPanel } from '../demo/panel/index.js';
import { panelRequestInit } from './helpers/demo-client.js';

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface ReqOpts {
  cookie?: string;
  bearer?: string;
  form?: Record<string, string>;
  json?: unknown;
  body?: string;
  headers?: Record<string, string>;
}

function client(panel: DemoPanel) {
  const base = `http://127.0.0.1:${panel.port}`;
  return async (method: string, path: string, o: ReqOpts = {}): Promise<Res> => {
    const { headers, body } = panelRequestInit(o, { ...o.headers }, o.body);
    const r = await request(base + path, { method: method as 'GET', headers, body });
    return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
  };
}

const pw = (login: string) => DEMO_USERS.find((u) => u.login === login)!.password;
const sidOf = (r: Res) => /panel_sid=([^;]*)/.exec(String(r.headers['set-cookie'] ?? ''))?.[1];
const user = (r: Res) => r.headers['x-sessiongate-user'];

async function panelFor(t: Test) {
  const panel = await startDemoPanel({ host: '127.0.0.1', port: 0 });
  t.teardown(() => panel.close());
  const call = client(panel);
  const login = async (login: string) => {
    const r = await call('POST', '/login', { form: { username: login, password: pw(login) } });
    t.equal(r.status, 303, `${login} signs in`);
    return sidOf(r)!;
  };
  return { panel, call, login };
}

t.test('login form sets the session cookie and redirects by user type', async (t) => {
  const { call } = await panelFor(t);
  const form = await call('GET', '/login');
  t.equal(form.status, 200);
  t.match(form.headers['content-type'], /^text\/html/);
  t.match(form.body, /<form method="post" action="\/login">/);
  t.match(form.body, /name="username"/);
  t.match(form.body, /name="password" type="password"/);
  t.notOk(user(form), 'anonymous page has no identity header');

  for (const [login, home] of [
    ['puq', '/admin/'],
    ['alice', '/admin/'],
    ['demo-client', '/client/'],
    ['bob', '/client/'],
  ] as const) {
    const r = await call('POST', '/login', { form: { username: login, password: pw(login) } });
    t.equal(r.status, 303, `${login}: 303`);
    t.equal(r.headers.location, home, `${login}: redirected to ${home}`);
    const cookie = String(r.headers['set-cookie']);
    t.match(cookie, /^panel_sid=[A-Za-z0-9_-]{20,};/, `${login}: random panel_sid`);
    t.match(cookie, /HttpOnly/);
    t.match(cookie, /SameSite=Lax/);
    t.equal(user(r), login, `${login}: the login response already names the user`);
    const page = await call('GET', home, { cookie: sidOf(r) });
    t.equal(page.status, 200, `${login}: area page loads`);
    t.equal(user(page), login);
  }

  const a = await call('POST', '/login', { form: { username: 'bob', password: pw('bob') } });
  const b = await call('POST', '/login', { form: { username: 'bob', password: pw('bob') } });
  t.not(sidOf(a), sidOf(b), 'every login gets a fresh session id');

  const bad = await call('POST', '/login', { form: { username: 'puq', password: 'wrong' } });
  t.equal(bad.status, 401, 'wrong password -> 401 page');
  t.match(bad.body, /Invalid username or password/);
  t.notOk(bad.headers['set-cookie'], 'no cookie on failure');
  t.notOk(user(bad), 'no identity header on a failed login');
  t.equal((await call('POST', '/login', { form: { username: 'nobody', password: 'x' } })).status, 401, 'unknown user -> 401');
  t.equal((await call('POST', '/login', { form: {} })).status, 401, 'empty form -> 401');

  const json = await call('POST', '/login', { json: { username: 'demo-client', password: pw('demo-client') } });
  t.equal(json.status, 303, 'a JSON body is accepted too');

  t.equal((await call('POST', '/admin/login', { form: { username: 'bob', password: pw('bob') } })).status, 401, 'the staff entrance refuses clients');
  const staff = await call('POST', '/admin/login', { form: { username: 'alice', password: pw('alice') } });
  t.equal(staff.status, 303);
  t.equal(staff.headers.location, '/admin/');
});

t.test('areas: identity header on every authenticated response, access by type', async (t) => {
  const { panel, call, login } = await panelFor(t);
  const admin = await login('puq');
  const cl = await login('demo-client');

  const anon = await call('GET', '/admin/clients');
  t.equal(anon.status, 302, 'anonymous admin page -> sign-in');
  t.equal(anon.headers.location, '/admin/login');
  t.notOk(user(anon));
  t.equal((await call('GET', '/client/services')).headers.location, '/login');

  for (const path of ['/admin/', '/admin/clients', '/admin/clients/1', '/admin/services', '/admin/invoices']) {
    const r = await call('GET', path, { cookie: admin });
    t.equal(r.status, 200, `admin ${path}`);
    t.equal(user(r), 'puq', `admin ${path}: identity header`);
  }
  for (const path of ['/client/', '/client/services', '/client/invoices', '/client/profile']) {
    const r = await call('GET', path, { cookie: cl });
    t.equal(r.status, 200, `client ${path}`);
    t.equal(user(r), 'demo-client', `client ${path}: identity header`);
  }
  const forbidden = await call('GET', '/admin/clients', { cookie: cl });
  t.equal(forbidden.status, 403, 'a client cannot open the admin area');
  t.equal(user(forbidden), 'demo-client', 'the refusal still names the user');
  t.equal((await call('GET', '/client/', { cookie: admin })).status, 403, 'an admin has no client area');

  const c404 = await call('GET', '/admin/clients/999', { cookie: admin });
  t.equal(c404.status, 404);
  t.equal(user(c404), 'puq', 'even a 404 to a signed-in user carries the header');

  // Client area: create / update actions.
  const order = await call('POST', '/client/services', { cookie: cl, form: { product: 'VPS S', domain: 'new.demo-client.example' } });
  t.equal(order.status, 303);
  t.match((await call('GET', '/client/services', { cookie: cl })).body, /new\.demo-client\.example/);
  const badOrder = await call('POST', '/client/services', { cookie: cl, form: { product: 'Nope', domain: 'x.example' } });
  t.equal(badOrder.status, 400);
  t.match(badOrder.body, /unknown product/);

  const profile = await call('POST', '/client/profile', { cookie: cl, form: { name: 'Dana Client', email: 'dana@example.com' } });
  t.equal(profile.status, 200);
  t.match(profile.body, /Profile saved/);
  t.match(profile.body, /value="Dana Client"/);
  t.equal((await call('POST', '/client/profile', { cookie: cl, form: { name: '', email: 'x' } })).status, 400, 'invalid profile -> 400');

  const invoices = await call('GET', '/client/invoices', { cookie: cl });
  const unpaid = /action="\/client\/invoices\/(\d+)\/pay"/.exec(invoices.body);
  t.ok(unpaid, 'the demo client has an unpaid invoice to pay');
  t.equal((await call('POST', `/client/invoices/${unpaid![1]}/pay`, { cookie: cl })).status, 303);
  t.notMatch((await call('GET', '/client/invoices', { cookie: cl })).body, new RegExp(`/client/invoices/${unpaid![1]}/pay`));
  const demoClientId = panel.store.users.get('demo-client')!.clientId;
  const foreign = [...panel.store.invoices.values()].find((i) => i.clientId !== demoClientId && i.status === 'Unpaid')!;
  t.equal((await call('POST', `/client/invoices/${foreign.id}/pay`, { cookie: cl })).status, 404, "another client's invoice is not found");
  t.equal(foreign.status, 'Unpaid', 'and stays unpaid');

  // Admin: create then delete a client.
  const created = await call('POST', '/admin/clients', { cookie: admin, form: { name: 'Globex Corp', email: 'ops@globex.example' } });
  t.equal(created.status, 303);
  t.match(created.headers.location, /^\/admin\/clients\/\d+$/);
  const id = String(created.headers.location).split('/').pop();
  t.match((await call('GET', `/admin/clients/${id}`, { cookie: admin })).body, /Globex Corp/);
  const del = await call('POST', `/admin/clients/${id}/delete`, { cookie: admin });
  t.equal(del.status, 303);
  t.equal(del.headers.location, '/admin/clients');
  t.equal((await call('GET', `/admin/clients/${id}`, { cookie: admin })).status, 404, 'deleted');
  t.equal((await call('POST', `/admin/clients/${id}/delete`, { cookie: admin })).status, 404, 'deleting twice -> 404');
  t.equal((await call('POST', '/admin/clients', { cookie: admin, form: { name: 'x', email: 'not-an-email' } })).status, 400);
});

t.test('JSON API: bearer token flow, scoping, admin API', async (t) => {
  const { call, login } = await panelFor(t);

  const anon = await call('GET', '/api/me');
  t.equal(anon.status, 401);
  t.same(JSON.parse(anon.body).error.code, 'auth_required');
  t.notOk(user(anon));

  const bad = await call('POST', '/api/login', { json: { username: 'bob', password: 'nope' } });
  t.equal(bad.status, 401);
  t.equal(JSON.parse(bad.body).error.code, 'invalid_credentials');

  const li = await call('POST', '/api/login', { json: { username: 'bob', password: pw('bob') } });
  t.equal(li.status, 200);
  t.equal(user(li), 'bob');
  const { token, token_type, user: u } = JSON.parse(li.body);
  t.equal(token_type, 'Bearer');
  t.match(token, /^dcp_[A-Za-z0-9_-]{20,}$/);
  t.same(u, { login: 'bob', name: 'Bob Stone', email: 'bob@acme.example', type: 'client', client: 'Acme Ltd' });

  const me = await call('GET', '/api/me', { bearer: token });
  t.equal(me.status, 200);
  t.equal(user(me), 'bob', 'identity header on API answers');
  t.equal(JSON.parse(me.body).client, 'Acme Ltd');

  const list = JSON.parse((await call('GET', '/api/services', { bearer: token })).body).services as { id: number; client_id: number }[];
  t.ok(list.length >= 1);
  const acmeId = list[0]!.client_id;
  t.ok(list.every((s) => s.client_id === acmeId), 'a client sees only its own services');

  const created = await call('POST', '/api/services', { bearer: token, json: { product: 'Email Pro', domain: 'mail.acme.example' } });
  t.equal(created.status, 201);
  const svc = JSON.parse(created.body).service;
  t.equal(svc.domain, 'mail.acme.example');
  t.equal(created.headers.location, `/api/services/${svc.id}`);
  t.equal((await call('POST', '/api/services', { bearer: token, json: { product: 'VPS S', domain: 'not a domain' } })).status, 422);

  // Another client's service is invisible: 404, not 403.
  const demoToken = JSON.parse((await call('POST', '/api/login', { form: { username: 'demo-client', password: pw('demo-client') } })).body).token;
  const demoSvc = JSON.parse((await call('GET', '/api/services', { bearer: demoToken })).body).services[0];
  t.equal((await call('DELETE', `/api/services/${demoSvc.id}`, { bearer: token })).status, 404);

  const del = await call('DELETE', `/api/services/${svc.id}`, { bearer: token });
  t.equal(del.status, 204);
  t.equal(user(del), 'bob');
  t.equal((await call('DELETE', `/api/services/${svc.id}`, { bearer: token })).status, 404);
  t.equal((await call('GET', '/api/invoices', { bearer: token })).status, 200);

  // The cookie works for the API too.
  const sid = await login('bob');
  t.equal(JSON.parse((await call('GET', '/api/me', { cookie: sid })).body).login, 'bob');

  const out = await call('POST', '/api/logout', { bearer: token });
  t.equal(out.status, 200);
  t.equal(user(out), 'bob', 'the logout answer names who logged out');
  const after = await call('GET', '/api/me', { bearer: token });
  t.equal(after.status, 401, 'revoked token');
  t.equal(JSON.parse(after.body).error.code, 'invalid_token');
  t.equal((await call('GET', '/api/me', { bearer: 'dcp_forged' })).status, 401);

  // Admin API.
  t.equal((await call('GET', '/admin/api/clients', { bearer: demoToken })).status, 403, 'client token on the admin API');
  t.equal((await call('POST', '/admin/api/login', { json: { username: 'bob', password: pw('bob') } })).status, 401, 'admin API login is for staff');
  const at = JSON.parse((await call('POST', '/admin/api/login', { json: { username: 'puq', password: pw('puq') } })).body).token;
  const clients = await call('GET', '/admin/api/clients', { bearer: at });
  t.equal(clients.status, 200);
  t.equal(user(clients), 'puq');
  t.ok(JSON.parse(clients.body).clients.some((c: { name: string }) => c.name === 'Acme Ltd'));
  const nc = await call('POST', '/admin/api/clients', { bearer: at, json: { name: 'Initech', email: 'it@initech.example' } });
  t.equal(nc.status, 201);
  const ncId = JSON.parse(nc.body).client.id;
  t.equal(JSON.parse((await call('GET', `/admin/api/clients/${ncId}`, { bearer: at })).body).client.name, 'Initech');
  t.equal((await call('DELETE', `/admin/api/clients/${ncId}`, { bearer: at })).status, 204);
  t.equal((await call('GET', `/admin/api/clients/${ncId}`, { bearer: at })).status, 404);
  t.ok(JSON.parse((await call('GET', '/api/services', { bearer: at })).body).services.length > list.length - 1, 'an admin sees every service');
  t.equal((await call('POST', '/admin/api/logout', { bearer: at })).status, 200);
  t.equal((await call('GET', '/admin/api/me', { bearer: at })).status, 401);
});

t.test('logout clears the cookie and ends the session', async (t) => {
  const { call, login } = await panelFor(t);
  for (const [method, path, next] of [
    ['GET', '/logout', '/login'],
    ['POST', '/logout', '/login'],
    ['POST', '/admin/logout', '/admin/login'],
  ] as const) {
    const sid = await login('puq');
    t.equal((await call('GET', '/admin/', { cookie: sid })).status, 200);
    const out = await call(method, path, { cookie: sid });
    t.equal(out.status, 303, `${method} ${path}`);
    t.equal(out.headers.location, next);
    t.match(String(out.headers['set-cookie']), /^panel_sid=; .*Max-Age=0/, 'cookie cleared');
    t.equal(user(out), 'puq', 'the logout itself is attributed');
    const after = await call('GET', '/admin/', { cookie: sid });
    t.equal(after.status, 302, 'old session no longer works');
    t.notOk(user(after));
  }
  const cookieApi = await login('bob');
  const out = await call('POST', '/api/logout', { cookie: cookieApi });
  t.equal(out.status, 200);
  t.match(String(out.headers['set-cookie']), /Max-Age=0/);
  t.equal((await call('GET', '/api/me', { cookie: cookieApi })).status, 401);
});

t.test('every value is escaped', async (t) => {
  const { call, login } = await panelFor(t);
  const admin = await login('puq');
  const evil = `<script>alert("x")</script> & Sons '<img src=x onerror=1>`;
  const r = await call('POST', '/admin/clients', { cookie: admin, form: { name: evil, email: 'evil@example.com' } });
  t.equal(r.status, 303);
  const escaped = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Sons &#39;&lt;img src=x onerror=1&gt;';
  for (const path of ['/admin/clients', String(r.headers.location)]) {
    const page = await call('GET', path, { cookie: admin });
    t.notMatch(page.body, /<script>/, `${path}: no raw script tag`);
    t.notMatch(page.body, /<img/, `${path}: no raw img tag`);
    t.ok(page.body.includes(escaped), `${path}: shown escaped`);
  }
  // Values from the API end up escaped in pages too, and in the failed-login echo.
  const at = JSON.parse((await call('POST', '/admin/api/login', { json: { username: 'puq', password: pw('puq') } })).body).token;
  const nc = await call('POST', '/admin/api/clients', { bearer: at, json: { name: '"><svg onload=1>', email: 'a@example.com' } });
  const id = JSON.parse(nc.body).client.id;
  const cp = await call('GET', `/admin/clients/${id}`, { cookie: admin });
  t.notMatch(cp.body, /<svg/);
  t.ok(cp.body.includes('&quot;&gt;&lt;svg onload=1&gt;'));
  const failed = await call('POST', '/login', { form: { username: '"><script>x</script>', password: 'x' } });
  t.notMatch(failed.body, /<script>x/);
  t.ok(failed.body.includes('value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"'));
  t.match(failed.headers['content-security-policy'], /default-src 'none'/, 'CSP as a second line of defence');
});

t.test('protocol edges: 404, 405, 413, 415, bad JSON', async (t) => {
  const { call, login } = await panelFor(t);
  const nf = await call('GET', '/nope');
  t.equal(nf.status, 404);
  t.match(nf.headers['content-type'], /^text\/html/);
  const apiNf = await call('GET', '/api/nope');
  t.equal(apiNf.status, 404);
  t.equal(JSON.parse(apiNf.body).error.code, 'not_found');
  const m = await call('PUT', '/login');
  t.equal(m.status, 405);
  t.match(m.headers.allow, /GET/);
  t.match(m.headers.allow, /POST/);
  const head = await call('HEAD', '/login');
  t.equal(head.status, 200, 'HEAD is served like GET');
  t.equal(head.body, '');
  const big = await call('POST', '/login', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=' + 'a'.repeat(70 * 1024) });
  t.equal(big.status, 413);
  t.equal((await call('POST', '/api/login', { headers: { 'content-type': 'text/plain' }, body: 'x' })).status, 415);
  const bj = await call('POST', '/api/login', { headers: { 'content-type': 'application/json' }, body: '{nope' });
  t.equal(bj.status, 400);
  t.equal(JSON.parse(bj.body).error.code, 'bad_json');
  const sid = await login('puq');
  t.equal((await call('GET', '/', { cookie: sid })).headers.location, '/admin/', 'root sends a signed-in user home');
  t.equal((await call('GET', '/')).headers.location, '/login');
});

t.test('options are validated; a busy port is SG_ERR_LISTEN', async (t) => {
  await t.rejects(startDemoPanel({ host: '', port: 0 }), { code: 'SG_ERR_BAD_PARAM' });
  await t.rejects(startDemoPanel({ host: '127.0.0.1', port: 70000 }), { code: 'SG_ERR_BAD_PARAM' });
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  await t.rejects(startDemoPanel({ host: '127.0.0.1', port: (blocker.address() as AddressInfo).port }), { code: 'SG_ERR_LISTEN' });
  const p = await startDemoPanel({ host: '127.0.0.1', port: 0 });
  await p.close();
  await p.close();
  t.pass('close is idempotent');
});
