// Counts events that could not be stored, per reason, with their time window and per-type
// counts, until an `audit.gap` event carrying them is committed: loss is never silent. A gap
// taken for a batch whose write fails is put back, merged with what was lost meanwhile.
import type { AuditGapEvent } from './events.js';

export type LossReason = AuditGapEvent['reason'];

export interface LossWindow {
  reason: LossReason;
  lost: number;
  from_ts: number;
  to_ts: number;
  by_type: Map<string, number>;
}

export interface TakenLosses {
  windows: LossWindow[];
  /** Every loss counted up to this sequence number is in `windows`. */
  seq: number;
}

export class LossLedger {
  private readonly open = new Map<LossReason, LossWindow>();
  /** Number of losses ever counted. */
  seq = 0;
  /** Losses up to this sequence number are in a committed gap. */
  doneSeq = 0;

  get pending(): boolean {
    return this.open.size > 0;
  }

  add(reason: LossReason, type: string, ts: number, n = 1): void {
    this.seq += n;
    const w = this.open.get(reason);
    if (!w) {
      this.open.set(reason, { reason, lost: n, from_ts: ts, to_ts: ts, by_type: new Map([[type, n]]) });
      return;
    }
    w.lost += n;
    if (ts < w.from_ts) w.from_ts = ts;
    if (ts > w.to_ts) w.to_ts = ts;
    w.by_type.set(type, (w.by_type.get(type) ?? 0) + n);
  }

  /** Takes every open window out, for a gap in the next batch. */
  take(): TakenLosses {
    const windows = [...this.open.values()];
    this.open.clear();
    return { windows, seq: this.seq };
  }

  /** The batch holding the taken gaps committed. */
  committed(taken: TakenLosses): void {
    if (taken.seq > this.doneSeq) this.doneSeq = taken.seq;
  }

  /** The batch holding the taken gaps failed: count them again. */
  restore(taken: TakenLosses): void {
    for (const w of taken.windows) {
      const cur = this.open.get(w.reason);
      if (!cur) {
        this.open.set(w.reason, w);
        continue;
      }
      cur.lost += w.lost;
      cur.from_ts = Math.min(cur.from_ts, w.from_ts);
      cur.to_ts = Math.max(cur.to_ts, w.to_ts);
      for (const [t, n] of w.by_type) cur.by_type.set(t, (cur.by_type.get(t) ?? 0) + n);
    }
  }

  /** What is still uncommitted, for a log line. */
  summary(): { reason: LossReason; lost: number; from_ts: number; to_ts: number; by_type: Record<string, number> }[] {
    return [...this.open.values()].map((w) => ({ reason: w.reason, lost: w.lost, from_ts: w.from_ts, to_ts: w.to_ts, by_type: Object.fromEntries(w.by_type) }));
  }
}
