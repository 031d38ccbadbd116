// Viewer users (admin role only): list, create, change role / email / panel identities, reset
// a password, remove — the same UserStore the CLI's `sessiongate users` manages. A password the
// server generates is in its answer once and nowhere else (no log, no record). Nobody can remove
// themselves, and the last admin can be neither removed nor demoted: the viewer is never left
// without an administrator by a click. Sessions of a user end when they are removed, lose their
// role or get a new password (authenticate() checks that on every request; ended here at once).
import { SgError } from '../../gateway/core/errors.js';
import { generatePassword, validateUserName, VIEWER_ROLES, type User, type ViewerRole } from '../../gateway/core/users.js';
import { byUser, recordActivity, type ActivityInput, type Authed, type Route, type ViewerContext } from './context.js';
import { onlyFields, stringField } from './fields.js';
import { onlyParams } from './live-routes.js';
import { badParam, json } from './reply.js';

const ADMINS = ['admin'] as const;
const PASSWORD_MAX = 1024;
const EMAIL_MAX = 254;

/** A user as the API shows it: never the password hash. */
export interface UserView {
  name: string;
  email: string | null;
  role: ViewerRole | null;
  panel_identities: string[];
  /** SSH gateway access: public key lines and `SERVER:ACCOUNT` targets. */
  ssh_keys: string[];
  targets: string[];
  created_at: number;
  password_changed_at: number;
}

export function userView(u: User): UserView {
  return { name: u.name, email: u.email ?? null, role: u.role ?? null, panel_identities: u.panel_identities, ssh_keys: u.ssh_keys ?? [], targets: (u.targets ?? []).map((t) => `${t.server}:${t.account}`), created_at: u.created_at, password_changed_at: u.password_changed_at };
}

/** `ssh_keys` (public key lines) and `targets` (`SERVER:ACCOUNT` strings), when given. */
function sshAccessFields(body: Record<string, unknown>): { ssh_keys?: string[]; targets?: { server: string; account: string }[] } | undefined {
  const out: { ssh_keys?: string[]; targets?: { server: string; account: string }[] } = {};
  for (const k of ['ssh_keys', 'targets'] as const) {
    if (!Object.hasOwn(body, k)) continue;
    const v = body[k];
    if (!Array.isArray(v) || v.length > 100 || v.some((x) => typeof x !== 'string' || x.length > 16_384)) throw badParam(k, 'a list of at most 100 strings');
    if (k === 'ssh_keys') out.ssh_keys = v as string[];
    else
      out.targets = (v as string[]).map((x) => {
        const m = /^([^:]+):(.+)$/.exec(x.trim());
        if (!m) throw badParam('targets', `${JSON.stringify(x.slice(0, 80))}: use SERVER:ACCOUNT`);
        return { server: m[1]!, account: m[2]! };
      });
  }
  return Object.keys(out).length ? out : undefined;
}

/** `role`: one of the roles, or null for none. `undefined` when absent and not required. */
function roleField(body: Record<string, unknown>, required: boolean): ViewerRole | null | undefined {
  if (!Object.hasOwn(body, 'role')) {
    if (required) throw badParam('role', `is required: ${VIEWER_ROLES.join(', ')} or null (no role)`);
    return undefined;
  }
  const v = body.role;
  if (v === null) return null;
  if (typeof v !== 'string' || !(VIEWER_ROLES as readonly string[]).includes(v)) throw badParam('role', `use ${VIEWER_ROLES.join(', ')} or null (no role)`);
  return v as ViewerRole;
}

/** The store's own errors in the API's terms (its validation already names the field). */
function apiError(e: unknown): unknown {
  if (!(e instanceof SgError)) return e;
  if (e.code === 'SG_ERR_USER_EXISTS') return new SgError('SG_ERR_CONFLICT', e.message, { details: { param: 'name' } });
  if (e.code === 'SG_ERR_USER_NOT_FOUND') return new SgError('SG_ERR_NOT_FOUND', e.message);
  if (e.code === 'SG_ERR_BAD_PASSWORD') return new SgError('SG_ERR_BAD_PARAM', e.message, { details: { param: 'password' } });
  return e;
}

function roleText(role: ViewerRole | null | undefined): string {
  return role ?? 'no role';
}

export function usersRoutes(ctx: ViewerContext): Route[] {
  const { users } = ctx.deps;

  // One change at a time: "is this the last admin?" and the write that follows must not
  // interleave with another request's (two admins demoting each other at once).
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(auth: Authed, fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(() => {
      // The caller may have been demoted by a change queued before theirs.
      if (users.get(auth.user.name)?.role !== 'admin') throw new SgError('SG_ERR_FORBIDDEN', 'you are no longer an admin');
      return fn();
    });
    chain = run.catch(() => undefined);
    return run.catch((e: unknown) => {
      throw apiError(e);
    });
  };

  const existing = (name: string): User => {
    const u = users.get(validateUserName(name));
    if (!u) throw new SgError('SG_ERR_NOT_FOUND', `no viewer user "${name}"`);
    return u;
  };
  const isSelf = (auth: Authed, u: User) => auth.user.name.toLowerCase() === u.name.toLowerCase();
  const lastAdmin = (u: User) => u.role === 'admin' && users.list().filter((x) => x.role === 'admin').length <= 1;
  const record = (auth: Authed, ip: string, u: User, a: Pick<ActivityInput, 'action' | 'description' | 'details'>) =>
    recordActivity(ctx, { ...byUser(auth, ip), ...a, targets: [{ kind: 'user', id: u.name }] });
  /** The password given (checked by the store) or a generated one, returned once. */
  const passwordOf = (body: Record<string, unknown>) => {
    const given = stringField(body, 'password', { max: PASSWORD_MAX, raw: true });
    return given === undefined ? { password: generatePassword(), generated: true } : { password: given, generated: false };
  };

  return [
    {
      method: 'GET',
      path: '/api/users',
      access: ADMINS,
      handler: ({ req }) => {
        onlyParams(req.query, []);
        const items = users.list().map(userView);
        return json(200, { items, total: items.length });
      },
    },
    {
      method: 'POST',
      path: '/api/users',
      access: ADMINS,
      body: true,
      handler: ({ body, auth, ip }) => {
        onlyFields(body, ['name', 'email', 'role', 'password', 'panel_identities']);
        const name = validateUserName(stringField(body, 'name', { max: 64, required: true }));
        const email = stringField(body, 'email', { max: EMAIL_MAX });
        const role = roleField(body, true);
        const { password, generated } = passwordOf(body);
        return serial(auth!, async () => {
          const user = await users.add({ name, email, role: role ?? undefined, password, panel_identities: body.panel_identities as string[] | undefined });
          await record(auth!, ip, user, {
            action: 'create',
            description: `created viewer user ${user.name} (${roleText(user.role)})`,
            details: { user: userView(user), password_generated: generated },
          });
          return json(201, generated ? { user: userView(user), password } : { user: userView(user) });
        });
      },
    },
    {
      method: 'PATCH',
      path: '/api/users/:name',
      access: ADMINS,
      body: true,
      handler: ({ params, body, auth, ip }) => {
        onlyFields(body, ['role', 'email', 'panel_identities', 'ssh_keys', 'targets']);
        validateUserName(params.name);
        const role = roleField(body, false);
        const hasEmail = Object.hasOwn(body, 'email');
        const email = stringField(body, 'email', { max: EMAIL_MAX }) ?? null;
        const hasIds = Object.hasOwn(body, 'panel_identities');
        const ssh = sshAccessFields(body);
        if (role === undefined && !hasEmail && !hasIds && !ssh) throw new SgError('SG_ERR_BAD_REQUEST', 'nothing to change: give role, email, panel_identities, ssh_keys or targets');
        return serial(auth!, async () => {
          const before = existing(params.name!);
          const newRole = role === undefined ? (before.role ?? null) : role;
          if (newRole !== 'admin' && lastAdmin(before)) throw new SgError('SG_ERR_CONFLICT', `${before.name} is the last admin: make another user admin first`, { details: { param: 'role' } });
          let after = before;
          if (hasEmail || hasIds) {
            const patch: { email?: string | null; panel_identities?: string[] } = {};
            if (hasEmail) patch.email = email;
            if (hasIds) patch.panel_identities = (body.panel_identities ?? []) as string[];
            after = await users.update(before.name, patch);
          }
          if (ssh) after = await users.setSshAccess(before.name, ssh).catch((e: unknown) => {
            // The store names the list entry; the API names the body field.
            if (e instanceof SgError && e.code === 'SG_ERR_BAD_PARAM') throw badParam(/^targets/.test(e.message) ? 'targets' : 'ssh_keys', e.message);
            throw e;
          });
          if (role !== undefined) after = await users.setRole(before.name, role);
          if (!after.role) ctx.sessions.destroyUser(after.name);
          const changes: Record<string, { from: unknown; to: unknown }> = {};
          const b = userView(before);
          const a = userView(after);
          for (const k of ['role', 'email', 'panel_identities', 'ssh_keys', 'targets'] as const) {
            if (JSON.stringify(b[k]) !== JSON.stringify(a[k])) changes[k] = { from: b[k], to: a[k] };
          }
          const what = Object.keys(changes);
          await record(auth!, ip, after, {
            action: 'update',
            description: `updated viewer user ${after.name}: ${what.length ? what.map((k) => (k === 'role' ? `role ${roleText(b.role)} -> ${roleText(a.role)}` : k)).join(', ') : 'no change'}`,
            details: { fields: what, changes },
          });
          return json(200, { user: a });
        });
      },
    },
    {
      method: 'POST',
      path: '/api/users/:name/password',
      access: ADMINS,
      body: true,
      handler: ({ params, body, auth, ip }) => {
        onlyFields(body, ['password']);
        validateUserName(params.name);
        const { password, generated } = passwordOf(body);
        return serial(auth!, async () => {
          const user = await users.setPassword(existing(params.name!).name, password);
          // Every session of the user ends (the caller's own too, when it is their password).
          ctx.sessions.destroyUser(user.name);
          await record(auth!, ip, user, {
            action: 'update',
            description: `reset the password of viewer user ${user.name}`,
            details: { field: 'password', password_generated: generated },
          });
          return json(200, generated ? { user: userView(user), password } : { user: userView(user) });
        });
      },
    },
    {
      method: 'DELETE',
      path: '/api/users/:name',
      access: ADMINS,
      handler: ({ params, auth, ip }) => {
        validateUserName(params.name);
        return serial(auth!, async () => {
          const user = existing(params.name!);
          if (isSelf(auth!, user)) throw new SgError('SG_ERR_CONFLICT', 'you cannot remove yourself: another admin can', { details: { param: 'name' } });
          if (lastAdmin(user)) throw new SgError('SG_ERR_CONFLICT', `${user.name} is the last admin: make another user admin first`, { details: { param: 'name' } });
          await users.remove(user.name);
          ctx.sessions.destroyUser(user.name);
          await record(auth!, ip, user, {
            action: 'delete',
            description: `removed viewer user ${user.name} (${roleText(user.role)})`,
            details: { user: userView(user) },
          });
          return json(200, { user: userView(user) });
        });
      },
    },
  ];
}
