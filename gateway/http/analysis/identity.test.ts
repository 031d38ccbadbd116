import t from 'tap';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { RouteIdentity, type Identity } from './identity.js';
import { Directory } from './directory.js';
import { JwtVerifier } from './jwt.js';
import { makeRoute } from './route-fixture.js';

const NOW = Date.parse('2025-06-01T12:00:00Z');
const clock = { now: () => NOW };
const sec = Math.floor(NOW / 1000);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
function hs256(payload: unknown, secret = 'jwt-secret-jwt-secret') {
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
const basic = (s: string) => 'Basic ' + Buffer.from(s).toString('base64');
const headers = (h: Record<string, string>) => (name: string) => h[name];

const directory = new Directory([
  { login: 'alice', name: 'Alice Smith', email: 'alice@example.com', client: 'Acme', type: 'client' },
  { login: 'alice', realm: 'admin', name: 'Alice Admin', type: 'admin' },
  { login: 'bob', client: 'Bobcorp' },
]);

t.test('JWT identities', async (t) => {
  const dir = t.testdir({ secret: 'jwt-secret-jwt-secret\n' });
  const route = makeRoute({ realm: 'client', identity: { jwt: { secret_file: join(dir, 'secret') }, basic: true } });
  const ri = new RouteIdentity(route, { clock, directory });
  t.teardown(() => ri.close());
  const tok = hs256({ sub: 'alice', email: 'alice@token.example', role: ['billing', 'support'], exp: sec + 600 });
  t.same(ri.fromRequest({ authorization: `Bearer ${tok}` }), {
    login: 'alice',
    email: 'alice@token.example',
    type: 'billing, support',
    name: 'Alice Smith',
    client: 'Acme',
    verified: true,
    source: 'jwt',
  }, 'claims win, the directory completes');
  t.same(ri.jwtResult({ authorization: `Bearer ${tok}` })?.ok, true);
  t.equal(ri.jwtResult({}), undefined, 'no token');
  // a forged token is no identity; Basic is the fallback when enabled
  const forged = hs256({ sub: 'admin', exp: sec + 600 }, 'guess');
  t.equal(ri.fromRequest({ authorization: `Bearer ${forged}` }), undefined);
  t.equal(ri.jwtResult({ authorization: `Bearer ${forged}` })?.ok, false);
  t.same(ri.fromRequest({ authorization: basic('bob:pw') }), { login: 'bob', client: 'Bobcorp', verified: false, source: 'basic' });
  // expired
  const expired = ri.jwtResult({ authorization: `Bearer ${hs256({ sub: 'alice', exp: sec - 3600 })}` });
  t.ok(expired && !expired.ok && expired.code === 'SG_ERR_JWT_EXPIRED');
  // claims without a login but with a name still identify; nothing useful: no identity
  t.same(ri.fromRequest({ authorization: `Bearer ${hs256({ name: 'Anon Y. Mous' })}` }), { name: 'Anon Y. Mous', verified: true, source: 'jwt' });
  t.equal(ri.fromRequest({ authorization: `Bearer ${hs256({ foo: 1 })}` }), undefined);
  // hostile claim values are dropped, not recorded
  t.same(ri.fromRequest({ authorization: `Bearer ${hs256({ sub: 'eve\r\nadmin', name: 'x\u202ey' })}` }), undefined);
  t.same(ri.fromRequest({ authorization: `Bearer ${hs256({ sub: 12345 })}` }), { login: '12345', verified: true, source: 'jwt' }, 'numeric sub');
  t.same(ri.fromRequest({ authorization: `Bearer ${hs256({ sub: { a: 1 }, email: 'x@y' })}` }), { email: 'x@y', verified: true, source: 'jwt' });
});

t.test('JWT from a cookie, custom claims, unverified, shared verifier', async (t) => {
  const route = makeRoute({
    realm: 'admin',
    identity: { jwt: { from: 'cookie:auth', verify: false, claims: { login: 'preferred_username', type: 'realm_access.roles', client: 'tenant' } } },
  });
  const ri = new RouteIdentity(route, { clock, directory });
  const tok = hs256({ preferred_username: 'Alice', realm_access: { roles: ['ops'] }, tenant: 'T1' }, 'unknown-secret');
  t.same(ri.fromRequest({ cookie: `x=1; auth=${tok}` }), { login: 'Alice', type: 'ops', client: 'T1', name: 'Alice Admin', verified: false, source: 'jwt' }, 'realm-specific entry, unverified');
  t.equal(ri.fromRequest({ authorization: `Bearer ${tok}` }), undefined, 'bearer ignored when from: cookie');
  t.equal(ri.fromRequest({}), undefined);
  const dir = t.testdir({ secret: 'jwt-secret-jwt-secret' });
  const jcfg = makeRoute({ identity: { jwt: { secret_file: join(dir, 'secret') } } }).identity.jwt!;
  const shared = new JwtVerifier(jcfg, clock);
  const r2 = new RouteIdentity(makeRoute({ identity: { jwt: { secret_file: '/not/read/because/shared' } } }), { clock, directory, jwt: shared });
  t.equal(r2.fromRequest({ authorization: `Bearer ${hs256({ sub: 'bob' })}` })?.login, 'bob');
  r2.close();
  t.ok(shared.verify(hs256({ sub: 'bob' })).ok, "a shared verifier is not closed by a route");
  t.throws(() => new RouteIdentity(makeRoute({ identity: { jwt: { secret_file: join(dir, 'missing') } } }), { clock, directory }), { code: 'SG_ERR_CONFIG_INVALID' });
});

t.test('Basic identities are settled by the answer', async (t) => {
  const ri = new RouteIdentity(makeRoute({ identity: { basic: true } }), { clock, directory });
  const id = ri.fromRequest({ authorization: basic('alice:pw') })!;
  t.same(id, { login: 'alice', name: 'Alice Smith', email: 'alice@example.com', client: 'Acme', type: 'client', verified: false, source: 'basic' });
  t.equal(ri.settle(id, 200)?.verified, true);
  t.equal(ri.settle(id, 302)?.verified, true);
  t.equal(ri.settle(id, 404)?.verified, true, 'only 401/403 mean refused credentials');
  t.equal(ri.settle(id, 401)?.verified, false);
  t.equal(ri.settle(id, 403)?.verified, false);
  t.equal(ri.settle(id, 0)?.verified, false, 'no answer at all');
  t.equal(id.verified, false, 'the request identity is not mutated');
  t.equal(ri.settle(undefined, 200), undefined);
  const jwtLike: Identity = { login: 'x', verified: false, source: 'jwt' };
  t.equal(ri.settle(jwtLike, 200), jwtLike, 'other sources unchanged');
  t.equal(ri.fromResponse(200, headers({}), undefined, id)?.verified, true, 'fromResponse settles the request identity');
  t.equal(ri.fromResponse(401, headers({}), undefined, id)?.verified, false);
  t.equal(ri.fromResponse(200, headers({}), undefined), undefined);
  t.equal(ri.fromRequest({ authorization: basic('al\u0000ice:pw') }), undefined);
  const off = new RouteIdentity(makeRoute(), { clock, directory });
  t.equal(off.fromRequest({ authorization: basic('alice:pw') }), undefined, 'basic off by default');
});

t.test('upstream identity headers', async (t) => {
  const route = makeRoute({ identity: { header: { login: 'X-Panel-User', name: 'X-Panel-Name', email: 'x-panel-email', client: 'X-Panel-Org' }, basic: true } });
  const ri = new RouteIdentity(route, { clock, directory });
  t.same(ri.identityHeaderNames().sort(), ['x-panel-email', 'x-panel-name', 'x-panel-org', 'x-panel-user']);
  t.same(
    ri.fromResponse(200, headers({ 'x-panel-user': 'alice', 'x-panel-name': Buffer.from('Alice Müller').toString('latin1') }), undefined),
    { login: 'alice', name: 'Alice Müller', email: 'alice@example.com', client: 'Acme', type: 'client', verified: true, source: 'header' },
    'header fields win, UTF-8 bytes read as UTF-8, directory completes',
  );
  const basicId = ri.fromRequest({ authorization: basic('bob:pw') });
  t.equal(ri.fromResponse(200, headers({ 'x-panel-user': 'alice' }), undefined, basicId)?.source, 'header', 'the upstream header wins over the request');
  t.equal(ri.fromResponse(200, headers({ 'x-panel-user': 'a\r\nb' }), undefined, basicId)?.source, 'basic', 'a hostile header value is ignored');
  t.equal(ri.fromResponse(200, headers({ 'x-panel-user': '  ' }), undefined), undefined);
  t.equal(ri.fromResponse(200, headers({ 'x-panel-user': 'carol', 'x-panel-email': 'c\u0000' }), undefined)?.email, undefined);
  const def = new RouteIdentity(makeRoute({ identity: { header: {} } }), { clock, directory });
  t.same(def.identityHeaderNames(), ['x-sessiongate-user'], 'default header name');
  t.equal(def.fromResponse(500, headers({ 'x-sessiongate-user': 'bob' }), undefined)?.login, 'bob');
  t.same(new RouteIdentity(makeRoute(), { clock, directory }).identityHeaderNames(), [], 'nothing to strip when not configured');
  t.equal(new RouteIdentity(makeRoute(), { clock, directory }).fromResponse(200, headers({ 'x-sessiongate-user': 'mallory' }), undefined), undefined, 'an unconfigured header is not believed');
});

t.test('login forms', async (t) => {
  const route = makeRoute({ session: { cookie: 'PHPSESSID' }, identity: { form: { path: '/auth/login', field: 'user' } } });
  const ri = new RouteIdentity(route, { clock, directory });
  t.equal(ri.wantsFormBody('POST', '/auth/login'), true);
  t.equal(ri.wantsFormBody('post', '/auth/login/?next=/x'), true);
  t.equal(ri.wantsFormBody('POST', '/auth//login'), true, 'normalised path');
  t.equal(ri.wantsFormBody('GET', '/auth/login'), false);
  t.equal(ri.wantsFormBody('PUT', '/auth/login'), false);
  t.equal(ri.wantsFormBody('POSTX', '/auth/login'), false);
  t.equal(ri.wantsFormBody('POST', '/auth/login2'), false);
  t.equal(ri.formMaxBody, 64 * 1024);
  const login = ri.formLogin('application/x-www-form-urlencoded', Buffer.from('user=alice&pass=secret'));
  t.equal(login, 'alice');
  const accepted = ri.fromResponse(302, headers({ 'set-cookie': 'PHPSESSID=new123; Path=/; HttpOnly' }), login);
  t.same(accepted, { login: 'alice', name: 'Alice Smith', email: 'alice@example.com', client: 'Acme', type: 'client', verified: true, source: 'form' });
  t.equal(ri.fromResponse(200, headers({ 'set-cookie': 'a=1; Expires=Wed, 21 Oct 2035 07:28:00 GMT, PHPSESSID=n; Path=/' }), login)?.verified, true, 'comma-joined Set-Cookie');
  t.equal(ri.fromResponse(200, headers({ 'set-cookie': 'a=1\nPHPSESSID=n' }), login)?.verified, true, 'newline-joined Set-Cookie');
  t.equal(ri.fromResponse(200, headers({}), login)?.verified, false, 'form shown again: no session cookie');
  t.equal(ri.fromResponse(200, headers({ 'set-cookie': 'other=1' }), login)?.verified, false);
  t.equal(ri.fromResponse(302, headers({ 'set-cookie': 'PHPSESSID=deleted; Max-Age=0' }), login)?.verified, false, 'cookie deleted');
  t.equal(ri.fromResponse(401, headers({ 'set-cookie': 'PHPSESSID=x' }), login)?.verified, false, '401');
  t.equal(ri.fromResponse(500, headers({ 'set-cookie': 'PHPSESSID=x' }), login)?.verified, false, '500');
  t.equal(ri.fromResponse(302, headers({ 'set-cookie': 'PHPSESSID=x' }), login)?.source, 'form', 'a refused attempt is still attributed, unverified');
  t.equal(ri.fromResponse(302, headers({ 'set-cookie': 'PHPSESSID=x' }), 'bad\u0000login'), undefined);
  const noCookie = new RouteIdentity(makeRoute({ identity: { form: {} } }), { clock, directory });
  t.equal(noCookie.wantsFormBody('POST', '/login'), true, 'default form path');
  t.equal(noCookie.fromResponse(303, headers({}), 'bob')?.verified, true, 'without a session cookie, 2xx/3xx accepts');
  t.equal(noCookie.fromResponse(403, headers({}), 'bob')?.verified, false);
  t.equal(noCookie.fromResponse(100, headers({}), 'bob')?.verified, false);
  const none = new RouteIdentity(makeRoute(), { clock, directory });
  t.equal(none.wantsFormBody('POST', '/login'), false, 'no form configured');
  t.equal(none.formMaxBody, 0);
  t.equal(none.formLogin('application/json', Buffer.from('{"username":"a"}')), undefined);
  t.equal(none.fromResponse(200, headers({}), 'alice'), undefined, 'a form login is ignored when no form is configured');
});
