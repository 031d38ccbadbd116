// JWT verification with node:crypto only. The algorithm is taken from the token, so every check
// that keeps a forger out is explicit here: `none` refused, the algorithm must be allowed AND fit
// the key's type (an HS* token is never checked against a public key used as an HMAC secret),
// embedded keys (`jwk`, `jku`, `x5u`) are ignored, `crit` is refused.
import { X509Certificate, createHmac, createPublicKey, createSecretKey, constants, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JwtConfig } from '../../../config/schema.js';
import { SgError } from '../../core/errors.js';
import type { Clock } from '../../core/runtime.js';

export type JwtAlg = 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

export type JwtResult =
  | { ok: true; claims: Record<string, unknown>; verified: boolean; expiresAt?: number }
  | { ok: false; code: 'SG_ERR_JWT_INVALID' | 'SG_ERR_JWT_EXPIRED'; reason: string };

/** Longest token looked at; bigger ones are refused before any decoding. */
export const MAX_JWT_LENGTH = 16 * 1024;
/** Successful verifications kept (LRU), so a panel repeating one token pays for RSA once. */
export const JWT_CACHE_MAX = 1000;
/** Most JWKS keys tried for a token without `kid`. */
const MAX_KEY_TRIES = 8;

interface AlgSpec {
  family: 'HS' | 'RS' | 'PS' | 'ES' | 'EdDSA';
  hash: 'sha256' | 'sha384' | 'sha512' | null;
  /** ES*: the curve and the JOSE r||s signature length. */
  curve?: string;
  sigLength?: number;
}

const ALGS = new Map<string, AlgSpec>([
  ['HS256', { family: 'HS', hash: 'sha256' }],
  ['HS384', { family: 'HS', hash: 'sha384' }],
  ['HS512', { family: 'HS', hash: 'sha512' }],
  ['RS256', { family: 'RS', hash: 'sha256' }],
  ['RS384', { family: 'RS', hash: 'sha384' }],
  ['RS512', { family: 'RS', hash: 'sha512' }],
  ['PS256', { family: 'PS', hash: 'sha256' }],
  ['PS384', { family: 'PS', hash: 'sha384' }],
  ['PS512', { family: 'PS', hash: 'sha512' }],
  ['ES256', { family: 'ES', hash: 'sha256', curve: 'prime256v1', sigLength: 64 }],
  ['ES384', { family: 'ES', hash: 'sha384', curve: 'secp384r1', sigLength: 96 }],
  ['ES512', { family: 'ES', hash: 'sha512', curve: 'secp521r1', sigLength: 132 }],
  ['EdDSA', { family: 'EdDSA', hash: null }],
]);

export const JWT_ALGORITHMS: readonly JwtAlg[] = [...ALGS.keys()] as JwtAlg[];

/** True when `key` is the kind of key `alg` is defined for (RFC 7518 / 8037). */
export function keyFitsAlg(alg: string, key: KeyObject): boolean {
  const spec = ALGS.get(alg);
  if (!spec) return false;
  if (spec.family === 'HS') return key.type === 'secret';
  if (key.type !== 'public') return false;
  const t = key.asymmetricKeyType;
  switch (spec.family) {
    case 'RS':
      return t === 'rsa';
    case 'PS': {
      if (t === 'rsa') return true;
      // An rsa-pss key may be bound to one hash; any other would fail inside OpenSSL anyway.
      const h = key.asymmetricKeyDetails?.hashAlgorithm;
      return t === 'rsa-pss' && (h === undefined || h === spec.hash);
    }
    case 'ES':
      return t === 'ec' && key.asymmetricKeyDetails?.namedCurve === spec.curve;
    case 'EdDSA':
      return t === 'ed25519' || t === 'ed448';
  }
}

interface KeyEntry {
  key: KeyObject;
  kid?: string;
  /** The JWK's own `alg`, which then is the only algorithm it may verify. */
  alg?: string;
}

interface CacheEntry {
  result: JwtResult & { ok: true };
  /** ms; undefined = no exp claim. */
  expiresAt?: number;
}

const B64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function invalid(reason: string): JwtResult {
  return { ok: false, code: 'SG_ERR_JWT_INVALID', reason };
}

function b64urlBytes(part: string): Buffer | undefined {
  if (!B64URL.test(part) || part.length % 4 === 1) return undefined;
  return Buffer.from(part, 'base64url');
}

function jsonObject(part: string): Record<string, unknown> | undefined {
  const bytes = b64urlBytes(part);
  if (!bytes || bytes.length === 0) return undefined;
  try {
    const v: unknown = JSON.parse(utf8.decode(bytes));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Freezes a parsed JSON value iteratively (claims are shared through the cache; depth is hostile). */
function deepFreeze(root: object): void {
  const stack: object[] = [root];
  while (stack.length > 0) {
    const o = stack.pop()!;
    Object.freeze(o);
    for (const v of Object.values(o)) if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) stack.push(v as object);
  }
}

function configError(file: string, what: string, cause?: unknown): SgError {
  const why = cause instanceof Error ? `: ${cause.message}` : '';
  return new SgError('SG_ERR_CONFIG_INVALID', `jwt ${what} "${file}"${why}`, { cause, details: { file } });
}

function readKeyFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw configError(file, `${what} cannot be read:`, e);
  }
}

export class JwtVerifier {
  private readonly verifySignatures: boolean;
  private readonly allowed: ReadonlySet<string>;
  private readonly keys: KeyEntry[] = [];
  private readonly skew: number;
  private readonly issuer: string | undefined;
  private readonly audience: string | undefined;
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    cfg: JwtConfig,
    private readonly clock: Clock,
  ) {
    this.verifySignatures = cfg.verify !== false;
    this.skew = Math.max(0, cfg.clock_skew ?? 30_000);
    this.issuer = cfg.issuer;
    this.audience = cfg.audience;
    const configured = cfg.algorithms ? new Set<string>(cfg.algorithms) : undefined;
    for (const a of configured ?? []) {
      if (!ALGS.has(a)) throw new SgError('SG_ERR_CONFIG_INVALID', `jwt algorithm "${a}" is not supported`);
    }
    if (!this.verifySignatures) {
      this.allowed = configured ?? new Set(ALGS.keys());
      return;
    }
    const sources = [cfg.secret_file, cfg.public_key_file, cfg.jwks_file].filter(Boolean).length;
    if (sources !== 1) throw new SgError('SG_ERR_CONFIG_INVALID', 'jwt: set exactly one of secret_file, public_key_file, jwks_file (or verify: false)');
    if (cfg.secret_file) this.keys.push({ key: loadSecret(cfg.secret_file) });
    else if (cfg.public_key_file) this.keys.push({ key: loadPem(cfg.public_key_file) });
    else this.keys.push(...loadJwks(cfg.jwks_file!));
    // Only algorithms some configured key can verify: an HS* token never meets a public key.
    const usable = new Set<string>();
    for (const a of configured ?? ALGS.keys()) {
      if (this.keys.some((k) => (k.alg === undefined || k.alg === a) && keyFitsAlg(a, k.key))) usable.add(a);
    }
    const file = (cfg.secret_file ?? cfg.public_key_file ?? cfg.jwks_file)!;
    if (usable.size === 0) throw configError(file, `algorithms [${[...(configured ?? [])].join(', ')}] do not fit the key in`);
    this.allowed = usable;
  }

  /** Algorithms this verifier accepts (after fitting them to the configured keys). */
  get algorithms(): string[] {
    return [...this.allowed];
  }

  verify(token: string): JwtResult {
    if (typeof token !== 'string' || token.length === 0) return invalid('empty token');
    if (token.length > MAX_JWT_LENGTH) return invalid('token too long');
    const now = this.clock.now();
    const hit = this.cache.get(token);
    if (hit) {
      this.cache.delete(token);
      if (hit.expiresAt === undefined || now < hit.expiresAt + this.skew) {
        this.cache.set(token, hit);
        return hit.result;
      }
      return { ok: false, code: 'SG_ERR_JWT_EXPIRED', reason: 'token expired' };
    }
    const d1 = token.indexOf('.');
    const d2 = d1 === -1 ? -1 : token.indexOf('.', d1 + 1);
    if (d1 <= 0 || d2 === -1 || token.indexOf('.', d2 + 1) !== -1) return invalid('a JWT has three dot-separated parts');
    const h64 = token.slice(0, d1);
    const p64 = token.slice(d1 + 1, d2);
    const s64 = token.slice(d2 + 1);
    const header = jsonObject(h64);
    if (!header) return invalid('malformed header');
    const alg = header.alg;
    if (typeof alg !== 'string') return invalid('header has no alg');
    if (alg.toLowerCase() === 'none') return invalid('alg "none" is refused');
    const spec = ALGS.get(alg);
    if (!spec) return invalid(`alg "${alg.slice(0, 20)}" is not supported`);
    if (!this.allowed.has(alg)) return invalid(`alg "${alg}" is not allowed`);
    if (header.crit !== undefined) return invalid('crit header parameters are not supported');
    const kid = header.kid;
    if (kid !== undefined && typeof kid !== 'string') return invalid('kid is not a string');
    const claims = jsonObject(p64);
    if (!claims) return invalid('malformed payload');
    if (this.verifySignatures) {
      const sig = b64urlBytes(s64);
      if (!sig || sig.length === 0) return invalid('malformed signature');
      const why = this.checkSignature(alg, spec, kid, Buffer.from(token.slice(0, d2), 'latin1'), sig);
      if (why) return invalid(why);
    }
    const bad = this.checkClaims(claims, now);
    if (bad) return bad;
    deepFreeze(claims);
    const exp = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
    const result = Object.freeze(exp === undefined ? { ok: true as const, claims, verified: this.verifySignatures } : { ok: true as const, claims, verified: this.verifySignatures, expiresAt: exp });
    if (this.cache.size >= JWT_CACHE_MAX) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(token, exp === undefined ? { result } : { result, expiresAt: exp });
    return result;
  }

  /** Drops cached verifications. */
  close(): void {
    this.cache.clear();
  }

  private checkSignature(alg: string, spec: AlgSpec, kid: string | undefined, data: Buffer, sig: Buffer): string | undefined {
    let candidates = this.keys.filter((k) => (kid === undefined || k.kid === undefined || k.kid === kid) && (k.alg === undefined || k.alg === alg) && keyFitsAlg(alg, k.key));
    // A kid that names a key selects it alone; keys without kid stay candidates only when none match.
    if (kid !== undefined && candidates.some((k) => k.kid === kid)) candidates = candidates.filter((k) => k.kid === kid);
    if (candidates.length === 0) return kid === undefined ? `no key fits alg "${alg}"` : `no key for kid "${kid.slice(0, 64)}"`;
    for (const k of candidates.slice(0, MAX_KEY_TRIES)) if (verifyWith(spec, k.key, data, sig)) return undefined;
    return 'bad signature';
  }

  private checkClaims(c: Record<string, unknown>, now: number): JwtResult | undefined {
    for (const name of ['exp', 'nbf', 'iat'] as const) {
      const v = c[name];
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) return invalid(`${name} is not a number`);
    }
    if (typeof c.exp === 'number' && now >= c.exp * 1000 + this.skew) return { ok: false, code: 'SG_ERR_JWT_EXPIRED', reason: 'token expired' };
    if (typeof c.nbf === 'number' && c.nbf * 1000 > now + this.skew) return invalid('token not valid yet (nbf)');
    if (typeof c.iat === 'number' && c.iat * 1000 > now + this.skew) return invalid('token issued in the future (iat)');
    if (this.issuer !== undefined && c.iss !== this.issuer) return invalid('wrong issuer');
    if (this.audience !== undefined) {
      const aud = c.aud;
      const ok = typeof aud === 'string' ? aud === this.audience : Array.isArray(aud) && aud.includes(this.audience);
      if (!ok) return invalid('wrong audience');
    }
    return undefined;
  }
}

function verifyWith(spec: AlgSpec, key: KeyObject, data: Buffer, sig: Buffer): boolean {
  try {
    switch (spec.family) {
      case 'HS': {
        const mac = createHmac(spec.hash!, key).update(data).digest();
        return mac.length === sig.length && timingSafeEqual(mac, sig);
      }
      case 'RS':
        return cryptoVerify(spec.hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, sig);
      case 'PS':
        // JWA fixes the salt length to the hash length; AUTO would also accept other lengths.
        return cryptoVerify(spec.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig);
      case 'ES':
        return sig.length === spec.sigLength && cryptoVerify(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
      case 'EdDSA':
        return cryptoVerify(null, data, key, sig);
    }
  } catch {
    return false;
  }
}

/** RFC 7518 3.3: RSA keys of 2048 bits or more. Smaller (or degenerate JWK) keys would let a
 *  forger mint identities, so they are a config error rather than a silent weakness. */
export const MIN_RSA_BITS = 2048;

function checkKeyStrength(key: KeyObject): void {
  if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'rsa-pss') return;
  const d = key.asymmetricKeyDetails;
  const e = d?.publicExponent ?? 0n;
  if ((d?.modulusLength ?? 0) < MIN_RSA_BITS) throw new Error(`RSA key has ${d?.modulusLength ?? 0} bits (at least ${MIN_RSA_BITS} required)`);
  if (e < 3n || e % 2n === 0n) throw new Error('RSA key has an invalid public exponent');
}

function loadSecret(file: string): KeyObject {
  let raw = readKeyFile(file, 'secret_file');
  // One trailing newline is an editor's, not the secret's.
  if (raw.length > 0 && raw[raw.length - 1] === 0x0a) raw = raw.subarray(0, raw[raw.length - 2] === 0x0d ? -2 : -1);
  if (raw.length === 0) throw configError(file, 'secret_file is empty:');
  return createSecretKey(Buffer.from(raw));
}

function loadPem(file: string): KeyObject {
  const text = readKeyFile(file, 'public_key_file').toString('utf8');
  try {
    const key = text.includes('-----BEGIN CERTIFICATE-----') ? new X509Certificate(text).publicKey : createPublicKey(text);
    if (key.type !== 'public') throw new Error('not a public key');
    checkKeyStrength(key);
    return key;
  } catch (e) {
    throw configError(file, 'public_key_file is not a usable PEM public key, private key or certificate:', e);
  }
}

function loadJwks(file: string): KeyEntry[] {
  const raw = readKeyFile(file, 'jwks_file');
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw configError(file, 'jwks_file is not JSON:', e);
  }
  const list = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw configError(file, 'jwks_file has no "keys" array:');
  const out: KeyEntry[] = [];
  list.forEach((jwk: unknown, i) => {
    if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw configError(file, `jwks_file key #${i} is not an object:`);
    const j = jwk as Record<string, unknown>;
    if (j.use !== undefined && j.use !== 'sig') return; // encryption keys never verify signatures
    if (j.kid !== undefined && typeof j.kid !== 'string') throw configError(file, `jwks_file key #${i} has a non-string kid:`);
    if (j.alg !== undefined && (typeof j.alg !== 'string' || !ALGS.has(j.alg))) {
      throw configError(file, `jwks_file key #${i} has unsupported alg ${JSON.stringify(j.alg)}:`);
    }
    if (j.kty === 'oct') throw configError(file, `jwks_file key #${i} is a symmetric (oct) key; put HMAC secrets in secret_file:`);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: j as import('node:crypto').JsonWebKey, format: 'jwk' });
      checkKeyStrength(key);
    } catch (e) {
      throw configError(file, `jwks_file key #${i}${typeof j.kid === 'string' ? ` (kid ${j.kid})` : ''} is invalid:`, e);
    }
    out.push({ key, ...(typeof j.kid === 'string' ? { kid: j.kid } : {}), ...(typeof j.alg === 'string' ? { alg: j.alg } : {}) });
  });
  if (out.length === 0) throw configError(file, 'jwks_file has no signature keys:');
  return out;
}
