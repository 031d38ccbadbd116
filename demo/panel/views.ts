// Tables shared by the admin and client areas.
import { badge, html, table, type HtmlPart, type SafeHtml } from './html.js';
import type { Ctx } from './context.js';
import type { Invoice, Service } from './store.js';

/** Admins see the client column (linked); clients see only their own rows. */
function clientLink(ctx: Ctx, clientId: number): SafeHtml {
  const c = ctx.store.clients.get(clientId);
  return c ? html`<a href="/admin/clients/${c.id}">${c.name}</a>` : html`<span class="muted">#${clientId}</span>`;
}

export function servicesTable(ctx: Ctx, list: Service[], withClient: boolean): SafeHtml {
  const head = ['#', ...(withClient ? ['Client'] : []), 'Product', 'Domain', 'Price / mo', 'Status', 'Since'];
  return table(
    head,
    list.map((s) => [s.id, ...(withClient ? [clientLink(ctx, s.clientId)] : []), s.product, s.domain, s.price, badge(s.status), s.created]),
    'No services.',
  );
}

export function invoicesTable(ctx: Ctx, list: Invoice[], withClient: boolean, action?: (i: Invoice) => HtmlPart): SafeHtml {
  const head = ['Invoice', ...(withClient ? ['Client'] : []), 'Total', 'Due', 'Status', ...(action ? [''] : [])];
  return table(
    head,
    list.map((i) => [`#${i.id}`, ...(withClient ? [clientLink(ctx, i.clientId)] : []), i.total, i.due, badge(i.status), ...(action ? [action(i)] : [])]),
    'No invoices.',
  );
}
