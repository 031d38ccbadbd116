import t from 'tap';
import fc from 'fast-check';
import { basicLogin } from './basic.js';

const basic = (s: string | Buffer) => 'Basic ' + Buffer.from(s).toString('base64');

t.test('basicLogin', async (t) => {
  t.equal(basicLogin(basic('alice:secret')), 'alice');
  t.equal(basicLogin('basic ' + Buffer.from('alice:secret').toString('base64')), 'alice', 'scheme case-insensitive');
  t.equal(basicLogin('BASIC   ' + Buffer.from('alice:').toString('base64') + '  '), 'alice', 'empty password');
  t.equal(basicLogin(basic('alice:pa:ss:word')), 'alice', 'colons in the password');
  t.equal(basicLogin(basic('  bob  :x')), 'bob', 'trimmed');
  t.equal(basicLogin(basic('jürgen:x')), 'jürgen', 'UTF-8');
  t.equal(basicLogin(basic(Buffer.from([0x6a, 0xfc, 0x72, 0x67, 0x3a, 0x78]))), 'jürg', 'Latin-1 fallback');
  t.equal(basicLogin(basic('alice')), undefined, 'no colon');
  t.equal(basicLogin(basic(':secret')), undefined, 'empty login');
  t.equal(basicLogin(basic('   :secret')), undefined, 'blank login');
  t.equal(basicLogin(basic('al\u0000ice:x')), undefined, 'NUL');
  t.equal(basicLogin(basic('alice\r\nX-Evil: 1:x')), undefined, 'CR/LF');
  t.equal(basicLogin(basic('al\u202eice:x')), undefined, 'bidi override');
  t.equal(basicLogin(basic('al\u200bice:x')), undefined, 'zero-width space');
  t.equal(basicLogin(basic('a'.repeat(257) + ':x')), undefined, 'too long');
  t.equal(basicLogin(basic('a'.repeat(256) + ':x')), 'a'.repeat(256));
  t.equal(basicLogin('Basic !!!!'), undefined, 'bad base64');
  t.equal(basicLogin('Basic YWxpY2U6c2VjcmV0===' ), undefined, 'too much padding');
  t.equal(basicLogin('Basic YWxpY2U6eA=='), 'alice');
  t.equal(basicLogin('Basic YWxpY2U6eA='), 'alice', 'lenient padding');
  t.equal(basicLogin('Basic YWxpY2U6eA'), 'alice', 'padding left out');
  t.equal(basicLogin('Basic YWxpY2U6c2VjcmV0='), undefined, 'impossible padding');
  t.equal(basicLogin('Basic YWxpY2U6c2VjcmV0'), 'alice', 'no padding');
  t.equal(basicLogin('Basic YWxp Y2U6'), undefined, 'space inside');
  t.equal(basicLogin('Basic A'), undefined, 'impossible length');
  t.equal(basicLogin('Basic'), undefined);
  t.equal(basicLogin('Basic '), undefined);
  t.equal(basicLogin('Bearer ' + Buffer.from('alice:x').toString('base64')), undefined);
  t.equal(basicLogin('Basicx ' + Buffer.from('alice:x').toString('base64')), undefined);
  t.equal(basicLogin(undefined), undefined);
  t.equal(basicLogin(42 as unknown as string), undefined);
  t.equal(basicLogin('Basic ' + 'A'.repeat(100_000)), undefined, 'huge');
});

t.test('property: never throws, never returns the password', async (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }).filter((l) => !l.includes(':')), fc.string({ minLength: 6, maxLength: 40 }).map((p) => 'PW' + p), (login, password) => {
      const got = basicLogin(basic(`${login}:${password}`));
      return got === undefined || (!got.includes(password) && got === login.trim());
    }),
    { numRuns: 3000 },
  );
  fc.assert(fc.property(fc.string({ maxLength: 200, unit: 'binary' }), (h) => (basicLogin(h), true)));
  t.pass('properties hold');
});
