import t, { type Test } from 'tap';
import { constants, createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { JwtVerifier, JWT_CACHE_MAX, MAX_JWT_LENGTH, keyFitsAlg, type JwtResult } from './jwt.js';
import { makeRoute } from './route-fixture.js';
import type { JwtConfig } from '../../../config/schema.js';

const NOW = Date.parse('2025-06-01T12:00:00Z');
const sec = Math.floor(NOW / 1000);

function jwtCfg(j: Record<string, unknown>): JwtConfig {
  return makeRoute({ identity: { jwt: j } }).identity.jwt!;
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

type SignKey = { hs: Buffer | string } | { key: KeyObject };

function signToken(alg: string, payload: unknown, k: SignKey | null, extraHeader: Record<string, unknown> = {}): string {
  const header = { alg, typ: 'JWT', ...extraHeader };
  const input = `${b64(header)}.${b64(payload)}`;
  if (!k) return `${input}.`;
  const hash = alg === 'EdDSA' ? null : `sha${alg.slice(2)}`;
  let sig: Buffer;
  if ('hs' in k) sig = createHmac(hash!, k.hs).update(input).digest();
  else if (alg.startsWith('RS')) sig = sign(hash, Buffer.from(input), { key: k.key, padding: constants.RSA_PKCS1_PADDING });
  else if (alg.startsWith('PS')) sig = sign(hash, Buffer.from(input), { key: k.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  else if (alg.startsWith('ES')) sig = sign(hash, Buffer.from(input), { key: k.key, dsaEncoding: 'ieee-p1363' });
  else sig = sign(null, Buffer.from(input), k.key);
  return `${input}.${sig.toString('base64url')}`;
}

const claims = (extra: Record<string, unknown> = {}) => ({ sub: 'alice', iat: sec - 10, exp: sec + 3600, ...extra });

function clockAt(ms = NOW) {
  const c = { t: ms, now: () => c.t };
  return c;
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ec521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
const ed = generateKeyPairSync('ed25519');
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }) as string;

function expectFail(t: Test, r: JwtResult, code: 'SG_ERR_JWT_INVALID' | 'SG_ERR_JWT_EXPIRED', msg: string, reason?: RegExp) {
  t.equal(r.ok, false, msg);
  if (!r.ok) {
    t.equal(r.code, code, `${msg}: code`);
    if (reason) t.match(r.reason, reason, `${msg}: reason`);
  }
}

t.test('HMAC', async (t) => {
  const dir = t.testdir({ 'secret': 'my-shared-secret\n', 'secret-crlf': 'my-shared-secret\r\n', 'empty': '\n' });
  const v = new JwtVerifier(jwtCfg({ secret_file: join(dir, 'secret') }), clockAt());
  t.same(v.algorithms.sort(), ['HS256', 'HS384', 'HS512']);
  for (const alg of ['HS256', 'HS384', 'HS512']) {
    const r = v.verify(signToken(alg, claims(), { hs: 'my-shared-secret' }));
    t.ok(r.ok, `${alg} accepted`);
    if (r.ok) {
      t.equal(r.claims.sub, 'alice');
      t.equal(r.verified, true);
      t.equal(r.expiresAt, (sec + 3600) * 1000);
    }
  }
  t.ok(new JwtVerifier(jwtCfg({ secret_file: join(dir, 'secret-crlf') }), clockAt()).verify(signToken('HS256', claims(), { hs: 'my-shared-secret' })).ok, 'CRLF trimmed');
  expectFail(t, v.verify(signToken('HS256', claims(), { hs: 'my-shared-secret\n' })), 'SG_ERR_JWT_INVALID', 'secret with the newline is another secret', /signature/);
  expectFail(t, v.verify(signToken('HS256', claims(), { hs: 'wrong' })), 'SG_ERR_JWT_INVALID', 'wrong secret', /bad signature/);
  const good = signToken('HS256', claims(), { hs: 'my-shared-secret' });
  const [h, p, s] = good.split('.') as [string, string, string];
  const flipped = s[0] === 'A' ? 'B' + s.slice(1) : 'A' + s.slice(1);
  expectFail(t, v.verify(`${h}.${p}.${flipped}`), 'SG_ERR_JWT_INVALID', 'bad signature', /bad signature/);
  expectFail(t, v.verify(`${h}.${b64(claims({ sub: 'mallory' }))}.${s}`), 'SG_ERR_JWT_INVALID', 'payload swapped', /bad signature/);
  expectFail(t, v.verify(`${h}.${p}.${s.slice(0, -2)}`), 'SG_ERR_JWT_INVALID', 'truncated signature');
  expectFail(t, v.verify(good.slice(0, good.length - s.length - 1)), 'SG_ERR_JWT_INVALID', 'signature part missing', /three/);
  expectFail(t, v.verify(good.slice(0, 20)), 'SG_ERR_JWT_INVALID', 'cut in the header');
  expectFail(t, v.verify(`${h}.${p}.`), 'SG_ERR_JWT_INVALID', 'empty signature', /signature/);
  t.throws(() => new JwtVerifier(jwtCfg({ secret_file: join(dir, 'empty') }), clockAt()), { code: 'SG_ERR_CONFIG_INVALID', message: /empty/ });
});

t.test('public keys: RS, PS, ES, EdDSA', async (t) => {
  const dir = t.testdir({
    'rsa.pem': pem(rsa.publicKey),
    'rsa-private.pem': rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    'ec256.pem': pem(ec256.publicKey),
    'ec384.pem': pem(ec384.publicKey),
    'ec521.pem': pem(ec521.publicKey),
    'ed.pem': pem(ed.publicKey),
  });
  const clock = clockAt();
  const vr = new JwtVerifier(jwtCfg({ public_key_file: join(dir, 'rsa.pem') }), clock);
  t.same(vr.algorithms.sort(), ['PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512']);
  for (const alg of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']) t.ok(vr.verify(signToken(alg, claims(), { key: rsa.privateKey })).ok, `${alg} accepted`);
  expectFail(t, vr.verify(signToken('RS256', claims(), { key: rsa2.privateKey })), 'SG_ERR_JWT_INVALID', 'other RSA key', /bad signature/);
  t.ok(new JwtVerifier(jwtCfg({ public_key_file: join(dir, 'rsa-private.pem') }), clock).verify(signToken('RS256', claims(), { key: rsa.privateKey })).ok, 'private PEM: public part used');
  const cases: [string, string, KeyObject][] = [
    ['ec256.pem', 'ES256', ec256.privateKey],
    ['ec384.pem', 'ES384', ec384.privateKey],
    ['ec521.pem', 'ES512', ec521.privateKey],
    ['ed.pem', 'EdDSA', ed.privateKey],
  ];
  for (const [file, alg, key] of cases) {
    const v = new JwtVerifier(jwtCfg({ public_key_file: join(dir, file) }), clock);
    t.same(v.algorithms, [alg], `${file} fits only ${alg}`);
    t.ok(v.verify(signToken(alg, claims(), { key })).ok, `${alg} accepted`);
  }
  // ES signatures must be JOSE r||s, not DER
  const v256 = new JwtVerifier(jwtCfg({ public_key_file: join(dir, 'ec256.pem') }), clock);
  const input = `${b64({ alg: 'ES256' })}.${b64(claims())}`;
  const der = sign('sha256', Buffer.from(input), ec256.privateKey);
  expectFail(t, v256.verify(`${input}.${der.toString('base64url')}`), 'SG_ERR_JWT_INVALID', 'DER-encoded ES256 signature', /bad signature/);
  // an ES384 token cannot be checked with the P-256 key
  expectFail(t, v256.verify(signToken('ES384', claims(), { key: ec384.privateKey })), 'SG_ERR_JWT_INVALID', 'curve mismatch', /not allowed/);
  // PSS with a salt length other than the hash length is not JWA PS256
  const psInput = `${b64({ alg: 'PS256' })}.${b64(claims())}`;
  const saltyPss = sign('sha256', Buffer.from(psInput), { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 });
  expectFail(t, vr.verify(`${psInput}.${saltyPss.toString('base64url')}`), 'SG_ERR_JWT_INVALID', 'PSS salt length', /bad signature/);
});

t.test('algorithm confusion and alg none', async (t) => {
  const dir = t.testdir({ 'rsa.pem': pem(rsa.publicKey), 'secret': 'k'.repeat(32) });
  const clock = clockAt();
  const rsaPem = pem(rsa.publicKey);
  const v = new JwtVerifier(jwtCfg({ public_key_file: join(dir, 'rsa.pem') }), clock);
  // The classic attack: HS256 signed with the RSA public key PEM as the HMAC secret.
  expectFail(t, v.verify(signToken('HS256', claims(), { hs: rsaPem })), 'SG_ERR_JWT_INVALID', 'HS256 with the public key as secret', /not allowed/);
  const both = new JwtVerifier(jwtCfg({ public_key_file: join(dir, 'rsa.pem'), algorithms: ['HS256', 'RS256'] }), clock);
  t.same(both.algorithms, ['RS256'], 'HS256 dropped: it does not fit a public key');
  expectFail(t, both.verify(signToken('HS256', claims(), { hs: rsaPem })), 'SG_ERR_JWT_INVALID', 'still refused when HS256 is listed');
  t.throws(() => new JwtVerifier(jwtCfg({ public_key_file: join(dir, 'rsa.pem'), algorithms: ['HS256'] }), clock), { code: 'SG_ERR_CONFIG_INVALID', message: /rsa\.pem/ });
  t.throws(() => new JwtVerifier(jwtCfg({ secret_file: join(dir, 'secret'), algorithms: ['RS256'] }), clock), { code: 'SG_ERR_CONFIG_INVALID' });
  // alg none, in any spelling, signed or not; also with verify: false
  const nv = new JwtVerifier(jwtCfg({ verify: false }), clock);
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    expectFail(t, v.verify(signToken(alg, claims(), null)), 'SG_ERR_JWT_INVALID', `alg ${alg}`, /none/);
    expectFail(t, v.verify(signToken(alg, claims(), null) + 'c2ln'), 'SG_ERR_JWT_INVALID', `alg ${alg} with a signature`, /none/);
    expectFail(t, nv.verify(signToken(alg, claims(), null)), 'SG_ERR_JWT_INVALID', `alg ${alg} unverified`, /none/);
  }
  // alg not allowed by the config, though the key could verify it
  const only = new JwtVerifier(jwtCfg({ public_key_file: join(dir, 'rsa.pem'), algorithms: ['RS256'] }), clock);
  t.ok(only.verify(signToken('RS256', claims(), { key: rsa.privateKey })).ok);
  expectFail(t, only.verify(signToken('PS256', claims(), { key: rsa.privateKey })), 'SG_ERR_JWT_INVALID', 'PS256 not in algorithms', /not allowed/);
  expectFail(t, only.verify(signToken('RS256', claims(), { key: rsa.privateKey }, { alg: 'RS257' })), 'SG_ERR_JWT_INVALID', 'unknown alg', /not supported/);
  expectFail(t, only.verify(signToken('RS256', claims(), { key: rsa.privateKey }, { alg: 42 })), 'SG_ERR_JWT_INVALID', 'alg not a string', /no alg/);
  // an embedded key (jwk / jku / x5u) is never used
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = attacker.publicKey.export({ format: 'jwk' });
  expectFail(t, v.verify(signToken('RS256', claims(), { key: attacker.privateKey }, { jwk, jku: 'http://127.0.0.1:1/jwks', x5u: 'http://127.0.0.1:1/x' })), 'SG_ERR_JWT_INVALID', 'embedded jwk ignored', /bad signature/);
  // crit is refused
  expectFail(t, v.verify(signToken('RS256', claims(), { key: rsa.privateKey }, { crit: ['exp'], exp: 1 })), 'SG_ERR_JWT_INVALID', 'crit', /crit/);
  expectFail(t, v.verify(signToken('RS256', claims(), { key: rsa.privateKey }, { b64: false, crit: ['b64'] })), 'SG_ERR_JWT_INVALID', 'b64 crit', /crit/);
  expectFail(t, v.verify(signToken('RS256', claims(), { key: rsa.privateKey }, { kid: 7 })), 'SG_ERR_JWT_INVALID', 'non-string kid', /kid/);
  t.equal(keyFitsAlg('XX', rsa.publicKey), false);
  t.equal(keyFitsAlg('RS256', rsa.privateKey), false, 'only public keys verify');
});

t.test('claims: exp, nbf, iat, iss, aud', async (t) => {
  const dir = t.testdir({ secret: 's3cret-s3cret-s3cret' });
  const hs = { hs: 's3cret-s3cret-s3cret' };
  const clock = clockAt();
  const v = new JwtVerifier(jwtCfg({ secret_file: join(dir, 'secret'), clock_skew: '30s' }), clock);
  expectFail(t, v.verify(signToken('HS256', claims({ exp: sec - 31 }), hs)), 'SG_ERR_JWT_EXPIRED', 'expired beyond skew', /expired/);
  t.ok(v.verify(signToken('HS256', claims({ exp: sec - 29 }), hs)).ok, 'expired within skew');
  expectFail(t, v.verify(signToken('HS256', claims({ exp: sec - 30 }), hs)), 'SG_ERR_JWT_EXPIRED', 'at exp + skew exactly');
  expectFail(t, v.verify(signToken('HS256', claims({ nbf: sec + 60 }), hs)), 'SG_ERR_JWT_INVALID', 'nbf in future', /nbf/);
  t.ok(v.verify(signToken('HS256', claims({ nbf: sec + 20 }), hs)).ok, 'nbf within skew');
  expectFail(t, v.verify(signToken('HS256', claims({ iat: sec + 60 }), hs)), 'SG_ERR_JWT_INVALID', 'iat in future', /iat/);
  expectFail(t, v.verify(signToken('HS256', claims({ exp: String(sec + 60) }), hs)), 'SG_ERR_JWT_INVALID', 'exp as string', /exp is not a number/);
  expectFail(t, v.verify(signToken('HS256', claims({ nbf: null }), hs)), 'SG_ERR_JWT_INVALID', 'nbf null');
  const noExp = v.verify(signToken('HS256', { sub: 'bob' }, hs));
  t.ok(noExp.ok && noExp.expiresAt === undefined, 'no exp: accepted, no expiry');
  // forged tokens report the signature, not the claims
  expectFail(t, v.verify(signToken('HS256', claims({ exp: sec - 1000 }), { hs: 'other' })), 'SG_ERR_JWT_INVALID', 'forged and expired', /signature/);

  const va = new JwtVerifier(jwtCfg({ secret_file: join(dir, 'secret'), issuer: 'https://idp', audience: 'panel' }), clock);
  t.ok(va.verify(signToken('HS256', claims({ iss: 'https://idp', aud: 'panel' }), hs)).ok);
  t.ok(va.verify(signToken('HS256', claims({ iss: 'https://idp', aud: ['other', 'panel'] }), hs)).ok, 'aud array');
  expectFail(t, va.verify(signToken('HS256', claims({ iss: 'https://evil', aud: 'panel' }), hs)), 'SG_ERR_JWT_INVALID', 'wrong iss', /issuer/);
  expectFail(t, va.verify(signToken('HS256', claims({ aud: 'panel' }), hs)), 'SG_ERR_JWT_INVALID', 'missing iss', /issuer/);
  expectFail(t, va.verify(signToken('HS256', claims({ iss: 'https://idp', aud: 'other' }), hs)), 'SG_ERR_JWT_INVALID', 'wrong aud', /audience/);
  expectFail(t, va.verify(signToken('HS256', claims({ iss: 'https://idp', aud: ['a', 'b'] }), hs)), 'SG_ERR_JWT_INVALID', 'aud array without us', /audience/);
  expectFail(t, va.verify(signToken('HS256', claims({ iss: 'https://idp' }), hs)), 'SG_ERR_JWT_INVALID', 'missing aud', /audience/);
  expectFail(t, va.verify(signToken('HS256', claims({ iss: 'https://idp', aud: { panel: 1 } }), hs)), 'SG_ERR_JWT_INVALID', 'aud object', /audience/);
  t.ok(v.verify(signToken('HS256', claims({ iss: 'anyone', aud: 'anything' }), hs)).ok, 'not configured: not checked');
});

t.test('malformed tokens', async (t) => {
  const dir = t.testdir({ secret: 'k' });
  const v = new JwtVerifier(jwtCfg({ secret_file: join(dir, 'secret') }), clockAt());
  const hs = { hs: 'k' };
  const good = signToken('HS256', claims(), hs);
  const [h, p, s] = good.split('.') as [string, string, string];
  const bad: [string, unknown][] = [
    ['empty', ''],
    ['not a string', 42],
    ['undefined', undefined],
    ['one part', 'abc'],
    ['two parts', `${h}.${p}`],
    ['four parts', `${good}.x`],
    ['leading dot', `.${p}.${s}`],
    ['bad base64 chars', `${h}.${p}!.${s}`],
    ['standard base64 chars', `${h}.${p.slice(0, -1)}+.${s}`],
    ['padding', `${h}.${p}=.${s}`],
    ['impossible length', `${h}.${p}A.${s}`],
    ['header not JSON', `${b64('{alg:')}.${p}.${s}`],
    ['header array', `${b64([1])}.${p}.${s}`],
    ['header null', `${b64('null')}.${p}.${s}`],
    ['payload not JSON', signToken('HS256', '__x', hs).replace(/^([^.]+)\.[^.]+/, `$1.${b64('{"a":')}`)],
    ['payload string', signToken('HS256', 'just a string', hs)],
    ['payload array', signToken('HS256', [1, 2], hs)],
    ['payload invalid UTF-8', `${h}.${Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]).toString('base64url')}.${s}`],
    ['whitespace', ` ${good}`],
    ['CRLF', `${good}\r\n`],
    ['NUL', `${h}\u0000.${p}.${s}`],
    ['unicode', `${h}.${p}é.${s}`],
    ['too long', signToken('HS256', claims({ pad: 'x'.repeat(MAX_JWT_LENGTH) }), hs)],
  ];
  for (const [what, tok] of bad) expectFail(t, v.verify(tok as string), 'SG_ERR_JWT_INVALID', what);
  t.ok(v.verify(good).ok, 'the good one still passes');
  // deep nesting does not blow the stack
  const deep = '['.repeat(5000) + ']'.repeat(5000);
  const deepTok = signToken('HS256', `{"sub":"x","n":${deep}}`, hs);
  t.ok(deepTok.length < MAX_JWT_LENGTH);
  const r = v.verify(deepTok);
  t.ok(r.ok, 'deeply nested claims are fine');
  // __proto__ in claims stays data
  const proto = v.verify(signToken('HS256', '{"sub":"x","__proto__":{"polluted":true}}', hs));
  t.ok(proto.ok);
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});

t.test('verify: false', async (t) => {
  const clock = clockAt();
  const v = new JwtVerifier(jwtCfg({ verify: false }), clock);
  const r = v.verify(signToken('RS256', claims(), { key: rsa2.privateKey }));
  t.ok(r.ok);
  if (r.ok) t.equal(r.verified, false);
  t.ok(v.verify(signToken('HS256', claims(), { hs: 'whatever' }).replace(/\.[^.]+$/, '.AAAA')).ok, 'signature not checked');
  expectFail(t, v.verify(signToken('HS256', claims({ exp: sec - 3600 }), { hs: 'x' })), 'SG_ERR_JWT_EXPIRED', 'an expired unverified token is no identity');
  expectFail(t, v.verify('a.b.c'), 'SG_ERR_JWT_INVALID', 'still parsed strictly');
  const limited = new JwtVerifier(jwtCfg({ verify: false, algorithms: ['RS256'] }), clock);
  expectFail(t, limited.verify(signToken('HS256', claims(), { hs: 'x' })), 'SG_ERR_JWT_INVALID', 'algorithms still apply', /not allowed/);
  // key files are not needed (nor read) without verification
  t.doesNotThrow(() => new JwtVerifier(jwtCfg({ verify: false, public_key_file: '/nonexistent/key.pem' }), clock));
});

t.test('JWKS with two kids', async (t) => {
  const jwks = {
    keys: [
      { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-1', use: 'sig', alg: 'RS256' },
      { ...ec256.publicKey.export({ format: 'jwk' }), kid: 'ec-1' },
      { ...rsa2.publicKey.export({ format: 'jwk' }), kid: 'enc-1', use: 'enc' },
    ],
  };
  const dir = t.testdir({ 'jwks.json': JSON.stringify(jwks) });
  const v = new JwtVerifier(jwtCfg({ jwks_file: join(dir, 'jwks.json') }), clockAt());
  t.ok(v.verify(signToken('RS256', claims(), { key: rsa.privateKey }, { kid: 'rsa-1' })).ok, 'kid rsa-1');
  t.ok(v.verify(signToken('ES256', claims(), { key: ec256.privateKey }, { kid: 'ec-1' })).ok, 'kid ec-1');
  expectFail(t, v.verify(signToken('RS256', claims(), { key: rsa.privateKey }, { kid: 'nope' })), 'SG_ERR_JWT_INVALID', 'unknown kid', /kid/);
  expectFail(t, v.verify(signToken('RS256', claims(), { key: rsa.privateKey }, { kid: 'ec-1' })), 'SG_ERR_JWT_INVALID', 'kid of a key of another type', /kid/);
  expectFail(t, v.verify(signToken('RS256', claims(), { key: rsa2.privateKey }, { kid: 'rsa-1' })), 'SG_ERR_JWT_INVALID', 'right kid, wrong key', /bad signature/);
  expectFail(t, v.verify(signToken('PS256', claims(), { key: rsa.privateKey }, { kid: 'rsa-1' })), 'SG_ERR_JWT_INVALID', "the JWK's own alg binds", /not allowed|kid/);
  expectFail(t, v.verify(signToken('RS256', claims(), { key: rsa2.privateKey }, { kid: 'enc-1' })), 'SG_ERR_JWT_INVALID', 'encryption keys are not used');
  t.ok(v.verify(signToken('ES256', claims(), { key: ec256.privateKey })).ok, 'no kid: the fitting key');

  const write = (name: string, body: string) => {
    const f = join(dir, name);
    writeFileSync(f, body);
    return f;
  };
  const cases: [string, string, RegExp][] = [
    ['not-json.json', '{keys:', /not JSON/],
    ['no-keys.json', '{"x":1}', /no "keys"/],
    ['only-enc.json', JSON.stringify({ keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), use: 'enc' }] }), /no signature keys/],
    ['oct.json', JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }), /symmetric/],
    ['broken.json', JSON.stringify({ keys: [{ kty: 'RSA', n: 'AA', e: '!!', kid: 'b' }] }), /kid b/],
    ['badalg.json', JSON.stringify({ keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), alg: 'RSA-OAEP' }] }), /unsupported alg/],
    ['badkid.json', JSON.stringify({ keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), kid: 5 }] }), /kid/],
    ['notobj.json', JSON.stringify({ keys: [1] }), /not an object/],
    ['weak-rsa.json', JSON.stringify({ keys: [{ ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), kid: 'w' }] }), /1024 bits/],
  ];
  for (const [name, body, msg] of cases) {
    const f = write(name, body);
    t.throws(() => new JwtVerifier(jwtCfg({ jwks_file: f }), clockAt()), { code: 'SG_ERR_CONFIG_INVALID', message: msg }, name);
    try {
      new JwtVerifier(jwtCfg({ jwks_file: f }), clockAt());
    } catch (e) {
      t.ok((e as Error).message.includes(f), `${name}: message names the file`);
    }
  }
});

t.test('key file errors name the file', async (t) => {
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const dir = t.testdir({ 'garbage.pem': 'not a key', 'unreadable.pem': pem(rsa.publicKey), 'weak.pem': pem(weak.publicKey) });
  const files: [Record<string, unknown>, string][] = [
    [{ public_key_file: join(dir, 'weak.pem') }, join(dir, 'weak.pem')],
    [{ secret_file: join(dir, 'missing') }, join(dir, 'missing')],
    [{ public_key_file: join(dir, 'missing.pem') }, join(dir, 'missing.pem')],
    [{ jwks_file: join(dir, 'missing.json') }, join(dir, 'missing.json')],
    [{ public_key_file: join(dir, 'garbage.pem') }, join(dir, 'garbage.pem')],
  ];
  if (process.getuid?.() !== 0) {
    chmodSync(join(dir, 'unreadable.pem'), 0o000);
    files.push([{ public_key_file: join(dir, 'unreadable.pem') }, join(dir, 'unreadable.pem')]);
  }
  for (const [cfg, file] of files) {
    t.throws(() => new JwtVerifier(jwtCfg(cfg), clockAt()), { code: 'SG_ERR_CONFIG_INVALID' }, file);
    try {
      new JwtVerifier(jwtCfg(cfg), clockAt());
    } catch (e) {
      t.ok((e as Error).message.includes(file), 'names the file');
    }
  }
  // two key sources (the schema refuses it too, but the class does not trust its caller)
  const cfg = { ...jwtCfg({ secret_file: join(dir, 'x') }), public_key_file: join(dir, 'y') };
  t.throws(() => new JwtVerifier(cfg, clockAt()), { code: 'SG_ERR_CONFIG_INVALID' });
  t.throws(() => new JwtVerifier({ ...jwtCfg({ verify: false }), algorithms: ['XX256' as 'HS256'] }, clockAt()), { code: 'SG_ERR_CONFIG_INVALID' });
});

t.test('X.509 certificate as public_key_file', async (t) => {
  const dir = t.testdir({});
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  writeFileSync(keyFile, rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  try {
    execFileSync('openssl', ['req', '-x509', '-key', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=test'], { stdio: 'ignore' });
  } catch {
    t.pass('openssl not available: certificate case not run');
    return;
  }
  const v = new JwtVerifier(jwtCfg({ public_key_file: certFile }), clockAt());
  t.ok(v.verify(signToken('RS256', claims(), { key: rsa.privateKey })).ok);
});

t.test('cache', async (t) => {
  const dir = t.testdir({ 'rsa.pem': pem(rsa.publicKey) });
  const clock = clockAt();
  const v = new JwtVerifier(jwtCfg({ public_key_file: join(dir, 'rsa.pem'), clock_skew: 0 }), clock);
  const tok = signToken('RS256', claims({ exp: sec + 60 }), { key: rsa.privateKey });
  const first = v.verify(tok);
  t.ok(first.ok);
  t.equal(v.verify(tok), first, 'second verification answered from the cache');
  t.ok(first.ok && Object.isFrozen(first.claims), 'cached claims are frozen');
  clock.t = NOW + 61_000;
  expectFail(t, v.verify(tok), 'SG_ERR_JWT_EXPIRED', 'cache entry ends at exp');
  expectFail(t, v.verify(tok), 'SG_ERR_JWT_EXPIRED', 'and stays expired');
  clock.t = NOW;
  // bounded: the oldest entries are evicted
  const hsDir = t.testdir({ s: 'k' });
  const hv = new JwtVerifier(jwtCfg({ secret_file: join(hsDir, 's') }), clock);
  const toks = Array.from({ length: JWT_CACHE_MAX + 50 }, (_, i) => signToken('HS256', claims({ n: i }), { hs: 'k' }));
  const answers = toks.map((x) => hv.verify(x));
  t.ok(answers.every((a) => a.ok));
  t.not(hv.verify(toks[0]!), answers[0], 'oldest evicted');
  t.equal(hv.verify(toks[toks.length - 1]!), answers[answers.length - 1], 'newest kept');
  // failures are not cached: a token is judged afresh
  const forged = signToken('HS256', claims(), { hs: 'other' });
  expectFail(t, hv.verify(forged), 'SG_ERR_JWT_INVALID', 'forged');
  expectFail(t, hv.verify(forged), 'SG_ERR_JWT_INVALID', 'forged again');
  hv.close();
  t.not(hv.verify(toks[toks.length - 1]!), answers[answers.length - 1], 'close() empties the cache');
});
