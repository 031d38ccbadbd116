// Client IP for the record: the socket peer, or the X-Forwarded-For hop a trusted proxy vouches for.
// Parsing is strict (four-part decimal IPv4, RFC 4291 IPv6): `127.1` or `0x7f.0.0.1` in a header
// are junk, not addresses, so they cannot pose as a trusted proxy or a loopback client.
// Hot path: IPv4 is parsed by hand into a uint32 (ipaddr.js takes ~1 µs per parse) and other
// forms (uWS reports IPv4 peers as `0000:…:ffff:7f00:0001`) are parsed once and cached.
import ipaddr from 'ipaddr.js';
import { SgError } from './errors.js';

/** An IPv4 address as an unsigned 32-bit number, or an IPv6 address (never IPv4-mapped). */
type Ip = number | ipaddr.IPv6;

/** Most XFF hops walked before giving up (a header is at most a few KB; each hop costs a parse). */
export const MAX_XFF_HOPS = 128;

/** Strict dotted quad (no leading zeros, no short forms) in s[start, end) -> uint32, else -1. */
function v4Int(s: string, start: number, end: number): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e /* . */) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && part === 0) return -1; // leading zero
      part = part * 10 + (c - 0x30);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

function v4Text(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** `:N` with 0 <= N <= 65535. */
function isPort(s: string): boolean {
  return /^:\d{1,5}$/.test(s) && Number(s.slice(1)) <= 65535;
}

/** Everything but a plain dotted quad: `[v6]`, `v6%zone`, `v4:port`, `[v6]:port`, mapped forms. */
function parseSlow(input: string): Ip | undefined {
  let s = input.trim();
  if (s.length === 0 || s.length > 100) return undefined;
  const plain = v4Int(s, 0, s.length);
  if (plain >= 0) return plain;
  if (s.charCodeAt(0) === 0x5b /* [ */) {
    const close = s.indexOf(']');
    if (close === -1) return undefined;
    const rest = s.slice(close + 1);
    if (rest !== '' && !isPort(rest)) return undefined;
    s = s.slice(1, close);
  } else {
    const colon = s.indexOf(':');
    if (colon !== -1 && colon === s.lastIndexOf(':')) {
      // exactly one colon: only `v4:port` is an address
      const v4 = v4Int(s, 0, colon);
      return v4 >= 0 && isPort(s.slice(colon)) ? v4 : undefined;
    }
  }
  const pct = s.indexOf('%');
  if (pct !== -1) {
    // A zone id names an interface on the gateway host; it is not part of the address.
    if (!/^[0-9A-Za-z._~-]{1,32}$/.test(s.slice(pct + 1))) return undefined;
    s = s.slice(0, pct);
  }
  if (!s.includes(':') || !/^[0-9A-Fa-f:.]+$/.test(s)) return undefined;
  // ipaddr accepts IPv4 tails like `::1.2.3` or `::ffff:0x7f.1`; refuse any that is not a strict quad.
  const tail = s.lastIndexOf(':') + 1;
  if (s.indexOf('.', tail) !== -1 && v4Int(s, tail, s.length) < 0) return undefined;
  if (!ipaddr.IPv6.isValid(s)) return undefined;
  const v6 = ipaddr.IPv6.parse(s);
  if (!v6.isIPv4MappedAddress()) return v6;
  const [a, b, c, d] = v6.toIPv4Address().octets as [number, number, number, number];
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

// Peers and proxy hops repeat (few clients, many requests): a small cache skips the IPv6 parse
// and keeps the canonical text. Bounded and cleared when full, so junk values cannot grow it.
interface Parsed {
  ip: Ip;
  text: string;
}
const slowCache = new Map<string, Parsed | null>();
const SLOW_CACHE_MAX = 4096;

function parseCached(s: string): Parsed | undefined {
  const hit = slowCache.get(s);
  if (hit !== undefined) return hit ?? undefined;
  const ip = parseSlow(s);
  const parsed = ip === undefined ? undefined : { ip, text: format(ip) };
  if (s.length <= 64) {
    if (slowCache.size >= SLOW_CACHE_MAX) slowCache.clear();
    slowCache.set(s, parsed ?? null);
  }
  return parsed;
}

function parseAny(s: string): Ip | undefined {
  if (typeof s !== 'string') return undefined;
  const v4 = v4Int(s, 0, s.length);
  return v4 >= 0 ? v4 : parseCached(s)?.ip;
}

function format(ip: Ip): string {
  return typeof ip === 'number' ? v4Text(ip) : ip.toRFC5952String();
}

/**
 * Parses one address: plain, `[v6]`, `v6%zone`, `v4:port` or `[v6]:port`. IPv4-mapped IPv6 becomes
 * IPv4. Undefined for anything else (never throws).
 */
export function parseIp(input: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const ip = parseAny(input);
  if (ip === undefined || typeof ip !== 'number') return ip;
  return new ipaddr.IPv4([ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255]);
}

/** Canonical text for an address (mapped IPv6 as IPv4, compressed lowercase IPv6); junk comes back trimmed. */
export function normalizeIp(ip: string): string {
  if (typeof ip !== 'string') return '';
  // A strict dotted quad is already canonical: no new string.
  if (v4Int(ip, 0, ip.length) >= 0) return ip;
  return parseCached(ip)?.text ?? ip.trim();
}

const MAPPED_PROBE = ipaddr.IPv6.parse('::ffff:0:0');

/** The proxies whose X-Forwarded-For is believed. Plain addresses are /32 or /128. */
export class TrustedProxies {
  /** [network, mask] pairs as uint32. */
  private readonly v4: [number, number][] = [];
  private readonly v6: [ipaddr.IPv6, number][] = [];

  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const range = parseRange(c);
      if (!range) throw new SgError('SG_ERR_CONFIG_INVALID', `invalid trusted proxy "${c}" (use an IP address or CIDR)`, { details: { value: c } });
      const [ip, bits] = range;
      if (typeof ip === 'number') this.addV4(ip, bits);
      else {
        this.v6.push([ip, bits]);
        // A v6 range wider than /96 that holds the mapped space (`::/0`) covers every IPv4 peer.
        if (MAPPED_PROBE.match(ip, bits)) this.addV4(0, 0);
      }
    }
  }

  private addV4(ip: number, bits: number): void {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    this.v4.push([(ip & mask) >>> 0, mask]);
  }

  get size(): number {
    return this.v4.length + this.v6.length;
  }

  has(ip: string): boolean {
    if (this.v4.length === 0 && this.v6.length === 0) return false;
    const p = parseAny(ip);
    return p !== undefined && this.matches(p);
  }

  /** Mapped v6 entries (`::ffff:10.0.0.0/104`) were turned into v4 ones when parsed, so an
   *  IPv4 address (mapped peers are unmapped by the parser) only needs the v4 list.
   *  @internal for clientIp(), which has the address parsed already. */
  matches(ip: Ip): boolean {
    if (typeof ip === 'number') {
      for (const [net, mask] of this.v4) if (((ip & mask) >>> 0) === net) return true;
      return false;
    }
    for (const [net, bits] of this.v6) if (ip.match(net, bits)) return true;
    return false;
  }
}

function parseRange(c: string): [Ip, number] | undefined {
  if (typeof c !== 'string') return undefined;
  const text = c.trim();
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  // Ranges are addresses only: no brackets or ports (a zone id, which the config accepts, is dropped).
  if (/[[\]]/.test(addr) || (!addr.includes('::') && addr.split(':').length === 2)) return undefined;
  let ip = parseAny(addr);
  if (ip === undefined) return undefined;
  if (slash !== -1 && !/^\d{1,3}$/.test(text.slice(slash + 1))) return undefined;
  const isV4Text = v4Int(addr, 0, addr.length) >= 0;
  let bits = slash === -1 ? (typeof ip === 'number' ? 32 : 128) : Number(text.slice(slash + 1));
  if (typeof ip === 'number' && !isV4Text && slash !== -1) {
    // `::ffff:10.0.0.0/104` was unmapped by the parser: shift the prefix into IPv4 terms; a prefix
    // shorter than /96 reaches beyond the mapped space and stays an IPv6 range.
    if (bits >= 96) bits -= 96;
    else ip = ipaddr.IPv6.parse(addr.replace(/%.*$/, ''));
  }
  if (bits > (typeof ip === 'number' ? 32 : 128)) return undefined;
  return [ip, bits];
}

/**
 * The client address: the peer, unless the peer is a trusted proxy; then X-Forwarded-For is walked
 * right to left past trusted hops to the first untrusted one. A malformed or empty entry ends the
 * walk and the last good hop is used (a proxy that wrote junk vouches for nothing beyond it).
 */
export function clientIp(peerIp: string, xff: string | undefined, trusted: TrustedProxies): string {
  const peer = parseAny(peerIp);
  if (peer === undefined || !xff || trusted.size === 0 || !trusted.matches(peer)) return normalizeIp(peerIp);
  let last: Ip = peer;
  let end = xff.length;
  for (let hops = 0; hops < MAX_XFF_HOPS; hops++) {
    const comma = end > 0 ? xff.lastIndexOf(',', end - 1) : -1;
    const ip = parseAny(xff.slice(comma + 1, end).trim());
    if (ip === undefined) break;
    last = ip;
    if (!trusted.matches(ip) || comma === -1) break;
    end = comma;
  }
  return last === peer ? normalizeIp(peerIp) : format(last);
}
