// `GET /api/events/:id`: one stored event, whatever its kind — the details view of the
// Sessions and Activity pages. Reading evidence is itself evidence: each read is an `activity`
// event (action `view`), recorded before the answer.
import { SgError } from '../../gateway/core/errors.js';
import { ID_RE } from '../../gateway/core/ids.js';
import { byUser, recordActivity, type Route, type ViewerContext } from './context.js';
import { onlyParams } from './live-routes.js';
import { badParam, json } from './reply.js';
import { REQUEST_READERS } from './requests-routes.js';

export function eventRoutes(ctx: ViewerContext): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/events/:id',
      access: REQUEST_READERS,
      handler: async ({ req, params, auth, ip }) => {
        onlyParams(req.query, []);
        const id = params.id!;
        if (!ID_RE.test(id)) throw badParam('id', 'not an event id (18 characters, as in an item\'s "id")');
        const event = ctx.deps.store.getEvent(id);
        if (!event) throw new SgError('SG_ERR_NOT_FOUND', 'no event with this id');
        await recordActivity(ctx, {
          ...byUser(auth!, ip),
          action: 'view',
          description: `viewed ${event.type} event ${id}`,
          targets: [{ kind: 'event', id }],
          details: { id, type: event.type },
        });
        return json(200, { event });
      },
    },
  ];
}
