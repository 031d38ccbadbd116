// Sign-in and sign-out pages. `/login` accepts every demo user and sends each to their area;
// `/admin/login` is the staff entrance (admins only), so a gateway route on `/admin/` sees
// staff logins in the admin realm.
import { html, layout } from './html.js';
import { CLEAR_SESSION_COOKIE, readFields, redirect, sendHtml, sessionCookie, type Ctx, type RouteDef } from './context.js';
import type { User, UserType } from './store.js';

const home = (u: User) => (u.type === 'admin' ? '/admin/' : '/client/');

function loginPage(ctx: Ctx, status: number, opts: { action: string; staff: boolean; error?: string; username?: string }): void {
  const body = html`<div class="login card">
<h1>${opts.staff ? 'Staff sign-in' : 'Sign in'}</h1>
${opts.error ? html`<p class="error">${opts.error}</p>` : ''}
<form method="post" action="${opts.action}">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" value="${opts.username ?? ''}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<p><button type="submit">Sign in</button></p>
</form>
<p class="muted">${opts.staff ? html`Client? <a href="/login">Client sign-in</a>` : html`Staff? <a href="/admin/login">Admin sign-in</a>`}.
Demo users are listed in demo/README.md.</p>
</div>`;
  sendHtml(ctx, status, layout({ title: opts.staff ? 'Staff sign-in' : 'Sign in' }, body));
}

function showLogin(action: string, staff: boolean) {
  return (ctx: Ctx) => {
    if (ctx.user && (!staff || ctx.user.type === 'admin')) return redirect(ctx, home(ctx.user), 302);
    loginPage(ctx, 200, { action, staff });
  };
}

function doLogin(action: string, only?: UserType) {
  return async (ctx: Ctx) => {
    const f = await readFields(ctx);
    const user = ctx.store.authenticate(f.username, f.password);
    if (!user || (only && user.type !== only)) {
      // A failed attempt names nobody: the gateway attributes it from the form's username field.
      ctx.user = undefined;
      return loginPage(ctx, 401, { action, staff: only === 'admin', error: 'Invalid username or password.', username: f.username });
    }
    if (ctx.auth?.via === 'cookie') ctx.store.closeSession(ctx.auth.sid);
    const sid = ctx.store.openSession(user.login);
    ctx.user = user;
    ctx.auth = { via: 'cookie', sid };
    redirect(ctx, home(user), 303, { 'set-cookie': sessionCookie(sid) });
  };
}

/** Ends the cookie session. The response still names the user, so the logout is attributed. */
function doLogout(next: string) {
  return (ctx: Ctx) => {
    if (ctx.auth?.via === 'cookie') ctx.store.closeSession(ctx.auth.sid);
    redirect(ctx, next, 303, { 'set-cookie': CLEAR_SESSION_COOKIE });
  };
}

export const authRoutes: readonly RouteDef[] = [
  ['GET', '/', (ctx) => redirect(ctx, ctx.user ? home(ctx.user) : '/login', 302)],
  ['GET', '/login', showLogin('/login', false)],
  ['POST', '/login', doLogin('/login')],
  ['GET', '/admin/login', showLogin('/admin/login', true)],
  ['POST', '/admin/login', doLogin('/admin/login', 'admin')],
  ['GET', '/logout', doLogout('/login')],
  ['POST', '/logout', doLogout('/login')],
  ['GET', '/admin/logout', doLogout('/admin/login')],
  ['POST', '/admin/logout', doLogout('/admin/login')],
];
