// Fixed CSV columns per export kind. The seeds' own columns come first, in the seeds' order
// (000/001 panel sessions, 002 activity log, 003 session logs), so a spreadsheet opened by an
// auditor reads like the page they know; everything else we record follows, and the event id
// is always last so every row can be traced back to the store (and deduplicated).
import type { ActivityItem, SessionRow, TransferItem } from '../store/types.js';
import type { HttpRequestEvent, SessionEndEvent, SessionStartEvent, SgEvent, SshExecEvent, SshForwardEvent } from '../events.js';

/** A cell: strings are formula-guarded by the CSV writer; numbers and booleans are written as is. */
export type Cell = string | number | boolean | undefined;

export interface Column<T> {
  name: string;
  get(item: T): Cell;
}

/** Every kind a file can hold: the four searchable kinds plus `ssh` (exec/forward events). */
export const EXPORT_KINDS = ['requests', 'sessions', 'activity', 'transfers', 'ssh'] as const;
export type ExportKind = (typeof EXPORT_KINDS)[number];

const iso = (ms: number | undefined): string | undefined => (typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : undefined);
const json = (v: unknown): string | undefined => (v === undefined ? undefined : JSON.stringify(v));

type Common = { id: string; ts: number; ip?: string; client?: string; session_id?: string; user?: { name?: string; email?: string; role?: string; login?: string } };
function col<T>(name: string, get: (item: T) => Cell): Column<T> {
  return { name, get };
}

/** When, what and who: the first columns of the protocol kinds (transfers, ssh). */
function who<T extends Common & { type: string }>(): Column<T>[] {
  return [col('date', (e) => iso(e.ts)), col('type', (e) => e.type), col('user', (e) => e.user?.name), col('email', (e) => e.user?.email), col('login', (e) => e.user?.login), col('ip', (e) => e.ip)];
}

/** The last columns: organisation, session, raw time and the id that traces a row to the store. */
function trail<T extends Common>(): Column<T>[] {
  return [col('client', (e) => e.client), col('session_id', (e) => e.session_id), col('ts', (e) => e.ts), col('id', (e) => e.id)];
}

const REQUEST_COLUMNS: Column<HttpRequestEvent>[] = [
  col('date', (e) => iso(e.ts)),
  col('client', (e) => e.client),
  col('user', (e) => e.user?.name),
  col('email', (e) => e.user?.email),
  col('ip', (e) => e.ip),
  col('url', (e) => e.url),
  col('type', (e) => e.source),
  col('method', (e) => e.method),
  col('status', (e) => e.status),
  col('realm', (e) => e.realm),
  col('action', (e) => e.action),
  col('login', (e) => e.user?.login),
  col('user_type', (e) => e.user?.role),
  col('identity_verified', (e) => e.identity_verified),
  col('identity_source', (e) => e.identity_source),
  col('bytes_in', (e) => e.bytes_in),
  col('bytes_out', (e) => e.bytes_out),
  col('duration_ms', (e) => e.duration_ms),
  col('upstream_ms', (e) => e.upstream_ms),
  col('user_agent', (e) => e.user_agent),
  col('error', (e) => e.error),
  col('listener', (e) => e.listener),
  col('route', (e) => e.route),
  col('panel_session', (e) => e.panel_session),
  col('ts', (e) => e.ts),
  col('id', (e) => e.id),
];

/** A session row from a query, or a lone start/end event (scheduled exports write events). */
export type SessionItem = SessionRow | SessionStartEvent | SessionEndEvent;

function sessionParts(x: SessionItem): { seq?: number; start?: SessionStartEvent; end?: SessionEndEvent } {
  if ('type' in x) return x.type === 'session.start' ? { seq: (x as { seq?: number }).seq, start: x } : { end: x };
  return { seq: x.seq, start: x.start, end: x.end };
}

function sessionCol(name: string, get: (p: { seq?: number; start?: SessionStartEvent; end?: SessionEndEvent; any: SessionStartEvent | SessionEndEvent }) => Cell): Column<SessionItem> {
  return col(name, (x) => {
    const p = sessionParts(x);
    return get({ ...p, any: (p.start ?? p.end)! });
  });
}

const SESSION_COLUMNS: Column<SessionItem>[] = [
  sessionCol('no', (p) => p.seq),
  sessionCol('action_at', (p) => iso(p.start?.ts)),
  sessionCol('name', (p) => p.any.user?.name),
  sessionCol('email', (p) => p.any.user?.email),
  sessionCol('role', (p) => p.any.user?.role),
  sessionCol('account', (p) => p.start?.account),
  sessionCol('server_name', (p) => p.start?.server?.name),
  sessionCol('server_os', (p) => p.start?.server?.os),
  sessionCol('host', (p) => p.start?.server?.host),
  sessionCol('port', (p) => p.start?.server?.port),
  sessionCol('protocol', (p) => p.any.protocol),
  sessionCol('client_ip', (p) => p.any.ip),
  sessionCol('client_name', (p) => p.start?.client_name),
  sessionCol('connected_from', (p) => p.start?.connected_from),
  sessionCol('login', (p) => p.any.user?.login),
  sessionCol('ended_at', (p) => iso(p.end?.ts)),
  sessionCol('end_reason', (p) => p.end?.reason),
  sessionCol('terminated_by', (p) => p.end?.terminated_by),
  sessionCol('terminate_reason', (p) => p.end?.terminate_reason),
  sessionCol('duration_ms', (p) => p.end?.duration_ms),
  sessionCol('bytes_in', (p) => p.end?.bytes_in),
  sessionCol('bytes_out', (p) => p.end?.bytes_out),
  sessionCol('exit_code', (p) => p.end?.exit_code),
  sessionCol('recording_id', (p) => p.end?.recording?.id ?? p.start?.recording?.id),
  sessionCol('recording_sha256', (p) => p.end?.recording?.sha256),
  sessionCol('session_id', (p) => p.any.session_id),
  sessionCol('start_id', (p) => p.start?.id),
  sessionCol('end_id', (p) => p.end?.id),
];

// The activity log (seed 002): activity and audit.gap events, and panel requests that changed
// something. Requests have no initiator/description of their own: they are derived so the
// columns read the same for every row.
const ACTIVITY_COLUMNS: Column<ActivityItem>[] = [
  col('date', (e) => iso(e.ts)),
  col('ip', (e) => e.ip),
  col('initiator', (e) => (e.type === 'activity' ? e.initiator : e.type === 'audit.gap' ? 'system' : (e.user?.login ?? e.user?.name))),
  col('email', (e) => e.user?.email),
  col('action', (e) => (e.type === 'audit.gap' ? 'audit_gap' : e.action)),
  col('description', (e) =>
    e.type === 'activity' ? e.description : e.type === 'audit.gap' ? `${e.lost} events could not be stored (${e.reason})` : `${e.method} ${e.url} -> ${e.status}`,
  ),
  col('type', (e) => e.type),
  col('name', (e) => e.user?.name),
  col('client', (e) => e.client),
  col('targets', (e) => (e.type === 'activity' && e.targets ? e.targets.map((x) => `${x.kind}:${x.id}`).join(' ') : undefined)),
  col('details', (e) => (e.type === 'activity' ? json(e.details) : e.type === 'audit.gap' ? json({ lost: e.lost, reason: e.reason, from_ts: e.from_ts, to_ts: e.to_ts, by_type: e.by_type }) : undefined)),
  col('session_id', (e) => e.session_id),
  col('ts', (e) => e.ts),
  col('id', (e) => e.id),
];

const TRANSFER_COLUMNS: Column<TransferItem>[] = [
  ...who<TransferItem>(),
  col('protocol', (e) => (e.type === 'file.transfer' ? e.protocol : 'ftp')),
  col('server', (e) => (e.type === 'file.transfer' ? e.server?.name : undefined)),
  col('host', (e) => (e.type === 'file.transfer' ? e.server?.host : undefined)),
  col('direction', (e) => (e.type === 'file.transfer' ? e.direction : undefined)),
  col('path', (e) => (e.type === 'file.transfer' ? e.path : e.cwd)),
  col('to_path', (e) => (e.type === 'file.transfer' ? e.to_path : undefined)),
  col('bytes', (e) => (e.type === 'file.transfer' ? e.bytes : undefined)),
  col('duration_ms', (e) => (e.type === 'file.transfer' ? e.duration_ms : undefined)),
  col('result', (e) => (e.type === 'file.transfer' ? e.result : undefined)),
  col('detail', (e) => (e.type === 'file.transfer' ? e.detail : undefined)),
  col('command', (e) => (e.type === 'ftp.command' ? e.command : undefined)),
  col('args', (e) => (e.type === 'ftp.command' ? e.args : undefined)),
  col('reply_code', (e) => (e.type === 'ftp.command' ? e.reply_code : undefined)),
  ...trail<TransferItem>(),
];

type SshItem = SshExecEvent | SshForwardEvent;
const SSH_COLUMNS: Column<SshItem>[] = [
  ...who<SshItem>(),
  col('command', (e) => (e.type === 'ssh.exec' ? e.command : undefined)),
  col('pty', (e) => (e.type === 'ssh.exec' ? e.pty : undefined)),
  col('exit_code', (e) => (e.type === 'ssh.exec' ? e.exit_code : undefined)),
  col('exit_signal', (e) => (e.type === 'ssh.exec' ? e.exit_signal : undefined)),
  col('forward_kind', (e) => (e.type === 'ssh.forward' ? e.kind : undefined)),
  col('allowed', (e) => (e.type === 'ssh.forward' ? e.allowed : undefined)),
  col('dest_host', (e) => (e.type === 'ssh.forward' ? e.dest_host : undefined)),
  col('dest_port', (e) => (e.type === 'ssh.forward' ? e.dest_port : undefined)),
  col('bytes_in', (e) => (e.type === 'ssh.exec' ? e.bytes_in : undefined)),
  col('bytes_out', (e) => (e.type === 'ssh.exec' ? e.bytes_out : undefined)),
  ...trail<SshItem>(),
];

const COLUMNS: Record<ExportKind, Column<never>[]> = {
  requests: REQUEST_COLUMNS,
  sessions: SESSION_COLUMNS,
  activity: ACTIVITY_COLUMNS,
  transfers: TRANSFER_COLUMNS,
  ssh: SSH_COLUMNS,
};

export function columnsOf(kind: ExportKind): readonly Column<unknown>[] {
  return COLUMNS[kind] as unknown as Column<unknown>[];
}

/** The id and time that place an exported item in the store (a session row: its start, else its end). */
export function itemKey(item: unknown): { id: string; ts: number } | undefined {
  const x = item as Partial<Common> & Partial<SessionRow>;
  if (typeof x?.id === 'string' && typeof x.ts === 'number') return { id: x.id, ts: x.ts };
  const ev = (x?.start ?? x?.end) as SgEvent | undefined;
  return ev ? { id: ev.id, ts: ev.ts } : undefined;
}
