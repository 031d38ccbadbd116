// Committed events tested against a search (the viewer's live stream): with the search's own
// plan, i.e. the row tests the query engine confirms every candidate with, so an event pushed
// live is exactly one the same query lists. Only the filters count (paging and sort do not).
// Session searches list rows (a start merged with its end): a committed start or end yields
// the session's row as the store holds it now.
import type { SgEvent } from '../events.js';
import { kindOf, type Kind } from './kinds.js';
import type { QueryPlan } from './query-engine.js';

/** What matching reads from the store (sessions only: their rows carry `seq` and an end). */
export interface LiveRows {
  /** A stored row by id, as committed now. */
  row(kind: Kind, id: string): { ev: SgEvent; seq: number | undefined } | undefined;
  /** The id of a session's session.start row. */
  sessionStart(sessionId: string): string | undefined;
  /** The last committed batch: the snapshot a row is tested at. */
  snap(): number;
}

/** The item the query would list for a committed event, or undefined. */
export type LiveMatcher<T> = (ev: SgEvent) => T | undefined;

export function liveMatcher<T>(plan: QueryPlan<T>, rows: LiveRows): LiveMatcher<T> {
  return (ev) => {
    const kind = kindOf(ev.type);
    if (!kind || !plan.sources.some((s) => s.kind === kind)) return undefined;
    let row: SgEvent = ev;
    let seq: number | undefined;
    if (kind === 'sessions') {
      const sid = (ev as { session_id?: unknown }).session_id;
      const id = ev.type === 'session.end' ? (typeof sid === 'string' ? rows.sessionStart(sid) : undefined) : ev.id;
      const stored = id === undefined ? undefined : rows.row(kind, id);
      if (!stored) return undefined;
      row = stored.ev;
      seq = stored.seq;
    }
    const snap = rows.snap();
    for (const src of plan.sources) {
      if (src.kind !== kind) continue;
      // No `match`: every row of the kind is listed (the postings alone decide nothing here).
      if (src.match && !src.match(row, seq, snap)) continue;
      return plan.item(row, kind, seq, snap);
    }
    return undefined;
  };
}
