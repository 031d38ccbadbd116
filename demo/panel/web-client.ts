// Client area pages: overview, services (with ordering), invoices (pay), profile (update).
import { html, layout, type SafeHtml } from './html.js';
import { HttpError, idParam, readFields, redirect, requireUser, sendHtml, type Ctx, type RouteDef } from './context.js';
import { PRODUCTS, ValidationError, type User } from './store.js';
import { invoicesTable, servicesTable } from './views.js';

function page(ctx: Ctx, title: string, body: SafeHtml, status = 200, notice?: string): void {
  sendHtml(ctx, status, layout({ title, user: ctx.user, area: 'client', notice }, body));
}

/** The signed-in client user and their organisation, or undefined after answering. */
function clientUser(ctx: Ctx): { user: User; clientId: number } | undefined {
  const user = requireUser(ctx, 'client');
  if (!user) return undefined;
  const client = ctx.store.clientOf(user);
  if (!client) throw new HttpError(403, 'forbidden', 'Your client account no longer exists.');
  return { user, clientId: client.id };
}

function overview(ctx: Ctx): void {
  const cu = clientUser(ctx);
  if (!cu) return;
  const client = ctx.store.clients.get(cu.clientId)!;
  const unpaid = ctx.store.invoicesOf(cu.clientId).filter((i) => i.status === 'Unpaid');
  const body = html`<h1>Welcome, ${cu.user.name}</h1>
<div class="stats"><div class="card stat"><b>${ctx.store.servicesOf(cu.clientId).length}</b>services</div>
<div class="card stat"><b>${unpaid.length}</b>unpaid invoices</div>
<div class="card stat"><b>${client.name}</b>account</div></div>
<h2>Services</h2>${servicesTable(ctx, ctx.store.servicesOf(cu.clientId), false)}`;
  page(ctx, 'Overview', body);
}

function servicesPage(ctx: Ctx, clientId: number, status = 200, error?: string, values: Record<string, string> = {}): void {
  const options = Object.entries(PRODUCTS).map(([p, price]) => html`<option value="${p}"${values.product === p ? html` selected` : ''}>${p} (${price}/mo)</option>`);
  const form = html`<div class="card"><h2>Order a service</h2>${error ? html`<p class="error">${error}</p>` : ''}
<form method="post" action="/client/services">
<label for="product">Product</label><select id="product" name="product">${options}</select>
<label for="domain">Domain</label><input id="domain" name="domain" value="${values.domain ?? ''}" placeholder="example.com" required>
<p><button type="submit">Order</button></p></form></div>`;
  page(ctx, 'My services', html`<h1>My services</h1>${servicesTable(ctx, ctx.store.servicesOf(clientId), false)}${form}`, status);
}

function listServices(ctx: Ctx): void {
  const cu = clientUser(ctx);
  if (cu) servicesPage(ctx, cu.clientId);
}

async function orderService(ctx: Ctx): Promise<void> {
  const cu = clientUser(ctx);
  if (!cu) return;
  const f = await readFields(ctx);
  try {
    ctx.store.createService(cu.clientId, f);
    redirect(ctx, '/client/services');
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    servicesPage(ctx, cu.clientId, 400, e.message, f);
  }
}

function listInvoices(ctx: Ctx): void {
  const cu = clientUser(ctx);
  if (!cu) return;
  const pay = (i: { id: number; status: string }) =>
    i.status === 'Unpaid' ? html`<form class="inline" method="post" action="/client/invoices/${i.id}/pay"><button type="submit">Pay now</button></form>` : '';
  page(ctx, 'Invoices', html`<h1>Invoices</h1>${invoicesTable(ctx, ctx.store.invoicesOf(cu.clientId), false, pay)}`);
}

function payInvoice(ctx: Ctx): void {
  const cu = clientUser(ctx);
  if (!cu) return;
  const inv = ctx.store.invoices.get(idParam(ctx));
  if (!inv || inv.clientId !== cu.clientId) throw new HttpError(404, 'not_found', 'No such invoice.');
  ctx.store.payInvoice(inv.id);
  redirect(ctx, '/client/invoices');
}

function profilePage(ctx: Ctx, user: User, status = 200, error?: string, notice?: string, values?: Record<string, string>): void {
  const v = values ?? { name: user.name, email: user.email };
  const body = html`<h1>Profile</h1><div class="card">${error ? html`<p class="error">${error}</p>` : ''}
<form method="post" action="/client/profile">
<label for="name">Your name</label><input id="name" name="name" value="${v.name ?? ''}" required>
<label for="email">Email</label><input id="email" name="email" type="email" value="${v.email ?? ''}" required>
<p class="muted">Login: ${user.login}</p>
<p><button type="submit">Save</button></p></form></div>`;
  page(ctx, 'Profile', body, status, notice);
}

function showProfile(ctx: Ctx): void {
  const cu = clientUser(ctx);
  if (cu) profilePage(ctx, cu.user);
}

async function updateProfile(ctx: Ctx): Promise<void> {
  const cu = clientUser(ctx);
  if (!cu) return;
  const f = await readFields(ctx);
  try {
    ctx.store.updateProfile(cu.user, f);
    profilePage(ctx, cu.user, 200, undefined, 'Profile saved.');
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    profilePage(ctx, cu.user, 400, e.message, undefined, f);
  }
}

export const clientRoutes: readonly RouteDef[] = [
  ['GET', '/client/', overview],
  ['GET', '/client', (ctx) => redirect(ctx, '/client/', 301)],
  ['GET', '/client/services', listServices],
  ['POST', '/client/services', orderService],
  ['GET', '/client/invoices', listInvoices],
  ['POST', '/client/invoices/:id/pay', payInvoice],
  ['GET', '/client/profile', showProfile],
  ['POST', '/client/profile', updateProfile],
];
