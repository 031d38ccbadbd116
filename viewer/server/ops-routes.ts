// Unauthenticated endpoints: health for load balancers, Prometheus metrics, the API reference,
// and the browser app's files (ui-routes.ts), matched last.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Route, ViewerContext } from './context.js';
import { errorBody, json } from './reply.js';
import { uiRoutes } from './ui-routes.js';


/** docs/api.md, found from this file both in the source tree and in dist/. */
function findApiDoc(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      return readFileSync(join(dir, 'docs', 'api.md'), 'utf8');
    } catch {
      dir = dirname(dir);
    }
  }
  return undefined;
}

export function opsRoutes(ctx: ViewerContext): Route[] {
  let apiDoc: string | undefined | null = null;
  return [
    {
      method: 'GET',
      path: '/healthz',
      access: 'public',
      handler: () => {
        let h: { ok: boolean; details: Record<string, unknown> };
        try {
          h = ctx.deps.health();
        } catch (e) {
          ctx.deps.logger.error({ err: e }, 'health check failed');
          h = { ok: false, details: { error: 'health check failed' } };
        }
        return json(h.ok ? 200 : 503, { ...h.details, status: h.ok ? 'ok' : 'unavailable' });
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      access: 'public',
      handler: async () => {
        const reg = ctx.deps.metrics.registry;
        return { status: 200, contentType: reg.contentType, body: await reg.metrics() };
      },
    },
    {
      method: 'GET',
      path: '/docs/api.md',
      access: 'public',
      handler: () => {
        if (apiDoc === null) apiDoc = findApiDoc();
        if (apiDoc === undefined) return json(404, errorBody('SG_ERR_NOT_FOUND', 'the API reference is not installed'));
        return { status: 200, contentType: 'text/markdown; charset=utf-8', body: apiDoc };
      },
    },
    ...uiRoutes(),
  ];
}
