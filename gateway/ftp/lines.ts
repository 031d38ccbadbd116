// Splits the client's control stream into command lines (RFC 959: CRLF; a bare LF is accepted as
// many servers do). A line is bounded: one longer than `max` bytes is reported once as `too_long`
// and the rest of it is dropped up to its end. Telnet commands (IAC IP, IAC DM... that clients send
// before ABOR) are removed; a NUL or a CR anywhere but before the LF makes the line `bad`: nothing
// can smuggle a second command inside an argument.

export type LineEvent = { kind: 'line'; line: Buffer } | { kind: 'too_long' } | { kind: 'bad'; line: Buffer; why: 'nul' | 'cr' };

const LF = 0x0a;
const CR = 0x0d;
const IAC = 0xff;

/** Removes Telnet IAC sequences: IAC IAC is a literal 0xFF, IAC WILL/WONT/DO/DONT X three bytes, other IAC commands two. */
export function stripTelnet(line: Buffer): Buffer {
  if (!line.includes(IAC)) return line;
  const out = Buffer.allocUnsafe(line.length);
  let n = 0;
  for (let i = 0; i < line.length; i++) {
    const b = line[i]!;
    if (b !== IAC) {
      out[n++] = b;
      continue;
    }
    const c = line[i + 1];
    if (c === undefined) break;
    if (c === IAC) {
      out[n++] = IAC;
      i++;
    } else if (c >= 0xfb && c <= 0xfe) i += 2;
    else i++;
  }
  return out.subarray(0, n);
}

export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private discarding = false;

  constructor(private readonly max: number) {}

  /** Feeds bytes; returns the complete lines (and problems) in order. */
  push(chunk: Buffer): LineEvent[] {
    const out: LineEvent[] = [];
    let start = 0;
    for (;;) {
      const lf = chunk.indexOf(LF, start);
      if (lf < 0) {
        const rest = chunk.length - start;
        if (this.discarding || rest === 0) return out;
        if (this.size + rest > this.max) {
          this.parts = [];
          this.size = 0;
          this.discarding = true;
          out.push({ kind: 'too_long' });
          return out;
        }
        this.parts.push(chunk.subarray(start));
        this.size += rest;
        return out;
      }
      if (this.discarding) {
        this.discarding = false;
      } else if (this.size + (lf - start) > this.max) {
        this.parts = [];
        this.size = 0;
        out.push({ kind: 'too_long' });
      } else {
        const piece = chunk.subarray(start, lf);
        let line: Buffer = this.parts.length ? Buffer.concat([...this.parts, piece]) : Buffer.from(piece);
        this.parts = [];
        this.size = 0;
        if (line.length && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
        line = stripTelnet(line);
        if (line.includes(0)) out.push({ kind: 'bad', line, why: 'nul' });
        else if (line.includes(CR)) out.push({ kind: 'bad', line, why: 'cr' });
        else out.push({ kind: 'line', line });
      }
      start = lf + 1;
    }
  }

  /** Bytes held for an unfinished line. */
  pending(): number {
    return this.size;
  }
}

export interface Command {
  /** Upper-cased verb (letters only as sent; at most 16 bytes are looked at). */
  verb: string;
  /** Raw argument bytes (after the first space), as the client sent them. */
  arg: Buffer;
  /** The argument decoded for records and path logic (UTF-8, invalid bytes replaced). */
  text: string;
}

export function parseCommand(line: Buffer): Command {
  const sp = line.indexOf(0x20);
  const verbBytes = sp < 0 ? line : line.subarray(0, sp);
  const verb = verbBytes.subarray(0, 16).toString('latin1').toUpperCase();
  const arg = sp < 0 ? Buffer.alloc(0) : line.subarray(sp + 1);
  return { verb, arg, text: arg.toString('utf8') };
}

/** Printable rendering of untrusted text for records and logs: control bytes as \xNN, bounded. */
export function printable(s: string, max = 1024): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return t.length > max ? `${t.slice(0, max)}…` : t;
}
