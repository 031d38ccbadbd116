import t from 'tap';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { bearerToken, extractSessionKey, getCookie, parseCookies, removeCookie, SessionKeyHasher, setCookieValue, splitSetCookie } from './session-key.js';

t.test('parseCookies / getCookie', async (t) => {
  t.same([...parseCookies('a=1; b=2;c=3')], [['a', '1'], ['b', '2'], ['c', '3']]);
  t.same([...parseCookies('a=1; a=2')], [['a', '1']], 'first occurrence wins');
  t.same([...parseCookies(' junk ; =x; b = 2 ;;; c="q"; d=a=b')], [['b', '2'], ['c', '"q"'], ['d', 'a=b']]);
  t.equal(parseCookies(undefined).size, 0);
  t.equal(parseCookies('').size, 0);
  t.equal(parseCookies(42 as unknown as string).size, 0);
  t.same([...parseCookies('ü=ö; \u0000=\r\n')], [['ü', 'ö'], ['\u0000', '']]);
  t.equal(getCookie('a=1; sid=xyz; b=2', 'sid'), 'xyz');
  t.equal(getCookie('sid=1; sid=2', 'sid'), '1');
  t.equal(getCookie('xsid=1; sidx=2; sid =3', 'sid'), '3');
  t.equal(getCookie('sid', 'sid'), undefined);
  t.equal(getCookie('a=1', 'sid'), undefined);
  t.equal(getCookie(undefined, 'sid'), undefined);
  t.equal(getCookie('sid=', 'sid'), '');
  t.equal(getCookie('a=1', ''), undefined);
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ maxLength: 200, unit: 'binary' }), fc.array(fc.constantFrom('a', 'b', '=', ';', ' ', '\t', '\n', '\u00a0', '\ufeff', '\u0000')).map((a) => a.join(''))), fc.constantFrom('a', 'b', 'ab'), (h, n) => {
      const m = parseCookies(h);
      return getCookie(h, n) === m.get(n);
    }),
    { numRuns: 3000 },
  );
});

t.test('removeCookie', async (t) => {
  t.equal(removeCookie('a=1; sg_viewer=abc; b=2', 'sg_viewer'), 'a=1; b=2');
  t.equal(removeCookie('sg_viewer=abc; b=2', 'sg_viewer'), 'b=2');
  t.equal(removeCookie('a=1; sg_viewer=abc', 'sg_viewer'), 'a=1');
  t.equal(removeCookie('sg_viewer=abc', 'sg_viewer'), undefined);
  t.equal(removeCookie('sg_viewer=abc; sg_viewer=def', 'sg_viewer'), undefined, 'every copy');
  t.equal(removeCookie('a=1;sg_viewer=x;b=2', 'sg_viewer'), 'a=1;b=2');
  t.equal(removeCookie('a=1;  b=2', 'sg_viewer'), 'a=1;  b=2', 'untouched when absent');
  t.equal(removeCookie('a=1; x_sg_viewer=1; sg_viewer_x=2', 'sg_viewer'), 'a=1; x_sg_viewer=1; sg_viewer_x=2');
  t.equal(removeCookie('a=1;;junk; sg_viewer=1 ;b="x y"', 'sg_viewer'), 'a=1;;junk;b="x y"');
  t.equal(removeCookie(' sg_viewer = 1 ', 'sg_viewer'), undefined);
  t.equal(removeCookie('', 'sg_viewer'), undefined);
  t.equal(removeCookie('  ', 'x'), undefined);
  t.equal(removeCookie(';;;', 'x'), ';;;');
  t.equal(removeCookie(undefined as unknown as string, 'x'), undefined);
  const big = 'a=1; ' + '; '.repeat(50_000) + 'sg=1';
  t.equal(removeCookie(big, 'sg'), 'a=1');
});

t.test('property: removeCookie never removes another cookie', async (t) => {
  const name = fc.stringMatching(/^[A-Za-z0-9_.!#$%&'*+^`|~-]{1,8}$/);
  const value = fc.stringMatching(/^[A-Za-z0-9_.!#$%&'()*+/:<=>?@[\]^`{|}~-]{0,10}$/);
  fc.assert(
    fc.property(fc.array(fc.tuple(name, value), { maxLength: 10 }), name, fc.constantFrom('; ', ';', ' ; '), (pairs, victim, sep) => {
      const header = pairs.map(([n, v]) => `${n}=${v}`).join(sep);
      const out = removeCookie(header, victim);
      const others = pairs.filter(([n]) => n !== victim);
      const after = out === undefined ? [] : out.split(';').map((p) => p.trim()).filter(Boolean);
      // the other cookies, exactly as written and in order; the victim gone
      return JSON.stringify(after) === JSON.stringify(others.map(([n, v]) => `${n}=${v}`)) && !parseCookies(out).has(victim);
    }),
    { numRuns: 3000 },
  );
  // arbitrary junk: every other cookie the parser sees survives with its value
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 120 }), fc.string({ maxLength: 120, unit: 'binary' })), name, (header, victim) => {
      const before = parseCookies(header);
      const after = parseCookies(removeCookie(header, victim));
      if (after.has(victim)) return false;
      for (const [n, v] of after) if (before.get(n) !== v) return false;
      for (const [n] of before) if (n !== victim && !after.has(n)) return false;
      return true;
    }),
    { numRuns: 3000 },
  );
  t.pass('properties hold');
});

t.test('bearerToken / extractSessionKey', async (t) => {
  t.equal(bearerToken('Bearer abc.def-ghi_jkl'), 'abc.def-ghi_jkl');
  t.equal(bearerToken('bearer  abc=='), 'abc==');
  t.equal(bearerToken('BEARER\tabc '), 'abc');
  t.equal(bearerToken('Bearer abc def'), undefined);
  t.equal(bearerToken('Bearer '), undefined);
  t.equal(bearerToken('Basic abc'), undefined);
  t.equal(bearerToken('Bearer ab\u0000c'), undefined);
  t.equal(bearerToken('Bearer ' + 'a'.repeat(20000)), undefined);
  t.equal(bearerToken(undefined), undefined);
  t.equal(extractSessionKey({ cookie: 'PHPSESSID', bearer: true }, 'a=1; PHPSESSID=sess1', 'Bearer tok'), 'sess1', 'cookie first');
  t.equal(extractSessionKey({ cookie: 'PHPSESSID', bearer: true }, 'a=1', 'Bearer tok'), 'tok');
  t.equal(extractSessionKey({ cookie: 'PHPSESSID', bearer: true }, 'PHPSESSID=', 'Bearer tok'), 'tok', 'empty cookie is no key');
  t.equal(extractSessionKey({ cookie: 'PHPSESSID', bearer: false }, 'a=1', 'Bearer tok'), undefined);
  t.equal(extractSessionKey({ bearer: true }, 'PHPSESSID=x', undefined), undefined);
  t.equal(extractSessionKey({ bearer: false }, undefined, undefined), undefined);
});

t.test('SessionKeyHasher', async (t) => {
  const secret = Buffer.alloc(32, 7);
  const h = new SessionKeyHasher(secret);
  const want = createHmac('sha256', secret).update('sess-1').digest('base64url').slice(0, 22);
  t.equal(h.hash('sess-1'), want);
  t.equal(h.hash('sess-1').length, 22);
  t.match(h.hash('x'), /^[A-Za-z0-9_-]{22}$/);
  t.not(h.hash('sess-1'), h.hash('sess-2'));
  t.not(new SessionKeyHasher(Buffer.alloc(32, 8)).hash('sess-1'), want, 'keyed');
  t.equal(h.hash('ünï\u0000'), createHmac('sha256', secret).update(Buffer.from('ünï\u0000', 'utf8')).digest('base64url').slice(0, 22));
  secret.fill(0);
  t.equal(h.hash('sess-1'), want, 'a copy of the secret is kept, not a view');
  t.throws(() => new SessionKeyHasher(Buffer.alloc(8)), { code: 'SG_ERR_CONFIG_INVALID' });
  t.throws(() => new SessionKeyHasher('secretsecretsecret' as unknown as Buffer), { code: 'SG_ERR_CONFIG_INVALID' });
});

t.test('setCookieValue', async (t) => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  t.equal(setCookieValue(['sid=abc; Path=/; HttpOnly'], 'sid', now), 'abc');
  t.equal(setCookieValue(['other=1'], 'sid', now), undefined);
  t.equal(setCookieValue([], 'sid', now), undefined);
  t.equal(setCookieValue(['sid=; Path=/'], 'sid', now), null, 'empty value deletes');
  t.equal(setCookieValue(['sid=""'], 'sid', now), null);
  t.equal(setCookieValue(['sid=abc; Max-Age=0'], 'sid', now), null);
  t.equal(setCookieValue(['sid=abc; max-age=-1'], 'sid', now), null);
  t.equal(setCookieValue(['sid=abc; Max-Age=3600'], 'sid', now), 'abc');
  t.equal(setCookieValue(['sid=deleted; expires=Thu, 01-Jan-1970 00:00:01 GMT; Max-Age=0'], 'sid', now), null, 'PHP deletion');
  t.equal(setCookieValue(['sid=deleted; expires=Thu, 01 Jan 1970 00:00:01 GMT'], 'sid', now), null);
  t.equal(setCookieValue(['sid=abc; Expires=Wed, 01 Jan 2031 00:00:00 GMT'], 'sid', now), 'abc');
  t.equal(setCookieValue(['sid=abc; Expires=Wed, 01 Jan 2031 00:00:00 GMT; Max-Age=0'], 'sid', now), null, 'Max-Age wins');
  t.equal(setCookieValue(['sid=abc; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=60'], 'sid', now), 'abc', 'Max-Age wins over a past Expires');
  t.equal(setCookieValue(['sid=abc; Expires=garbage'], 'sid', now), 'abc');
  t.equal(setCookieValue(['sid=abc; Max-Age=soon'], 'sid', now), 'abc');
  t.equal(setCookieValue(['sid=old', 'sid=new'], 'sid', now), 'new', 'last wins');
  t.equal(setCookieValue(['sid=old', 'sid=; Max-Age=0'], 'sid', now), null);
  t.equal(setCookieValue(['sid=; Max-Age=0', 'sid=new'], 'sid', now), 'new');
  t.equal(setCookieValue(['xsid=1', 'sidx=2', ' sid = v '], 'sid', now), 'v');
  t.equal(setCookieValue(['sid'], 'sid', now), undefined);
  t.equal(setCookieValue([undefined as unknown as string, 'sid=1'], 'sid', now), '1');
  t.equal(setCookieValue(['sid=1'], 'sid'), '1', 'default clock');
});

t.test('splitSetCookie', async (t) => {
  t.same(splitSetCookie('a=1; Path=/'), ['a=1; Path=/']);
  t.same(splitSetCookie('a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT, b=2; Path=/'), ['a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT', 'b=2; Path=/']);
  t.same(splitSetCookie('a=1\nb=2; Max-Age=0'), ['a=1', 'b=2; Max-Age=0']);
  t.same(splitSetCookie(''), []);
  t.same(splitSetCookie(',,\n\n'), [',,']);
});
