// `sessiongate search`: the recorded panel requests from the terminal, with exactly the API's
// filters (viewer/server/query-params.ts). Recorded values are attacker-controlled (URLs, user
// agents, names): every control character is shown escaped, so a URL holding `\x1b[31m` or a
// terminal title sequence can never act on the auditor's terminal (cli/commands/common.ts).
import type { HttpRequestEvent } from '../../recorder/events.js';
import { parseRequestQuery } from '../../viewer/server/query-params.js';
import { parseArgs, type CliIo } from '../io.js';
import { UsageError, checkFlags, jsonLine, openCliStore, terminalSafe } from './common.js';

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
