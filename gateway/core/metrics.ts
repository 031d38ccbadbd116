// Prometheus metrics for every component, in one registry served by the viewer's /metrics.
import client from 'prom-client';

export class Metrics {
  readonly registry = new client.Registry();
  readonly httpRequests = new client.Counter({
    name: 'sessiongate_http_requests_total',
    help: 'Requests answered by HTTP listeners, by listener and status',
    labelNames: ['listener', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpRefused = new client.Counter({
    name: 'sessiongate_http_refused_total',
    help: 'Requests refused by the gateway before reaching an upstream, by listener and reason',
    labelNames: ['listener', 'reason'] as const,
    registers: [this.registry],
  });
  readonly upstreamLatency = new client.Histogram({
    name: 'sessiongate_upstream_latency_seconds',
    help: 'Time from forwarding a request to upstream response headers',
    labelNames: ['listener', 'route'] as const,
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
  readonly liveSessions = new client.Gauge({
    name: 'sessiongate_live_sessions',
    help: 'Live sessions in the registry, by protocol',
    labelNames: ['protocol'] as const,
    registers: [this.registry],
  });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'sessiongate_' });
  }
}
