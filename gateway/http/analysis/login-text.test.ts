import t from 'tap';
import { cleanField, cleanLogin, decodeText, headerText, percentDecode } from './login-text.js';

t.test('cleanLogin / cleanField', async (t) => {
  t.equal(cleanLogin(' alice '), 'alice');
  t.equal(cleanLogin('alice smith'), 'alice smith');
  t.equal(cleanLogin('ünï 😀'), 'ünï 😀');
  for (const bad of ['', '   ', 'a\u0000b', 'a\rb', 'a\nb', 'a\tb', 'a\u007fb', 'a\u0085b', 'a\u202eb', 'a\u2066b', 'a\u200bb', 'a\ufeffb', 'a\u2028b', 'a\u2029b', 'a\ud800b', 'a\udc00', 'x'.repeat(257)]) {
    // names kept ASCII: a raw U+2028 would break the TAP stream itself
    t.equal(cleanLogin(bad), undefined, `refused: ${[...bad.slice(0, 3)].map((c) => 'U+' + c.charCodeAt(0).toString(16)).join(' ')}`);
  }
  t.equal(cleanLogin('x'.repeat(256)), 'x'.repeat(256));
  t.equal(cleanLogin(undefined), undefined);
  t.equal(cleanField(42), '42');
  t.equal(cleanField(NaN), undefined);
  t.equal(cleanField({}), undefined);
  t.equal(cleanField('y'.repeat(600)), undefined);
  t.equal(cleanField(' Acme Ltd '), 'Acme Ltd');
});

t.test('decoding helpers', async (t) => {
  t.equal(decodeText(Buffer.from('jürgen')), 'jürgen');
  t.equal(decodeText(Buffer.from([0x6a, 0xfc])), 'jü', 'Latin-1 fallback');
  t.equal(headerText('plain'), 'plain');
  t.equal(headerText(Buffer.from('jürgen').toString('latin1')), 'jürgen', 'raw UTF-8 header bytes');
  t.equal(headerText('j\u00fcrgen'), 'jürgen', 'genuine Latin-1 stays');
  t.equal(headerText('€ already text'), '€ already text');
  t.equal(percentDecode('a+b%20c', true), 'a b c');
  t.equal(percentDecode('a+b', false), 'a+b');
  t.equal(percentDecode('%E2%82%AC', false), '€');
  t.equal(percentDecode('%zz%41%', false), '%zzA%', 'malformed escapes stay');
  t.equal(percentDecode('%E2%82', false), '\u00e2\u0082', 'a cut UTF-8 sequence falls back to Latin-1');
  t.equal(percentDecode('é%41', false), 'éA');
  t.equal(percentDecode('😀%zz', false), '😀%zz', 'astral characters survive the fallback');
});
