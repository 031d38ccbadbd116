// Reads the upstream server's replies (RFC 959 4.2): `NNN text` on one line, or a multi-line reply
// `NNN-first` ... `NNN last` with the same code. Bounded: a line longer than 8 KiB or a reply
// longer than 256 KiB (or of more than 4096 lines) is a protocol error, as is a first line that does
// not start with three digits.

export interface Reply {
  code: number;
  /** The reply's lines without line ends (the first and last carry the code). */
  lines: string[];
}

export class ReplyError extends Error {}

const MAX_LINE = 8192;
const MAX_REPLY = 256 * 1024;
const MAX_LINES = 4096;

export class ReplyParser {
  private partial = '';
  private current: { code: string; lines: string[]; size: number } | undefined;

  /** Feeds bytes (decoded as latin1 so bytes round-trip); returns complete replies. Throws ReplyError. */
  push(chunk: Buffer): Reply[] {
    const out: Reply[] = [];
    let text = this.partial + chunk.toString('latin1');
    let start = 0;
    for (;;) {
      const lf = text.indexOf('\n', start);
      if (lf < 0) break;
      let line = text.slice(start, lf);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      start = lf + 1;
      if (line.length > MAX_LINE) throw new ReplyError('reply line too long');
      const r = this.line(line);
      if (r) out.push(r);
    }
    text = text.slice(start);
    if (text.length > MAX_LINE) throw new ReplyError('reply line too long');
    this.partial = text;
    return out;
  }

  private line(line: string): Reply | undefined {
    if (!this.current) {
      const m = /^([1-5]\d\d)([ -]|$)/.exec(line);
      if (!m) throw new ReplyError(`not an FTP reply: ${JSON.stringify(line.slice(0, 80))}`);
      if (m[2] !== '-') return { code: Number(m[1]), lines: [line] };
      this.current = { code: m[1]!, lines: [line], size: line.length };
      return undefined;
    }
    const c = this.current;
    c.lines.push(line);
    c.size += line.length;
    if (c.size > MAX_REPLY || c.lines.length > MAX_LINES) throw new ReplyError('multi-line reply too long');
    if (line.length >= 3 && line.startsWith(c.code) && (line.length === 3 || line[3] === ' ')) {
      this.current = undefined;
      return { code: Number(c.code), lines: c.lines };
    }
    return undefined;
  }
}

/** The reply as bytes for the client (CRLF line ends). */
export function encodeReply(r: Reply): Buffer {
  return Buffer.from(r.lines.join('\r\n') + '\r\n', 'latin1');
}

export function reply(code: number, text: string): Reply {
  const lines = text.split('\n');
  if (lines.length === 1) return { code, lines: [`${code} ${text}`] };
  return { code, lines: lines.map((l, i) => (i === lines.length - 1 ? `${code} ${l}` : i === 0 ? `${code}-${l}` : ` ${l}`)) };
}

/** The text of a reply (first line without the code). */
export function replyText(r: Reply): string {
  return r.lines[0]!.slice(4);
}

/** `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` -> port. */
export function parsePasv(r: Reply): number | undefined {
  const m = /(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/.exec(r.lines.join(' '));
  if (!m) return undefined;
  const p = Number(m[5]) * 256 + Number(m[6]);
  return Number(m[5]) <= 255 && Number(m[6]) <= 255 && p > 0 ? p : undefined;
}

/** `229 Entering Extended Passive Mode (|||port|)` -> port. */
export function parseEpsv(r: Reply): number | undefined {
  const m = /\((.)\1\1(\d{1,5})\1\)/.exec(r.lines.join(' '));
  if (!m) return undefined;
  const p = Number(m[2]);
  return p > 0 && p <= 65535 ? p : undefined;
}

/** `257 "/some/dir" is the current directory` -> /some/dir (doubled quotes undone). */
export function parsePwd(r: Reply): string | undefined {
  const m = /^\d{3}[ -]"((?:[^"]|"")*)"/.exec(r.lines[0]!);
  return m ? Buffer.from(m[1]!.replace(/""/g, '"'), 'latin1').toString('utf8') : undefined;
}

/** `150 Opening BINARY mode data connection for x (1234 bytes).` -> 1234. */
export function parseOpeningSize(r: Reply): number | undefined {
  const m = /\((\d+) bytes\)/.exec(r.lines[0]!);
  return m ? Number(m[1]) : undefined;
}
