import t from 'tap';
import fc from 'fast-check';
import { formLogin } from './form.js';

const FORM = 'application/x-www-form-urlencoded';
const buf = (s: string) => Buffer.from(s);

function multipart(boundary: string, parts: { name: string; value: string; filename?: string; extra?: string }[], opts: { preamble?: string; close?: boolean } = {}) {
  let s = opts.preamble ?? '';
  for (const p of parts) {
    s += `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}\r\n${p.extra ?? ''}\r\n${p.value}\r\n`;
  }
  if (opts.close !== false) s += `--${boundary}--\r\n`;
  return Buffer.from(s);
}

t.test('urlencoded', async (t) => {
  t.equal(formLogin(FORM, buf('username=alice&password=secret'), 'username'), 'alice');
  t.equal(formLogin(FORM + '; charset=UTF-8', buf('password=x&username=alice'), 'username'), 'alice');
  t.equal(formLogin('Application/X-WWW-Form-Urlencoded', buf('username=alice'), 'username'), 'alice');
  t.equal(formLogin(FORM, buf('username=j%C3%BCrgen+m'), 'username'), 'jürgen m');
  t.equal(formLogin(FORM, buf('user%6Eame=alice'), 'username'), 'alice', 'encoded name');
  t.equal(formLogin(FORM, buf('username=%20alice%20'), 'username'), 'alice', 'trimmed');
  t.equal(formLogin(FORM, buf('username=a%zzb'), 'username'), 'a%zzb', 'bad escape kept');
  t.equal(formLogin(FORM, buf('username=%FC'), 'username'), 'ü', 'Latin-1 fallback');
  t.equal(formLogin(FORM, buf('username=alice&username=alice'), 'username'), 'alice', 'repeated, same value');
  t.equal(formLogin(FORM, buf('username=alice&username=admin'), 'username'), undefined, 'repeated, different: ambiguous');
  t.equal(formLogin(FORM, buf('username&username=alice'), 'username'), undefined, 'a bare name counts as a disagreeing value');
  t.equal(formLogin(FORM, buf('username='), 'username'), undefined);
  t.equal(formLogin(FORM, buf('user=alice'), 'username'), undefined);
  t.equal(formLogin(FORM, buf('xusername=alice'), 'username'), undefined);
  t.equal(formLogin(FORM, buf('username=al%00ice'), 'username'), undefined, 'NUL');
  t.equal(formLogin(FORM, buf('username=alice%0D%0Aadmin'), 'username'), undefined, 'CRLF');
  t.equal(formLogin(FORM, buf('username=' + 'a'.repeat(300)), 'username'), undefined, 'too long');
  t.equal(formLogin(FORM, buf('username=' + '%61'.repeat(256)), 'username'), 'a'.repeat(256), 'encoded to the limit');
  t.equal(formLogin(FORM, buf('&&&=&username=bob&&'), 'username'), 'bob');
  t.equal(formLogin(FORM, buf('login[name]=x'), 'login[name]'), 'x');
  t.equal(formLogin(FORM, buf('benutzer=m%C3%BCller'), 'benutzer'), 'müller');
  t.equal(formLogin(FORM, buf('n%C3%A4me=x'), 'näme'), 'x', 'non-ASCII field name');
});

t.test('json', async (t) => {
  t.equal(formLogin('application/json', buf('{"username":"alice","password":"x"}'), 'username'), 'alice');
  t.equal(formLogin('application/json; charset=utf-8', buf('\ufeff{"username":" alice "}'), 'username'), 'alice', 'BOM and trim');
  t.equal(formLogin('application/vnd.api+json', buf('{"username":"alice"}'), 'username'), 'alice');
  t.equal(formLogin('application/json', buf('{"username":42}'), 'username'), undefined, 'not a string');
  t.equal(formLogin('application/json', buf('{"user":{"username":"a"}}'), 'username'), undefined, 'top level only');
  t.equal(formLogin('application/json', buf('["username"]'), 'username'), undefined);
  t.equal(formLogin('application/json', buf('"username"'), 'username'), undefined);
  t.equal(formLogin('application/json', buf('null'), 'username'), undefined);
  t.equal(formLogin('application/json', buf('{"username":"al'), 'username'), undefined, 'truncated');
  t.equal(formLogin('application/json', buf('{"__proto__":"x"}'), '__proto__'), 'x');
  t.equal(formLogin('application/json', buf('{}'), 'constructor'), undefined);
  t.equal(formLogin('application/json', buf('{"username":"a\\u0000b"}'), 'username'), undefined, 'escaped NUL');
  t.equal(formLogin('application/json', buf('{"username":"a\\u202eb"}'), 'username'), undefined, 'bidi');
  t.equal(formLogin('application/json', buf('{"username":"😀"}'), 'username'), '😀');
  t.equal(formLogin('application/json', buf('{"username":"\\ud800"}'), 'username'), undefined, 'lone surrogate');
  t.equal(formLogin('application/json', buf('['.repeat(100000)), 'username'), undefined, 'deep junk');
});

t.test('multipart', async (t) => {
  const b = '----WebKitFormBoundary7MA4YWxkTrZu0gW';
  const ct = `multipart/form-data; boundary=${b}`;
  t.equal(formLogin(ct, multipart(b, [{ name: 'username', value: 'alice' }, { name: 'password', value: 'secret' }]), 'username'), 'alice');
  t.equal(formLogin(`multipart/form-data; boundary="${b}"`, multipart(b, [{ name: 'password', value: 'x' }, { name: 'username', value: 'bob' }]), 'username'), 'bob', 'quoted boundary');
  t.equal(formLogin(`multipart/form-data; charset=utf-8; boundary=${b}; x=y`, multipart(b, [{ name: 'username', value: 'jürgen' }]), 'username'), 'jürgen');
  t.equal(formLogin(ct, multipart(b, [{ name: 'username', value: 'alice', extra: 'Content-Type: text/plain\r\n' }]), 'username'), 'alice', 'part headers');
  t.equal(formLogin(ct, multipart(b, [{ name: 'username', value: 'alice' }], { preamble: 'junk preamble\r\n' }), 'username'), 'alice', 'preamble');
  t.equal(formLogin(ct, multipart(b, [{ name: 'username', value: 'x', filename: 'a.txt' }]), 'username'), undefined, 'file parts are not fields');
  t.equal(formLogin(ct, multipart(b, [{ name: 'username', value: 'alice' }, { name: 'username', value: 'eve' }]), 'username'), undefined, 'ambiguous');
  t.equal(formLogin(ct, multipart(b, [{ name: 'username', value: 'alice' }, { name: 'password', value: 'x' }], { close: false }), 'username'), 'alice', 'unclosed body, but the field is delimited');
  t.equal(formLogin(ct, multipart(b, [{ name: 'username', value: 'alice' }], { close: false }), 'username'), undefined, 'value not delimited: may be cut');
  t.equal(formLogin(ct, multipart(b, [{ name: 'username', value: 'alice' }]).subarray(0, 80), 'username'), undefined, 'cut inside the value');
  t.equal(formLogin(ct, multipart(b, [{ name: 'username', value: 'al\r\nice' }]), 'username'), undefined, 'CRLF in value');
  t.equal(formLogin(ct, multipart(b, [{ name: 'username', value: '' }]), 'username'), undefined, 'empty');
  t.equal(formLogin(ct, multipart(b, [{ name: 'xusername', value: 'a' }]), 'username'), undefined);
  t.equal(formLogin(ct, Buffer.from(`--${b}\r\nContent-Disposition: form-data; filename="u"; name="username"\r\n\r\nx\r\n--${b}--`), 'username'), undefined);
  t.equal(formLogin(ct, Buffer.from(`--${b}\r\ncontent-disposition: FORM-DATA; name=username\r\n\r\nalice\r\n--${b}--`), 'username'), 'alice', 'unquoted name');
  t.equal(formLogin(ct, Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="user\\"name"\r\n\r\nalice\r\n--${b}--`), 'user"name'), 'alice', 'escaped quote');
  t.equal(formLogin(ct, Buffer.from(`--${b}\r\nContent-Disposition: attachment; name="username"\r\n\r\nalice\r\n--${b}--`), 'username'), undefined);
  t.equal(formLogin(ct, Buffer.from(`--${b}\r\n\r\nalice\r\n--${b}--`), 'username'), undefined, 'no headers');
  t.equal(formLogin('multipart/form-data', multipart(b, [{ name: 'username', value: 'a' }]), 'username'), undefined, 'no boundary');
  t.equal(formLogin(`multipart/form-data; boundary=${'x'.repeat(71)}`, multipart('x'.repeat(71), [{ name: 'username', value: 'a' }]), 'username'), undefined, 'boundary too long');
  t.equal(formLogin(ct, Buffer.from('garbage'), 'username'), undefined);
  t.equal(formLogin(ct, Buffer.from(`--${b}`), 'username'), undefined);
  t.equal(formLogin(ct, Buffer.from(`--${b}\r\n`), 'username'), undefined);
  t.equal(formLogin(ct, Buffer.from(`--${b}--`), 'username'), undefined);
  // many parts
  const many = multipart(b, Array.from({ length: 3000 }, (_, i) => ({ name: `f${i}`, value: 'v' })).concat([{ name: 'username', value: 'late' }]));
  t.equal(formLogin(ct, many, 'username'), undefined, 'stops after 1000 parts');
});

t.test('other types and junk', async (t) => {
  t.equal(formLogin('text/plain', buf('username=alice'), 'username'), undefined);
  t.equal(formLogin(undefined, buf('username=alice'), 'username'), undefined);
  t.equal(formLogin(FORM, Buffer.alloc(0), 'username'), undefined);
  t.equal(formLogin(FORM, 'username=alice' as unknown as Buffer, 'username'), undefined);
  t.equal(formLogin(FORM, buf('username=alice'), ''), undefined);
  fc.assert(
    fc.property(
      fc.constantFrom(FORM, 'application/json', 'multipart/form-data; boundary=XyZ', 'multipart/form-data; boundary="a b"', 'text/html', ''),
      fc.oneof(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), fc.string({ maxLength: 300 }).map((s) => Buffer.from(s))),
      (ct, body) => {
        const r = formLogin(ct, body, 'username');
        return r === undefined || (r.length > 0 && r.length <= 256 && r === r.trim());
      },
    ),
    { numRuns: 5000 },
  );
  t.pass('never throws on junk');
});

t.test('property: the submitted login comes back, for every encoding', async (t) => {
  const login = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s.trim().length > 0 && !/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u.test(s));
  fc.assert(
    fc.property(login, fc.string({ maxLength: 30 }), (l, pw) => {
      const want = l.trim();
      const enc = `password=${encodeURIComponent(pw)}&username=${encodeURIComponent(l)}`;
      const json = JSON.stringify({ password: pw, username: l });
      const mp = multipart('BoUnDaRy', [{ name: 'password', value: pw.replace(/[\r\n-]/g, '') }, { name: 'username', value: l }]);
      return (
        formLogin(FORM, buf(enc), 'username') === want &&
        formLogin('application/json', buf(json), 'username') === want &&
        (l.includes('\r\n--BoUnDaRy') || formLogin('multipart/form-data; boundary=BoUnDaRy', mp, 'username') === want)
      );
    }),
    { numRuns: 3000 },
  );
  t.pass('property holds');
});
