// The URL as stored in the record: scheme://host/path?query with secret query values replaced.
// Matching is deliberately wider than any one framework: names are percent-decoded, compared
// case-insensitively, PHP-style `key[]` / `api.key` spellings count, and `;` is treated as a
// separator too (old CGI parsers split on it). Over-redacting is harmless; a leaked token is not.
import { SgError } from '../../core/errors.js';
import { percentDecode } from './login-text.js';

export const REDACTED = '[REDACTED]';
export const TRUNCATED = '…[truncated]';

const SIMPLE_NAME = /^[a-z0-9_-]+$/;

/** The name a framework would see: decoded, trimmed, lowercased, `a[x]` -> `a`, `.`/space -> `_`. */
export function canonicalParamName(raw: string): string {
  if (SIMPLE_NAME.test(raw)) return raw; // the common case needs no decoding or mapping
  let n = percentDecode(raw, true).trim().toLowerCase();
  const br = n.indexOf('[');
  if (br > 0) n = n.slice(0, br);
  return n.replace(/[. ]/g, '_');
}

// Host header text allowed in the stored URL (reg-name, IPv4, [IPv6], :port).
const HOST_OK = /^[a-z0-9.:\-[\]_]*$/;

/** Lowercased host[:port]; userinfo and every character illegal in a host dropped. */
export function cleanHost(host: string | undefined): string {
  if (!host) return '';
  if (host.length <= 261 && HOST_OK.test(host)) return host;
  let h = host.toLowerCase();
  const at = h.lastIndexOf('@');
  if (at !== -1) h = h.slice(at + 1);
  h = h.replace(/[^a-z0-9.:\-[\]_]/g, '');
  return h.length > 261 ? h.slice(0, 261) : h;
}

export class UrlRecorder {
  private readonly keys: Set<string>;
  private readonly minKeyLength: number;
  readonly maxLength: number;

  constructor(redactKeys: readonly string[], maxLength = 8192) {
    if (!Number.isInteger(maxLength) || maxLength < 32) {
      throw new SgError('SG_ERR_CONFIG_INVALID', `stored URL max length must be an integer >= 32 (got ${maxLength})`);
    }
    this.maxLength = maxLength;
    this.keys = new Set(redactKeys.map(canonicalParamName).filter((k) => k.length > 0));
    this.minKeyLength = Math.min(...[...this.keys].map((k) => k.length));
  }

  storedUrl(scheme: 'http' | 'https', host: string, pathAndQuery: string): string {
    let pq = typeof pathAndQuery === 'string' ? pathAndQuery : '';
    let cut = false;
    // Cutting first bounds the work; a value cut short is still a value and still redacted.
    if (pq.length > this.maxLength) {
      pq = pq.slice(0, this.maxLength);
      cut = true;
    }
    if (pq.charCodeAt(0) !== 0x2f /* / */) pq = '/' + pq;
    const q = pq.indexOf('?');
    if (q !== -1) {
      const query = pq.slice(q + 1);
      const red = this.redactQuery(query);
      if (red !== query) pq = pq.slice(0, q + 1) + red;
    }
    const url = `${scheme === 'https' ? 'https' : 'http'}://${cleanHost(host)}${pq}`;
    if (!cut && url.length <= this.maxLength) return url;
    let keep = Math.min(url.length, this.maxLength - TRUNCATED.length);
    const c = url.charCodeAt(keep - 1);
    if (c >= 0xd800 && c <= 0xdbff) keep--; // never split a surrogate pair
    return url.slice(0, keep) + TRUNCATED;
  }

  /** The query (without `?`) with the value of every matching parameter replaced. */
  redactQuery(query: string): string {
    if (this.keys.size === 0 || !query.includes('=')) return query;
    let out = '';
    let last = 0;
    let i = 0;
    const n = query.length;
    // Next `;` and `=` positions are remembered so hostile queries stay linear.
    let nextSemi = -2;
    let nextEq = -2;
    while (i < n) {
      let amp = query.indexOf('&', i);
      if (amp === -1) amp = n;
      // Within one `&` segment, `;` may start another parameter; a match redacts to the segment end,
      // so the value is gone whichever separator the panel honours.
      let j = i;
      while (j < amp) {
        if (nextSemi !== -1 && nextSemi < j) nextSemi = query.indexOf(';', j);
        if (nextEq !== -1 && nextEq < j) nextEq = query.indexOf('=', j);
        const semi = nextSemi === -1 || nextSemi > amp ? amp : nextSemi;
        const eq = nextEq;
        if (eq !== -1 && eq < semi && eq - j >= this.minKeyLength && this.keys.has(canonicalParamName(query.slice(j, eq)))) {
          if (amp > eq + 1) {
            out += query.slice(last, eq + 1) + REDACTED;
            last = amp;
          }
          break;
        }
        j = semi + 1;
      }
      i = amp + 1;
    }
    return last === 0 ? query : out + query.slice(last);
  }
}
