// Query shapes shared by the store, the viewer API and the CLI. Issue 3 widens these
// (sessions, activity, transfers, timeline, sort keys); keep them additive.
import type { FileTransferEvent, FtpCommandEvent, HttpRequestEvent, HttpSource, ActivityEvent, AuditGapEvent, Protocol, SessionEndEvent, SessionStartEvent, SgEvent, TransferDirection, TransferResult } from '../events.js';

export interface Page<T> {
  items: T[];
  /** Opaque; pass back as `cursor` for the next (older) page. Absent on the last page. */
  next_cursor?: string;
  /** Count of all matches when cheap; otherwise an estimate flagged by total_estimated. */
  total?: number;
  total_estimated?: boolean;
  /** The scan stopped at its work budget before the page was known to be complete: `next_cursor`
   * continues from the last row examined (the page may hold fewer than `limit` items, even none). */
  partial?: boolean;
}

export interface RequestQuery {
  realm?: string;
  /** ms since epoch, inclusive. */
  from?: number;
  /** ms since epoch, inclusive. */
  to?: number;
  /** Keyword: case-insensitive substring over client, user name/email/login, IP, URL. */
  q?: string;
  source?: HttpSource;
  method?: string;
  /** "Hide Me": exclude these panel logins and IPs. */
  hide?: { logins?: string[]; ips?: string[] };
  /** 1..500, default 50. */
  limit?: number;
  cursor?: string;
  /** Column to sort by (default `time`); see REQUEST_SORTS. */
  sort?: RequestSort;
  /** Default `desc` (newest first). */
  order?: SortOrder;
  /** Exact action filter (`view`, `create`, ...). */
  action?: string;
  /** Exact identity filters (the timeline and the viewer's "show this user" links). */
  login?: string;
  email?: string;
  ip?: string;
}

export type RequestPage = Page<HttpRequestEvent>;

export type SortOrder = 'asc' | 'desc';
/** Sort keys per kind: `time` is the id order; the others sort the matches (bounded, docs/store.md). */
export const REQUEST_SORTS = ['time', 'client', 'user', 'email', 'ip', 'url', 'source', 'method', 'status', 'action', 'realm', 'duration'] as const;
export type RequestSort = (typeof REQUEST_SORTS)[number];
export const SESSION_SORTS = ['time', 'seq', 'user', 'email', 'account', 'server', 'host', 'ip', 'protocol', 'os', 'duration', 'client_name'] as const;
export type SessionSort = (typeof SESSION_SORTS)[number];
export const ACTIVITY_SORTS = ['time', 'initiator', 'action', 'type'] as const;
export type ActivitySort = (typeof ACTIVITY_SORTS)[number];
export const TRANSFER_SORTS = ['time', 'user', 'server', 'path', 'direction', 'result', 'bytes'] as const;
export type TransferSort = (typeof TRANSFER_SORTS)[number];

/** Fields every kind's query shares. `from`/`to` are inclusive ms on `ts`. */
export interface BaseQuery {
  from?: number;
  to?: number;
  /** Keyword: case-insensitive substring over the kind's keyword fields (docs/store.md). */
  q?: string;
  limit?: number;
  cursor?: string;
  order?: SortOrder;
}

/** Server session logs (seed 003). One item per session: its start, merged with its end when recorded. */
export interface SessionQuery extends BaseQuery {
  sort?: SessionSort;
  protocol?: Protocol;
  /** server.os, exact, case-insensitive. */
  os?: string;
  connected_from?: 'proxy' | 'web';
  /** Exact identity filters. */
  login?: string;
  email?: string;
  ip?: string;
  /** Only sessions still open (no end recorded) / only ended ones. */
  state?: 'open' | 'ended';
  /** One session by its id (a transfer's session_id leads to its session). */
  session_id?: string;
}

export interface SessionRow {
  /** The session's sequential number (seed 003 "#"). */
  seq: number;
  session_id: string;
  start: SessionStartEvent;
  end?: SessionEndEvent;
}

/** Activity log (seed 002): `activity` and `audit.gap` events, plus panel requests whose action is not `view`. */
export interface ActivityQuery extends BaseQuery {
  sort?: ActivitySort;
  /** activity.action, or the request's action for panel requests. */
  action?: string;
  /** activity.initiator; for panel requests the user's login. Exact, case-insensitive. */
  initiator?: string;
  /** Which sources to include (default all three). */
  types?: ('activity' | 'audit.gap' | 'http.request')[];
}
export type ActivityItem = ActivityEvent | AuditGapEvent | HttpRequestEvent;

/** Transfers and FTP commands. */
export interface TransferQuery extends BaseQuery {
  sort?: TransferSort;
  types?: ('file.transfer' | 'ftp.command')[];
  /** file.transfer's protocol (ftp.command events carry none, so they never match). */
  protocol?: 'ftp' | 'sftp' | 'scp';
  login?: string;
  email?: string;
  ip?: string;
  /** server.name, exact, case-insensitive. */
  server?: string;
  /** Path substring (case-sensitive, like a file system). */
  path?: string;
  direction?: TransferDirection;
  result?: TransferResult;
  session_id?: string;
}
export type TransferItem = FileTransferEvent | FtpCommandEvent;

/** One identity across every kind, in time order (newest first unless order=asc). */
export interface TimelineQuery {
  /** Exactly one of login, email, ip. */
  login?: string;
  email?: string;
  ip?: string;
  from?: number;
  to?: number;
  limit?: number;
  cursor?: string;
  order?: SortOrder;
}
export type TimelineItem = SgEvent;

/** Notified by the recorder as it works; the app maps this onto Prometheus metrics. */
export interface RecorderObserver {
  queueDepth?(n: number): void;
  flushed?(byType: Record<string, number>, ms: number): void;
  lost?(n: number, reason: string): void;
  gap?(): void;
}

/** What each searchable kind takes and returns (`Store.query(kind, q)`). */
export interface QueryByKind {
  requests: RequestQuery;
  sessions: SessionQuery;
  activity: ActivityQuery;
  transfers: TransferQuery;
}
export interface ItemByKind {
  requests: HttpRequestEvent;
  sessions: SessionRow;
  activity: ActivityItem;
  transfers: TransferItem;
}
export type SearchKind = keyof QueryByKind;
export const SEARCH_KINDS: readonly SearchKind[] = ['requests', 'sessions', 'activity', 'transfers'];

/** The read side the viewer API, the CLI and exports use; the Store implements it. */
export interface SearchStore {
  query<K extends SearchKind>(kind: K, q: QueryByKind[K]): Page<ItemByKind[K]>;
  timeline(q: TimelineQuery): Page<TimelineItem>;
  /** What `query(kind, q)` would list of each committed event (the viewer's live stream). */
  liveMatcher<K extends SearchKind>(kind: K, q: QueryByKind[K]): (ev: SgEvent) => ItemByKind[K] | undefined;
}
