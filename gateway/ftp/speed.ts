// Transfer speed over a sliding window: bytes per 250 ms bucket over the last 5 s.
const BUCKET_MS = 250;
const BUCKETS = 20;

export class SpeedMeter {
  private readonly buckets = new Float64Array(BUCKETS);
  private stamp = 0;
  private readonly started: number;

  constructor(now: number) {
    this.started = now;
    this.stamp = Math.floor(now / BUCKET_MS);
  }

  private roll(now: number): void {
    const b = Math.floor(now / BUCKET_MS);
    const steps = Math.min(b - this.stamp, BUCKETS);
    for (let i = 1; i <= steps; i++) this.buckets[(this.stamp + i) % BUCKETS] = 0;
    if (b > this.stamp) this.stamp = b;
  }

  add(n: number, now: number): void {
    this.roll(now);
    this.buckets[this.stamp % BUCKETS]! += n;
  }

  /** Bytes per second over the window (or since the start when that is shorter). */
  rate(now: number): number {
    this.roll(now);
    let sum = 0;
    for (let i = 0; i < BUCKETS; i++) sum += this.buckets[i]!;
    const span = Math.min(BUCKETS * BUCKET_MS, Math.max(now - this.started, BUCKET_MS));
    return Math.round((sum * 1000) / span);
  }
}
