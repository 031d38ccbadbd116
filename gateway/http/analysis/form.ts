// The login name of a login form POST (urlencoded, JSON or multipart). Bodies are scanned as bytes;
// only the login field's value is decoded. A field given twice with different values is ambiguous
// (frameworks disagree on which one wins), so it yields no login rather than a guess.
import { cleanLogin, decodeText } from './login-text.js';

/** Raw field values longer than this cannot hold a 256-char login, even percent-encoded. */
const MAX_RAW_VALUE = 4 * 256 * 3;

/** The trimmed login from the body, or undefined (never throws). */
export function formLogin(contentType: string | undefined, body: Buffer, field: string): string | undefined {
  try {
    if (typeof contentType !== 'string' || !Buffer.isBuffer(body) || body.length === 0 || !field) return undefined;
    const semi = contentType.indexOf(';');
    const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
    let value: string | undefined;
    if (type === 'application/x-www-form-urlencoded') value = fromUrlencoded(body, field);
    else if (type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))) value = fromJson(body, field);
    else if (type === 'multipart/form-data') value = fromMultipart(contentType, body, field);
    return cleanLogin(value);
  } catch {
    return undefined;
  }
}

/** One agreed value from several occurrences, or undefined when they disagree. */
class Pick {
  value: string | undefined;
  conflict = false;
  add(v: string | undefined): void {
    if (v === undefined) this.conflict = true;
    else if (this.value === undefined) this.value = v;
    else if (this.value !== v) this.conflict = true;
  }
  get result(): string | undefined {
    return this.conflict ? undefined : this.value;
  }
}

/** application/x-www-form-urlencoded bytes -> text (`+` is a space, %XX a byte, then UTF-8). */
function formDecode(b: Buffer, start: number, end: number): string {
  const out = Buffer.allocUnsafe(end - start);
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c === 0x2b) out[n++] = 0x20;
    else if (c === 0x25 && i + 2 < end && isHex(b[i + 1]!) && isHex(b[i + 2]!)) {
      out[n++] = parseInt(String.fromCharCode(b[i + 1]!, b[i + 2]!), 16);
      i += 2;
    } else out[n++] = c;
  }
  return decodeText(out.subarray(0, n));
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function fromUrlencoded(body: Buffer, field: string): string | undefined {
  const pick = new Pick();
  const n = body.length;
  const maxName = 3 * Buffer.byteLength(field); // fully percent-encoded
  for (let i = 0; i < n; ) {
    let amp = body.indexOf(0x26, i);
    if (amp === -1) amp = n;
    let eq = body.indexOf(0x3d, i);
    if (eq === -1 || eq > amp) eq = amp;
    if (eq - i <= maxName && formDecode(body, i, eq) === field) {
      pick.add(eq === amp || amp - eq - 1 > MAX_RAW_VALUE ? undefined : formDecode(body, eq + 1, amp));
    }
    i = amp + 1;
  }
  return pick.result;
}

function fromJson(body: Buffer, field: string): string | undefined {
  let text = decodeText(body);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const v: unknown = JSON.parse(text);
  if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, field)) return undefined;
  const login = (v as Record<string, unknown>)[field];
  return typeof login === 'string' ? login : undefined;
}

const CRLF = Buffer.from('\r\n');
const CRLF2 = Buffer.from('\r\n\r\n');

function boundaryOf(contentType: string): string | undefined {
  const m = /;\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^;\s"]{1,70}))\s*(?:;|$)/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

function dispositionName(headers: string): string | undefined {
  for (const line of headers.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon === -1 || line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue;
    const params = line.slice(colon + 1);
    if (!/^\s*form-data\s*(;|$)/i.test(params)) return undefined;
    if (/;\s*filename\*?\s*=/i.test(params)) return undefined; // a file, not a field
    const m = /;\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s"]+))/i.exec(params);
    if (!m) return undefined;
    return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2];
  }
  return undefined;
}

function fromMultipart(contentType: string, body: Buffer, field: string): string | undefined {
  const boundary = boundaryOf(contentType);
  if (!boundary) return undefined;
  const delim = Buffer.from('--' + boundary, 'latin1');
  const next = Buffer.from('\r\n--' + boundary, 'latin1');
  const pick = new Pick();
  // The first delimiter may open the body or follow a preamble line.
  let pos = body.subarray(0, delim.length).equals(delim) ? 0 : body.indexOf(next);
  if (pos === -1) return undefined;
  if (pos !== 0) pos += 2;
  for (let parts = 0; parts < 1000; parts++) {
    pos += delim.length;
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break; // closing delimiter
    const lineEnd = body.indexOf(CRLF, pos);
    if (lineEnd === -1) break;
    const headStart = lineEnd + 2;
    const headEnd = body.indexOf(CRLF2, headStart - 2);
    if (headEnd === -1 || headEnd - headStart > 8192) break;
    const headers = headEnd < headStart ? '' : decodeText(body.subarray(headStart, headEnd));
    const valueStart = Math.max(headEnd + 4, headStart);
    const end = body.indexOf(next, valueStart);
    if (end === -1) break; // body cut short: this part's value may be incomplete
    if (dispositionName(headers) === field) pick.add(end - valueStart > MAX_RAW_VALUE ? undefined : decodeText(body.subarray(valueStart, Math.max(end, valueStart))));
    pos = end + 2;
  }
  return pick.result;
}
