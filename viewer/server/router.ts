// A tiny exact router: the viewer has a handful of routes, and owning the match lets every
// miss be a JSON 404 and every wrong method a 405 with Allow, instead of uWS's defaults.
import type { Route } from './context.js';
import { badParam } from './reply.js';

export type Match = { route: Route; params: Record<string, string> } | { allow: string[] } | undefined;

interface Compiled {
  route: Route;
  segments: string[];
}

export class Router {
  private readonly compiled: Compiled[];

  constructor(routes: readonly Route[]) {
    this.compiled = routes.map((route) => ({ route, segments: route.path.split('/').slice(1) }));
  }

  /** HEAD is served by the GET route (headers only). */
  match(method: string, path: string): Match {
    const want = method === 'HEAD' ? 'GET' : method;
    const parts = path.split('/').slice(1);
    const allow = new Set<string>();
    for (const c of this.compiled) {
      const params = matchSegments(c.segments, parts);
      if (!params) continue;
      if (c.route.method === want) return { route: c.route, params };
      allow.add(c.route.method);
      if (c.route.method === 'GET') allow.add('HEAD');
    }
    return allow.size ? { allow: [...allow] } : undefined;
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const v = parts[i]!;
    if (p.startsWith(':')) {
      if (v.length === 0) return undefined;
      params[p.slice(1)] = decodeSegment(p.slice(1), v);
    } else if (p !== v) {
      return undefined;
    }
  }
  return params;
}

function decodeSegment(name: string, v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    throw badParam(name, 'malformed percent-encoding');
  }
}
