// RFC 5424 messages for the SIEM forwarder, framed by octet counting (RFC 6587 3.4.1) so a
// message may hold any byte (recorded URLs and descriptions can hold newlines). Every message
// carries the event id in structured data: receivers use it to drop duplicates.
import { hostname } from 'node:os';
import type { SgEvent } from '../../events.js';
import { ndjsonLine } from '../formats.js';

/** Our SD-ID. 32473 is the enterprise number RFC 5612 reserves for documentation and examples. */
export const SD_ID = 'sessiongate@32473';

export type SyslogFormat = 'json' | 'structured';

export interface SyslogOptions {
  facility: number;
  appName: string;
  format: SyslogFormat;
  /** HOSTNAME field (default: this host's name). */
  hostname?: string;
}

const SEV_WARNING = 4;
const SEV_NOTICE = 5;
const SEV_INFO = 6;
const BOM = '\ufeff';

function severity(ev: SgEvent): number {
  if (ev.type === 'audit.gap') return SEV_WARNING;
  if (ev.type === 'activity' || ev.type === 'session.start' || ev.type === 'session.end') return SEV_NOTICE;
  if (ev.type === 'ssh.forward' && !ev.allowed) return SEV_NOTICE;
  return SEV_INFO;
}

/** A header field: printable US-ASCII without spaces, bounded, or NILVALUE. */
function headerField(s: string | undefined, max: number): string {
  const v = (s ?? '').replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return v || '-';
}

/** PARAM-VALUE escaping (RFC 5424 6.3.3): `"`, `\` and `]` get a backslash. */
export function sdValue(v: string): string {
  return v.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** PARAM-NAME: printable ASCII except `=`, space, `]`, `"`; at most 32 characters. */
function sdName(s: string): string {
  return s.replace(/[^\x21-\x7e]|[=\]"]/g, '_').slice(0, 32);
}

/** Scalar fields of the event, nested objects as dotted names (user.email), the rest as JSON. */
function flatten(ev: SgEvent): [string, string][] {
  const out: [string, string][] = [];
  const walk = (prefix: string, v: unknown, depth: number) => {
    if (v === undefined || v === null) return;
    if (typeof v === 'object' && !Array.isArray(v) && depth < 2) {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(prefix ? `${prefix}.${k}` : k, x, depth + 1);
      return;
    }
    out.push([sdName(prefix), typeof v === 'string' ? v : JSON.stringify(v)]);
  };
  walk('', ev, 0);
  return out;
}

function summary(ev: SgEvent): string {
  switch (ev.type) {
    case 'http.request':
      return `${ev.method} ${ev.url} ${ev.status}`;
    case 'activity':
      return ev.description;
    case 'audit.gap':
      return `${ev.lost} events could not be stored (${ev.reason})`;
    case 'session.start':
    case 'session.end':
      return `${ev.type} ${ev.protocol} ${ev.session_id}`;
    default:
      return ev.type;
  }
}

export class SyslogFormatter {
  private readonly host: string;
  private readonly pid = String(process.pid);

  constructor(private readonly opts: SyslogOptions) {
    this.host = headerField(opts.hostname ?? hostname(), 255);
  }

  /** One RFC 5424 message (without framing). */
  message(ev: SgEvent): string {
    const pri = this.opts.facility * 8 + severity(ev);
    const ts = Number.isFinite(ev.ts) ? new Date(ev.ts).toISOString() : '-';
    const head = `<${pri}>1 ${ts} ${this.host} ${headerField(this.opts.appName, 48)} ${this.pid} ${headerField(ev.type, 32)}`;
    if (this.opts.format === 'json') {
      const sd = `[${SD_ID} id="${sdValue(ev.id)}" type="${sdValue(ev.type)}"]`;
      return `${head} ${sd} ${BOM}${ndjsonLine(ev).slice(0, -1)}`;
    }
    const params = flatten(ev)
      .map(([k, v]) => `${k}="${sdValue(v)}"`)
      .join(' ');
    return `${head} [${SD_ID} ${params}] ${BOM}${summary(ev)}`;
  }

  /** Octet-counted frames for a batch: `LEN SP MSG`, LEN in bytes. */
  frames(events: readonly SgEvent[]): Buffer {
    const parts: Buffer[] = [];
    for (const ev of events) {
      const msg = Buffer.from(this.message(ev), 'utf8');
      parts.push(Buffer.from(`${msg.length} `, 'latin1'), msg);
    }
    return Buffer.concat(parts);
  }
}

/** Parses octet-counted frames from a growing buffer (tests and tools): the messages and what is left. */
export function parseFrames(buf: Buffer): { messages: string[]; rest: Buffer } {
  const messages: string[] = [];
  let at = 0;
  for (;;) {
    const sp = buf.indexOf(0x20, at);
    if (sp < 0 || sp - at > 10) break;
    const len = Number(buf.toString('latin1', at, sp));
    if (!Number.isInteger(len) || len <= 0) throw new Error(`bad frame length at byte ${at}`);
    if (buf.length < sp + 1 + len) break;
    messages.push(buf.toString('utf8', sp + 1, sp + 1 + len));
    at = sp + 1 + len;
  }
  return { messages, rest: buf.subarray(at) };
}
