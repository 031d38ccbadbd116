// What an upstream failure means for the client: 502 when the upstream cannot be reached or
// broke the exchange, 504 when it was too slow (connect or response headers), like nginx.
import type { ErrorCode } from '../core/errors.js';

export interface UpstreamFailure {
  status: 502 | 504 | 400;
  code: ErrorCode;
  /** The record's `error`. */
  error: 'upstream_unavailable' | 'upstream_timeout' | 'bad_request';
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', 'ESOCKETTIMEDOUT']);

export function isTimeout(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TIMEOUT_CODES.has(code);
}

export function classifyUpstreamError(err: unknown): UpstreamFailure {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (TIMEOUT_CODES.has(code)) return { status: 504, code: 'SG_ERR_UPSTREAM_TIMEOUT', error: 'upstream_timeout' };
    // undici refused what the client sent (a header value or path it cannot encode): the client's fault.
    if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED' || code === 'ERR_INVALID_CHAR') {
      return { status: 400, code: 'SG_ERR_BAD_REQUEST', error: 'bad_request' };
    }
  }
  return { status: 502, code: 'SG_ERR_UPSTREAM_UNAVAILABLE', error: 'upstream_unavailable' };
}

/** A short, secret-free description of an upstream error for logs. */
export function describeError(err: unknown): { code?: string; message: string } {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message.slice(0, 200) : String(err).slice(0, 200);
  return code ? { code, message } : { message };
}
