// The panel session key (a cookie or the bearer token) identifies one panel login session across
// requests. It is a credential: only its keyed hash ever leaves this module.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { RouteConfig } from '../../../config/schema.js';
import { SgError } from '../../core/errors.js';

// Same notion of whitespace as String.prototype.trim(), which parseCookies/removeCookie use,
// so every function here agrees on which cookie a header holds.
const WS_RE = /\s/;
const OWS = (c: number) => c === 0x20 || c === 0x09 || ((c < 0x21 || c > 0x7e) && WS_RE.test(String.fromCharCode(c)));

/** Value of the first cookie called `name` in a Cookie header, without building a map. */
export function getCookie(header: string | undefined, name: string): string | undefined {
  if (!header || !name) return undefined;
  let i = 0;
  const n = header.length;
  while (i < n) {
    let end = header.indexOf(';', i);
    if (end === -1) end = n;
    let s = i;
    while (s < end && OWS(header.charCodeAt(s))) s++;
    if (header.startsWith(name, s)) {
      let k = s + name.length;
      while (k < end && OWS(header.charCodeAt(k))) k++;
      if (header.charCodeAt(k) === 0x3d /* = */) return header.slice(k + 1, end).trim();
    }
    i = end + 1;
  }
  return undefined;
}

/** All cookies of a Cookie header; the first occurrence of a name wins; pieces without `=` are skipped. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (typeof header !== 'string' || header.length === 0) return out;
  for (const piece of header.split(';')) {
    const eq = piece.indexOf('=');
    if (eq === -1) continue;
    const name = piece.slice(0, eq).trim();
    if (name.length === 0 || out.has(name)) continue;
    out.set(name, piece.slice(eq + 1).trim());
  }
  return out;
}

/**
 * The Cookie header without any cookie called `name` (every copy: a second copy must not reach the
 * upstream either); other cookies keep their exact text and order. Undefined when nothing is left.
 */
export function removeCookie(header: string, name: string): string | undefined {
  if (typeof header !== 'string') return undefined;
  if (!name || !header.includes(name)) return header.trim() === '' ? undefined : header;
  const kept: string[] = [];
  let removed = false;
  for (const piece of header.split(';')) {
    const eq = piece.indexOf('=');
    if (eq !== -1 && piece.slice(0, eq).trim() === name) {
      removed = true;
      continue;
    }
    kept.push(piece);
  }
  if (!removed) return header.trim() === '' ? undefined : header;
  // Drop separators left dangling where the removed cookie sat at either end (loops, not a regex:
  // an end-anchored regex backtracks quadratically on long `; ; ;` runs).
  const out = kept.join(';');
  const sep = (c: number) => c === 0x3b || c === 0x20 || c === 0x09;
  let a = 0;
  let b = out.length;
  while (a < b && sep(out.charCodeAt(a))) a++;
  while (b > a && sep(out.charCodeAt(b - 1))) b--;
  return a === b ? undefined : out.slice(a, b);
}

const TOKEN68 = /^bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

/** The token of `Authorization: Bearer <token68>`, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization || authorization.length < 8 || authorization.length > 16 * 1024) return undefined;
  const m = TOKEN68.exec(authorization);
  return m ? m[1] : undefined;
}

/** The panel session key of a request: the configured cookie first, then the bearer token when allowed. */
export function extractSessionKey(session: RouteConfig['session'], cookieHeader: string | undefined, authorization: string | undefined): string | undefined {
  if (session.cookie) {
    const v = getCookie(cookieHeader, session.cookie);
    if (v) return v;
  }
  return session.bearer ? bearerToken(authorization) : undefined;
}

/** Keyed hash of a session key: HMAC-SHA-256, base64url, first 22 chars (128 bits). Nothing cached. */
export class SessionKeyHasher {
  private readonly key: KeyObject;

  constructor(secret: Buffer) {
    if (!Buffer.isBuffer(secret) || secret.length < 16) {
      throw new SgError('SG_ERR_CONFIG_INVALID', 'session key hashing secret must be at least 16 bytes');
    }
    this.key = createSecretKey(Buffer.from(secret));
  }

  hash(key: string): string {
    return createHmac('sha256', this.key).update(key, 'utf8').digest('base64url').slice(0, 22);
  }
}

/**
 * Splits Set-Cookie values that a client library joined with commas (or newlines). A comma starts
 * a new cookie only when `name=` follows, so the comma inside `Expires=Wed, 21 Oct ...` stays.
 */
export function splitSetCookie(value: string): string[] {
  const out: string[] = [];
  for (const line of value.split('\n')) {
    for (const part of line.split(/,(?=[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+=)/)) {
      const p = part.trim();
      if (p) out.push(p);
    }
  }
  return out;
}

/**
 * The value the response sets for cookie `name`: the last Set-Cookie for it wins; null when it
 * deletes the cookie (empty value, Max-Age <= 0, or Expires in the past, Max-Age taking precedence),
 * undefined when the response does not touch it.
 */
export function setCookieValue(setCookieHeaders: readonly string[], name: string, now: number = Date.now()): string | undefined | null {
  let result: string | undefined | null;
  for (const h of setCookieHeaders) {
    if (typeof h !== 'string') continue;
    const semi = h.indexOf(';');
    const pair = semi === -1 ? h : h.slice(0, semi);
    const eq = pair.indexOf('=');
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
    let value: string | null = pair.slice(eq + 1).trim();
    let maxAge: number | undefined;
    let expires: number | undefined;
    if (semi !== -1) {
      for (const attr of h.slice(semi + 1).split(';')) {
        const aeq = attr.indexOf('=');
        const an = (aeq === -1 ? attr : attr.slice(0, aeq)).trim().toLowerCase();
        const av = aeq === -1 ? '' : attr.slice(aeq + 1).trim();
        if (an === 'max-age' && /^-?\d+$/.test(av)) maxAge = Number(av);
        else if (an === 'expires') {
          const t = Date.parse(av);
          if (!Number.isNaN(t)) expires = t;
        }
      }
    }
    if (value === '' || value === '""') value = null;
    else if (maxAge !== undefined) value = maxAge <= 0 ? null : value;
    else if (expires !== undefined && expires <= now) value = null;
    result = value;
  }
  return result;
}
