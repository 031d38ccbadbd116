import t from 'tap';
import { requestAction, requestSource, isBearer } from './classify.js';
import { requestPath, PathList } from './path-match.js';
import { makeRoute } from './route-fixture.js';

t.test('requestPath', async (t) => {
  const cases: [string, string][] = [
    ['/a/b?x=1', '/a/b'],
    ['/a/b#frag', '/a/b'],
    ['/a?x#y', '/a'],
    ['/', '/'],
    ['', '/'],
    ['*', '/*'],
    ['http://host:8080/login?x', '/login'],
    ['https://host', '/'],
    ['/a//b', '/a/b'],
    ['/a/./b/../c', '/a/c'],
    ['/../../etc', '/etc'],
    ['/log%69n', '/login'],
    ['/a%2Fb', '/a/b'],
    ['/bad%zz/x', '/bad%zz/x'],
    ['/a\\b', '/a/b'],
    ['/x/', '/x/'],
    ['/x/./', '/x/'],
    ['/%E2%82%AC', '/€'],
    ['/%ff', '/\u00ff'],
  ];
  for (const [i, want] of cases) t.equal(requestPath(i), want, JSON.stringify(i));
  const pl = new PathList(['/login', '/api/*', '/']);
  t.ok(pl.has('/login'));
  t.ok(pl.has('/login/'));
  t.notOk(pl.has('/login2'));
  t.ok(pl.has('/api/x'));
  t.ok(pl.has('/'));
  t.ok(new PathList([]).empty);
});

t.test('requestSource', async (t) => {
  const r = makeRoute();
  t.equal(requestSource(r, '/api/users', undefined, undefined), 'API', 'default /api/ prefix');
  t.equal(requestSource(r, '/api/users?x=1', undefined, 'text/html'), 'API');
  t.equal(requestSource(r, '/apix', undefined, undefined), 'WEB');
  t.equal(requestSource(r, '/api', undefined, undefined), 'WEB', 'prefix is /api/');
  t.equal(requestSource(r, '//api/users', undefined, undefined), 'API', 'normalised');
  t.equal(requestSource(r, '/home', 'Bearer abc.def', undefined), 'API');
  t.equal(requestSource(r, '/home', 'bearer   abc', undefined), 'API');
  t.equal(requestSource(r, '/home', 'Bearer ', undefined), 'WEB');
  t.equal(requestSource(r, '/home', 'Basic YTpi', undefined), 'WEB');
  t.equal(requestSource(r, '/home', undefined, 'application/json'), 'API');
  t.equal(requestSource(r, '/home', undefined, 'Application/JSON; charset=utf-8'), 'API');
  t.equal(requestSource(r, '/home', undefined, 'text/html,application/json;q=0.9'), 'WEB');
  t.equal(requestSource(r, '/home', undefined, '*/*'), 'WEB');
  t.equal(requestSource(r, '/home', undefined, undefined), 'WEB');
  const off = makeRoute({ api: { path_prefixes: ['/v1/', '/rpc/*'], bearer: false, accept_json: false } });
  t.equal(requestSource(off, '/home', 'Bearer x', 'application/json'), 'WEB');
  t.equal(requestSource(off, '/v1/x', undefined, undefined), 'API');
  t.equal(requestSource(off, '/rpc/x', undefined, undefined), 'API');
  t.equal(requestSource(off, '/api/x', undefined, undefined), 'WEB');
  t.ok(isBearer('Bearer x'));
  t.notOk(isBearer('Bearerx'));
  t.notOk(isBearer(undefined));
  // hostile
  t.equal(requestSource(r, '/home\r\n', 'Bearer\u0000', 'x'.repeat(100000)), 'WEB');
});

t.test('requestAction', async (t) => {
  const r = makeRoute({ actions: { login: ['/login', '/auth/*'], logout: ['/logout', '/api/logout'] } });
  const cases: [string, string, string][] = [
    ['GET', '/x', 'view'],
    ['get', '/x', 'view'],
    ['HEAD', '/x', 'view'],
    ['OPTIONS', '/x', 'view'],
    ['POST', '/x', 'create'],
    ['post', '/x', 'create'],
    ['PUT', '/x', 'update'],
    ['PATCH', '/x', 'update'],
    ['DELETE', '/x', 'delete'],
    ['PROPFIND', '/x', 'view'],
    ['constructor', '/x', 'view'],
    ['__proto__', '/x', 'view'],
    ['', '/x', 'view'],
    ['GET', '/login', 'view'],
    ['HEAD', '/login', 'view'],
    ['POST', '/login', 'login'],
    ['POST', '/login/', 'login'],
    ['POST', '/login?next=/x', 'login'],
    ['POST', '/log%69n', 'login'],
    ['POST', '/x/../login', 'login'],
    ['POST', '//login', 'login'],
    ['POST', '/login2', 'create'],
    ['PUT', '/login', 'login'],
    ['POST', '/auth/saml/callback', 'login'],
    ['GET', '/auth/saml/callback', 'view'],
    ['POST', '/auth', 'create'],
    ['GET', '/logout', 'logout'],
    ['POST', '/logout', 'logout'],
    ['POST', '/api/logout', 'logout'],
    ['DELETE', '/api/logout/', 'logout'],
    ['OPTIONS', '/api/logout', 'view'],
    ['HEAD', '/logout', 'view'],
    ['GET', '/logout/more', 'view'],
  ];
  for (const [m, p, want] of cases) t.equal(requestAction(r, m, p), want, `${m} ${p}`);
  const none = makeRoute({ actions: { login: [], logout: [] } });
  t.equal(requestAction(none, 'POST', '/login'), 'create');
  // defaults from the schema
  const d = makeRoute();
  t.equal(requestAction(d, 'POST', '/api/login'), 'login');
  t.equal(requestAction(d, 'GET', '/logout'), 'logout');
  // hostile
  t.equal(requestAction(r, 'POST', '/' + '../'.repeat(10000) + 'login'), 'login');
  t.equal(requestAction(r, 'X'.repeat(10000), '/x'), 'view');
  t.equal(requestAction(r, 'POST', '%'), 'create');
});
