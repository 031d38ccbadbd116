// `sessiongate search`: the recorded panel requests from the terminal, with exactly the API's
// filters (viewer/server/query-params.ts). Recorded values are attacker-controlled (URLs, user
// agents, names): every control character is shown escaped, so a URL holding `\x1b[31m` or a
// terminal title sequence can never act on the auditor's terminal. Also home to the helpers
// the other store commands share (config + store opening, terminal-safe text).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../config/loader.js';
import type { Config } from '../../config/schema.js';
import { SgError } from '../../gateway/core/errors.js';
import { systemClock, type Logger } from '../../gateway/core/runtime.js';
import type { ActivityEvent, HttpRequestEvent } from '../../recorder/events.js';
import { mintId } from '../../recorder/event-id.js';
import { Store } from '../../recorder/store/store.js';
import { parseRequestQuery } from '../../viewer/server/query-params.js';
import { parseArgs, type CliIo } from '../io.js';

export const DEFAULT_CONFIG = 'config/demo.yaml';

/** Thrown for command-line mistakes: the command prints usage and exits 2. */
export class UsageError extends Error {}

// ---------- helpers shared by the store commands (users, search) ----------

// C0/C1 controls (ESC, CSI 0x9b, BEL...), DEL, and invisible/bidi characters that can make text
// read differently than it is (Trojan Source style).
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\\]/g;

/** Text safe to print on a terminal: controls as `\xHH` / `\uHHHH`, backslash doubled. */
export function terminalSafe(s: unknown): string {
  const str = typeof s === 'string' ? s : s === undefined || s === null ? '' : String(s);
  return str.replace(UNSAFE_TEXT, (c) => {
    if (c === '\\') return '\\\\';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

const UNSAFE_JSON = /[\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** One JSON line; JSON.stringify leaves DEL, C1 controls and bidi marks raw: escape them too. */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n';
}

/** Every value of a repeatable flag (`--x a --x b`, `--x=c`); parseArgs keeps only the last. */
export function repeatedFlag(argv: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === `--${name}` && i + 1 < argv.length) out.push(argv[++i]!);
    else if (a.startsWith(`--${name}=`)) out.push(a.slice(name.length + 3));
  }
  return out;
}

export function checkFlags(flags: Record<string, string | true>, known: readonly string[], booleans: readonly string[] = []): void {
  for (const [k, v] of Object.entries(flags)) {
    if (!known.includes(k) && !booleans.includes(k)) throw new UsageError(`unknown option --${terminalSafe(k)}`);
    if (booleans.includes(k) && v !== true) throw new UsageError(`--${k} takes no value`);
    if (!booleans.includes(k) && v === true) throw new UsageError(`--${k} needs a value`);
  }
}

export interface CliStore {
  config: Config;
  store: Store;
  logger: Logger;
  /** Stores an activity event of the CLI user (initiator `cli`), committed before it returns. */
  record(a: Omit<ActivityEvent, 'id' | 'ts' | 'type' | 'initiator'>): Promise<void>;
  close(): Promise<void>;
}

/**
 * Loads the config (--config FILE, else config/demo.yaml when it exists) and opens the store
 * read-write: LMDB lets the CLI work next to a running gateway.
 */
export async function openCliStore(configFlag: string | true | undefined, io: CliIo): Promise<CliStore> {
  let file: string;
  if (typeof configFlag === 'string') file = configFlag;
  else if (existsSync(DEFAULT_CONFIG)) file = DEFAULT_CONFIG;
  else throw new SgError('SG_ERR_CONFIG_NOT_FOUND', `no --config FILE given and ${DEFAULT_CONFIG} does not exist`);
  const { config } = await loadConfig(file);
  const logger = pino({ level: io.env.SESSIONGATE_LOG_LEVEL ?? 'warn', base: { app: 'sessiongate-cli' } }, io.stderr);
  const store = Store.open({ dir: join(config.data_dir, 'store'), logger });
  const osUser = io.env.SUDO_USER ?? io.env.USER ?? io.env.LOGNAME;
  return {
    config,
    store,
    logger,
    async record(a) {
      const ts = systemClock.now();
      const ev: ActivityEvent = { id: mintId(ts, ts), ts, type: 'activity', initiator: 'cli', ...a, details: { ...a.details, ...(osUser ? { os_user: osUser } : {}) } };
      const r = await store.writeBatch([ev]);
      // The change is done; its record must be too, or the operator has to know.
      if (r.stored !== 1) throw new SgError('SG_ERR_STORE_WRITE', `the activity record was not stored: ${r.rejected[0]?.error ?? 'duplicate id'}`);
    },
    async close() {
      await store.close();
    },
  };
}

// ---------- search ----------

const USAGE = `usage: sessiongate search [--config FILE] [--realm R] [--from T] [--to T] [-q TEXT]
                         [--source WEB|API] [--method M] [--limit N] [--cursor C] [--json]

Recorded panel requests, newest first. T is ISO 8601 with an offset (2025-10-27T21:13:37+03:00),
a date (2025-10-27, local time zone: from its start / to its end) or ms since the epoch.
--limit 1..500 (default 50). Pass the printed cursor as --cursor for the next (older) page.
--json prints one request per line (NDJSON) and the next cursor on stderr.
`;

const FLAGS = ['config', 'realm', 'from', 'to', 'q', 'source', 'method', 'limit', 'cursor'] as const;

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** `2025-10-27 21:13:37.123+03:00`: local wall time with its offset, unambiguous. */
export function localTime(ms: number): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
}

function userCell(e: HttpRequestEvent): string {
  const name = e.user?.name ?? e.user?.login;
  const email = e.user?.email;
  if (name && email) return `${name} <${email}>`;
  return name ?? (email ? `<${email}>` : '-');
}

export function requestTable(items: HttpRequestEvent[]): string {
  const header = ['TIME', 'REALM', 'CLIENT', 'USER', 'IP', 'TYPE', 'METHOD', 'STATUS', 'URL'];
  const rows = items.map((e) => [localTime(e.ts), e.realm, e.client ?? '-', userCell(e), e.ip ?? '-', e.source, e.method, String(e.status), e.url].map(terminalSafe));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd() + '\n';
  return line(header) + rows.map(line).join('');
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, ['json', 'help', 'h']);
  if (flags.help || flags.h) {
    io.stdout.write(USAGE);
    return 0;
  }
  try {
    checkFlags(flags, FLAGS, ['json']);
    if (positionals.length) throw new UsageError(`unexpected argument "${terminalSafe(positionals[0])}"`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr.write(`sessiongate search: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  const params = new URLSearchParams();
  for (const k of FLAGS) if (k !== 'config' && typeof flags[k] === 'string') params.set(k, flags[k]);
  // Same parser as GET /api/requests; dates are read in the auditor's own time zone.
  const query = parseRequestQuery(params, { localDates: true });

  const cli = await openCliStore(flags.config, io);
  try {
    const page = cli.store.queryRequests(query);
    const filters: Record<string, unknown> = { ...query };
    await cli.record({ action: 'search', description: `searched panel requests from the CLI${query.q ? ` for "${query.q.slice(0, 64)}"` : ''}`, details: { kind: 'requests', query: filters, returned: page.items.length } });
    if (flags.json) {
      for (const e of page.items) io.stdout.write(jsonLine(e));
      if (page.next_cursor) io.stderr.write(`next cursor: ${terminalSafe(page.next_cursor)}\n`);
    } else if (page.items.length === 0) {
      io.stdout.write('no matching requests\n');
    } else {
      io.stdout.write(requestTable(page.items));
      if (page.next_cursor) io.stdout.write(`\nnext cursor: ${terminalSafe(page.next_cursor)}${page.partial ? '  (scan budget reached; continue with --cursor)' : ''}\n`);
    }
    return 0;
  } finally {
    await cli.close();
  }
}
