// Rate limit for log lines on paths that can fire per event or per retry (a failing disk, a
// flood of drops): at most one line per key per interval, carrying how many were suppressed.
// Uses a monotonic clock: an injected test clock may stand still.
import { performance } from 'node:perf_hooks';

export class LogLimiter {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** -1: stay silent. Otherwise log now, reporting the returned count of suppressed lines. */
  take(key: string): number {
    const t = this.now();
    const e = this.last.get(key);
    if (!e) {
      this.last.set(key, { at: t, suppressed: 0 });
      return 0;
    }
    if (t - e.at < this.intervalMs) {
      e.suppressed++;
      return -1;
    }
    const s = e.suppressed;
    e.at = t;
    e.suppressed = 0;
    return s;
  }
}
