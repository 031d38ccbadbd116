// Admin area pages: dashboard, clients (list, create, view, delete), services and invoices.
import { badge, html, layout, table, type SafeHtml } from './html.js';
import { invoicesTable, servicesTable } from './views.js';
import { HttpError, errorPage, idParam, readFields, redirect, requireUser, sendHtml, type Ctx, type RouteDef } from './context.js';
import { ValidationError } from './store.js';

function page(ctx: Ctx, title: string, body: SafeHtml, status = 200, notice?: string): void {
  sendHtml(ctx, status, layout({ title, user: ctx.user, area: 'admin', notice }, body));
}

function dashboard(ctx: Ctx): void {
  if (!requireUser(ctx, 'admin')) return;
  const s = ctx.store;
  const unpaid = s.invoicesOf(undefined).filter((i) => i.status === 'Unpaid');
  const stats = html`<div class="stats">
<div class="card stat"><b>${s.clients.size}</b>clients</div>
<div class="card stat"><b>${s.services.size}</b>active services</div>
<div class="card stat"><b>${unpaid.length}</b>unpaid invoices</div>
<div class="card stat"><b>${s.users.size}</b>panel users</div></div>`;
  page(ctx, 'Dashboard', html`<h1>Dashboard</h1>${stats}<h2>Unpaid invoices</h2>${invoicesTable(ctx, unpaid, true)}`);
}

function clientsPage(ctx: Ctx, status = 200, error?: string, values: Record<string, string> = {}): void {
  const rows = [...ctx.store.clients.values()].map((c) => [
    c.id,
    html`<a href="/admin/clients/${c.id}">${c.name}</a>`,
    c.email,
    ctx.store.servicesOf(c.id).length,
    badge(c.status),
    c.created,
  ]);
  const form = html`<div class="card"><h2>New client</h2>${error ? html`<p class="error">${error}</p>` : ''}
<form method="post" action="/admin/clients">
<label for="name">Company or name</label><input id="name" name="name" value="${values.name ?? ''}" required>
<label for="email">Email</label><input id="email" name="email" type="email" value="${values.email ?? ''}" required>
<p><button type="submit">Create client</button></p></form></div>`;
  page(ctx, 'Clients', html`<h1>Clients</h1>${table(['#', 'Client', 'Email', 'Services', 'Status', 'Created'], rows, 'No clients.')}${form}`, status);
}

function listClients(ctx: Ctx): void {
  if (requireUser(ctx, 'admin')) clientsPage(ctx);
}

async function createClient(ctx: Ctx): Promise<void> {
  if (!requireUser(ctx, 'admin')) return;
  const f = await readFields(ctx);
  try {
    const c = ctx.store.createClient(f);
    redirect(ctx, `/admin/clients/${c.id}`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    clientsPage(ctx, 400, e.message, f);
  }
}

function showClient(ctx: Ctx): void {
  if (!requireUser(ctx, 'admin')) return;
  const c = ctx.store.clients.get(idParam(ctx));
  if (!c) return errorPage(ctx, 404, 'Not found', 'No such client.');
  const users = [...ctx.store.users.values()].filter((u) => u.clientId === c.id);
  const body = html`<h1>${c.name}</h1>
<div class="card"><p><b>Email:</b> ${c.email}<br><b>Status:</b> ${badge(c.status)}<br><b>Client since:</b> ${c.created}</p>
<p><b>Panel users:</b> ${users.length ? users.map((u, i) => html`${i ? ', ' : ''}${u.name} (${u.login})`) : html`<span class="muted">none</span>`}</p>
<form class="inline" method="post" action="/admin/clients/${c.id}/delete"><button class="danger" type="submit">Delete client</button></form></div>
<h2>Services</h2>${servicesTable(ctx, ctx.store.servicesOf(c.id), false)}
<h2>Invoices</h2>${invoicesTable(ctx, ctx.store.invoicesOf(c.id), false)}`;
  page(ctx, c.name, body);
}

function deleteClient(ctx: Ctx): void {
  if (!requireUser(ctx, 'admin')) return;
  if (!ctx.store.deleteClient(idParam(ctx))) throw new HttpError(404, 'not_found', 'No such client.');
  redirect(ctx, '/admin/clients');
}

function listServices(ctx: Ctx): void {
  if (requireUser(ctx, 'admin')) page(ctx, 'Services', html`<h1>Services</h1>${servicesTable(ctx, ctx.store.servicesOf(undefined), true)}`);
}

function listInvoices(ctx: Ctx): void {
  if (requireUser(ctx, 'admin')) page(ctx, 'Invoices', html`<h1>Invoices</h1>${invoicesTable(ctx, ctx.store.invoicesOf(undefined), true)}`);
}

export const adminRoutes: readonly RouteDef[] = [
  ['GET', '/admin/', dashboard],
  ['GET', '/admin', (ctx) => redirect(ctx, '/admin/', 301)],
  ['GET', '/admin/clients', listClients],
  ['POST', '/admin/clients', createClient],
  ['GET', '/admin/clients/:id', showClient],
  ['POST', '/admin/clients/:id/delete', deleteClient],
  ['GET', '/admin/services', listServices],
  ['GET', '/admin/invoices', listInvoices],
];
