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
    const name = typeof rn === 'string' ? rn : rn.toString('latin1');
    const lower = lowerName(name);
    const value = raw[i + 1]!;
    if (RESPONSE_DROP.has(lower)) {
      if (lower === 'content-length') {
        const v = str(value).trim();
        contentLength = /^\d{1,15}$/.test(v) ? Number(v) : -1;
      } else if (lower === 'connection') {
        const l = connectionListed(str(value));
        if (l) for (const n of l) (listed ??= new Set()).add(n);
      }
      continue;
    }
    if (drop.size > 0 && drop.has(lower)) {
      watched ??= new Map();
      const prev = watched.get(lower);
      watched.set(lower, prev === undefined ? str(value) : `${prev}, ${str(value)}`);
      continue;
    }
    if (lower === 'set-cookie') (setCookies ??= []).push(str(value));
    else if (dropDate && lower === 'date') continue;
    out.push(name, value);
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

// Upstreams send the same few field names over and over: lowercase each spelling once.
const LOWER = new Map<string, string>();
function lowerName(name: string): string {
  let l = LOWER.get(name);
  if (l === undefined) {
    l = name.toLowerCase();
    if (LOWER.size < 1024) LOWER.set(name, l);
  }
  return l;
}

/** Lookup for RouteIdentity.fromResponse(): watched values, and Set-Cookie joined by "\n". */
export function responseHeaderGetter(r: FilteredResponse): (lowercaseName: string) => string | undefined {
  return (name) => (name === 'set-cookie' ? r.setCookies?.join('\n') : r.watched?.get(name));
}
