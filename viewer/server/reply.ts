// JSON replies and the one error shape `{error: {code, message, param?}}`. Output JSON escapes
// `<`, `>` and `&` so evidence holding HTML (URLs, names) can never be read as markup, whatever
// a client or proxy guesses about the content type.
import { ERROR_CODES, SgError, type ErrorCode } from '../../gateway/core/errors.js';
import type { Logger } from '../../gateway/core/runtime.js';
import type { Reply } from './http-io.js';

export const JSON_TYPE = 'application/json; charset=utf-8';

const UNSAFE = /[<>&\u2028\u2029]/g;
const ESCAPES: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };

export function toJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (c) => ESCAPES[c]!);
}

export function json(status: number, value: unknown, headers?: [string, string][]): Reply {
  return { status, contentType: JSON_TYPE, body: toJson(value), headers };
}

export function errorBody(code: ErrorCode, message: string, param?: string): { error: { code: ErrorCode; message: string; param?: string } } {
  return { error: param === undefined ? { code, message } : { code, message, param } };
}

/**
 * Any thrown value to a reply. SgErrors keep their code, status and message (they are written
 * for clients); anything else is logged and answered as a bare 500 — no message, no stack.
 */
export function errorReply(e: unknown, logger: Logger, extraHeaders?: [string, string][]): Reply {
  const { status, body } = errorOf(e, logger);
  return json(status, body, extraHeaders);
}

/** The status and error body for any thrown value (HTTP replies and WebSocket error frames). */
export function errorOf(e: unknown, logger: Logger): { status: number; body: ReturnType<typeof errorBody> } {
  if (e instanceof SgError) {
    const status = e.status >= 400 && e.status <= 599 ? e.status : ERROR_CODES[e.code] || 500;
    if (status >= 500) logger.error({ err: e }, 'viewer request failed');
    const param = typeof e.details?.param === 'string' ? e.details.param : undefined;
    const message = status >= 500 && e.code === 'SG_ERR_INTERNAL' ? 'internal error' : e.message;
    return { status, body: errorBody(e.code, message, param) };
  }
  logger.error({ err: e }, 'viewer request failed');
  return { status: 500, body: errorBody('SG_ERR_INTERNAL', 'internal error') };
}

export function badParam(param: string, message: string): SgError {
  return new SgError('SG_ERR_BAD_PARAM', `${param}: ${message}`, { details: { param } });
}
