// The panel's JSON API: `/api/...` for clients (admins see everything) and `/admin/api/...` for
// staff. Authenticated by `Authorization: Bearer <token>` (from POST .../login) or the session cookie.
import { CLEAR_SESSION_COOKIE, HttpError, idParam, readFields, requireUser, sendJson, type Ctx, type RouteDef } from './context.js';
import { ValidationError, type Client, type Service, type User, type UserType } from './store.js';

function userView(ctx: Ctx, u: User) {
  return { login: u.login, name: u.name, email: u.email, type: u.type, client: ctx.store.clientOf(u)?.name ?? null };
}

const serviceView = (s: Service) => ({ id: s.id, client_id: s.clientId, product: s.product, domain: s.domain, status: s.status, price: s.price, created: s.created });
const clientView = (c: Client) => ({ ...c });

/** Runs a store mutation, mapping its validation failures to 422. */
function validated<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ValidationError) throw new HttpError(422, `invalid_${e.field}`, e.message);
    throw e;
  }
}

function login(only?: UserType) {
  return async (ctx: Ctx) => {
    const f = await readFields(ctx);
    const user = ctx.store.authenticate(f.username, f.password);
    if (!user || (only && user.type !== only)) {
      ctx.user = undefined;
      return sendJson(ctx, 401, { error: { code: 'invalid_credentials', message: 'invalid username or password' } });
    }
    ctx.user = user;
    sendJson(ctx, 200, { token: ctx.store.issueToken(user.login), token_type: 'Bearer', user: userView(ctx, user) });
  };
}

/** Revokes whichever key authenticated the call; the answer still names the user for the record. */
function logout(type?: UserType) {
  return (ctx: Ctx) => {
    if (!requireUser(ctx, type)) return;
    const a = ctx.auth!;
    if (a.via === 'bearer') {
      ctx.store.revokeToken(a.token);
      return sendJson(ctx, 200, { ok: true });
    }
    ctx.store.closeSession(a.sid);
    sendJson(ctx, 200, { ok: true }, { 'set-cookie': CLEAR_SESSION_COOKIE });
  };
}

function me(type?: UserType) {
  return (ctx: Ctx) => {
    const u = requireUser(ctx, type);
    if (u) sendJson(ctx, 200, userView(ctx, u));
  };
}

/** Clients are scoped to their organisation; admins see all (or one client with ?client_id=). */
function scope(ctx: Ctx, u: User): number | undefined {
  if (u.type === 'client') {
    const c = ctx.store.clientOf(u);
    if (!c) throw new HttpError(403, 'forbidden', 'client account no longer exists');
    return c.id;
  }
  const q = ctx.url.searchParams.get('client_id');
  return q ? Number(q) : undefined;
}

function listServices(type?: UserType) {
  return (ctx: Ctx) => {
    const u = requireUser(ctx, type);
    if (u) sendJson(ctx, 200, { services: ctx.store.servicesOf(scope(ctx, u)).map(serviceView) });
  };
}

async function createService(ctx: Ctx): Promise<void> {
  const u = requireUser(ctx);
  if (!u) return;
  const f = await readFields(ctx);
  const clientId = u.type === 'client' ? scope(ctx, u)! : Number(f.client_id);
  const s = validated(() => ctx.store.createService(clientId, f));
  sendJson(ctx, 201, { service: serviceView(s) }, { location: `/api/services/${s.id}` });
}

function deleteService(ctx: Ctx): void {
  const u = requireUser(ctx);
  if (!u) return;
  const s = ctx.store.services.get(idParam(ctx));
  const own = scope(ctx, u);
  if (!s || (u.type === 'client' && s.clientId !== own)) throw new HttpError(404, 'not_found', 'no such service');
  ctx.store.deleteService(s.id);
  sendJson(ctx, 204, null);
}

function listInvoices(ctx: Ctx): void {
  const u = requireUser(ctx);
  if (u) sendJson(ctx, 200, { invoices: ctx.store.invoicesOf(scope(ctx, u)).map((i) => ({ ...i })) });
}

function listClients(ctx: Ctx): void {
  if (requireUser(ctx, 'admin')) sendJson(ctx, 200, { clients: [...ctx.store.clients.values()].map(clientView) });
}

async function createClient(ctx: Ctx): Promise<void> {
  if (!requireUser(ctx, 'admin')) return;
  const f = await readFields(ctx);
  const c = validated(() => ctx.store.createClient(f));
  sendJson(ctx, 201, { client: clientView(c) }, { location: `/admin/api/clients/${c.id}` });
}

function getClient(ctx: Ctx): void {
  if (!requireUser(ctx, 'admin')) return;
  const c = ctx.store.clients.get(idParam(ctx));
  if (!c) throw new HttpError(404, 'not_found', 'no such client');
  sendJson(ctx, 200, { client: clientView(c), services: ctx.store.servicesOf(c.id).map(serviceView) });
}

function deleteClient(ctx: Ctx): void {
  if (!requireUser(ctx, 'admin')) return;
  if (!ctx.store.deleteClient(idParam(ctx))) throw new HttpError(404, 'not_found', 'no such client');
  sendJson(ctx, 204, null);
}

export const apiRoutes: readonly RouteDef[] = [
  ['POST', '/api/login', login()],
  ['POST', '/api/logout', logout()],
  ['GET', '/api/me', me()],
  ['GET', '/api/services', listServices()],
  ['POST', '/api/services', createService],
  ['DELETE', '/api/services/:id', deleteService],
  ['GET', '/api/invoices', listInvoices],
  ['POST', '/admin/api/login', login('admin')],
  ['POST', '/admin/api/logout', logout('admin')],
  ['GET', '/admin/api/me', me('admin')],
  ['GET', '/admin/api/clients', listClients],
  ['POST', '/admin/api/clients', createClient],
  ['GET', '/admin/api/clients/:id', getClient],
  ['DELETE', '/admin/api/clients/:id', deleteClient],
  ['GET', '/admin/api/services', listServices('admin')],
];
