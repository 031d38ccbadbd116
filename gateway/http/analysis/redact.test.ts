import t from 'tap';
import fc from 'fast-check';
import { UrlRecorder, REDACTED, TRUNCATED, cleanHost, canonicalParamName } from './redact.js';
import { makeRoute } from './route-fixture.js';
import { configSchema } from '../../../config/schema.js';

const DEFAULT_KEYS = configSchema.parse({ http: [{ name: 'l', listen: '127.0.0.1:0', routes: [makeRoute()] }] }).http[0]!.redact_query;

t.test('storedUrl basics', async (t) => {
  const u = new UrlRecorder(['token', 'password', 'api_key']);
  const s = (pq: string) => u.storedUrl('https', 'Panel.Example.COM:8443', pq);
  t.equal(s('/a/b'), 'https://panel.example.com:8443/a/b');
  t.equal(s('/a?x=1&y=2'), 'https://panel.example.com:8443/a?x=1&y=2');
  t.equal(s('/a?token=abc&x=1'), `https://panel.example.com:8443/a?token=${REDACTED}&x=1`);
  t.equal(s('/a?x=1&TOKEN=abc'), `https://panel.example.com:8443/a?x=1&TOKEN=${REDACTED}`);
  t.equal(s('/a?%74oken=abc'), `https://panel.example.com:8443/a?%74oken=${REDACTED}`, 'encoded name');
  t.equal(s('/a?%54%4F%4B%45%4E=abc'), `https://panel.example.com:8443/a?%54%4F%4B%45%4E=${REDACTED}`);
  t.equal(s('/a?token=a&token=b'), `https://panel.example.com:8443/a?token=${REDACTED}&token=${REDACTED}`, 'repeated');
  t.equal(s('/a?token'), 'https://panel.example.com:8443/a?token', 'no value stays');
  t.equal(s('/a?token=&x=1'), 'https://panel.example.com:8443/a?token=&x=1', 'empty value stays');
  t.equal(s('/a?token==abc'), `https://panel.example.com:8443/a?token=${REDACTED}`);
  t.equal(s('/a?x=1;token=abc&y=2'), `https://panel.example.com:8443/a?x=1;token=${REDACTED}&y=2`, '; separator');
  t.equal(s('/a?token=abc;x=1&y=2'), `https://panel.example.com:8443/a?token=${REDACTED}&y=2`, 'value up to & is gone');
  t.equal(s('/a?token[]=abc&token[0]=def'), `https://panel.example.com:8443/a?token[]=${REDACTED}&token[0]=${REDACTED}`, 'PHP arrays');
  t.equal(s('/a?api.key=abc&api+key=d&api%20key=e'), `https://panel.example.com:8443/a?api.key=${REDACTED}&api+key=${REDACTED}&api%20key=${REDACTED}`, 'PHP name mangling');
  t.equal(s('/a?+token+=abc'), `https://panel.example.com:8443/a?+token+=${REDACTED}`);
  t.equal(s('/a?a=1&amp;password=hunter2'), `https://panel.example.com:8443/a?a=1&amp;password=${REDACTED}`);
  t.equal(s('/a?tokens=abc&mytoken=x'), 'https://panel.example.com:8443/a?tokens=abc&mytoken=x', 'no partial matches');
  t.equal(s('/a?token=abc#frag'), `https://panel.example.com:8443/a?token=${REDACTED}`);
  t.equal(s('/a?x=%zz&token=%'), `https://panel.example.com:8443/a?x=%zz&token=${REDACTED}`, 'bad escapes');
  t.equal(s('/a?%zz=1'), 'https://panel.example.com:8443/a?%zz=1');
  t.equal(s('/p?q'), 'https://panel.example.com:8443/p?q');
  t.equal(s('/p?'), 'https://panel.example.com:8443/p?');
  t.equal(s('/p?&&&=&;;='), 'https://panel.example.com:8443/p?&&&=&;;=');
  t.equal(s('/%E2%82%AC/ünï?x=ü'), 'https://panel.example.com:8443/%E2%82%AC/ünï?x=ü', 'byte-for-byte');
  t.equal(s(''), 'https://panel.example.com:8443/');
  t.equal(s('*'), 'https://panel.example.com:8443/*');
  t.equal(u.storedUrl('http', 'h', '/x'), 'http://h/x');
  t.equal(u.storedUrl('ftp' as 'http', 'h', '/x'), 'http://h/x');
  const same = '/plain/path?a=b';
  t.equal(new UrlRecorder([]).storedUrl('http', 'h', same + '&token=x'), 'http://h/plain/path?a=b&token=x', 'no keys: nothing redacted');
});

t.test('host cleaning', async (t) => {
  t.equal(cleanHost('EXAMPLE.com'), 'example.com');
  t.equal(cleanHost('[2001:DB8::1]:8080'), '[2001:db8::1]:8080');
  t.equal(cleanHost('user:pass@evil.com'), 'evil.com', 'userinfo dropped');
  t.equal(cleanHost('a b\r\nc/d?e#f'), 'abcdef');
  t.equal(cleanHost('ex%41mple.com'), 'ex41mple.com');
  t.equal(cleanHost('ünï.com'), 'n.com', 'non-ASCII dropped (IDNs arrive as punycode)');
  t.equal(cleanHost(undefined), '');
  t.equal(cleanHost('a'.repeat(1000)).length, 261);
  const u = new UrlRecorder(['token']);
  t.equal(u.storedUrl('http', 'a/b@c', '/x'), 'http://c/x');
  t.equal(u.storedUrl('http', '', '/x'), 'http:///x');
});

t.test('truncation', async (t) => {
  const u = new UrlRecorder(['token'], 64);
  const long = '/' + 'a'.repeat(200);
  const out = u.storedUrl('http', 'h', long);
  t.equal(out.length, 64);
  t.ok(out.endsWith(TRUNCATED));
  t.ok(out.startsWith('http://h/aaaa'));
  t.equal(u.storedUrl('http', 'h', '/' + 'a'.repeat(64 - 'http://h/'.length)).length, 64, 'exactly at the limit: not cut');
  t.notOk(u.storedUrl('http', 'h', '/' + 'a'.repeat(64 - 'http://h/'.length)).includes(TRUNCATED));
  // a secret value cut by the limit is still redacted
  const secret = 'S3CR3T'.repeat(50);
  const r = u.storedUrl('http', 'h', '/p?x=1&token=' + secret);
  t.notOk(r.includes('S3CR3T'));
  t.ok(r.includes('token=[REDACTED]') || r.includes('token=[RED'));
  // surrogate pairs are not split
  const emoji = '/' + '😀'.repeat(100);
  const e = new UrlRecorder([], 40).storedUrl('http', 'h', emoji);
  t.ok(e.length <= 40);
  t.notOk(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(e), 'no lone high surrogate');
  t.throws(() => new UrlRecorder([], 10), { code: 'SG_ERR_CONFIG_INVALID' });
  t.throws(() => new UrlRecorder([], 1.5), { code: 'SG_ERR_CONFIG_INVALID' });
  // default max length
  const d = new UrlRecorder(['token']);
  t.equal(d.storedUrl('http', 'h', '/' + 'x'.repeat(20000)).length, 8192);
});

t.test('hostile queries stay linear and never throw', async (t) => {
  const u = new UrlRecorder(DEFAULT_KEYS, 1_000_000);
  const semis = '/p?' + ';'.repeat(200_000) + '=x';
  t.equal(u.storedUrl('http', 'h', semis), 'http://h' + semis);
  const amps = '/p?' + 'a&'.repeat(100_000) + ';token=x';
  t.equal(u.storedUrl('http', 'h', amps), 'http://h' + amps.replace(';token=x', `;token=${REDACTED}`));
  const eqs = '/p?' + 'a;'.repeat(100_000) + '=';
  t.equal(u.storedUrl('http', 'h', eqs), 'http://h' + eqs);
  t.equal(u.storedUrl('http', 'h', '/p?%'.repeat(1000) + '=1'), 'http://h' + '/p?%'.repeat(1000) + '=1');
  t.doesNotThrow(() => u.storedUrl('http', 'h', '/p?\u0000\r\n=\uD800&token=\uDFFF'));
  t.equal(u.storedUrl('http', 'h', '/p?token=\uDFFF'), `http://h/p?token=${REDACTED}`);
});

t.test('canonicalParamName', async (t) => {
  t.equal(canonicalParamName('API.Key'), 'api_key');
  t.equal(canonicalParamName('token[a][b]'), 'token');
  t.equal(canonicalParamName('[token]'), '[token]');
  t.equal(canonicalParamName('%E2%82%AC'), '€');
  t.equal(canonicalParamName(' Token '), 'token');
});

// ---------- properties ----------

const nameChar = (c: string) =>
  fc.constantFrom(c, c.toUpperCase(), '%' + c.charCodeAt(0).toString(16).padStart(2, '0'), '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));
/** A redact key spelled any way a framework would still read as the key. */
const secretName = fc
  .constantFrom(...DEFAULT_KEYS)
  .chain((k) => fc.tuple(...[...k].map((c) => (c === '_' ? fc.constantFrom('_', '.', '+', '%5F', '%20') : nameChar(c)))).map((cs) => cs.join('')))
  .chain((n) => fc.constantFrom(n, n + '[]', n + '[0]', ' ' + n));
const secretValue = fc.stringMatching(/^[A-Za-z0-9._~%+=!$'()*,:@/?-]{0,16}$/).map((v) => `ZQ${v}`);
const plainName = fc.stringMatching(/^[a-z][a-z0-9_]{0,9}$/).filter((n) => !DEFAULT_KEYS.includes(canonicalParamName(n)));
const plainValue = fc.stringMatching(/^[a-z0-9._~%+!$'()*,:@/-]{0,16}$/);
// Lowercase only, so the `ZQ` marker of secret values cannot appear anywhere else.
const path = fc.stringMatching(/^\/[a-z0-9._~!$'()*,:@/%-]{0,30}$/);

t.test('property: no secret value of a redact key survives', async (t) => {
  const u = new UrlRecorder(DEFAULT_KEYS);
  fc.assert(
    fc.property(
      path,
      fc.array(fc.oneof(fc.tuple(secretName, secretValue, fc.constant(true)), fc.tuple(plainName, plainValue, fc.constant(false))), { maxLength: 8 }),
      fc.constantFrom('&', ';'),
      fc.integer({ min: 32, max: 400 }),
      (p, params, sep, max) => {
        const q = params.map(([n, v]) => `${n}=${v}`).join(sep);
        const pq = `${p}?${q}`;
        const secrets = params.filter(([, , s]) => s).map(([, v]) => v);
        for (const out of [u.storedUrl('https', 'h.example', pq), new UrlRecorder(DEFAULT_KEYS, max).storedUrl('https', 'h.example', pq)]) {
          if (out.includes('ZQ')) return false;
          for (const s of secrets) if (out.includes(s)) return false;
        }
        return true;
      },
    ),
    { numRuns: 3000 },
  );
  t.pass('property holds');
});

t.test('property: URLs without redact keys are stored unchanged', async (t) => {
  const u = new UrlRecorder(DEFAULT_KEYS);
  fc.assert(
    fc.property(
      fc.domain(),
      path,
      fc.option(fc.array(fc.tuple(plainName, plainValue, fc.boolean()), { maxLength: 8 })),
      (host, p, params) => {
        const pq = params === null ? p : `${p}?${params.map(([n, v, eq]) => (eq ? `${n}=${v}` : n)).join('&')}`;
        return u.storedUrl('http', host, pq) === `http://${host.toLowerCase()}${pq}`;
      },
    ),
    { numRuns: 3000 },
  );
  t.pass('property holds');
});
