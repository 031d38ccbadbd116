// The viewer API end to end: a real uWS server on 127.0.0.1:0, real LMDB, undici / curl / raw
// sockets as clients, an injected clock for expiry and rate-limit windows.
import t, { type Test } from 'tap';
import { connect } from 'node:net';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { startHarness, type Harness, type HarnessOptions } from '../viewer/server/test-harness.js';
import { requireTool } from './helpers/interop.js';

function harness(t: Test, opts: Omit<HarnessOptions, 'dir' | 'teardown'> = {}): Promise<Harness> {
  return startHarness({ ...opts, dir: t.testdir(), teardown: (fn) => t.teardown(fn) });
}

function errorCode(t: Test, r: { status: number; json: { error?: { code: string } } }, status: number, code: string, msg?: string) {
  t.equal(r.status, status, msg ? `${msg}: status` : 'status');
  t.equal(r.json?.error?.code, code, msg ? `${msg}: code` : 'code');
}

const SECURITY_HEADERS = {
  'content-security-policy': /default-src 'self'/,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

function hasSecurityHeaders(t: Test, headers: Record<string, unknown>, what: string) {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) {
    if (typeof v === 'string') t.equal(headers[k], v, `${what}: ${k}`);
    else t.match(headers[k], v, `${what}: ${k}`);
  }
}

/** Sends raw bytes and returns everything the server answers until it closes (or the wait ends). */
function raw(port: number, data: string | Buffer, waitMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = () => resolve(Buffer.concat(chunks).toString('latin1'));
    sock.on('data', (c) => chunks.push(c));
    sock.on('close', done);
    sock.on('error', () => undefined);
    sock.setTimeout(waitMs, () => sock.destroy());
    sock.write(data);
  });
}

t.test('login: ok, cookie flags, user and csrf token, activity without the password', async (t) => {
  const h = await harness(t);
  const { name, password } = await h.addUser('alice', 'admin', { email: 'alice@example.com', panel_identities: ['puq'] });
  const r = await h.call('POST', '/api/login', { json: { name, password }, headers: { 'user-agent': 'test-agent' } });
  t.equal(r.status, 200);
  t.match(r.headers['content-type'], /^application\/json/);
  t.same(r.json.user, { name: 'alice', email: 'alice@example.com', role: 'admin', panel_identities: ['puq'] });
  t.match(r.json.csrf_token, /^[A-Za-z0-9_-]{43}$/);
  const cookie = String(r.headers['set-cookie']);
  t.match(cookie, /^sg_viewer=[A-Za-z0-9_-]{43}; /);
  for (const flag of ['HttpOnly', 'SameSite=Strict', 'Path=/', `Max-Age=${8 * 3600}`]) t.ok(cookie.split('; ').includes(flag), `cookie has ${flag}`);
  t.notOk(/;\s*Secure/i.test(cookie), 'no Secure flag without TLS');
  hasSecurityHeaders(t, r.headers, 'login');

  const me = await h.call('GET', '/api/me', { session: { cookie: cookie.split(';')[0]!, csrf: '', setCookie: cookie } });
  t.equal(me.status, 200);
  t.equal(me.json.user.name, 'alice');
  t.equal(me.json.csrf_token, r.json.csrf_token);

  const [login] = await h.activity('login');
  t.ok(login, 'login recorded');
  t.equal(login!.initiator, 'alice');
  t.equal(login!.ip, '127.0.0.1');
  t.equal(login!.user?.role, 'admin');
  t.notMatch(JSON.stringify(h.committed), password, 'the password is in no record');
  t.notMatch(JSON.stringify(h.committed), cookie.split(';')[0]!.split('=')[1]!, 'the session token is in no record');
});

t.test('wrong password and unknown user get the same answer; both recorded', async (t) => {
  const h = await harness(t);
  const { name, password } = await h.addUser('bob', 'auditor');
  const wrong = await h.call('POST', '/api/login', { json: { name, password: password + 'x' } });
  const unknown = await h.call('POST', '/api/login', { json: { name: 'nobody', password } });
  errorCode(t, wrong, 401, 'SG_ERR_AUTH_INVALID', 'wrong password');
  errorCode(t, unknown, 401, 'SG_ERR_AUTH_INVALID', 'unknown user');
  t.equal(wrong.text, unknown.text, 'identical bodies');
  t.notOk(wrong.headers['set-cookie'], 'no cookie on failure');
  const failed = await h.activity('login_failed');
  t.same(failed.map((e) => e.details?.reason), ['bad_password', 'unknown_user']);
  t.same(failed.map((e) => e.initiator), ['bob', 'nobody']);
  t.notMatch(JSON.stringify(h.committed), password, 'attempted passwords are never recorded');

  const missing = await h.call('POST', '/api/login', { json: { name: 'bob' } });
  errorCode(t, missing, 400, 'SG_ERR_BAD_PARAM', 'missing password');
  t.equal(missing.json.error.param, 'password');
  errorCode(t, await h.call('POST', '/api/login', { json: { name: 'bob', password: 12 } }), 400, 'SG_ERR_BAD_PARAM', 'password not a string');
  errorCode(t, await h.call('POST', '/api/login', { json: { name: 'bob', password, extra: 1 } }), 400, 'SG_ERR_BAD_PARAM', 'unknown field');
});

t.test('users without a role cannot sign in', async (t) => {
  const h = await harness(t);
  const { name, password } = await h.addUser('carol');
  errorCode(t, await h.call('POST', '/api/login', { json: { name, password } }), 403, 'SG_ERR_FORBIDDEN');
  const [ev] = await h.activity('login_failed');
  t.equal(ev?.details?.reason, 'no_role');
});

t.test('rate limit per IP and per user name, with Retry-After, then the window passes', async (t) => {
  // Trusting loopback as a proxy lets the test speak from several client IPs via X-Forwarded-For.
  const h = await harness(t, { viewer: { trusted_proxies: ['127.0.0.1'], login_rate_limit: { max_attempts: 3, window: '1m' } } });
  const { name, password } = await h.addUser('dave', 'admin');
  const from = (ip: string) => ({ 'x-forwarded-for': ip });
  for (let i = 0; i < 3; i++) errorCode(t, await h.call('POST', '/api/login', { json: { name: 'ghost', password: 'wrong wrong wrong' }, headers: from('10.0.0.1') }), 401, 'SG_ERR_AUTH_INVALID');
  const limited = await h.call('POST', '/api/login', { json: { name, password }, headers: from('10.0.0.1') });
  errorCode(t, limited, 429, 'SG_ERR_RATE_LIMITED', 'IP over the limit, even with the right password');
  t.ok(Number(limited.headers['retry-after']) > 0 && Number(limited.headers['retry-after']) <= 60, 'Retry-After in seconds');
  t.equal((await h.call('POST', '/api/login', { json: { name, password }, headers: from('10.0.0.2') })).status, 200, 'another IP may sign in');

  for (let i = 0; i < 3; i++) await h.call('POST', '/api/login', { json: { name, password: 'wrong wrong wrong' }, headers: from(`10.1.0.${i}`) });
  errorCode(t, await h.call('POST', '/api/login', { json: { name, password }, headers: from('10.2.0.1') }), 429, 'SG_ERR_RATE_LIMITED', 'name over the limit from a fresh IP');

  h.clock.t += 61_000;
  t.equal((await h.call('POST', '/api/login', { json: { name, password }, headers: from('10.0.0.1') })).status, 200, 'allowed again after the window');
  const limitedEvents = (await h.activity('login_failed')).filter((e) => e.details?.reason === 'rate_limited');
  t.equal(limitedEvents.length, 2, 'rate-limited attempts are recorded');
  t.equal(limitedEvents[0]!.ip, '10.0.0.1', 'client IP from the trusted proxy');
});

t.test('parallel guesses cannot pass the limit while hashing', async (t) => {
  const h = await harness(t, { viewer: { login_rate_limit: { max_attempts: 3, window: '1m' } } });
  await h.addUser('erin', 'admin');
  const rs = await Promise.all(Array.from({ length: 8 }, () => h.call('POST', '/api/login', { json: { name: 'erin', password: 'guess guess guess' } })));
  const statuses = rs.map((r) => r.status).sort();
  t.same(statuses, [401, 401, 401, 429, 429, 429, 429, 429]);
});

t.test('CSRF: token and origin rules', async (t) => {
  const h = await harness(t);
  const { name, password } = await h.addUser('frank', 'admin');
  const s = await h.login(name, password);
  const lock = { kind: 'login', value: 'mallory' };

  errorCode(t, await h.call('POST', '/api/locks', { session: s, csrf: null, json: lock }), 403, 'SG_ERR_CSRF', 'no token');
  errorCode(t, await h.call('POST', '/api/locks', { session: s, csrf: 'x'.repeat(43), json: lock }), 403, 'SG_ERR_CSRF', 'wrong token');
  errorCode(t, await h.call('POST', '/api/logout', { session: s, csrf: null }), 403, 'SG_ERR_CSRF', 'logout without token');
  errorCode(t, await h.call('POST', '/api/locks', { session: s, json: lock, headers: { origin: 'https://evil.example' } }), 403, 'SG_ERR_CSRF', 'foreign Origin');
  errorCode(t, await h.call('POST', '/api/locks', { session: s, json: lock, headers: { origin: 'null' } }), 403, 'SG_ERR_CSRF', 'Origin null');
  errorCode(t, await h.call('POST', '/api/locks', { session: s, json: lock, headers: { origin: `http://127.0.0.1:${h.port + 1}` } }), 403, 'SG_ERR_CSRF', 'other port');
  errorCode(t, await h.call('POST', '/api/locks', { session: s, json: lock, headers: { referer: 'https://evil.example/page' } }), 403, 'SG_ERR_CSRF', 'foreign Referer');
  errorCode(t, await h.call('POST', '/api/login', { json: { name, password }, headers: { origin: 'https://evil.example' } }), 403, 'SG_ERR_CSRF', 'login from a foreign page');
  errorCode(t, await h.call('DELETE', '/api/locks/01ABCDEFGHJKMNPQRS', { session: s, csrf: null }), 403, 'SG_ERR_CSRF', 'DELETE without token');
  t.equal((await h.activity('lock')).length, 0, 'nothing was locked');

  const ok = await h.call('POST', '/api/locks', { session: s, json: lock, headers: { origin: `http://127.0.0.1:${h.port}`, referer: `http://127.0.0.1:${h.port}/x` } });
  t.equal(ok.status, 201, 'same origin with the token');
  t.equal((await h.call('GET', '/api/locks', { session: s, csrf: null })).status, 200, 'GET needs no token');
  errorCode(t, await h.call('POST', '/api/locks', { json: lock, headers: { 'content-type': 'text/plain' }, body: JSON.stringify(lock) }), 401, 'SG_ERR_AUTH_REQUIRED', 'no session');
});

t.test('logout invalidates the session and clears the cookie', async (t) => {
  const h = await harness(t);
  const { name, password } = await h.addUser('gina', 'auditor');
  const s = await h.login(name, password);
  const s2 = await h.login(name, password);
  const out = await h.call('POST', '/api/logout', { session: s });
  t.equal(out.status, 200);
  t.match(String(out.headers['set-cookie']), /^sg_viewer=; .*Max-Age=0/);
  errorCode(t, await h.call('GET', '/api/me', { session: s }), 401, 'SG_ERR_AUTH_REQUIRED', 'old cookie after logout');
  t.equal((await h.call('GET', '/api/me', { session: s2 })).status, 200, 'other sessions of the user live on');
  t.equal((await h.call('POST', '/api/logout', {})).status, 200, 'logout without a session is harmless');
  t.equal((await h.activity('logout')).length, 1);
});

t.test('signing in again replaces the session the browser had', async (t) => {
  const h = await harness(t);
  const { name, password } = await h.addUser('hank', 'auditor');
  const s1 = await h.login(name, password);
  const s2 = await h.login(name, password, { cookie: s1.cookie });
  t.not(s1.cookie, s2.cookie);
  errorCode(t, await h.call('GET', '/api/me', { session: s1 }), 401, 'SG_ERR_AUTH_REQUIRED');
  t.equal((await h.call('GET', '/api/me', { session: s2 })).status, 200);
});

t.test('sessions expire: idle hour and absolute ttl (injected clock)', async (t) => {
  const h = await harness(t, { viewer: { session_ttl: '2h' } });
  const { name, password } = await h.addUser('ivan', 'auditor');
  const idle = await h.login(name, password);
  h.clock.t += 3_600_000 + 1;
  errorCode(t, await h.call('GET', '/api/me', { session: idle }), 401, 'SG_ERR_AUTH_REQUIRED', 'idle for over an hour');

  const busy = await h.login(name, password);
  for (let i = 0; i < 3; i++) {
    h.clock.t += 39 * 60_000;
    t.equal((await h.call('GET', '/api/me', { session: busy })).status, 200, `active at ${(i + 1) * 39} min`);
  }
  h.clock.t += 3 * 60_000;
  errorCode(t, await h.call('GET', '/api/me', { session: busy }), 401, 'SG_ERR_AUTH_REQUIRED', 'at the 2 h ttl while active');
});

t.test('sessions survive a restart; password change, role removal and user removal end them', async (t) => {
  const h = await harness(t);
  const a = await h.addUser('judy', 'admin');
  const b = await h.addUser('kim', 'auditor');
  const c = await h.addUser('leo', 'security');
  const sa = await h.login(a.name, a.password);
  const sb = await h.login(b.name, b.password);
  const sc = await h.login(c.name, c.password);
  await h.restart();
  t.equal((await h.call('GET', '/api/me', { session: sa })).status, 200, 'restored after restart');
  h.clock.t += 1;
  await h.users.setPassword(a.name, 'a brand new password');
  errorCode(t, await h.call('GET', '/api/me', { session: sa }), 401, 'SG_ERR_AUTH_REQUIRED', 'password changed');
  await h.users.setRole(b.name, undefined);
  errorCode(t, await h.call('GET', '/api/me', { session: sb }), 401, 'SG_ERR_AUTH_REQUIRED', 'role withdrawn');
  await h.users.remove(c.name);
  errorCode(t, await h.call('GET', '/api/me', { session: sc }), 401, 'SG_ERR_AUTH_REQUIRED', 'user removed');
});

t.test('roles: auditor reads, security terminates and locks, admin does everything', async (t) => {
  const h = await harness(t);
  const calls: { actor: unknown; reason: string }[] = [];
  const handle = h.registry.register({ id: 'sess-1', protocol: 'http', listener: 'panel', ip: '192.0.2.7', login: 'puq' }, (actor, reason) => {
    calls.push({ actor, reason });
  });
  h.registry.register({ id: 'sess-2', protocol: 'ssh', listener: 'ssh', login: 'root' }, () => undefined);
  const auditor = await h.login(...Object.values(await h.addUser('mia', 'auditor')) as [string, string]);
  const security = await h.login(...Object.values(await h.addUser('ned', 'security')) as [string, string]);
  const admin = await h.login(...Object.values(await h.addUser('ola', 'admin')) as [string, string]);

  const live = await h.call('GET', '/api/live', { session: auditor });
  t.equal(live.status, 200);
  t.same(live.json.items.map((s: { id: string }) => s.id).sort(), ['sess-1', 'sess-2']);
  t.equal(typeof live.json.items[0].idle_ms, 'number');
  t.same((await h.call('GET', '/api/live?protocol=ssh', { session: auditor })).json.items.map((s: { id: string }) => s.id), ['sess-2']);
  errorCode(t, await h.call('GET', '/api/live?protocol=gopher', { session: auditor }), 400, 'SG_ERR_BAD_PARAM');
  t.equal((await h.call('GET', '/api/requests', { session: auditor })).status, 200, 'auditor searches');
  t.equal((await h.call('GET', '/api/locks', { session: auditor })).status, 200, 'auditor reads locks');

  errorCode(t, await h.call('POST', '/api/live/sess-1/terminate', { session: auditor, json: { reason: 'no' } }), 403, 'SG_ERR_FORBIDDEN', 'auditor terminate');
  errorCode(t, await h.call('POST', '/api/locks', { session: auditor, json: { kind: 'ip', value: '192.0.2.7' } }), 403, 'SG_ERR_FORBIDDEN', 'auditor lock');
  errorCode(t, await h.call('GET', '/api/requests', { session: security }), 403, 'SG_ERR_FORBIDDEN', 'security does not search panel requests');
  t.equal(calls.length, 0, 'nothing terminated yet');

  errorCode(t, await h.call('POST', '/api/live/sess-1/terminate', { session: security, json: {} }), 400, 'SG_ERR_BAD_PARAM', 'reason required');
  const term = await h.call('POST', '/api/live/sess-1/terminate', { session: security, json: { reason: 'suspicious activity' } });
  t.equal(term.status, 200);
  t.equal(term.json.session.id, 'sess-1');
  t.same(calls, [{ actor: { name: 'ned', ip: '127.0.0.1' }, reason: 'suspicious activity' }], 'the front end was told who and why');
  t.equal(h.registry.get('sess-1'), undefined);
  errorCode(t, await h.call('POST', '/api/live/sess-1/terminate', { session: security, json: { reason: 'again' } }), 404, 'SG_ERR_NOT_FOUND', 'already gone');
  const [ev] = await h.activity('terminate');
  t.equal(ev?.initiator, 'ned');
  t.same(ev?.targets, [{ kind: 'session', id: 'sess-1' }]);
  handle.remove();

  t.equal((await h.call('POST', '/api/live/sess-2/terminate', { session: admin, json: { reason: 'maintenance' } })).status, 200, 'admin terminates');
  t.equal((await h.call('GET', '/api/requests', { session: admin })).status, 200, 'admin searches');
});

t.test('locks: add, list, remove, validation, self-lockout guard, locked users refused', async (t) => {
  const h = await harness(t, { viewer: { trusted_proxies: ['127.0.0.1'] } });
  const sec = await h.login(...Object.values(await h.addUser('pat', 'security', { email: 'pat@example.com' })) as [string, string]);
  const other = await h.addUser('quinn', 'auditor');
  const q = await h.login(other.name, other.password);

  const add = await h.call('POST', '/api/locks', { session: sec, json: { kind: 'ip', value: '203.0.113.0/24', duration: '30m', reason: 'scanner' } });
  t.equal(add.status, 201);
  t.equal(add.json.lock.kind, 'ip');
  t.equal(add.json.lock.actor, 'pat');
  t.equal(add.json.lock.until, h.clock.t + 30 * 60_000);
  const list = await h.call('GET', '/api/locks', { session: sec });
  t.same(list.json.items.map((l: { id: string }) => l.id), [add.json.lock.id]);
  t.ok(h.access.check({ ip: '203.0.113.9' }), 'effective at once');

  errorCode(t, await h.call('POST', '/api/locks', { session: sec, json: { kind: 'planet', value: 'x' } }), 400, 'SG_ERR_BAD_PARAM', 'bad kind');
  errorCode(t, await h.call('POST', '/api/locks', { session: sec, json: { kind: 'ip', value: '999.1.1.1' } }), 400, 'SG_ERR_BAD_PARAM', 'bad IP');
  errorCode(t, await h.call('POST', '/api/locks', { session: sec, json: { kind: 'user', value: 'x', duration: 'forever' } }), 400, 'SG_ERR_BAD_PARAM', 'bad duration');
  errorCode(t, await h.call('POST', '/api/locks', { session: sec, json: { kind: 'user', value: 'a\u001b[2Jb' } }), 400, 'SG_ERR_BAD_PARAM', 'control characters');
  errorCode(t, await h.call('POST', '/api/locks', { session: sec, json: { kind: 'user', value: 'pat' } }), 409, 'SG_ERR_CONFLICT', 'locking yourself out');
  errorCode(t, await h.call('POST', '/api/locks', { session: sec, json: { kind: 'email', value: 'PAT@example.com' } }), 409, 'SG_ERR_CONFLICT', 'your own email');
  errorCode(t, await h.call('POST', '/api/locks', { session: sec, json: { kind: 'ip', value: '127.0.0.0/8' } }), 409, 'SG_ERR_CONFLICT', 'your own IP');
  t.equal(h.access.listLocks().length, 1, 'refused locks left nothing behind');

  const lockQuinn = await h.call('POST', '/api/locks', { session: sec, json: { kind: 'user', value: 'quinn' } });
  t.equal(lockQuinn.status, 201);
  errorCode(t, await h.call('GET', '/api/me', { session: q }), 403, 'SG_ERR_LOCKED', 'locked user refused at once');
  errorCode(t, await h.call('POST', '/api/login', { json: { name: other.name, password: other.password } }), 403, 'SG_ERR_LOCKED', 'locked user cannot sign in');
  errorCode(t, await h.call('POST', '/api/login', { json: { name: other.name, password: other.password }, headers: { 'x-forwarded-for': '203.0.113.50' } }), 403, 'SG_ERR_LOCKED', 'locked IP cannot sign in');

  const del = await h.call('DELETE', `/api/locks/${lockQuinn.json.lock.id}`, { session: sec });
  t.equal(del.status, 200);
  errorCode(t, await h.call('DELETE', `/api/locks/${lockQuinn.json.lock.id}`, { session: sec }), 404, 'SG_ERR_NOT_FOUND', 'second delete');
  t.equal((await h.call('POST', '/api/login', { json: { name: other.name, password: other.password } })).status, 200, 'unlocked');

  const locks = await h.activity('lock');
  const unlocks = await h.activity('unlock');
  t.equal(locks.length, 2);
  t.equal(unlocks.length, 1);
  t.equal(locks[0]!.initiator, 'pat');
  t.same(locks[0]!.targets?.[0], { kind: 'lock', id: add.json.lock.id });
});

t.test('/healthz and /metrics need no sign-in', async (t) => {
  const h = await harness(t);
  const ok = await h.call('GET', '/healthz');
  t.equal(ok.status, 200);
  t.same(ok.json, { recorder: 'ok', status: 'ok' });
  hasSecurityHeaders(t, ok.headers, 'healthz');
  const head = await h.call('HEAD', '/healthz');
  t.equal(head.status, 200);
  t.equal(head.text, '', 'HEAD has no body');
  h.health.ok = false;
  h.health.details = { recorder: 'store not writable' };
  const bad = await h.call('GET', '/healthz');
  t.equal(bad.status, 503);
  t.same(bad.json, { recorder: 'store not writable', status: 'unavailable' });

  h.metrics.httpRequests.inc({ listener: 'panel', status: '200' });
  const m = await h.call('GET', '/metrics');
  t.equal(m.status, 200);
  t.match(m.headers['content-type'], /^text\/plain/);
  t.match(m.text, /sessiongate_http_requests_total\{listener="panel",status="200"\} 1/);
  t.match(m.text, /# TYPE sessiongate_live_sessions gauge/);
});

t.test('the browser app, its files and the API reference', async (t) => {
  const h = await harness(t);
  const page = await h.call('GET', '/');
  t.equal(page.status, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.text, /<div id="app">/, 'the built app (pretest builds it)');
  hasSecurityHeaders(t, page.headers, 'page');
  const deep = await h.call('GET', '/admin-sessions?q=x');
  t.equal(deep.status, 200, 'a page path answers with the app');
  t.equal(deep.text, page.text);
  const script = /src="(\/assets\/[^"]+\.js)"/.exec(page.text)?.[1];
  t.ok(script, 'the page loads a script from /assets');
  const js = await h.call('GET', script!);
  t.equal(js.status, 200);
  t.match(js.headers['content-type'], /^text\/javascript/);
  hasSecurityHeaders(t, js.headers, 'asset');
  t.notMatch(page.text, /<script>|<style>|style="/, 'nothing inline: the CSP forbids it');
  errorCode(t, await h.call('GET', '/assets/nothing.js'), 404, 'SG_ERR_NOT_FOUND', 'missing asset');
  errorCode(t, await h.call('GET', '/nothing.js'), 404, 'SG_ERR_NOT_FOUND', 'missing top-level file');
  errorCode(t, await h.call('GET', '/api'), 404, 'SG_ERR_NOT_FOUND', '/api is not a page');
  errorCode(t, await h.call('POST', '/admin-sessions', { json: {} }), 405, 'SG_ERR_METHOD_NOT_ALLOWED', 'pages are GET only');
  const icon = await h.call('GET', '/favicon.svg');
  t.equal(icon.status, 200);
  t.match(icon.headers['content-type'], /^image\/svg\+xml/);
  const doc = await h.call('GET', '/docs/api.md');
  t.equal(doc.status, 200);
  t.match(doc.headers['content-type'], /^text\/markdown/);
  t.match(doc.text, /POST \/api\/login/);
});

t.test('routing errors are JSON with security headers', async (t) => {
  const h = await harness(t);
  const nf = await h.call('GET', '/api/nothing');
  errorCode(t, nf, 404, 'SG_ERR_NOT_FOUND');
  hasSecurityHeaders(t, nf.headers, '404');
  errorCode(t, await h.call('GET', '/api/requests/'), 404, 'SG_ERR_NOT_FOUND', 'trailing slash');
  errorCode(t, await h.call('GET', '/api/../healthz/x'), 404, 'SG_ERR_NOT_FOUND', 'dot segments');
  const na = await h.call('PUT', '/api/login', { json: {} });
  errorCode(t, na, 405, 'SG_ERR_METHOD_NOT_ALLOWED');
  t.equal(na.headers.allow, 'POST');
  errorCode(t, await h.call('GET', '/api/me'), 401, 'SG_ERR_AUTH_REQUIRED', 'no cookie');
  errorCode(t, await h.call('GET', '/api/me', { headers: { cookie: 'sg_viewer=garbage' } }), 401, 'SG_ERR_AUTH_REQUIRED', 'junk cookie');
  errorCode(t, await h.call('GET', '/api/me', { headers: { cookie: `sg_viewer=${'A'.repeat(43)}` } }), 401, 'SG_ERR_AUTH_REQUIRED', 'well-formed unknown cookie');
});

t.test('hostile input', async (t) => {
  const h = await harness(t);
  const { name, password } = await h.addUser('rita', 'admin');
  const s = await h.login(name, password);

  const huge = await h.call('POST', '/api/login', { body: JSON.stringify({ name, password, pad: 'x'.repeat(70 * 1024) }), headers: { 'content-type': 'application/json' } });
  errorCode(t, huge, 413, 'SG_ERR_BODY_TOO_LARGE', 'body over 64 KB');
  const declared = await raw(h.port, `POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{"a":`);
  t.match(declared, /^HTTP\/1\.1 413 /, 'declared length over the limit answered at once');
  t.match(declared, /SG_ERR_BODY_TOO_LARGE/);

  errorCode(t, await h.call('POST', '/api/login', { body: '{"name": "rita", "password": ', headers: { 'content-type': 'application/json' } }), 400, 'SG_ERR_BAD_REQUEST', 'truncated JSON');
  errorCode(t, await h.call('POST', '/api/login', { body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), headers: { 'content-type': 'application/json' } }), 400, 'SG_ERR_BAD_REQUEST', 'invalid UTF-8');
  errorCode(t, await h.call('POST', '/api/login', { json: [name, password] }), 400, 'SG_ERR_BAD_REQUEST', 'array body');
  errorCode(t, await h.call('POST', '/api/login', { json: null }), 400, 'SG_ERR_BAD_REQUEST', 'null body');
  const form = await h.call('POST', '/api/login', { body: `name=${name}&password=${password}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(form.status, 415, 'a plain HTML form cannot sign in');
  t.equal(form.json.error.code, 'SG_ERR_BAD_REQUEST');
  const proto = await h.call('POST', '/api/login', { body: '{"__proto__": {"role": "admin"}, "name": "x", "password": "y"}', headers: { 'content-type': 'application/json' } });
  errorCode(t, proto, 400, 'SG_ERR_BAD_PARAM', '__proto__ key is just an unknown field');
  t.equal(proto.json.error.param, '__proto__');

  // Header injection: values that would split headers are refused or never reflected.
  const inj = await h.call('POST', '/api/login', { json: { name: 'x\r\nSet-Cookie: sg_viewer=evil', password: 'whatever whatever' } });
  errorCode(t, inj, 400, 'SG_ERR_BAD_PARAM', 'control characters in the name');
  t.notOk(inj.headers['set-cookie'], 'no header injected');
  const rawInj = await raw(h.port, 'GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-CSRF-Token: a\rInjected: yes\r\n\r\n', 1500);
  t.notMatch(rawInj, /Injected/i, 'bare CR in a header is never echoed');
  const crlfPath = await raw(h.port, 'GET /api/x%0d%0aSet-Cookie:%20a=b HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  t.match(crlfPath, /^HTTP\/1\.1 404 /);
  t.notMatch(crlfPath, /\r\nSet-Cookie/i, 'encoded CRLF in the path stays encoded');

  // HTML in names and logins comes back as JSON with markup escaped, never as HTML.
  h.registry.register({ id: 'x<svg>', protocol: 'http', listener: 'panel', login: '<script>alert(1)</script>', user: { name: '<img src=x onerror=alert(1)>' } }, () => undefined);
  const live = await h.call('GET', '/api/live', { session: s });
  t.equal(live.status, 200);
  t.match(live.headers['content-type'], /^application\/json/);
  t.notMatch(live.text, /<script|<img/i, 'no raw markup in the body');
  t.match(live.text, /\\u003cscript\\u003e/);
  t.equal(live.json.items[0].login, '<script>alert(1)</script>', 'the value itself is intact');
  const unk = await h.call('GET', '/api/requests?%3Cscript%3E=1', { session: s });
  t.equal(unk.status, 400);
  t.notMatch(unk.text, /<script/i, 'echoed parameter names are escaped');
  const term = await h.call('POST', `/api/live/${encodeURIComponent('<b>nope</b>')}/terminate`, { session: s, json: { reason: 'x' } });
  t.equal(term.status, 404);
  t.notMatch(term.text, /<b>/);

  // Many requests on one connection after all that: the server is fine.
  t.equal((await h.call('GET', '/healthz')).status, 200);
});

t.test('clients that go away mid-request: no write to an aborted response, server unaffected', async (t) => {
  const h = await harness(t, { viewer: { login_rate_limit: { max_attempts: 20 } } });
  await h.addUser('uma', 'admin');
  const body = JSON.stringify({ name: 'uma', password: 'wrong wrong wrong' });
  // The sign-in is still hashing (async) when the client is gone.
  for (let i = 0; i < 5; i++) {
    const sock = connect(h.port, '127.0.0.1');
    await new Promise<void>((resolve) => sock.on('connect', () => resolve()));
    sock.write(`POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, () => sock.destroy());
  }
  // Half a body, then gone: the handler waits for a body that never comes.
  const half = connect(h.port, '127.0.0.1');
  await new Promise<void>((resolve) => half.on('connect', () => resolve()));
  half.write(`POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":`, () => half.destroy());

  let failed = 0;
  for (let i = 0; i < 300 && failed < 5; i++) {
    failed = (await h.activity('login_failed')).length;
    if (failed < 5) await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(failed, 5, 'each abandoned sign-in still ran to its end and was recorded');
  t.equal((await h.call('GET', '/healthz')).status, 200, 'server still answers');
  const again = await h.call('POST', '/api/login', { json: { name: 'uma', password: 'uma-long-enough-pw' } });
  t.equal(again.status, 200, 'and signs people in');
});

t.test('strict audit mode: a viewer action is answered only once recorded', async (t) => {
  const h = await harness(t, { audit: { mode: 'strict' } });
  const { name, password } = await h.addUser('sam', 'auditor');
  const s = await h.login(name, password);
  const [login] = await h.activity('login');
  t.ok(login, 'login committed before the answer');
  // Failure injection: the store cannot write.
  const store = h.recorder.store as unknown as { writeBatch: (...a: unknown[]) => Promise<void> };
  const original = store.writeBatch.bind(store);
  let fired = 0;
  store.writeBatch = async () => {
    fired++;
    throw Object.assign(new Error('ENOSPC: injected'), { code: 'ENOSPC' });
  };
  h.recorder.emit({ type: 'activity', initiator: 'test', action: 'view', description: 'trip the fault' });
  for (let i = 0; i < 200 && h.recorder.writable(); i++) await new Promise((r) => setTimeout(r, 10));
  t.ok(fired > 0, 'the injected fault fired');
  t.notOk(h.recorder.writable(), 'store not writable');
  const r = await h.call('GET', '/api/requests', { session: s });
  errorCode(t, r, 503, 'SG_ERR_STORE_UNAVAILABLE', 'search refused while its record cannot be stored');
  store.writeBatch = original;
  for (let i = 0; i < 500 && !h.recorder.writable(); i++) await new Promise((r) => setTimeout(r, 10));
  t.ok(h.recorder.writable(), 'recovered');
  t.equal((await h.call('GET', '/api/requests', { session: s })).status, 200, 'search works again');
});

t.test('TLS: SSLApp, Secure cookie, HSTS; curl as a client', async (t) => {
  const openssl = requireTool(t, 'openssl');
  const curl = requireTool(t, 'curl');
  if (!openssl || !curl) return;
  const dir = t.testdir();
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  const h = await startHarness({ dir: join(dir, 'data'), teardown: (fn) => t.teardown(fn), viewer: { tls: { cert, key } } });
  t.equal(h.viewer.address().tls, true);
  const { name, password } = await h.addUser('tess', 'admin');
  const r = await h.call('POST', '/api/login', { json: { name, password } });
  t.equal(r.status, 200);
  t.match(String(r.headers['set-cookie']), /; Secure/);
  t.match(r.headers['strict-transport-security'], /max-age=/);
  // Async: the server runs in this process, a sync child would block its event loop.
  const run = promisify(execFile);
  const { stdout } = await run(curl, ['-sk', '-i', '--max-time', '20', `https://127.0.0.1:${h.port}/healthz`]);
  t.match(stdout, /^HTTP\/1\.1 200/);
  t.match(stdout, /"status":"ok"/);
  t.match(stdout, /strict-transport-security: max-age=/i);
  const plain = await run(curl, ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', `http://127.0.0.1:${h.port}/healthz`]).then(
    (r) => r.stdout.trim(),
    (e: { stdout?: string }) => String(e.stdout ?? '').trim(),
  );
  t.not(plain, '200', 'plain HTTP is not served on the TLS port');
});

t.test('config errors and listen errors', async (t) => {
  const h = await harness(t);
  const { createViewer } = await import('../viewer/server/index.js');
  const logger = (await import('pino')).default({ level: 'silent' });
  const deps = { clock: h.clock, logger, store: h.recorder.store, emitter: h.recorder, users: h.users, registry: h.registry, access: h.access, metrics: h.metrics, health: () => h.health };
  t.throws(() => createViewer({ ...h.config.viewer, tls: { cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' } }, deps), { code: 'SG_ERR_CONFIG_INVALID' });
  t.throws(() => createViewer({ ...h.config.viewer, cookie_name: 'bad name;' }, deps), { code: 'SG_ERR_CONFIG_INVALID' });
  t.throws(() => createViewer(h.config.viewer, { ...deps, users: undefined as never }), { code: 'SG_ERR_CONFIG_INVALID' });
  const clash = createViewer({ ...h.config.viewer, listen: { host: '127.0.0.1', port: h.port } }, deps);
  t.teardown(() => clash.close());
  await t.rejects(clash.start(), { code: 'SG_ERR_LISTEN' }, 'port in use');
});
