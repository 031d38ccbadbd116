// The evidence searches: `GET /api/requests` (panel requests, seeds 000/001), `/api/sessions`
// (server session logs, seed 003), `/api/activity` (seed 002), `/api/transfers` and
// `/api/timeline` (one identity across every kind). One route shape serves all five: parse the
// kind's parameters strictly, ask the store, and record the search itself as evidence.
import { SgError } from '../../gateway/core/errors.js';
import { byUser, recordActivity, type Route, type ViewerContext } from './context.js';
import { parseSearch } from './query-params.js';
import { badParam, json } from './reply.js';
import type { Page, SearchKind } from '../../recorder/store/types.js';

export const REQUEST_READERS = ['admin', 'auditor'] as const;

type SearchName = SearchKind | 'timeline';

const WHAT: Record<SearchName, string> = {
  requests: 'panel requests',
  sessions: 'server sessions',
  activity: 'the activity log',
  transfers: 'file transfers',
  timeline: 'an identity timeline',
};

/** The query as recorded in the activity event: what was asked, paging included. */
export function describeQuery(q: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(q)) if (v !== undefined) out[k] = v;
  return out;
}

/** The activity description of a search (HTTP or live stream). */
export function describeSearch(kind: SearchName, q: Record<string, unknown>): string {
  const who = kind === 'timeline' ? ` of ${String(q.login ?? q.email ?? q.ip).slice(0, 64)}` : '';
  const text = typeof q.q === 'string' ? ` for "${q.q.slice(0, 64)}"` : '';
  const realm = typeof q.realm === 'string' ? ` in realm ${q.realm}` : '';
  return `searched ${WHAT[kind]}${who}${text}${realm}`;
}

function searchRoute(ctx: ViewerContext, kind: SearchName): Route {
  return {
    method: 'GET',
    path: `/api/${kind}`,
    access: REQUEST_READERS,
    handler: async ({ req, ip, auth }) => {
      const opts = { hideMe: { logins: auth!.user.panel_identities, ips: [ip] } };
      const params = new URLSearchParams(req.query);
      const query = kind === 'timeline' ? parseSearch('timeline', params, opts) : parseSearch(kind, params, opts);
      let page: Page<unknown>;
      try {
        page = kind === 'timeline' ? ctx.deps.store.timeline(query) : ctx.deps.store.query(kind, query as never);
      } catch (e) {
        // The store validates the cursor's content; name the parameter for the client.
        if (e instanceof SgError && e.code === 'SG_ERR_BAD_PARAM' && e.details?.param === undefined) throw badParam('cursor', e.message);
        throw e;
      }
      await recordActivity(ctx, {
        ...byUser(auth!, ip),
        action: 'search',
        description: describeSearch(kind, query as Record<string, unknown>),
        details: { kind, query: describeQuery(query), returned: page.items.length, more: page.next_cursor !== undefined },
      });
      return json(200, page);
    },
  };
}

export function requestRoutes(ctx: ViewerContext): Route[] {
  return (['requests', 'sessions', 'activity', 'transfers', 'timeline'] as const).map((k) => searchRoute(ctx, k));
}
