// The proxy logic of one HTTP listener, shared by both engines: per-listener state (routes,
// trusted proxies, URL redaction, session hashing, live panel sessions), the entry points the
// engine calls, in-flight accounting for graceful close, metrics, and the request record.
import type { HttpListenerConfig } from '../../config/schema.js';
import type { HttpRequestEvent, HttpSource } from '../../recorder/events.js';
import type { Emitter } from '../../recorder/emitter.js';
import type { AccessControl } from '../core/access.js';
import type { CountCell, HistogramCell, Metrics } from '../core/metrics.js';
import type { SessionRegistry } from '../core/registry.js';
import type { Clock, Logger } from '../core/runtime.js';
import { normalizeIp, TrustedProxies } from '../core/client-ip.js';
import type { Directory } from './analysis/directory.js';
import { UrlRecorder } from './analysis/redact.js';
import { SessionKeyHasher } from './analysis/session-key.js';
import type { BodyListener, EngineHandlers, RequestHead, ServerExchange, UpgradeExchange } from './engines/engine.js';
import { ProxyExchange, UpgradeCall, type RequestContext } from './exchange.js';
import { PanelSessions, userRef } from './panel-sessions.js';
import type { HeadLimits, HeadScan } from './request-head.js';
import { RouteTable, type CompiledRoute } from './routes.js';
import { describeError } from './upstream-errors.js';

export interface HttpFrontendDeps {
  clock: Clock;
  logger: Logger;
  /** emit() per request, never awaited (best_effort). */
  emitter: Emitter;
  /** Live panel sessions. */
  registry: SessionRegistry;
  /** Revoked session keys, locks. */
  access: AccessControl;
  directory: Directory;
  metrics: Metrics;
  /** The viewer's session cookie: stripped from proxied requests. */
  viewerCookieName: string;
  /** Keys the panel-session-key hash (HMAC); at least 16 bytes. */
  sessionKeySecret: Buffer;
  /** Upstream idle keep-alive (and cap on `Keep-Alive: timeout` hints), ms; default 60 s. */
  upstreamKeepAliveMs?: number;
}

/** Recorded user agents are cut to this many chars (records stay small; the head limit bounds the rest). */
const MAX_USER_AGENT = 512;
/** At most one "upstream failing" warning per route per this many ms; the rest are counted. */
const WARN_EVERY_MS = 10_000;

export class HttpProxy implements EngineHandlers {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly access: AccessControl;
  readonly listener: string;
  readonly scheme: 'http' | 'https';
  readonly limits: HeadLimits;
  readonly routes: RouteTable;
  readonly trusted: TrustedProxies;
  readonly urls: UrlRecorder;
  readonly hasher: SessionKeyHasher;
  readonly sessions: PanelSessions;
  readonly viewerCookieName: string;
  /** The engine writes its own Date header: drop the upstream's (set once the engine exists). */
  addsDate = false;
  /** Close has begun: the gateway's own answers close their connection. */
  closing = false;
  /** The grace period is over and connections are being cut (records say `gateway_shutdown`). */
  cutting = false;
  private readonly emitter: Emitter;
  private readonly metrics: Metrics;
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly byStatus = new Map<number, CountCell>();
  private readonly latency = new Map<CompiledRoute, HistogramCell>();
  private readonly warned = new Map<string, { at: number; suppressed: number }>();

  constructor(cfg: HttpListenerConfig, deps: HttpFrontendDeps) {
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.access = deps.access;
    this.emitter = deps.emitter;
    this.metrics = deps.metrics;
    this.listener = cfg.name;
    this.scheme = cfg.tls ? 'https' : 'http';
    this.viewerCookieName = deps.viewerCookieName;
    this.limits = {
      maxHeaderBytes: cfg.limits.max_header_bytes,
      maxUrlBytes: cfg.limits.max_url_bytes,
      maxHeaders: cfg.limits.max_headers,
      maxBodyBytes: cfg.limits.max_body_bytes,
    };
    this.trusted = new TrustedProxies(cfg.trusted_proxies);
    this.urls = new UrlRecorder(cfg.redact_query);
    this.hasher = new SessionKeyHasher(deps.sessionKeySecret);
    this.routes = new RouteTable(cfg.routes, { clock: deps.clock, directory: deps.directory, keepAliveMs: deps.upstreamKeepAliveMs });
    this.sessions = new PanelSessions({
      clock: deps.clock,
      logger: deps.logger,
      registry: deps.registry,
      access: deps.access,
      listener: cfg.name,
      idleMs: cfg.idle_timeout,
    });
  }

  // ---- engine entry points ----

  request(head: RequestHead, ex: ServerExchange, expectsBody: boolean): BodyListener {
    const x = new ProxyExchange(this, head, ex, expectsBody);
    try {
      x.start();
    } catch (e) {
      this.logger.error({ err: describeError(e) }, 'request handling failed');
      x.internalError();
    }
    return x;
  }

  upgrade(head: RequestHead, up: UpgradeExchange): void {
    const x = new UpgradeCall(this, head, up);
    try {
      x.start();
    } catch (e) {
      this.logger.error({ err: describeError(e) }, 'upgrade handling failed');
      x.internalError();
    }
  }

  // ---- shared helpers for exchanges ----

  peerIp(peer: string): string {
    return normalizeIp(peer);
  }

  /** WEB/API for requests no route classifies (refused early): JSON-only Accept or /api/ means API. */
  fallbackSource(target: string, scan: HeadScan): HttpSource {
    if (target.startsWith('/api/')) return 'API';
    const a = scan.accept?.toLowerCase();
    return a !== undefined && a.includes('application/json') && !a.includes('text/html') ? 'API' : 'WEB';
  }

  refused(reason: string): void {
    this.metrics.httpRefused.inc({ listener: this.listener, reason });
  }

  observeUpstream(route: CompiledRoute, ms: number): void {
    let h = this.latency.get(route);
    if (h === undefined) {
      h = this.metrics.upstreamLatency.cell({ listener: this.listener, route: route.name });
      this.latency.set(route, h);
    }
    h.observe(ms / 1000);
  }

  /** Logs an unreachable / slow upstream, at most once per route every few seconds. */
  upstreamFailed(route: CompiledRoute, err: unknown, kind: string): void {
    const now = this.clock.now();
    const key = `${route.name}:${kind}`;
    const w = this.warned.get(key);
    if (w && now - w.at < WARN_EVERY_MS) {
      w.suppressed++;
      return;
    }
    this.warned.set(key, { at: now, suppressed: 0 });
    this.logger.warn({ route: route.name, upstream: route.origin, kind, err: err === undefined ? undefined : describeError(err), suppressed: w?.suppressed ?? 0 }, 'upstream failing');
  }

  /** A request started (paired with end()). */
  begin(): void {
    this.inflight++;
  }

  /** A request is over: metrics and its one record. */
  end(x: RequestContext): void {
    this.inflight--;
    let c = this.byStatus.get(x.status);
    if (c === undefined) {
      c = this.metrics.httpRequestCell(this.listener, String(x.status));
      this.byStatus.set(x.status, c);
    }
    c.n++;
    try {
      this.emitter.emit(this.event(x));
    } catch (e) {
      this.logger.error({ err: describeError(e) }, 'could not hand the request record to the recorder');
    }
    if (this.inflight === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  get inFlight(): number {
    return this.inflight;
  }

  /** Resolves true once no request is in flight, false when `ms` passes first. */
  waitIdle(ms: number): Promise<boolean> {
    if (this.inflight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((f) => f !== done);
        resolve(false);
      }, ms);
      const done = () => {
        clearTimeout(t);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  private event(x: RequestContext): Omit<HttpRequestEvent, 'id'> {
    const route = x.route;
    const id = x.identity;
    const scan = x.scan;
    const ev: Omit<HttpRequestEvent, 'id'> = {
      type: 'http.request',
      ts: x.ts,
      realm: route?.realm ?? '',
      listener: this.listener,
      route: route?.name ?? '',
      source: x.source,
      method: x.head.method,
      url: this.urls.storedUrl(this.scheme, scan.host ?? '', utf8Text(x.head.target)),
      status: x.status,
      bytes_in: x.bytesIn,
      bytes_out: x.bytesOut,
      duration_ms: Math.round((performance.now() - x.t0) * 100) / 100,
      action: x.action,
      identity_verified: id?.verified === true,
    };
    if (x.ip) ev.ip = x.ip;
    const ua = scan.userAgent;
    if (ua) ev.user_agent = utf8Text(ua.length > MAX_USER_AGENT ? ua.slice(0, MAX_USER_AGENT) : ua);
    if (id) {
      const u = userRef(id);
      if (u) ev.user = u;
      if (id.client) ev.client = id.client;
      ev.identity_source = x.identitySource ?? id.source;
    }
    const ps = x.panelSession;
    if (ps) {
      ev.panel_session = ps;
      ev.session_id = `http:${ps}`;
    }
    if (x.error) ev.error = x.error;
    if (x.upstreamMs !== undefined) ev.upstream_ms = Math.round(x.upstreamMs * 100) / 100;
    return ev;
  }

  async close(graceful: boolean): Promise<void> {
    this.sessions.close();
    await this.routes.close(graceful);
  }
}

const NON_ASCII = /[^\x00-\x7f]/;

/** Heads are kept one char per byte; records show text, so UTF-8 sequences are decoded. */
function utf8Text(s: string): string {
  return NON_ASCII.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s;
}
