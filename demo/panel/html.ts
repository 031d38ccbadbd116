// HTML building for the demo panel: a tagged template that escapes every interpolated value
// unless it is already SafeHtml, so a hostile client name can never become markup.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type HtmlPart = SafeHtml | string | number | boolean | null | undefined | readonly HtmlPart[];

function renderPart(v: HtmlPart): string {
  if (v === null || v === undefined || v === false || v === true) return '';
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return (v as readonly HtmlPart[]).map(renderPart).join('');
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: HtmlPart[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += renderPart(values[i]!) + strings[i + 1]!;
  return new SafeHtml(out);
}

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;background:#f4f6f8}
header{display:flex;align-items:center;gap:24px;padding:0 24px;height:52px;background:#1d3557;color:#fff}
header .brand{font-weight:600;font-size:16px}header .area{opacity:.75;font-size:12px;text-transform:uppercase;letter-spacing:.06em}
header nav{display:flex;gap:16px;flex:1}header a{color:#dbe7f3;text-decoration:none}header a:hover{color:#fff}
header form{margin:0}header .who{font-size:13px;opacity:.9}
main{max-width:1040px;margin:24px auto;padding:0 24px}h1{font-size:22px;margin:0 0 16px}h2{font-size:16px;margin:24px 0 8px}
.card{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:16px 20px;margin-bottom:16px}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px}.stat b{display:block;font-size:24px}
table{width:100%;margin-bottom:16px;border-collapse:collapse;background:#fff;border:1px solid #dde3ea}th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #eef1f4}
th{background:#f8fafc;font-weight:600;font-size:12px;text-transform:uppercase;color:#52606d}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#e4e7eb}
.badge.Active,.badge.Paid{background:#d3f9d8;color:#1b5e20}.badge.Unpaid,.badge.Suspended{background:#ffe8cc;color:#8a4b00}
label{display:block;margin:8px 0 4px;font-weight:500}input,select{width:100%;max-width:360px;padding:7px 9px;border:1px solid #c3ccd5;border-radius:4px;font:inherit}
button{padding:7px 14px;border:0;border-radius:4px;background:#2563eb;color:#fff;font:inherit;cursor:pointer}
button.link{background:none;color:#dbe7f3;padding:0}button.danger{background:#c0392b}
.inline{display:inline}.error{color:#b42318;background:#fef3f2;border:1px solid #fecdca;padding:8px 12px;border-radius:4px}
.notice{color:#054f31;background:#ecfdf3;border:1px solid #abefc6;padding:8px 12px;border-radius:4px}
.login{max-width:380px;margin:80px auto}.muted{color:#7b8794;font-size:12px}footer{text-align:center;color:#9aa5b1;font-size:12px;margin:32px 0}
`;

export interface LayoutOptions {
  title: string;
  /** Signed-in user shown in the header; absent on public pages. */
  user?: { name: string; login: string };
  area?: 'admin' | 'client';
  /** Optional status line shown above the content. */
  notice?: string;
}

const NAV: Record<'admin' | 'client', [string, string][]> = {
  admin: [
    ['/admin/', 'Dashboard'],
    ['/admin/clients', 'Clients'],
    ['/admin/services', 'Services'],
    ['/admin/invoices', 'Invoices'],
  ],
  client: [
    ['/client/', 'Overview'],
    ['/client/services', 'My services'],
    ['/client/invoices', 'Invoices'],
    ['/client/profile', 'Profile'],
  ],
};

export function layout(opts: LayoutOptions, body: SafeHtml): string {
  const nav = opts.area ? NAV[opts.area].map(([href, label]) => html`<a href="${href}">${label}</a>`) : [];
  const logout = opts.area === 'admin' ? '/admin/logout' : '/logout';
  const header = html`<header>
<span class="brand">Demo Cloud Panel</span>${opts.area ? html`<span class="area">${opts.area === 'admin' ? 'Admin area' : 'Client area'}</span>` : ''}
<nav>${nav}</nav>
${opts.user ? html`<span class="who">${opts.user.name} (${opts.user.login})</span><form method="post" action="${logout}"><button class="link" type="submit">Log out</button></form>` : ''}
</header>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${opts.title} - Demo Cloud Panel</title><style>${new SafeHtml(STYLE)}</style></head>
<body>${header}<main>${opts.notice ? html`<p class="notice">${opts.notice}</p>` : ''}${body}</main>
<footer>Demo upstream panel bundled with Sessiongate. Not a real hosting product.</footer></body></html>
`.value;
}

/** A table from rows of cells; cells are escaped like any other value. */
export function table(headers: readonly string[], rows: readonly (readonly HtmlPart[])[], empty = 'Nothing here yet.'): SafeHtml {
  if (rows.length === 0) return html`<p class="muted">${empty}</p>`;
  return html`<table><thead><tr>${headers.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${rows.map(
    (r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`,
  )}</tbody></table>`;
}

export function badge(text: string): SafeHtml {
  return html`<span class="badge ${text}">${text}</span>`;
}
