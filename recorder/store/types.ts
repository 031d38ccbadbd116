// Query shapes shared by the store, the viewer API and the CLI. Issue 3 widens these
// (sessions, activity, transfers, timeline, sort keys); keep them additive.
import type { HttpRequestEvent, HttpSource } from '../events.js';

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
}

export type RequestPage = Page<HttpRequestEvent>;

/** Notified by the recorder as it works; the app maps this onto Prometheus metrics. */
export interface RecorderObserver {
  queueDepth?(n: number): void;
  flushed?(byType: Record<string, number>, ms: number): void;
  lost?(n: number, reason: string): void;
  gap?(): void;
}
