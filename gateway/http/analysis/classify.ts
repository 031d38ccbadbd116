// WEB vs API and the panel action of a request, from the route's rules. Both run on every request:
// the route's path lists are compiled once and kept beside the route object.
import type { RouteConfig } from '../../../config/schema.js';
import type { HttpAction, HttpSource } from '../../../recorder/events.js';
import { PathList, requestPath } from './path-match.js';

interface Compiled {
  api: PathList;
  login: PathList;
  logout: PathList;
}

const compiled = new WeakMap<RouteConfig, Compiled>();

function compile(route: RouteConfig): Compiled {
  let c = compiled.get(route);
  if (!c) {
    c = {
      api: new PathList((route.api?.path_prefixes ?? []).map((p) => (p.endsWith('*') ? p : p + '*'))),
      login: new PathList(route.actions?.login ?? []),
      logout: new PathList(route.actions?.logout ?? []),
    };
    compiled.set(route, c);
  }
  return c;
}

/** True when the Authorization header carries a Bearer token (scheme is case-insensitive). */
export function isBearer(authorization: string | undefined): boolean {
  return authorization !== undefined && authorization.length > 7 && /^bearer[ \t]+\S/i.test(authorization);
}

/** `API` when any of the route's rules matches (path prefix, bearer token, JSON-only Accept). */
export function requestSource(route: RouteConfig, path: string, authorization: string | undefined, accept: string | undefined): HttpSource {
  const api = route.api;
  const c = compile(route);
  if (!c.api.empty && c.api.has(requestPath(path))) return 'API';
  if (api?.bearer && isBearer(authorization)) return 'API';
  if (api?.accept_json && accept) {
    const a = accept.toLowerCase();
    if (a.includes('application/json') && !a.includes('text/html')) return 'API';
  }
  return 'WEB';
}

const BY_METHOD = new Map<string, HttpAction>([
  ['GET', 'view'],
  ['HEAD', 'view'],
  ['OPTIONS', 'view'],
  ['POST', 'create'],
  ['PUT', 'update'],
  ['PATCH', 'update'],
  ['DELETE', 'delete'],
]);

// Reading a form page or a CORS preflight is not the action itself.
const PASSIVE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * What the request does. A login path counts as `login` only for a non-GET/HEAD/OPTIONS method (a
 * GET is the form page); a logout path is `logout` for any method but HEAD/OPTIONS (panels log out
 * with GET links). Otherwise the method decides; unknown methods are `view`.
 */
export function requestAction(route: RouteConfig, method: string, path: string): HttpAction {
  // uWS reports methods in lowercase; HTTP methods are case-sensitive but panels treat them as upper.
  const m = method.length <= 7 ? method.toUpperCase() : method;
  const c = compile(route);
  if (!c.login.empty || !c.logout.empty) {
    const p = requestPath(path);
    if (!PASSIVE.has(m) && c.login.has(p)) return 'login';
    if ((m === 'GET' || !PASSIVE.has(m)) && c.logout.has(p)) return 'logout';
  }
  return BY_METHOD.get(m) ?? 'view';
}
