// Live sessions (panel, SSH, FTP) and locks: what security staff use to see who is connected
// and to end a session or block a user / login / email / IP at once. Terminations are recorded
// by the registry itself; lock changes are recorded here.
import { duration } from '../../config/schema.js';
import { SgError } from '../../gateway/core/errors.js';
import type { LockKind } from '../../gateway/core/access.js';
import type { Protocol } from '../../recorder/events.js';
import { ALL_ROLES, byUser, recordActivity, type Route, type ViewerContext } from './context.js';
import { onlyFields, stringField } from './fields.js';
import { badParam, json } from './reply.js';

const ACTORS = ['admin', 'security'] as const;
const LOCK_KINDS: readonly LockKind[] = ['user', 'login', 'email', 'ip'];
const PROTOCOLS: readonly Protocol[] = ['ssh', 'sftp', 'ftp', 'http', 'web-ssh', 'local'];
const MAX_LOCK_MS = 10 * 365 * 86_400_000;

/** Refuses unknown or repeated query parameters (endpoints without filters take none). */
export function onlyParams(query: string, known: readonly string[]): URLSearchParams {
  const params = new URLSearchParams(query);
  for (const k of new Set(params.keys())) {
    if (!known.includes(k)) throw badParam(k.slice(0, 64).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?'), `unknown parameter${known.length ? ` (known: ${known.join(', ')})` : ''}`);
    if (params.getAll(k).length > 1) throw badParam(k, 'given more than once');
  }
  return params;
}

function lockDuration(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const r = duration.safeParse(v);
  if (!r.success || !(r.data > 0) || r.data > MAX_LOCK_MS) throw badParam('duration', 'use e.g. 30m, 8h, 7d or a positive number of ms (at most 10 years); leave it out for "until lifted"');
  return r.data;
}

export function liveRoutes(ctx: ViewerContext): Route[] {
  const { registry, access } = ctx.deps;
  return [
    {
      method: 'GET',
      path: '/api/live',
      access: ALL_ROLES,
      handler: ({ req }) => {
        const p = onlyParams(req.query, ['protocol']).get('protocol');
        if (p && !(PROTOCOLS as readonly string[]).includes(p)) throw badParam('protocol', `use one of ${PROTOCOLS.join(', ')}`);
        const items = registry.list(p ? { protocol: p as Protocol } : undefined);
        return json(200, { items, total: items.length });
      },
    },
    {
      method: 'POST',
      path: '/api/live/:id/terminate',
      access: ACTORS,
      body: true,
      handler: async ({ params, body, auth, ip }) => {
        onlyFields(body, ['reason']);
        const reason = stringField(body, 'reason', { max: 500, required: true })!;
        if (params.id!.length > 128) throw badParam('id', 'too long');
        const session = await registry.terminate(params.id!, { name: auth!.user.name, ip }, reason);
        return json(200, { session });
      },
    },
    {
      method: 'GET',
      path: '/api/locks',
      access: ALL_ROLES,
      handler: ({ req }) => {
        onlyParams(req.query, []);
        const items = access.listLocks();
        return json(200, { items, total: items.length });
      },
    },
    {
      method: 'POST',
      path: '/api/locks',
      access: ACTORS,
      body: true,
      handler: async ({ body, auth, ip }) => {
        onlyFields(body, ['kind', 'value', 'duration', 'reason']);
        const kind = stringField(body, 'kind', { max: 16, required: true })!;
        if (!(LOCK_KINDS as readonly string[]).includes(kind)) throw badParam('kind', `use one of ${LOCK_KINDS.join(', ')}`);
        const value = stringField(body, 'value', { max: 320, required: true })!;
        const durationMs = lockDuration(body.duration);
        const reason = stringField(body, 'reason', { max: 500 });
        const actor = auth!.user;
        const lock = access.lock({ kind: kind as LockKind, value, durationMs, actor: actor.name, reason });
        // Synchronously undone before anything else runs: a lock that would shut out the very
        // person setting it (their name, email or current IP) is a mistake, not a decision.
        if (access.check({ ip, user: actor.name, email: actor.email })) {
          access.unlock(lock.id);
          throw new SgError('SG_ERR_CONFLICT', 'this lock would lock you out of the viewer (your user, email or current IP)', { details: { param: 'value' } });
        }
        await recordActivity(ctx, {
          ...byUser(auth!, ip),
          action: 'lock',
          description: `locked ${lock.kind} ${lock.value}${lock.until ? ` until ${new Date(lock.until).toISOString()}` : ''}${reason ? `: ${reason}` : ''}`,
          targets: [{ kind: 'lock', id: lock.id }, { kind: lock.kind, id: lock.value }],
          details: { lock },
        });
        return json(201, { lock });
      },
    },
    {
      method: 'DELETE',
      path: '/api/locks/:id',
      access: ACTORS,
      handler: async ({ params, auth, ip }) => {
        const lock = access.unlock(params.id!);
        await recordActivity(ctx, {
          ...byUser(auth!, ip),
          action: 'unlock',
          description: `lifted the lock on ${lock.kind} ${lock.value}`,
          targets: [{ kind: 'lock', id: lock.id }, { kind: lock.kind, id: lock.value }],
          details: { lock },
        });
        return json(200, { lock });
      },
    },
  ];
}
