// Errors with stable codes (SG_ERR_*), like undici's core/errors: tests and API clients
// assert on `code`, never on message text. The cause is kept for logs.
// This module is a leaf (no imports) so recorder/, config/ and viewer/ may use it too.

export const ERROR_CODES = {
  SG_ERR_CONFIG_NOT_FOUND: 0,
  SG_ERR_CONFIG_PARSE: 0,
  SG_ERR_CONFIG_INVALID: 0,
  SG_ERR_UWS_FALLBACK: 0,
  SG_ERR_LISTEN: 0,
  SG_ERR_SSH_UPSTREAM: 502,
  SG_ERR_STORE_OPEN: 0,
  SG_ERR_STORE_WRITE: 503,
  SG_ERR_STORE_UNAVAILABLE: 503,
  SG_ERR_RECORDER_CLOSED: 503,
  SG_ERR_QUEUE_FULL: 503,
  SG_ERR_BAD_REQUEST: 400,
  SG_ERR_SMUGGLING: 400,
  SG_ERR_HEADER_TOO_LARGE: 431,
  SG_ERR_URL_TOO_LONG: 414,
  SG_ERR_METHOD_NOT_ALLOWED: 405,
  SG_ERR_HEADER_TIMEOUT: 408,
  SG_ERR_BODY_TOO_LARGE: 413,
  SG_ERR_NO_ROUTE: 404,
  SG_ERR_UPSTREAM_UNAVAILABLE: 502,
  SG_ERR_UPSTREAM_TIMEOUT: 504,
  SG_ERR_SESSION_REVOKED: 401,
  SG_ERR_LOCKED: 403,
  SG_ERR_JWT_INVALID: 401,
  SG_ERR_JWT_EXPIRED: 401,
  SG_ERR_AUTH_REQUIRED: 401,
  SG_ERR_AUTH_INVALID: 401,
  SG_ERR_CSRF: 403,
  SG_ERR_FORBIDDEN: 403,
  SG_ERR_NOT_FOUND: 404,
  SG_ERR_BAD_PARAM: 400,
  SG_ERR_RATE_LIMITED: 429,
  SG_ERR_CONFLICT: 409,
  SG_ERR_USER_EXISTS: 409,
  SG_ERR_USER_NOT_FOUND: 404,
  SG_ERR_BAD_PASSWORD: 400,
  SG_ERR_ENCRYPTION_REQUIRED: 403,
  SG_ERR_ENCRYPTION_OFF: 403,
  SG_ERR_EXPORT_TICKET: 404,
  SG_ERR_RECORDING_WRITE: 500,
  SG_ERR_RECORDING_INVALID: 422,
  SG_ERR_INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface SgErrorOptions {
  cause?: unknown;
  /** HTTP status when the error reaches an HTTP client; defaults from the code table. */
  status?: number;
  /** Machine-readable extras (config key and line, limits, ...). Never secrets. */
  details?: Record<string, unknown>;
}

export class SgError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: SgErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SgError';
    this.code = code;
    this.status = opts.status ?? (ERROR_CODES[code] || 500);
    this.details = opts.details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

/** One config problem: the dotted key, the YAML line (1-based) when known, and what is wrong. */
export interface ConfigIssue {
  key: string;
  line?: number;
  column?: number;
  message: string;
}

export class ConfigError extends SgError {
  readonly issues: ConfigIssue[];
  readonly file: string | undefined;
  constructor(code: 'SG_ERR_CONFIG_NOT_FOUND' | 'SG_ERR_CONFIG_PARSE' | 'SG_ERR_CONFIG_INVALID', file: string | undefined, issues: ConfigIssue[], cause?: unknown) {
    const where = (i: ConfigIssue) => `${file ?? '<config>'}${i.line ? `:${i.line}` : ''}: ${i.key ? `${i.key}: ` : ''}${i.message}`;
    super(code, issues.map(where).join('\n'), { cause, details: { file, issues } });
    this.name = 'ConfigError';
    this.issues = issues;
    this.file = file;
  }
}

export function isSgError(e: unknown): e is SgError {
  return e instanceof SgError;
}

/** Wrap anything thrown into an SgError, keeping the original as cause. */
export function toSgError(e: unknown, fallback: ErrorCode = 'SG_ERR_INTERNAL'): SgError {
  if (e instanceof SgError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new SgError(fallback, msg, { cause: e });
}
