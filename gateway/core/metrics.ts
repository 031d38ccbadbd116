// Prometheus metrics for every component, in one registry served by the viewer's /metrics.
// Per-request metrics are kept in plain local cells (an increment, a bucket search) and handed to
// prom-client only when the registry is scraped: prom-client's own label hashing and observe()
// cost more per request than the rest of the proxy's bookkeeping together.
import client from 'prom-client';

/** One label set's running count, bumped directly by the hot path (`cell.n++`). */
export interface CountCell {
  n: number;
}

/** Counts kept outside prom-client and added to a prom-client Counter when it is collected. */
export class LocalCounts<L extends string> {
  private readonly cells: { labels: Partial<Record<L, string>>; cell: CountCell }[] = [];

  /** A new cell for these labels; callers keep it (one lookup per label set, not per event). */
  cell(labels: Partial<Record<L, string>>): CountCell {
    const cell = { n: 0 };
    this.cells.push({ labels, cell });
    return cell;
  }

  /** Moves the pending counts into the counter (its `collect` hook). */
  flush(counter: client.Counter<L>): void {
    for (const { labels, cell } of this.cells) {
      if (cell.n === 0) continue;
      counter.inc(labels, cell.n);
      cell.n = 0;
    }
  }
}

/** One label set of a LocalHistogram: per-bucket counts (not cumulative), sum and count. */
export class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(v: number): void {
    const b = this.bounds;
    // Few buckets: a linear scan beats a binary search; values over the last bound only count in +Inf.
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += v;
    this.count++;
  }
}

/**
 * A labelled histogram served in prom-client's format (`_bucket{le}`, `_sum`, `_count`) from
 * plain arrays: registered in a Registry like any prom-client metric.
 */
export class LocalHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly bounds: readonly number[];
  private readonly cells = new Map<string, HistogramCell>();

  constructor(cfg: { name: string; help: string; buckets: readonly number[]; registers: client.Registry[] }) {
    this.name = cfg.name;
    this.help = cfg.help;
    this.bounds = [...cfg.buckets].sort((a, b) => a - b);
    for (const r of cfg.registers) r.registerMetric(this as unknown as client.Metric);
  }

  /** The cell for a label set (callers keep it). */
  cell(labels: Readonly<Record<string, string>>): HistogramCell {
    const key = JSON.stringify(Object.entries(labels).sort());
    let c = this.cells.get(key);
    if (c === undefined) {
      c = new HistogramCell(this.bounds, { ...labels });
      this.cells.set(key, c);
    }
    return c;
  }

  /** What a Registry reads when it serves the metric (prom-client's MetricObjectWithValues shape). */
  get(): { name: string; help: string; type: 'histogram'; values: client.MetricValueWithName<string>[]; aggregator: 'sum' } {
    const values: client.MetricValueWithName<string>[] = [];
    const bucket = `${this.name}_bucket`;
    for (const c of this.cells.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += c.counts[i]!;
        values.push({ metricName: bucket, labels: { ...c.labels, le: this.bounds[i]! }, value: acc });
      }
      values.push({ metricName: bucket, labels: { ...c.labels, le: '+Inf' }, value: c.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...c.labels }, value: c.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...c.labels }, value: c.count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }

  reset(): void {
    for (const c of this.cells.values()) {
      c.counts.fill(0);
      c.sum = 0;
      c.count = 0;
    }
  }
}

export class Metrics {
  readonly registry = new client.Registry();
  /** Hot-path counts behind httpRequests (see httpRequestCell()). */
  private readonly httpRequestCounts = new LocalCounts<'listener' | 'status'>();
  readonly httpRequests: client.Counter<'listener' | 'status'> = new client.Counter({
    name: 'sessiongate_http_requests_total',
    help: 'Requests answered by HTTP listeners, by listener and status',
    labelNames: ['listener', 'status'] as const,
    registers: [this.registry],
    collect: () => this.httpRequestCounts.flush(this.httpRequests),
  });
  readonly httpRefused = new client.Counter({
    name: 'sessiongate_http_refused_total',
    help: 'Requests refused by the gateway before reaching an upstream, by listener and reason',
    labelNames: ['listener', 'reason'] as const,
    registers: [this.registry],
  });
  /** Labels `listener`, `route`; observe through a cell (`upstreamLatency.cell({...}).observe(s)`). */
  readonly upstreamLatency = new LocalHistogram({
    name: 'sessiongate_upstream_latency_seconds',
    help: 'Time from forwarding a request to upstream response headers',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly recorderQueueDepth = new client.Gauge({
    name: 'sessiongate_recorder_queue_depth',
    help: 'Events waiting to be committed',
    registers: [this.registry],
  });
  readonly flushLatency = new client.Histogram({
    name: 'sessiongate_recorder_flush_seconds',
    help: 'Time to commit one batch of events to LMDB',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly eventsStored = new client.Counter({
    name: 'sessiongate_events_stored_total',
    help: 'Events committed to the store, by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly eventsLost = new client.Counter({
    name: 'sessiongate_events_lost_total',
    help: 'Events that could not be stored (each loss is also recorded as an audit.gap event)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly gaps = new client.Counter({
    name: 'sessiongate_audit_gaps_total',
    help: 'audit.gap events recorded',
    registers: [this.registry],
  });
  readonly forwardDelivered = new client.Counter({
    name: 'sessiongate_forward_delivered_total',
    help: 'Events delivered to a live-forwarding destination (SIEM), by forwarder',
    labelNames: ['forwarder'] as const,
    registers: [this.registry],
  });
  readonly forwardFailures = new client.Counter({
    name: 'sessiongate_forward_failures_total',
    help: 'Failed delivery attempts to a live-forwarding destination (retried), by forwarder',
    labelNames: ['forwarder'] as const,
    registers: [this.registry],
  });
  readonly forwardLag = new client.Gauge({
    name: 'sessiongate_forward_lag_seconds',
    help: 'Age of the oldest stored event not yet delivered, by forwarder',
    labelNames: ['forwarder'] as const,
    registers: [this.registry],
  });
  /** Counted at scrape time from whatever `countLiveSessions` returns (the app hands it the registry). */
  countLiveSessions: () => Record<string, number> = () => ({});
  readonly liveSessions: client.Gauge<'protocol'> = new client.Gauge({
    name: 'sessiongate_live_sessions',
    help: 'Live sessions in the registry, by protocol',
    labelNames: ['protocol'] as const,
    registers: [this.registry],
    collect: () => {
      this.liveSessions.reset();
      for (const [protocol, n] of Object.entries(this.countLiveSessions())) this.liveSessions.set({ protocol }, n);
    },
  });

  /** A cell counting requests for one listener and status (bump `n`; published at scrape time). */
  httpRequestCell(listener: string, status: string): CountCell {
    return this.httpRequestCounts.cell({ listener, status });
  }

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'sessiongate_' });
  }
}
