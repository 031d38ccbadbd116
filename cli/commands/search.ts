// `sessiongate search`: every evidence search of the viewer API from the terminal, with exactly
// the API's parameters (viewer/server/query-params.ts). Recorded values are attacker-controlled
// (URLs, user agents, names, paths): every control character is shown escaped, so a URL holding
// `\x1b[31m` or a terminal title sequence can never act on the auditor's terminal.
import type { SgEvent, HttpRequestEvent, UserRef } from '../../recorder/events.js';
import type { ActivityItem, Page, SearchKind, SearchStore, SessionRow, TransferItem } from '../../recorder/store/types.js';
import { parseSearch, searchParamNames } from '../../viewer/server/query-params.js';
import { parseArgs, type CliIo } from '../io.js';
import { UsageError, checkFlags, jsonLine, openCliStore, terminalSafe } from './common.js';

type SearchName = SearchKind | 'timeline';
const KINDS: readonly SearchName[] = ['requests', 'sessions', 'activity', 'transfers', 'timeline'];

const USAGE = `usage: sessiongate search [--kind KIND] [--config FILE] [filters] [--limit N] [--cursor C] [--json]

KIND: requests (default; panel requests), sessions (server session logs), activity (activity
log), transfers (file transfers and FTP commands), timeline (one identity across every kind).
Filters are the viewer API's parameters, as --name VALUE (or --name=VALUE; - and _ alike):
  every kind:  --from T --to T -q TEXT --sort COLUMN --order asc|desc   (not -q/--sort for timeline)
  requests:    --realm --source WEB|API --method --action --login --email --ip
  sessions:    --protocol --os --connected-from proxy|web --state open|ended --login --email --ip
  activity:    --action --initiator --types activity,audit.gap,http.request
  transfers:   --types file.transfer,ftp.command --server --path --direction --result
               --session-id --login --email --ip
  timeline:    exactly one of --login --email --ip
T is ISO 8601 with an offset (2025-10-27T21:13:37+03:00), a date (2025-10-27, local time zone:
from its start / to its end) or ms since the epoch. --limit 1..500 (default 50). Pass the
printed cursor as --cursor for the next page. --json prints one item per line (NDJSON) and the
next cursor on stderr.
`;

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

function userCell(u: UserRef | undefined): string {
  const name = u?.name ?? u?.login;
  const email = u?.email;
  if (name && email) return `${name} <${email}>`;
  return name ?? (email ? `<${email}>` : '-');
}

const dash = (v: unknown): string => (v === undefined || v === null || v === '' ? '-' : String(v));

/** What one line of each kind's table shows; the last column may be long (URL, path, text). */
const TABLES: { [K in SearchName]: { header: string[]; row(item: never): unknown[] } } = {
  requests: {
    header: ['TIME', 'REALM', 'CLIENT', 'USER', 'IP', 'TYPE', 'METHOD', 'STATUS', 'URL'],
    row: (e: HttpRequestEvent) => [localTime(e.ts), e.realm, dash(e.client), userCell(e.user), dash(e.ip), e.source, e.method, e.status, e.url],
  },
  sessions: {
    header: ['#', 'START', 'PROTOCOL', 'USER', 'ACCOUNT', 'SERVER', 'OS', 'CLIENT IP', 'FROM', 'DURATION', 'END', 'CLIENT'],
    row: (s: SessionRow) => [
      s.seq,
      localTime(s.start.ts),
      s.start.protocol,
      userCell(s.start.user),
      dash(s.start.account),
      s.start.server ? `${s.start.server.name}${s.start.server.host ? ` (${s.start.server.host})` : ''}` : '-',
      dash(s.start.server?.os),
      dash(s.start.ip),
      s.start.connected_from,
      s.end?.duration_ms !== undefined ? `${Math.round(s.end.duration_ms / 1000)}s` : '-',
      s.end ? s.end.reason + (s.end.terminated_by ? ` by ${s.end.terminated_by}` : '') : 'open',
      dash(s.start.client_name),
    ],
  },
  activity: {
    header: ['TIME', 'INITIATOR', 'ACTION', 'IP', 'DESCRIPTION'],
    row: (e: ActivityItem) =>
      e.type === 'activity'
        ? [localTime(e.ts), e.initiator, e.action, dash(e.ip), e.description]
        : e.type === 'audit.gap'
          ? [localTime(e.ts), 'system', 'audit.gap', '-', `${e.lost} events lost (${e.reason})`]
          : [localTime(e.ts), userCell(e.user), e.action, dash(e.ip), `${e.method} ${e.url} -> ${e.status}`],
  },
  transfers: {
    header: ['TIME', 'USER', 'SERVER', 'IP', 'WHAT', 'RESULT', 'BYTES', 'PATH'],
    row: (e: TransferItem) =>
      e.type === 'file.transfer'
        ? [localTime(e.ts), userCell(e.user), dash(e.server?.name), dash(e.ip), e.direction, e.result, e.bytes, e.to_path ? `${e.path} -> ${e.to_path}` : e.path]
        : [localTime(e.ts), userCell(e.user), '-', dash(e.ip), `ftp ${e.command}`, dash(e.reply_code), '-', dash(e.args ?? e.cwd)],
  },
  timeline: {
    header: ['TIME', 'TYPE', 'USER', 'IP', 'WHAT'],
    row: (e: SgEvent) => [localTime(e.ts), e.type, userCell(e.user), dash(e.ip), summary(e)],
  },
};

function summary(e: SgEvent): string {
  switch (e.type) {
    case 'http.request':
      return `${e.method} ${e.url} -> ${e.status}`;
    case 'session.start':
      return `${e.protocol} session ${e.session_id} to ${e.server?.name ?? '-'}`;
    case 'session.end':
      return `${e.protocol} session ${e.session_id} ended: ${e.reason}`;
    case 'ssh.exec':
      return `exec ${e.command}`;
    case 'ssh.forward':
      return `forward ${e.kind} ${e.allowed ? 'allowed' : 'denied'} ${e.dest_host ?? ''}:${e.dest_port ?? ''}`;
    case 'file.transfer':
      return `${e.direction} ${e.path} ${e.result}`;
    case 'ftp.command':
      return `ftp ${e.command} ${e.args ?? ''}`;
    case 'activity':
      return `${e.action}: ${e.description}`;
    case 'audit.gap':
      return `${e.lost} events lost (${e.reason})`;
  }
}

export function table(kind: SearchName, items: unknown[]): string {
  const t = TABLES[kind];
  const rows = items.map((i) => t.row(i as never).map((c) => terminalSafe(dash(c))));
  const widths = t.header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd() + '\n';
  return line(t.header) + rows.map(line).join('');
}

/** The request table (kept for callers of the first version). */
export function requestTable(items: HttpRequestEvent[]): string {
  return table('requests', items);
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, ['json', 'help', 'h']);
  if (flags.help || flags.h) {
    io.stdout.write(USAGE);
    return 0;
  }
  let kind: SearchName = 'requests';
  const params = new URLSearchParams();
  try {
    if (flags.kind !== undefined) {
      if (typeof flags.kind !== 'string' || !(KINDS as readonly string[]).includes(flags.kind)) throw new UsageError(`--kind must be one of ${KINDS.join(', ')}`);
      kind = flags.kind as SearchName;
    }
    const names = searchParamNames(kind);
    // Flags are the API's parameter names; `--session-id` and `--session_id` are the same.
    const known = ['config', 'kind', ...names.flatMap((n) => (n.includes('_') ? [n, n.replace(/_/g, '-')] : [n]))].filter((n) => n !== 'hide_me' && n !== 'hide-me');
    checkFlags(flags, known, ['json']);
    if (positionals.length) throw new UsageError(`unexpected argument "${terminalSafe(positionals[0])}"`);
    for (const [k, v] of Object.entries(flags)) {
      if (k === 'config' || k === 'kind' || k === 'json' || typeof v !== 'string') continue;
      const name = k.replace(/-/g, '_');
      if (params.has(name)) throw new UsageError(`--${name} given more than once`);
      params.set(name, v);
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr.write(`sessiongate search: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  // Same parser as the viewer API; dates are read in the auditor's own time zone.
  const query = kind === 'timeline' ? parseSearch('timeline', params, { localDates: true }) : parseSearch(kind, params, { localDates: true });

  const cli = await openCliStore(flags.config, io);
  try {
    const page: Page<unknown> = kind === 'timeline' ? cli.store.timeline(query) : (cli.store as SearchStore).query(kind, query as never);
    const filters: Record<string, unknown> = { ...query };
    const text = typeof filters.q === 'string' ? ` for "${filters.q.slice(0, 64)}"` : '';
    await cli.record({ action: 'search', description: `searched ${kind} from the CLI${text}`, details: { kind, query: filters, returned: page.items.length } });
    if (flags.json) {
      for (const e of page.items) io.stdout.write(jsonLine(e));
      if (page.next_cursor) io.stderr.write(`next cursor: ${terminalSafe(page.next_cursor)}\n`);
    } else if (page.items.length === 0) {
      io.stdout.write(`no matching ${kind === 'timeline' ? 'events' : kind}\n`);
    } else {
      io.stdout.write(table(kind, page.items));
      const total = page.total !== undefined ? `${page.total_estimated ? 'about ' : ''}${page.total} in all` : '';
      if (total) io.stdout.write(`\n${total}\n`);
      if (page.next_cursor) io.stdout.write(`${total ? '' : '\n'}next cursor: ${terminalSafe(page.next_cursor)}${page.partial ? '  (scan budget reached; continue with --cursor)' : ''}\n`);
    }
    return 0;
  } finally {
    await cli.close();
  }
}
