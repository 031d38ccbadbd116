// `GET /api/requests`: the recorded panel requests (seeds 000/001), newest first. Reading
// evidence is itself evidence: every search is an `activity` event saying who searched what.
import { SgError } from '../../gateway/core/errors.js';
import { byUser, recordActivity, type Route, type ViewerContext } from './context.js';
import { parseRequestQuery } from './query-params.js';
import { badParam, json } from './reply.js';
import type { RequestQuery } from '../../recorder/store/types.js';

export const REQUEST_READERS = ['admin', 'auditor'] as const;

/** The query as recorded in the activity event: filters only, no paging noise. */
export function describeQuery(q: RequestQuery): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['realm', 'from', 'to', 'q', 'source', 'method', 'limit', 'cursor'] as const) if (q[k] !== undefined) out[k] = q[k];
  if (q.hide) out.hide = q.hide;
  return out;
}

export function requestRoutes(ctx: ViewerContext): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/requests',
      access: REQUEST_READERS,
      handler: async ({ req, ip, auth }) => {
        const query = parseRequestQuery(new URLSearchParams(req.query), { hideMe: { logins: auth!.user.panel_identities, ips: [ip] } });
        let page;
        try {
          page = ctx.deps.store.queryRequests(query);
        } catch (e) {
          // The store validates the cursor's content; name the parameter for the client.
          if (e instanceof SgError && e.code === 'SG_ERR_BAD_PARAM' && e.details?.param === undefined) throw badParam('cursor', e.message);
          throw e;
        }
        const filters = describeQuery(query);
        await recordActivity(ctx, {
          ...byUser(auth!, ip),
          action: 'search',
          description: `searched panel requests${query.q ? ` for "${query.q.slice(0, 64)}"` : ''}${query.realm ? ` in realm ${query.realm}` : ''}`,
          details: { kind: 'requests', query: filters, returned: page.items.length, more: page.next_cursor !== undefined },
        });
        return json(200, page);
      },
    },
  ];
}
