// Failed sign-ins per key (client IP, user name) in a sliding window. Blocked attempts are
// answered before any password is checked, so the limit also caps scrypt work per attacker.
// Memory is bounded: a flood of distinct keys evicts the oldest first.
import type { Clock } from '../../gateway/core/runtime.js';
import { SgError } from '../../gateway/core/errors.js';

export interface RateLimiterOptions {
  clock: Clock;
  maxAttempts: number;
  windowMs: number;
  maxKeys?: number;
}

export class FailureRateLimiter {
  /** Failure times per key, oldest first, at most maxAttempts kept. */
  private readonly failures = new Map<string, number[]>();
  private readonly maxKeys: number;

  constructor(private readonly opts: RateLimiterOptions) {
    if (!Number.isInteger(opts.maxAttempts) || opts.maxAttempts < 1 || !(opts.windowMs > 0)) {
      throw new SgError('SG_ERR_CONFIG_INVALID', 'login_rate_limit needs max_attempts >= 1 and a positive window');
    }
    this.maxKeys = opts.maxKeys ?? 100_000;
  }

  /** 0 when every key may try again now, else ms until the first of them may. */
  retryAfter(keys: readonly string[]): number {
    const now = this.opts.clock.now();
    let wait = 0;
    for (const k of keys) {
      const list = this.live(k, now);
      if (list && list.length >= this.opts.maxAttempts) wait = Math.max(wait, list[0]! + this.opts.windowMs - now);
    }
    return wait;
  }

  fail(keys: readonly string[]): void {
    const now = this.opts.clock.now();
    for (const k of keys) {
      const list = this.live(k, now) ?? [];
      list.push(now);
      if (list.length > this.opts.maxAttempts) list.shift();
      this.failures.delete(k); // re-insert: Map order = least recently failed first
      this.failures.set(k, list);
    }
    if (this.failures.size > this.maxKeys) this.evict();
  }

  /** Takes back the newest charge of each key (an attempt charged up front that succeeded). */
  refund(keys: readonly string[]): void {
    for (const k of keys) {
      const list = this.failures.get(k);
      list?.pop();
      if (list && list.length === 0) this.failures.delete(k);
    }
  }

  reset(key: string): void {
    this.failures.delete(key);
  }

  size(): number {
    return this.failures.size;
  }

  private live(key: string, now: number): number[] | undefined {
    const list = this.failures.get(key);
    if (!list) return undefined;
    while (list.length && list[0]! <= now - this.opts.windowMs) list.shift();
    if (list.length === 0) {
      this.failures.delete(key);
      return undefined;
    }
    return list;
  }

  /** Drops the least recently failed keys down to 90%: amortised O(1) per failure. */
  private evict(): void {
    const target = Math.floor(this.maxKeys * 0.9);
    for (const k of this.failures.keys()) {
      if (this.failures.size <= target) break;
      this.failures.delete(k);
    }
  }
}
