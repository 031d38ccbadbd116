// Sign-in, sign-out and "who am I". Unknown user and wrong password get the same answer (and
// cost the same scrypt); every attempt is an `activity` event; a password never reaches a log
// or a record. Attempts are charged to the IP and the name BEFORE the password is checked, so
// parallel guesses cannot slip past the limit while the first ones are still hashing.
import { SgError } from '../../gateway/core/errors.js';
import { USER_NAME_RE, type User } from '../../gateway/core/users.js';
import { getCookie } from '../../gateway/http/analysis/session-key.js';
import { ALL_ROLES, byUser, recordActivity, userRef, type Route, type ViewerContext } from './context.js';
import { onlyFields, stringField } from './fields.js';
import { errorBody, json } from './reply.js';

function sessionCookie(ctx: ViewerContext, value: string, maxAgeS: number, secure: boolean): string {
  return `${ctx.cfg.cookie_name}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure ? '; Secure' : ''}`;
}

function publicUser(u: User): { name: string; email?: string; role?: string; panel_identities: string[] } {
  const out: { name: string; email?: string; role?: string; panel_identities: string[] } = { name: u.name, panel_identities: u.panel_identities };
  if (u.email) out.email = u.email;
  if (u.role) out.role = u.role;
  return out;
}

export function authRoutes(ctx: ViewerContext): Route[] {
  const { users, access, logger } = ctx.deps;
  return [
    {
      method: 'POST',
      path: '/api/login',
      access: 'public',
      body: true,
      handler: async ({ req, ip, body, secure }) => {
        onlyFields(body, ['name', 'password']);
        const name = stringField(body, 'name', { max: 256, required: true })!;
        const password = stringField(body, 'password', { max: 1024, required: true, raw: true })!;
        // A string that cannot be a user name may be a password typed into the wrong field: never record it.
        const validName = USER_NAME_RE.test(name);
        const nameKey = validName ? `user:${name.toLowerCase()}` : undefined;
        const keys = nameKey ? [`ip:${ip}`, nameKey] : [`ip:${ip}`];
        const failed = (reason: string, extra: Record<string, unknown> = {}) =>
          recordActivity(ctx, {
            initiator: validName ? name : '(invalid name)',
            ip,
            action: 'login_failed',
            description: `viewer sign-in refused${validName ? ` for "${name}"` : ''}: ${reason.replace(/_/g, ' ')}`,
            targets: validName ? [{ kind: 'user', id: name }] : undefined,
            details: { reason, user_agent: req.headers.get('user-agent')?.slice(0, 256), ...extra },
          });

        const wait = ctx.limiter.retryAfter(keys);
        if (wait > 0) {
          const seconds = Math.max(1, Math.ceil(wait / 1000));
          await failed('rate_limited', { retry_after_s: seconds });
          logger.warn({ ip, user: validName ? name : undefined }, 'viewer sign-in rate limited');
          return json(429, errorBody('SG_ERR_RATE_LIMITED', `too many failed sign-ins; try again in ${seconds} s`), [['Retry-After', String(seconds)]]);
        }
        ctx.limiter.fail(keys);
        const user = await users.verify(name, password);
        if (!user) {
          await failed(validName && users.get(name) ? 'bad_password' : 'unknown_user');
          logger.info({ ip, user: validName ? name : undefined }, 'viewer sign-in failed');
          throw new SgError('SG_ERR_AUTH_INVALID', 'invalid user name or password');
        }
        // The password was right: this attempt does not count against the IP or the name.
        ctx.limiter.refund([`ip:${ip}`]);
        if (nameKey) ctx.limiter.reset(nameKey);
        if (!user.role) {
          await failed('no_role');
          throw new SgError('SG_ERR_FORBIDDEN', `user "${user.name}" has no viewer role`);
        }
        const lock = access.check({ ip, user: user.name, email: user.email });
        if (lock) {
          await failed('locked', { lock: lock.id });
          throw new SgError('SG_ERR_LOCKED', 'this user or address is locked');
        }
        // A fresh token on every sign-in: a cookie planted before sign-in is worth nothing after it.
        const previous = ctx.sessions.lookup(getCookie(req.headers.get('cookie'), ctx.cfg.cookie_name));
        if (previous) ctx.sessions.destroy(previous);
        const { token, session } = ctx.sessions.create(user.name, { ip, user_agent: req.headers.get('user-agent') });
        await recordActivity(ctx, {
          initiator: user.name,
          ip,
          user: userRef(user),
          action: 'login',
          description: `viewer sign-in as ${user.role}`,
          targets: [{ kind: 'user', id: user.name }],
          details: { user_agent: session.user_agent },
        });
        logger.info({ ip, user: user.name }, 'viewer sign-in');
        return json(200, { user: publicUser(user), csrf_token: session.csrf, expires_at: session.expires_at }, [
          ['Set-Cookie', sessionCookie(ctx, token, Math.floor(ctx.cfg.session_ttl / 1000), secure)],
        ]);
      },
    },
    {
      method: 'POST',
      path: '/api/logout',
      access: 'optional',
      handler: async ({ auth, ip, secure }) => {
        if (auth) {
          ctx.sessions.destroy(auth.session);
          await recordActivity(ctx, { ...byUser(auth, ip), action: 'logout', description: 'viewer sign-out', targets: [{ kind: 'user', id: auth.user.name }] });
        }
        return json(200, { ok: true }, [['Set-Cookie', sessionCookie(ctx, '', 0, secure)]]);
      },
    },
    {
      method: 'GET',
      path: '/api/me',
      access: ALL_ROLES,
      handler: ({ auth }) =>
        json(200, {
          user: publicUser(auth!.user),
          csrf_token: auth!.session.csrf,
          session: { created_at: auth!.session.created_at, expires_at: auth!.session.expires_at },
          // What the UI offers: `optional` adds an encrypted download, `required` allows only that.
          settings: { export_encryption: ctx.deps.exportEncryption ?? 'off' },
        }),
    },
  ];
}
