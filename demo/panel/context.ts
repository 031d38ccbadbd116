// Request context, body parsing, responses and the tiny router shared by the demo panel's
// web pages and JSON API. Every response to an authenticated user carries the identity header
// that Sessiongate reads (and strips) to attribute the request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PanelStore, User, UserType } from './store.js';
import { layout, html } from './html.js';

export const SESSION_COOKIE = 'panel_sid';
export const IDENTITY_HEADER = 'x-sessiongate-user';
/** Largest request body the panel reads (forms and JSON). */
export const MAX_BODY = 64 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  method: string;
  params: Record<string, string>;
  store: PanelStore;
  /** The signed-in user, from the bearer token or the session cookie. */
  user?: User;
  /** How the user was authenticated, and the key used (so logout revokes the right one). */
  auth?: { via: 'cookie'; sid: string } | { via: 'bearer'; token: string };
  /** A bearer token was sent but is unknown or revoked. */
  badToken?: boolean;
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim();
    if (!out.has(k)) out.set(k, part.slice(eq + 1).trim());
  }
  return out;
}

export function bearerToken(header: string | undefined): string | undefined {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return m ? m[1] : undefined;
}

/** Resolves the user from `Authorization: Bearer` first, else from the session cookie. */
export function authenticate(ctx: Ctx): void {
  const authz = ctx.req.headers.authorization;
  if (authz !== undefined) {
    const token = bearerToken(authz);
    const user = ctx.store.userByToken(token);
    if (user && token) {
      ctx.user = user;
      ctx.auth = { via: 'bearer', token };
    } else ctx.badToken = true;
    return;
  }
  const sid = parseCookies(ctx.req.headers.cookie).get(SESSION_COOKIE);
  const user = ctx.store.userBySession(sid);
  if (user && sid) {
    ctx.user = user;
    ctx.auth = { via: 'cookie', sid };
  }
}

/** Reads an urlencoded or JSON body into string fields (other JSON value types are ignored). */
export async function readFields(ctx: Ctx): Promise<Record<string, string>> {
  const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const declared = Number(ctx.req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) throw new HttpError(413, 'body_too_large', `request body larger than ${MAX_BODY} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, 'body_too_large', `request body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (size === 0) return {};
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(text));
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new HttpError(400, 'bad_json', 'request body is not valid JSON');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new HttpError(400, 'bad_json', 'expected a JSON object');
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string' || typeof v === 'number') out[k] = String(v);
    return out;
  }
  throw new HttpError(415, 'unsupported_media_type', 'send application/x-www-form-urlencoded or application/json');
}

function baseHeaders(ctx: Ctx, contentType?: string): Record<string, string> {
  const h: Record<string, string> = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
  if (contentType) h['content-type'] = contentType;
  if (ctx.user) h[IDENTITY_HEADER] = ctx.user.login;
  return h;
}

const CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function sendHtml(ctx: Ctx, status: number, body: string, extra: Record<string, string | string[]> = {}): void {
  ctx.res.writeHead(status, { ...baseHeaders(ctx, 'text/html; charset=utf-8'), 'content-security-policy': CSP, ...extra });
  ctx.res.end(body);
}

export function sendJson(ctx: Ctx, status: number, value: unknown, extra: Record<string, string | string[]> = {}): void {
  if (status === 204) {
    ctx.res.writeHead(204, { ...baseHeaders(ctx), ...extra });
    ctx.res.end();
    return;
  }
  ctx.res.writeHead(status, { ...baseHeaders(ctx, 'application/json; charset=utf-8'), ...extra });
  ctx.res.end(JSON.stringify(value));
}

/** Relative Location so redirects work behind the gateway as well as directly. */
export function redirect(ctx: Ctx, location: string, status = 303, extra: Record<string, string | string[]> = {}): void {
  ctx.res.writeHead(status, { ...baseHeaders(ctx), location, ...extra });
  ctx.res.end();
}

export function sessionCookie(sid: string): string {
  return `${SESSION_COOKIE}=${sid}; Path=/; HttpOnly; SameSite=Lax`;
}

export const CLEAR_SESSION_COOKIE = `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`;

export function isApiPath(path: string): boolean {
  return path.startsWith('/api/') || path.startsWith('/admin/api/');
}

export function errorPage(ctx: Ctx, status: number, title: string, message: string): void {
  const area = ctx.user?.type;
  sendHtml(ctx, status, layout({ title, user: ctx.user, area }, html`<div class="card"><h1>${title}</h1><p>${message}</p></div>`));
}

/** Answers an error the way the caller expects: JSON for API paths, a page otherwise. */
export function sendError(ctx: Ctx, err: HttpError): void {
  if (isApiPath(ctx.url.pathname)) sendJson(ctx, err.status, { error: { code: err.code, message: err.message } });
  else errorPage(ctx, err.status, titleFor(err.status), err.message);
}

function titleFor(status: number): string {
  return { 400: 'Bad request', 401: 'Sign-in required', 403: 'Forbidden', 404: 'Not found', 405: 'Method not allowed', 413: 'Too large', 415: 'Unsupported' }[status] ?? 'Error';
}

/**
 * Returns the user when signed in (and of `type` when given); otherwise answers
 * (login redirect for pages, 401/403 JSON for the API) and returns undefined.
 */
export function requireUser(ctx: Ctx, type?: UserType): User | undefined {
  const api = isApiPath(ctx.url.pathname);
  if (!ctx.user) {
    if (api || ctx.badToken) sendJson(ctx, 401, { error: { code: ctx.badToken ? 'invalid_token' : 'auth_required', message: 'sign in first' } }, { 'www-authenticate': 'Bearer' });
    else redirect(ctx, ctx.url.pathname.startsWith('/admin/') ? '/admin/login' : '/login', 302);
    return undefined;
  }
  if (type && ctx.user.type !== type) {
    sendError(ctx, new HttpError(403, 'forbidden', type === 'admin' ? 'This area is for staff only.' : 'This area is for clients only.'));
    return undefined;
  }
  return ctx.user;
}

export type Handler = (ctx: Ctx) => void | Promise<void>;
export type RouteDef = readonly [method: string, pattern: string, handler: Handler];

interface Compiled {
  method: string;
  re: RegExp;
  keys: string[];
  handler: Handler;
}

/** Method + path patterns with `:name` segments (digits only: every id in the panel is numeric). */
export class Router {
  private readonly routes: Compiled[] = [];

  add(defs: readonly RouteDef[]): this {
    for (const [method, pattern, handler] of defs) {
      const keys: string[] = [];
      const src = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:([a-z]+)/g, (_m, k: string) => {
        keys.push(k);
        return '(\\d{1,9})';
      });
      this.routes.push({ method, re: new RegExp(`^${src}$`), keys, handler });
    }
    return this;
  }

  /** The handler and params, or the allowed methods when only the method is wrong. */
  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | { allow: string[] } | undefined {
    const allow = new Set<string>();
    const m = method === 'HEAD' ? 'GET' : method;
    for (const r of this.routes) {
      const hit = r.re.exec(path);
      if (!hit) continue;
      if (r.method !== m) {
        allow.add(r.method);
        continue;
      }
      const params: Record<string, string> = {};
      r.keys.forEach((k, i) => (params[k] = hit[i + 1]!));
      return { handler: r.handler, params };
    }
    return allow.size ? { allow: [...allow] } : undefined;
  }
}

export function idParam(ctx: Ctx, name = 'id'): number {
  return Number(ctx.params[name]);
}

