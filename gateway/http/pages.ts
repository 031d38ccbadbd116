// The answers the gateway gives itself (no route, refused, upstream down or slow, bad request):
// an HTML page for browsers (WEB) and `{error: {code, message}}` for API clients, both with
// stable SG_ERR_* codes. Everything interpolated is escaped; the pages load nothing external.
import { STATUS_CODES } from 'node:http';
import type { ErrorCode } from '../core/errors.js';
import type { HttpSource } from '../../recorder/events.js';
import type { HeaderList } from './engines/engine.js';

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const ESC_RE = /[&<>"']/g;

/** HTML-escapes text (element content and quoted attribute values). */
export function escapeHtml(s: string): string {
  return ESC_RE.test(s) ? s.replace(ESC_RE, (c) => ESC[c]!) : s;
}

export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? 'Unknown';
}

export interface GatewayAnswer {
  status: number;
  reason: string;
  headers: HeaderList;
  body: Buffer;
}

export interface PageText {
  /** Short heading, e.g. "Access refused". */
  title: string;
  /** One or two sentences for the person reading it. */
  message: string;
}

const CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/**
 * The gateway's own answer: HTML for WEB, JSON for API. `extraHeaders` (e.g. a Set-Cookie that clears
 * a revoked session cookie) are appended as given.
 */
export function gatewayAnswer(source: HttpSource, status: number, code: ErrorCode, text: PageText, extraHeaders: HeaderList = []): GatewayAnswer {
  const reason = reasonPhrase(status);
  let body: Buffer;
  let type: string;
  if (source === 'API') {
    body = Buffer.from(JSON.stringify({ error: { code, message: text.message } }));
    type = 'application/json; charset=utf-8';
  } else {
    body = Buffer.from(htmlPage(status, reason, code, text));
    type = 'text/html; charset=utf-8';
  }
  const headers: HeaderList = ['content-type', type, 'cache-control', 'no-store', 'x-content-type-options', 'nosniff'];
  if (source === 'WEB') headers.push('content-security-policy', CSP, 'x-frame-options', 'DENY');
  if (status === 401) headers.push('www-authenticate', 'Bearer realm="sessiongate", error="invalid_token"');
  for (const h of extraHeaders) headers.push(h);
  return { status, reason, headers, body };
}

function htmlPage(status: number, reason: string, code: string, text: PageText): string {
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${status} ${escapeHtml(reason)}</title>` +
    '<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2430}' +
    'main{max-width:36rem;margin:12vh auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12)}' +
    'h1{font-size:1.4rem;margin:0 0 .75rem}p{margin:.5rem 0}.meta{color:#6b7280;font-size:.85rem}</style></head>' +
    `<body><main><h1>${escapeHtml(text.title)}</h1><p>${escapeHtml(text.message)}</p>` +
    `<p class="meta">${status} ${escapeHtml(reason)} &middot; ${escapeHtml(code)} &middot; Sessiongate</p></main></body></html>\n`
  );
}

/** The texts of every answer the proxy gives itself, by record error. */
export const TEXTS = {
  no_route: (host: string): PageText => ({
    title: 'Nothing here',
    message: host ? `This gateway has no site configured for ${host} at this path.` : 'This gateway has no site configured for this address.',
  }),
  revoked: {
    title: 'Session ended',
    message: 'Your session was ended by an administrator. Reload the page to sign in again.',
  },
  locked: {
    title: 'Access blocked',
    message: 'Access from this account or address is currently blocked. Contact your administrator.',
  },
  upstream_unavailable: {
    title: 'Service unavailable',
    message: 'The application behind this gateway cannot be reached right now. Please try again in a moment.',
  },
  upstream_timeout: {
    title: 'Service timed out',
    message: 'The application behind this gateway did not answer in time. Please try again in a moment.',
  },
  bad_request: { title: 'Bad request', message: 'The request was malformed and was not forwarded.' },
  smuggling: { title: 'Bad request', message: 'The request framing was ambiguous and was not forwarded.' },
  header_too_large: { title: 'Request headers too large', message: 'The request headers exceed the limit of this gateway.' },
  url_too_long: { title: 'Address too long', message: 'The requested address exceeds the limit of this gateway.' },
  body_too_large: { title: 'Request too large', message: 'The request body exceeds the limit of this gateway.' },
  shutting_down: { title: 'Restarting', message: 'The gateway is restarting. Please try again in a moment.' },
  internal: { title: 'Gateway error', message: 'The gateway could not process this request.' },
} as const;
