// Routes of one listener, compiled once: host pattern, path prefix, the upstream's undici Pool
// (one per route, so a slow upstream never blocks another route) and the route's identity rules.
// Matching is by Host (exact beats `*.suffix` beats any, port ignored, case-insensitive), then
// by the longest path prefix, then by config order.
import { Pool } from 'undici';
import type { RouteConfig } from '../../config/schema.js';
import { SgError } from '../core/errors.js';
import type { Clock } from '../core/runtime.js';
import type { Directory } from './analysis/directory.js';
import { RouteIdentity } from './analysis/identity.js';
import { hostOnly } from './request-head.js';

/**
 * How long an idle upstream connection is kept when the upstream does not say (`Keep-Alive:
 * timeout=N` answers are followed, capped at this). Short values make the pool reconnect under
 * uneven load (a connect per request at worst); a server that closes earlier without saying so is
 * caught by undici's idle-socket check before reuse (the FIN is already queued), so long is safe.
 */
export const DEFAULT_UPSTREAM_KEEP_ALIVE_MS = 60_000;

export interface RouteDeps {
  clock: Clock;
  directory: Directory;
  /** Upstream idle keep-alive and cap on server hints, ms (default DEFAULT_UPSTREAM_KEEP_ALIVE_MS). */
  keepAliveMs?: number;
}

export class CompiledRoute {
  readonly name: string;
  readonly realm: string;
  /** Exact host (lowercase), or undefined. */
  readonly host: string | undefined;
  /** `.example.com` for `*.example.com`, or undefined. */
  readonly hostSuffix: string | undefined;
  readonly prefix: string;
  /** `http://host:port` of the upstream. */
  readonly origin: string;
  /** Path of the upstream URL without trailing slash (`''` for none), prepended to request targets. */
  readonly basePath: string;
  readonly pool: Pool;
  readonly identity: RouteIdentity;
  /** Identity response headers (lowercase) stripped before the client sees the answer. */
  readonly identityHeaders: ReadonlySet<string>;
  /** The route learns identities somehow (header, JWT, Basic, form): answers are then inspected. */
  readonly hasIdentity: boolean;
  /** The session cookie name, when the route has one. */
  readonly sessionCookie: string | undefined;
  /** Cookie deleting the session cookie; sent with the refusal of a revoked session. */
  readonly clearSessionCookie: string | undefined;
  readonly rank: number;

  constructor(
    readonly cfg: RouteConfig,
    readonly index: number,
    deps: RouteDeps,
  ) {
    this.name = cfg.name;
    this.realm = cfg.realm;
    const pattern = cfg.match.host?.trim();
    if (pattern && pattern.startsWith('*.')) {
      this.hostSuffix = hostOnly(pattern.slice(1));
      if (this.hostSuffix.length < 2) throw new SgError('SG_ERR_CONFIG_INVALID', `route "${cfg.name}": invalid host pattern "${pattern}"`);
    } else if (pattern) {
      this.host = hostOnly(pattern);
    }
    this.prefix = cfg.match.path_prefix;
    let u: URL;
    try {
      u = new URL(cfg.upstream);
    } catch (e) {
      throw new SgError('SG_ERR_CONFIG_INVALID', `route "${cfg.name}": invalid upstream URL "${cfg.upstream}"`, { cause: e });
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || u.search || u.hash) {
      throw new SgError('SG_ERR_CONFIG_INVALID', `route "${cfg.name}": upstream must be http(s)://host[:port][/path] without credentials, query or fragment`);
    }
    this.origin = u.origin;
    this.basePath = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '');
    // Ranking: host specificity first, then prefix length; config order breaks ties (stable sort).
    this.rank = (this.host !== undefined ? 2_000_000 : this.hostSuffix !== undefined ? 1_000_000 + this.hostSuffix.length * 1000 : 0) + this.prefix.length;
    this.identity = new RouteIdentity(cfg, { clock: deps.clock, directory: deps.directory });
    this.identityHeaders = new Set(this.identity.identityHeaderNames());
    const idc = cfg.identity;
    this.hasIdentity = !!(idc.header || idc.jwt || idc.basic || idc.form);
    this.sessionCookie = cfg.session.cookie || undefined;
    this.clearSessionCookie = this.sessionCookie ? `${this.sessionCookie}=; Path=/; Max-Age=0; HttpOnly` : undefined;
    const keepAlive = deps.keepAliveMs ?? DEFAULT_UPSTREAM_KEEP_ALIVE_MS;
    if (!Number.isFinite(keepAlive) || keepAlive <= 0) throw new SgError('SG_ERR_CONFIG_INVALID', `route "${cfg.name}": invalid upstream keep-alive ${keepAlive}`);
    this.pool = new Pool(this.origin, {
      connections: cfg.connections,
      pipelining: 1,
      keepAliveTimeout: keepAlive,
      keepAliveMaxTimeout: keepAlive,
      headersTimeout: cfg.timeouts.headers,
      bodyTimeout: cfg.timeouts.body,
      connect: { timeout: cfg.timeouts.connect },
      strictContentLength: true,
    });
  }

  /** True when the host (already reduced by hostOnly) and the target's path fit this route. */
  matches(host: string, target: string): boolean {
    if (this.host !== undefined) {
      if (host !== this.host) return false;
    } else if (this.hostSuffix !== undefined) {
      if (host.length <= this.hostSuffix.length || !host.endsWith(this.hostSuffix)) return false;
    }
    return prefixMatches(this.prefix, target);
  }

  /** The path sent upstream: the upstream URL's path, then the target as received. */
  upstreamPath(target: string): string {
    return this.basePath === '' ? target : this.basePath + target;
  }

  async close(graceful: boolean): Promise<void> {
    this.identity.close();
    if (graceful) await this.pool.close().catch(() => undefined);
    else await this.pool.destroy().catch(() => undefined);
  }
}

/** Segment-aware: `/app` matches `/app`, `/app/x`, `/app?q`, not `/apple`; `/app/` matches `/app/x`. */
export function prefixMatches(prefix: string, target: string): boolean {
  if (prefix === '/') return true;
  if (!target.startsWith(prefix)) return false;
  if (target.length === prefix.length || prefix.charCodeAt(prefix.length - 1) === 0x2f) return true;
  const c = target.charCodeAt(prefix.length);
  return c === 0x2f /* / */ || c === 0x3f /* ? */;
}

export class RouteTable {
  readonly routes: readonly CompiledRoute[];

  constructor(routes: readonly RouteConfig[], deps: RouteDeps) {
    if (routes.length === 0) throw new SgError('SG_ERR_CONFIG_INVALID', 'an HTTP listener needs at least one route');
    const compiled: CompiledRoute[] = [];
    try {
      routes.forEach((r, i) => compiled.push(new CompiledRoute(r, i, deps)));
    } catch (e) {
      for (const c of compiled) void c.close(false);
      throw e;
    }
    this.routes = compiled.sort((a, b) => b.rank - a.rank || a.index - b.index);
  }

  /** The best route for a Host header value (raw) and request target, or undefined. */
  match(hostHeader: string | undefined, target: string): CompiledRoute | undefined {
    const host = hostOnly(hostHeader);
    for (const r of this.routes) if (r.matches(host, target)) return r;
    return undefined;
  }

  async close(graceful: boolean): Promise<void> {
    await Promise.all(this.routes.map((r) => r.close(graceful)));
  }
}
