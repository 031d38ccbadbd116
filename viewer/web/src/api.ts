// The viewer API as the UI uses it (docs/api.md): one fetch wrapper that sends the CSRF token on
// every change, turns error bodies into ApiError with the server's stable code, and tells the app
// when the session has ended so it can show the sign-in page.

export type Role = 'admin' | 'auditor' | 'security';

export interface Me {
  user: { name: string; email?: string; role: Role; panel_identities?: string[] };
  csrf_token: string;
  session?: { created_at: number; expires_at: number };
  settings?: { export_encryption?: 'off' | 'optional' | 'required' };
}

export interface UserRef {
  name?: string;
  email?: string;
  login?: string;
  role?: string;
}

export interface SgEvent {
  id: string;
  ts: number;
  type: string;
  ip?: string;
  user?: UserRef;
  client?: string;
  session_id?: string;
  [k: string]: unknown;
}

// The page shape is the store's own (types only: nothing of the server reaches the bundle).
export type { Page } from '../../../recorder/store/types.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param?: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

let csrf = '';
let onSignedOut: (why: string) => void = () => {};

export function setCsrf(token: string): void {
  csrf = token;
}

export function onSessionEnd(fn: (why: string) => void): void {
  onSignedOut = fn;
}

type Params = Record<string, string | number | boolean | undefined | null>;

export function queryString(params: Params): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    q.set(k, v === true ? '1' : String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET') {
    headers['X-CSRF-Token'] = csrf;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? null : JSON.stringify(body), credentials: 'same-origin', signal: signal ?? null });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'SG_ERR_NETWORK', 'The viewer server cannot be reached. Check your connection and try again.');
  }
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = undefined;
  }
  if (res.ok) return data as T;
  const err = (data as { error?: { code?: string; message?: string; param?: string } } | undefined)?.error;
  const retry = Number(res.headers.get('Retry-After'));
  const e = new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? `The server answered ${res.status}.`, err?.param, Number.isFinite(retry) && retry > 0 ? retry : undefined);
  if (res.status === 401 && e.code === 'SG_ERR_AUTH_REQUIRED') onSignedOut('Your session has ended. Sign in again.');
  if (res.status === 403 && e.code === 'SG_ERR_LOCKED') onSignedOut('This account or address is locked.');
  throw e;
}

export const api = {
  get: <T>(path: string, params: Params = {}, signal?: AbortSignal) => call<T>('GET', path + queryString(params), undefined, signal),
  post: <T>(path: string, body?: unknown) => call<T>('POST', path, body ?? {}),
  patch: <T>(path: string, body: unknown) => call<T>('PATCH', path, body),
  del: <T>(path: string) => call<T>('DELETE', path),
};

export async function signIn(name: string, password: string): Promise<Me> {
  const me = await call<Me>('POST', '/api/login', { name, password });
  setCsrf(me.csrf_token);
  // The login answer has no settings: read them with the session it just opened.
  return call<Me>('GET', '/api/me');
}

export async function signOut(): Promise<void> {
  try {
    await call('POST', '/api/logout');
  } finally {
    setCsrf('');
  }
}

/** The signed-in user, or undefined when there is no session. */
export async function whoAmI(): Promise<Me | undefined> {
  try {
    const me = await call<Me>('GET', '/api/me');
    setCsrf(me.csrf_token);
    return me;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return undefined;
    throw e;
  }
}

export function describeError(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === 'SG_ERR_FORBIDDEN') return 'Your role may not do this.';
    if (e.code === 'SG_ERR_RATE_LIMITED') return `Too many attempts. Try again in ${Math.ceil((e.retryAfter ?? 60) / 60)} min.`;
    return e.message;
  }
  return (e as Error)?.message ?? String(e);
}
