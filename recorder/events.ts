// One event schema for every front end, the store, the API and exports (like Teleport's
// api/types/events). A discriminated union on `type`. Fields are snake_case because they
// are what the API and exports show.

export type Protocol = 'ssh' | 'sftp' | 'ftp' | 'http' | 'web-ssh' | 'local';
export type ViewerRole = 'admin' | 'auditor' | 'security';

export interface UserRef {
  /** Display name (from the directory, JWT claims, upstream header or user store). */
  name?: string;
  email?: string;
  /** Viewer role for Sessiongate users; panel user type (e.g. `admin`, `client`) for panel identities. */
  role?: string;
  /** The login the person used (panel login, gateway user name). */
  login?: string;
}

export interface EventBase {
  /** Time-ordered, unique, sortable as a string (gateway/core/ids). */
  id: string;
  /** ms since epoch. */
  ts: number;
  /** Normalised client IP (IPv4-mapped IPv6 shown as IPv4). */
  ip?: string;
  user?: UserRef;
  /** Organisation / customer name. */
  client?: string;
  session_id?: string;
}

export type HttpSource = 'WEB' | 'API';
export type HttpAction = 'view' | 'create' | 'update' | 'delete' | 'login' | 'logout';
export type IdentitySource = 'header' | 'jwt' | 'basic' | 'form' | 'session';

export interface HttpRequestEvent extends EventBase {
  type: 'http.request';
  /** `admin` | `client` | any label the route gives. */
  realm: string;
  listener: string;
  route: string;
  source: HttpSource;
  method: string;
  /** scheme://host/path?query with configured secret query keys redacted. */
  url: string;
  status: number;
  bytes_in: number;
  bytes_out: number;
  duration_ms: number;
  user_agent?: string;
  action: HttpAction;
  /** True only when the identity came from a verified source (verified JWT, the gateway's own
   * view of a login form / Basic auth checked by the upstream's answer, or a trusted header). */
  identity_verified: boolean;
  identity_source?: IdentitySource;
  /** Hash of the panel session key (cookie or bearer token); never the key itself. */
  panel_session?: string;
  /** Why the gateway answered itself: `upstream_unavailable`, `upstream_timeout`, `revoked`, ... */
  error?: string;
  /** Upstream round trip to response headers, ms (absent when the gateway answered itself). */
  upstream_ms?: number;
}

export interface ServerRef {
  name: string;
  os?: string;
  host?: string;
  port?: number;
}

export type EndReason =
  | 'client_exit'
  | 'upstream_exit'
  | 'terminated'
  | 'idle_timeout'
  | 'gateway_shutdown'
  | 'interrupted'
  | 'error';

export interface RecordingRef {
  id: string;
  path?: string;
  size?: number;
  sha256?: string;
}

export interface SessionStartEvent extends EventBase {
  type: 'session.start';
  session_id: string;
  protocol: Protocol;
  listener?: string;
  account?: string;
  server?: ServerRef;
  /** e.g. `SSH-2.0-OpenSSH_9.2p1` or a browser user agent. */
  client_name?: string;
  connected_from: 'proxy' | 'web';
  recording?: RecordingRef;
}

export interface SessionEndEvent extends EventBase {
  type: 'session.end';
  session_id: string;
  protocol: Protocol;
  reason: EndReason;
  /** Who ended it and why, when reason is `terminated`. */
  terminated_by?: string;
  terminate_reason?: string;
  duration_ms?: number;
  bytes_in?: number;
  bytes_out?: number;
  /** The first terminal recording (the session's first pty channel). */
  recording?: RecordingRef;
  /** Every recording, in channel order, when the session had more than one pty channel. */
  recordings?: RecordingRef[];
  exit_code?: number;
  exit_signal?: string;
}

export interface SshExecEvent extends EventBase {
  type: 'ssh.exec';
  session_id: string;
  command: string;
  exit_code?: number;
  exit_signal?: string;
  bytes_in?: number;
  bytes_out?: number;
  pty: boolean;
  /** Output of a non-pty exec, only when configured. */
  output?: string;
}

export interface SshForwardEvent extends EventBase {
  type: 'ssh.forward';
  session_id: string;
  kind: 'tcpip' | 'direct-tcpip' | 'streamlocal' | 'agent' | 'x11';
  allowed: boolean;
  dest_host?: string;
  dest_port?: number;
}

export type TransferDirection = 'upload' | 'download' | 'remove' | 'rename' | 'mkdir' | 'rmdir' | 'list';
export type TransferResult = 'ok' | 'aborted' | 'failed' | 'denied';

export interface FileTransferEvent extends EventBase {
  type: 'file.transfer';
  session_id: string;
  protocol: 'sftp' | 'ftp' | 'scp';
  server?: ServerRef;
  path: string;
  /** Rename target. */
  to_path?: string;
  direction: TransferDirection;
  bytes: number;
  duration_ms: number;
  result: TransferResult;
  detail?: string;
}

export interface FtpCommandEvent extends EventBase {
  type: 'ftp.command';
  session_id: string;
  command: string;
  /** Arguments; PASS arguments are never stored. */
  args?: string;
  reply_code?: number;
  cwd?: string;
  /** Why the gateway refused the command itself (FTP bounce, NUL/CR in the line, no TLS...). */
  detail?: string;
}

export type ActivityAction =
  | 'login'
  | 'login_failed'
  /** A connection the gateway cut as hostile (an FTP data connection from a foreign address). */
  | 'connection_refused'
  | 'logout'
  | 'create'
  | 'update'
  | 'delete'
  | 'terminate'
  | 'lock'
  | 'unlock'
  | 'export'
  | 'replay'
  | 'watch'
  | 'search'
  | 'view'
  | 'config_reload'
  | 'retention_prune'
  | 'backup'
  | 'start'
  | 'stop';

export interface ActivityEvent extends EventBase {
  type: 'activity';
  /** A user name, or `system`. */
  initiator: string;
  action: ActivityAction;
  description: string;
  /** What the action touched: `{kind: 'user', id: 'alice'}`, `{kind: 'session', id}`. */
  targets?: { kind: string; id: string }[];
  details?: Record<string, unknown>;
}

export interface AuditGapEvent extends EventBase {
  type: 'audit.gap';
  /** How many events were lost. */
  lost: number;
  reason: 'queue_full' | 'write_failed' | 'disk_full' | 'shutdown';
  /** Time window the lost events fall in. */
  from_ts: number;
  to_ts: number;
  /** Lost count per event type. */
  by_type?: Record<string, number>;
}

export type SgEvent =
  | HttpRequestEvent
  | SessionStartEvent
  | SessionEndEvent
  | SshExecEvent
  | SshForwardEvent
  | FileTransferEvent
  | FtpCommandEvent
  | ActivityEvent
  | AuditGapEvent;

export type EventType = SgEvent['type'];

export const EVENT_TYPES: readonly EventType[] = [
  'http.request',
  'session.start',
  'session.end',
  'ssh.exec',
  'ssh.forward',
  'file.transfer',
  'ftp.command',
  'activity',
  'audit.gap',
];

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** What a front end hands to `emit`: id and ts are filled in by the emitter when absent. */
export type EventInput = DistributiveOmit<SgEvent, 'id' | 'ts'> & { id?: string; ts?: number };

export type EventOf<T extends EventType> = Extract<SgEvent, { type: T }>;
