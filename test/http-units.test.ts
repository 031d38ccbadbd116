// Unit level: the HTTP front end's pure parts (head validation, header rewriting, routing,
// pages, panel-session bookkeeping), including property tests on hostile input.
import t from 'tap';
import fc from 'fast-check';
import pino from 'pino';
import { AccessControl } from '../gateway/core/access.js';
import { SessionRegistry } from '../gateway/core/registry.js';
import { Directory } from '../gateway/http/analysis/directory.js';
import { connectionListed, filterResponseHeaders, upstreamRequestHeaders, type ForwardInfo } from '../gateway/http/headers.js';
import { escapeHtml, gatewayAnswer, TEXTS } from '../gateway/http/pages.js';
import { PanelSessions } from '../gateway/http/panel-sessions.js';
import { hostOnly, scanHead, type HeadLimits } from '../gateway/http/request-head.js';
import { prefixMatches, RouteTable } from '../gateway/http/routes.js';
import { listenerConfig } from './helpers/http-harness.js';

const LIMITS: HeadLimits = { maxHeaderBytes: 16 * 1024, maxUrlBytes: 8 * 1024, maxHeaders: 100, maxBodyBytes: 0 };
const head = (headers: string[], method = 'GET', target = '/') => ({ method, target, headers, peer: '127.0.0.1' });

t.test('scanHead: framing rules', async (t) => {
  const ok = scanHead(head(['host', 'h', 'content-length', '5', 'cookie', 'a=1', 'cookie', 'b=2', 'x-forwarded-for', '1.1.1.1', 'x-forwarded-for', '2.2.2.2'], 'POST'), LIMITS);
  t.equal(ok.problem, undefined);
  t.equal(ok.contentLength, 5);
  t.equal(ok.hasBody, true);
  t.equal(ok.cookie, 'a=1; b=2', 'several Cookie headers joined');
  t.equal(ok.xff, '1.1.1.1, 2.2.2.2', 'several X-Forwarded-For joined as one list');
  const cases: [string, ReturnType<typeof head>, string, number][] = [
    ['two CL', head(['content-length', '5', 'content-length', '5'], 'POST'), 'smuggling', 400],
    ['CL+TE', head(['content-length', '5', 'transfer-encoding', 'chunked'], 'POST'), 'smuggling', 400],
    ['TE gzip', head(['transfer-encoding', 'gzip, chunked'], 'POST'), 'smuggling', 400],
    ['TE twice', head(['transfer-encoding', 'chunked', 'transfer-encoding', 'chunked'], 'POST'), 'smuggling', 400],
    ['CL +5', head(['content-length', '+5'], 'POST'), 'smuggling', 400],
    ['CL list', head(['content-length', '5, 5'], 'POST'), 'smuggling', 400],
    ['CL hex', head(['content-length', '0x5'], 'POST'), 'smuggling', 400],
    ['CL empty', head(['content-length', ''], 'POST'), 'smuggling', 400],
    ['two hosts', head(['host', 'a', 'host', 'b']), 'bad_request', 400],
    ['two authorizations', head(['authorization', 'a', 'authorization', 'b']), 'bad_request', 400],
    ['bad method', head([], 'G@T'), 'bad_request', 400],
    ['long method', head([], 'A'.repeat(33)), 'bad_request', 400],
    ['absolute form', head([], 'GET', 'http://x/'), 'bad_request', 400],
    ['asterisk', head([], 'OPTIONS', '*'), 'bad_request', 400],
    ['long URL', head([], 'GET', '/' + 'a'.repeat(8 * 1024)), 'url_too_long', 414],
    ['many headers', head(Array.from({ length: 202 }, (_, i) => (i % 2 ? 'v' : `x-${i}`))), 'header_too_large', 431],
    ['big header', head(['x-a', 'a'.repeat(16 * 1024)]), 'header_too_large', 431],
  ];
  for (const [name, h, error, status] of cases) {
    const s = scanHead(h, LIMITS);
    t.equal(s.problem?.error, error, name);
    t.equal(s.problem?.status, status, `${name}: ${status}`);
  }
  t.equal(scanHead(head(['transfer-encoding', ' Chunked '], 'POST'), LIMITS).chunked, true, 'chunked is case-insensitive');
  t.equal(scanHead(head([], 'A'.repeat(32)), LIMITS).problem, undefined, '32-char token method allowed');
  t.equal(scanHead(head(['content-length', '2000'], 'POST'), { ...LIMITS, maxBodyBytes: 1000 }).problem?.status, 413);
});

t.test('scanHead never throws and only ever returns known problems', async (t) => {
  const arbHeaders = fc.array(fc.tuple(fc.constantFrom('host', 'content-length', 'transfer-encoding', 'cookie', 'authorization', 'connection', 'x-a'), fc.string({ maxLength: 40 })), { maxLength: 12 });
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), fc.string({ maxLength: 60 }), arbHeaders, (method, target, hs) => {
      const s = scanHead(head(hs.flat(), method, target), LIMITS);
      if (s.problem) return ['bad_request', 'smuggling', 'header_too_large', 'url_too_long', 'body_too_large'].includes(s.problem.error);
      return s.contentLength >= -1 && Number.isSafeInteger(s.contentLength);
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

t.test('hostOnly', async (t) => {
  t.equal(hostOnly('Example.COM:8080'), 'example.com');
  t.equal(hostOnly('example.com.'), 'example.com');
  t.equal(hostOnly('[::1]:443'), '[::1]');
  t.equal(hostOnly(undefined), '');
});

const fwd = (over: Partial<ForwardInfo> = {}): ForwardInfo => ({
  preserveHost: false,
  viewerCookie: 'sg_viewer',
  peerIp: '10.0.0.1',
  trustedPeer: false,
  proto: 'https',
  host: 'panel.test',
  connection: undefined,
  xff: undefined,
  xfProto: undefined,
  xfHost: undefined,
  ...over,
});

t.test('upstreamRequestHeaders', async (t) => {
  const hs = ['host', 'panel.test', 'connection', 'keep-alive, x-drop', 'x-drop', '1', 'keep-alive', '5', 'te', 'trailers', 'cookie', 'sg_viewer=v; a=1', 'x-forwarded-for', '1.2.3.4', 'x-forwarded-proto', 'gopher', 'accept', '*/*', 'expect', '100-continue', 'content-length', '3'];
  const out = upstreamRequestHeaders(hs, fwd({ connection: 'keep-alive, x-drop', xff: '1.2.3.4', xfProto: 'gopher' }));
  t.same(out, ['cookie', 'a=1', 'accept', '*/*', 'content-length', '3', 'x-forwarded-for', '1.2.3.4, 10.0.0.1', 'x-forwarded-proto', 'https', 'x-forwarded-host', 'panel.test']);
  const trusted = upstreamRequestHeaders(['host', 'h'], fwd({ trustedPeer: true, xfProto: 'http', xfHost: 'outer.test', preserveHost: true, host: 'h' }));
  t.same(trusted, ['host', 'h', 'x-forwarded-for', '10.0.0.1', 'x-forwarded-proto', 'http', 'x-forwarded-host', 'outer.test'], 'a trusted proxy keeps its proto/host');
  const onlyViewer = upstreamRequestHeaders(['cookie', 'sg_viewer=v'], fwd());
  t.notOk(onlyViewer.includes('cookie'), 'an empty Cookie header is dropped');
  t.same([...(connectionListed('close, Content-Length, X-A , upgrade') ?? [])], ['x-a'], 'framing fields cannot be listed away');
});

t.test('filterResponseHeaders', async (t) => {
  const raw = ['Connection', 'X-Hop', 'X-Hop', '1', 'Keep-Alive', 'timeout=5', 'Content-Length', '10', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Date', 'd', 'X-User', 'alice', 'Transfer-Encoding', 'chunked', 'X-Kept', 'y'].map((s) => Buffer.from(s));
  const f = filterResponseHeaders(raw, new Set(['x-user']), true);
  t.same(
    f.headers.map((h) => h.toString()),
    ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'X-Kept', 'y'],
  );
  t.equal(f.contentLength, 10);
  t.same(f.setCookies, ['a=1', 'b=2']);
  t.equal(f.watched?.get('x-user'), 'alice');
  const keepDate = filterResponseHeaders([Buffer.from('Date'), Buffer.from('d')], new Set(), false);
  t.equal(keepDate.headers.length, 2, 'Date kept when the engine adds none');
  const HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length'];
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom(...HOP, 'X-A', 'Set-Cookie', 'Upgrade', 'CONNECTION'), fc.string({ maxLength: 20 })), { maxLength: 10 }), (pairs) => {
      const r = filterResponseHeaders(pairs.flat().map((s) => Buffer.from(s, 'latin1')), new Set(), true);
      for (let i = 0; i < r.headers.length; i += 2) if (HOP.includes(String(r.headers[i]).toLowerCase())) return false;
      return true;
    }),
  );
});

t.test('routing: prefixes and ranking', async (t) => {
  t.ok(prefixMatches('/', '/anything'));
  t.ok(prefixMatches('/app', '/app'));
  t.ok(prefixMatches('/app', '/app/x'));
  t.ok(prefixMatches('/app', '/app?q'));
  t.notOk(prefixMatches('/app', '/apple'));
  t.ok(prefixMatches('/app/', '/app/x'));
  t.notOk(prefixMatches('/app/', '/app'));
  const cfg = listenerConfig({
    routes: [
      { name: 'any', upstream: 'http://127.0.0.1:1' },
      { name: 'any-api', match: { path_prefix: '/api' }, upstream: 'http://127.0.0.1:1' },
      { name: 'wild', match: { host: '*.x.test' }, upstream: 'http://127.0.0.1:1/base/' },
      { name: 'deeper-wild', match: { host: '*.a.x.test' }, upstream: 'http://127.0.0.1:1' },
      { name: 'exact', match: { host: 'www.x.test' }, upstream: 'http://127.0.0.1:1' },
      { name: 'exact-api', match: { host: 'www.x.test', path_prefix: '/api' }, upstream: 'http://127.0.0.1:1' },
    ],
  });
  const table = new RouteTable(cfg.routes, { clock: { now: () => 0 }, directory: new Directory([]) });
  t.teardown(() => table.close(false));
  const m = (host: string | undefined, target: string) => table.match(host, target)?.name;
  t.equal(m('other.test', '/'), 'any');
  t.equal(m('other.test', '/api/x'), 'any-api');
  t.equal(m('b.x.test', '/api/x'), 'wild', 'a host match beats a longer prefix on a host-less route');
  t.equal(m('z.a.x.test', '/'), 'deeper-wild', 'the longer wildcard wins');
  t.equal(m('WWW.X.TEST:443', '/'), 'exact');
  t.equal(m('www.x.test', '/api/v1'), 'exact-api');
  t.equal(m(undefined, '/'), 'any');
  t.equal(table.match('b.x.test', '/p?q=1')!.upstreamPath('/p?q=1'), '/base/p?q=1', 'the upstream path is prefixed');
});

t.test('pages escape everything and carry stable codes', async (t) => {
  t.equal(escapeHtml(`<script>"x"&'y'</script>`), '&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;');
  const web = gatewayAnswer('WEB', 404, 'SG_ERR_NO_ROUTE', TEXTS.no_route('<img src=x onerror=alert(1)>'));
  t.notMatch(web.body.toString(), /<img/);
  t.match(web.body.toString(), /SG_ERR_NO_ROUTE/);
  t.ok(web.headers.includes('content-security-policy'));
  const api = gatewayAnswer('API', 401, 'SG_ERR_SESSION_REVOKED', TEXTS.revoked);
  t.same(JSON.parse(api.body.toString()), { error: { code: 'SG_ERR_SESSION_REVOKED', message: TEXTS.revoked.message } });
  t.ok(api.headers.includes('www-authenticate'), '401 carries WWW-Authenticate');
  fc.assert(fc.property(fc.string(), (s) => !/[<>"']/.test(escapeHtml(s))));
});

t.test('panel sessions: rotation, bound, idle sweep, terminate', async (t) => {
  let now = 1_000_000;
  const clock = { now: () => now };
  const registry = new SessionRegistry({ clock });
  const access = new AccessControl({ clock });
  const ps = new PanelSessions({ clock, logger: pino({ level: 'silent' }), registry, access, listener: 'web', idleMs: 60_000, maxSessions: 3, sweepMs: 3_600_000 });
  t.teardown(() => ps.close());
  const details = { realm: 'admin', route: 'main' };
  const s = ps.touch('h1', '10.0.0.1', details);
  ps.learn(s, { login: 'carol', name: 'Carol', type: 'client', client: 'Acme', verified: true, source: 'form' });
  t.equal(registry.get('http:h1')?.login, 'carol');
  ps.rotate(s, 'h2');
  t.equal(ps.get('h2'), s, 'a rotated key joins the same session');
  t.equal(ps.get('h1'), s, 'the previous key still matches (requests in flight)');
  for (const h of ['h3', 'h4', 'h5', 'h6']) ps.rotate(s, h);
  t.equal(ps.get('h1'), undefined, 'only the newest keys are kept');
  t.equal(registry.list().length, 1, 'still one live session');

  ps.touch('o1', '10.0.0.2', details);
  ps.touch('o2', '10.0.0.3', details);
  now += 10;
  ps.touch('h6', '10.0.0.9', details);
  t.equal(registry.get('http:h1')?.ip, '10.0.0.9', 'the IP follows the latest request');
  ps.touch('o3', '10.0.0.4', details);
  t.equal(ps.size, 3, 'bounded');
  t.equal(ps.get('o1'), undefined, 'the least recently active session was dropped');
  t.notOk(registry.get('http:o1'));

  await registry.terminate('http:h1', { name: 'secops' }, 'test');
  for (const h of ['h3', 'h4', 'h5', 'h6']) t.ok(access.isSessionRevoked(h), `key ${h} revoked`);
  t.equal(ps.get('h6'), undefined);

  now += 120_000;
  ps.sweep();
  t.equal(ps.size, 0, 'idle sessions swept');
  t.equal(registry.list().length, 0);
});
