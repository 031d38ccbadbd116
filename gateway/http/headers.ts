// Header rewriting in both directions. Hop-by-hop fields (RFC 9110 7.6.1: Connection and the
// fields it lists, Keep-Alive, Proxy-Connection, Proxy-Authorization, TE, Trailer,
// Transfer-Encoding, Upgrade) never cross the gateway; framing is redone by each side.
// Headers stay flat arrays (`[name, value, ...]`) end to end: no per-request objects.
import { removeCookie } from './analysis/session-key.js';
import type { HeaderList } from './engines/engine.js';

/** Request fields never forwarded as received (X-Forwarded-* and Host are re-set by the proxy). */
const REQUEST_DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // undici refuses Expect; the engines already answered `100-continue` to the client.
  'expect',
  'http2-settings',
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
]);

/** Response fields never passed to the client as received (framing is redone by the engine). */
const RESPONSE_DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length']);

/** Fields a `Connection` list may not remove: framing and routing stay the proxy's decision. */
const NEVER_CONNECTION_LISTED = new Set(['content-length', 'host', 'close', 'keep-alive', 'upgrade']);

/** Extra field names listed in a Connection header (lowercase), or undefined when there are none. */
export function connectionListed(connection: string | undefined): Set<string> | undefined {
  if (connection === undefined) return undefined;
  // The usual values list nothing: no split.
  if (connection.length <= 10) {
    const l = connection.toLowerCase();
    if (l === 'keep-alive' || l === 'close' || l === 'upgrade') return undefined;
  }
  let out: Set<string> | undefined;
  for (const part of connection.split(',')) {
    const t = part.trim().toLowerCase();
    if (t.length === 0 || NEVER_CONNECTION_LISTED.has(t)) continue;
    (out ??= new Set()).add(t);
  }
  return out;
}

export interface ForwardInfo {
  /** Pass the client's Host upstream (route.preserve_host). */
  preserveHost: boolean;
  /** The viewer's session cookie, stripped from Cookie. */
  viewerCookie: string;
  /** The socket peer (normalised), appended to X-Forwarded-For. */
  peerIp: string;
  /** The peer is a trusted proxy: its X-Forwarded-Proto / -Host are kept. */
  trustedPeer: boolean;
  proto: 'http' | 'https';
  host: string | undefined;
  connection: string | undefined;
  xff: string | undefined;
  xfProto: string | undefined;
  xfHost: string | undefined;
}

/** The request headers the upstream gets: flat, hop-by-hop removed, viewer cookie removed, X-Forwarded-* set. */
export function upstreamRequestHeaders(headers: readonly string[], f: ForwardInfo): string[] {
  const listed = connectionListed(f.connection);
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (REQUEST_DROP.has(name)) continue;
    if (listed !== undefined && listed.has(name)) continue;
    let value = headers[i + 1]!;
    if (name === 'cookie') {
      const kept = removeCookie(value, f.viewerCookie);
      if (kept === undefined) continue;
      value = kept;
    }
    out.push(name, value);
  }
  if (f.preserveHost && f.host !== undefined) out.push('host', f.host);
  out.push('x-forwarded-for', f.xff ? `${f.xff}, ${f.peerIp}` : f.peerIp);
  out.push('x-forwarded-proto', f.trustedPeer && f.xfProto ? f.xfProto : f.proto);
  const fwdHost = f.trustedPeer && f.xfHost ? f.xfHost : f.host;
  if (fwdHost) out.push('x-forwarded-host', fwdHost);
  return out;
}

/** An upstream answer's headers after filtering, with what the proxy looks at. */
export interface FilteredResponse {
  headers: HeaderList;
  /** -1 when absent or invalid. */
  contentLength: number;
  /** Every Set-Cookie value, separately (latin1). */
  setCookies: string[] | undefined;
  /** Values of the watched (identity) headers, lowercase name -> value; several copies joined by ", ". */
  watched: Map<string, string> | undefined;
}

/**
 * Filters undici's raw response headers (`Buffer[]`, flat, original case). Values stay Buffers so
 * their bytes reach the client untouched. `drop`: extra names to remove (identity headers) whose
 * values are kept in `watched`. `dropDate`: the engine writes its own Date.
 */
export function filterResponseHeaders(raw: readonly Buffer[] | readonly string[], drop: ReadonlySet<string>, dropDate: boolean): FilteredResponse {
  const out: HeaderList = [];
  let contentLength = -1;
  let setCookies: string[] | undefined;
  let watched: Map<string, string> | undefined;
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const rn = raw[i]!;
    const e = typeof rn === 'string' ? nameOf(rn) : nameFromBytes(rn);
    const lower = e.lower;
    const value = raw[i + 1]!;
    const kind = e.kind;
    if (kind === K_CONTENT_LENGTH) {
      contentLength = parseLength(value);
      continue;
    }
    if (kind === K_CONNECTION) {
      if (typeof value !== 'string' && listsNothing(value)) continue;
      const l = connectionListed(str(value));
      if (l) for (const n of l) (listed ??= new Set()).add(n);
      continue;
    }
    if (kind === K_HOP) continue;
    if (drop.size > 0 && drop.has(lower)) {
      watched ??= new Map();
      const prev = watched.get(lower);
      watched.set(lower, prev === undefined ? str(value) : `${prev}, ${str(value)}`);
      continue;
    }
    if (kind === K_SET_COOKIE) (setCookies ??= []).push(str(value));
    else if (dropDate && kind === K_DATE) continue;
    out.push(e.name, value);
  }
  if (listed !== undefined) {
    const kept: HeaderList = [];
    for (let i = 0; i < out.length; i += 2) {
      const n = (out[i] as string).toLowerCase();
      if (!listed.has(n)) kept.push(out[i]!, out[i + 1]!);
    }
    return { headers: kept, contentLength, setCookies, watched };
  }
  return { headers: out, contentLength, setCookies, watched };
}

function str(v: Buffer | string): string {
  return typeof v === 'string' ? v : v.toString('latin1');
}

const PLAIN_CONNECTION = ['keep-alive', 'close', 'upgrade'].map((v) => Buffer.from(v, 'latin1'));

/** The usual `Connection: keep-alive` / `close` / `upgrade` (any case) lists no field: no string needed. */
function listsNothing(b: Buffer): boolean {
  for (const p of PLAIN_CONNECTION) {
    if (b.length !== p.length) continue;
    let i = 0;
    // Letters compare without case (x | 0x20 is a lowercase letter only for letters); '-' exactly.
    for (; i < p.length; i++) {
      const c = b[i]!;
      const w = p[i]!;
      if (c !== w && (w === 0x2d || (c | 0x20) !== w)) break;
    }
    if (i === p.length) return true;
  }
  return false;
}

// Characters String.prototype.trim() removes, within latin1 (the old code trimmed that way).
function isTrimmed(c: number): boolean {
  return (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0xa0;
}

/** Content-Length value: 1-15 digits after trimming, else -1. Read from the bytes, no string. */
export function parseLength(v: Buffer | string): number {
  const b = typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
  let start = 0;
  let end = b.length;
  while (start < end && isTrimmed(b[start]!)) start++;
  while (end > start && isTrimmed(b[end - 1]!)) end--;
  if (end === start || end - start > 15) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = b[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

// What the response filter does with a field, decided once per spelling.
const K_KEEP = 0;
const K_HOP = 1;
const K_CONTENT_LENGTH = 2;
const K_CONNECTION = 3;
const K_SET_COOKIE = 4;
const K_DATE = 5;

interface NameEntry {
  /** As the upstream spelled it (latin1). */
  readonly name: string;
  readonly lower: string;
  readonly kind: number;
  /** The spelling's bytes, to confirm a hash hit. */
  readonly bytes: Buffer;
}

function entry(name: string, bytes: Buffer): NameEntry {
  const lower = name.toLowerCase();
  let kind = K_KEEP;
  if (lower === 'content-length') kind = K_CONTENT_LENGTH;
  else if (lower === 'connection') kind = K_CONNECTION;
  else if (RESPONSE_DROP.has(lower)) kind = K_HOP;
  else if (lower === 'set-cookie') kind = K_SET_COOKIE;
  else if (lower === 'date') kind = K_DATE;
  return { name, lower, kind, bytes };
}

// Upstreams send the same few field names over and over: each spelling is decoded, lowercased and
// classified once, then found again from its bytes (an FNV-1a hash, confirmed byte by byte) without
// making a string per field. Bounded: past the limit new spellings are simply not cached.
const MAX_NAMES = 1024;
const BY_HASH = new Map<number, NameEntry>();
const BY_TEXT = new Map<string, NameEntry>();

function nameFromBytes(b: Buffer): NameEntry {
  const n = b.length;
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  const e = BY_HASH.get(h);
  if (e !== undefined) {
    const eb = e.bytes;
    if (eb.length === n) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (eb[i] !== b[i]) {
          same = false;
          break;
        }
      }
      if (same) return e;
    }
    // A hash collision: decode this one without caching it.
    return entry(b.toString('latin1'), b);
  }
  const fresh = entry(b.toString('latin1'), Buffer.from(b));
  if (BY_HASH.size < MAX_NAMES) BY_HASH.set(h, fresh);
  return fresh;
}

function nameOf(name: string): NameEntry {
  let e = BY_TEXT.get(name);
  if (e === undefined) {
    e = entry(name, EMPTY_BYTES);
    if (BY_TEXT.size < MAX_NAMES) BY_TEXT.set(name, e);
  }
  return e;
}

const EMPTY_BYTES = Buffer.alloc(0);

/** Lookup for RouteIdentity.fromResponse(): watched values, and Set-Cookie joined by "\n". */
export function responseHeaderGetter(r: FilteredResponse): (lowercaseName: string) => string | undefined {
  return (name) => (name === 'set-cookie' ? r.setCookies?.join('\n') : r.watched?.get(name));
}
