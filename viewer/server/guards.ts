// Checks applied before a route runs: same-origin for state-changing requests, the CSRF token,
// and the JSON body. A browser on another site can make a victim's browser send a POST with
// the viewer's cookie (SameSite=Strict aside), but cannot read the CSRF token, set a custom
// header without a CORS preflight we never grant, or fake its Origin.
import { SgError } from '../../gateway/core/errors.js';
import type { ViewerRequest } from './http-io.js';
import { safeEqual, type ViewerSession } from './sessions.js';

export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);
export const CSRF_HEADER = 'x-csrf-token';

/** The origin the client used to reach the viewer: scheme from TLS (or a trusted proxy), host from Host. */
export function ownOrigin(req: ViewerRequest, secure: boolean, fromTrustedProxy: boolean): string | undefined {
  const host = (fromTrustedProxy && firstValue(req.headers.get('x-forwarded-host'))) || req.headers.get('host');
  if (!host) return undefined;
  try {
    return new URL(`${secure ? 'https' : 'http'}://${host}`).origin;
  } catch {
    return undefined;
  }
}

export function firstValue(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const s = v.split(',')[0]!.trim();
  return s || undefined;
}

/**
 * An Origin (or, without it, a Referer) that is present must be the viewer's own origin.
 * `Origin: null` (sandboxed frames, some redirects) is foreign.
 */
export function checkSameOrigin(req: ViewerRequest, expected: string | undefined): void {
  const origin = req.headers.get('origin');
  const source = origin !== undefined ? origin : req.headers.get('referer');
  if (source === undefined) return;
  let actual: string | undefined;
  try {
    actual = new URL(source).origin;
  } catch {
    actual = undefined;
  }
  if (!expected || !actual || actual === 'null' || actual !== expected) {
    throw new SgError('SG_ERR_CSRF', `cross-origin request refused (${origin !== undefined ? 'Origin' : 'Referer'} is not this viewer)`);
  }
}

export function checkCsrfToken(req: ViewerRequest, session: ViewerSession): void {
  const token = req.headers.get(CSRF_HEADER);
  if (!token || !safeEqual(token, session.csrf)) {
    throw new SgError('SG_ERR_CSRF', 'missing or wrong X-CSRF-Token header (take it from GET /api/me or the login answer)');
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A JSON object body sent as application/json (anything else cannot come from a plain form). */
export function parseJsonBody(req: ViewerRequest, body: Buffer): Record<string, unknown> {
  const type = (req.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new SgError('SG_ERR_BAD_REQUEST', 'send the body as Content-Type: application/json', { status: 415 });
  }
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(body));
  } catch {
    throw new SgError('SG_ERR_BAD_REQUEST', 'the body is not valid UTF-8 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SgError('SG_ERR_BAD_REQUEST', 'the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}
