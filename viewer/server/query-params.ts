// Request-search parameters, parsed once for the API (`GET /api/requests`) and the CLI
// (`sessiongate search`), so both accept exactly the same values. Strict: an unknown or
// repeated parameter, or a value out of range, is a SG_ERR_BAD_PARAM naming the parameter —
// a typo must never silently widen an auditor's search.
import ipaddr from 'ipaddr.js';
import { ACTIVITY_SORTS, REQUEST_SORTS, SESSION_SORTS, TRANSFER_SORTS, type QueryByKind, type RequestQuery, type SearchKind, type TimelineQuery } from '../../recorder/store/types.js';
import { normalizeIp } from '../../gateway/core/client-ip.js';
import { badParam } from './reply.js';

const HTTP_ACTIONS = ['view', 'create', 'update', 'delete', 'login', 'logout'] as const;
const PROTOCOLS = ['ssh', 'sftp', 'ftp', 'http', 'web-ssh', 'local'] as const;
const TRANSFER_DIRECTIONS = ['upload', 'download', 'remove', 'rename', 'mkdir', 'rmdir', 'list'] as const;
const TRANSFER_RESULTS = ['ok', 'aborted', 'failed', 'denied'] as const;
export const Q_MAX = 256;
export const LIMIT_MAX = 500;
const REALM_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const METHOD_RE = /^[A-Za-z]{1,20}$/;
const CURSOR_RE = /^[A-Za-z0-9_.-]{1,2048}$/;
// Date-times must carry their offset: a bare local time means different instants to the
// auditor, the server and the log.
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|z|[+-]\d{2}:?\d{2})$/;
const MS_RE = /^\d{1,16}$/;
const MAX_MS = 253402300799999; // 9999-12-31T23:59:59.999Z

export interface SearchParamOptions {
  /**
   * What `hide_me` excludes: the signed-in viewer user's panel logins and the request's own
   * IP. Without it (the CLI) `hide_me` is refused: there is no "me".
   */
  hideMe?: { logins: string[]; ips: string[] };
  /** Read `YYYY-MM-DD` in the local time zone (the CLI) instead of UTC (the API). */
  localDates?: boolean;
}

/** Parses `from` / `to`: ISO 8601 with offset, a date (whole day, start or end), or ms. */
export function parseTime(param: string, value: string, edge: 'start' | 'end', localDates = false): number {
  const v = value.trim();
  let ms: number;
  if (MS_RE.test(v)) {
    ms = Number(v);
  } else if (DATE_RE.test(v)) {
    const [, y, mo, d] = DATE_RE.exec(v)!.map(Number) as [number, number, number, number];
    checkCalendar(param, y, mo, d);
    const start = localDates ? new Date(y, mo - 1, d).getTime() : Date.UTC(y, mo - 1, d);
    // The next day's start minus 1 ms: right across DST changes too.
    ms = edge === 'start' ? start : (localDates ? new Date(y, mo - 1, d + 1).getTime() : Date.UTC(y, mo - 1, d + 1)) - 1;
  } else {
    const m = DATETIME_RE.exec(v);
    if (!m) throw badParam(param, 'use ISO 8601 with an offset (2025-10-27T21:13:37+03:00 or ...Z), a date (2025-10-27) or ms since epoch');
    const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [number, number, number, number, number, number];
    checkCalendar(param, y, mo, d);
    if (h > 23 || mi > 59 || s > 59) throw badParam(param, `invalid time of day in "${v.slice(0, 40)}"`);
    const frac = m[7] ? Number(m[7].padEnd(3, '0').slice(0, 3)) : 0;
    const off = m[8]!;
    let offMin = 0;
    if (off !== 'Z' && off !== 'z') {
      const oh = Number(off.slice(1, 3));
      const om = Number(off.slice(-2));
      if (oh > 23 || om > 59) throw badParam(param, `invalid offset "${off}"`);
      offMin = (off[0] === '-' ? -1 : 1) * (oh * 60 + om);
    }
    ms = Date.UTC(y, mo - 1, d, h, mi, s, frac) - offMin * 60_000;
  }
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > MAX_MS) throw badParam(param, 'time out of range');
  return ms;
}

function checkCalendar(param: string, y: number, mo: number, d: number): void {
  const days = mo >= 1 && mo <= 12 ? new Date(Date.UTC(y, mo, 0)).getUTCDate() : 0;
  if (y < 1970 || days === 0 || d < 1 || d > days) throw badParam(param, `no such date ${y}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}`);
}

function parseBool(param: string, v: string): boolean {
  const s = v.toLowerCase();
  if (s === '1' || s === 'true' || s === 'yes' || s === 'on') return true;
  if (s === '0' || s === 'false' || s === 'no' || s === 'off' || s === '') return false;
  throw badParam(param, 'use 1/true or 0/false');
}

type Parsed = Record<string, unknown>;
type ParamParser = (q: Parsed, v: string, param: string, opts: SearchParamOptions) => void;

const enumOf =
  <T extends string>(values: readonly T[], upper = false): ParamParser =>
  (q, v, param) => {
    const s = upper ? v.toUpperCase() : v.toLowerCase();
    if (!(values as readonly string[]).includes(s)) throw badParam(param, `use one of ${values.join(', ')}`);
    q[param] = s;
  };

const text =
  (max: number, re?: RegExp, hint = ''): ParamParser =>
  (q, v, param) => {
    if (v.length > max * 2 || [...v].length > max) throw badParam(param, `at most ${max} characters`);
    if (/[\u0000-\u001f\u007f]/.test(v)) throw badParam(param, 'control characters are not allowed');
    if (re && !re.test(v)) throw badParam(param, hint);
    q[param] = v;
  };

const listOf =
  <T extends string>(values: readonly T[]): ParamParser =>
  (q, v, param) => {
    const items = v.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean);
    if (items.length === 0 || items.some((x) => !(values as readonly string[]).includes(x))) throw badParam(param, `a comma-separated list of ${values.join(', ')}`);
    q[param] = [...new Set(items)];
  };

const COMMON: Record<string, ParamParser> = {
  from: (q, v, param, o) => (q.from = parseTime(param, v, 'start', o.localDates)),
  to: (q, v, param, o) => (q.to = parseTime(param, v, 'end', o.localDates)),
  q: (q, v, param) => {
    if (v.length > Q_MAX * 2 || [...v].length > Q_MAX) throw badParam(param, `at most ${Q_MAX} characters`);
    if (v.trim().length > 0) q.q = v;
  },
  limit: (q, v, param) => {
    const n = /^\d{1,4}$/.test(v) ? Number(v) : NaN;
    if (!(n >= 1 && n <= LIMIT_MAX)) throw badParam(param, `use a whole number from 1 to ${LIMIT_MAX}`);
    q.limit = n;
  },
  cursor: (q, v, param) => {
    if (!CURSOR_RE.test(v)) throw badParam(param, 'malformed cursor (pass next_cursor back unchanged)');
    q.cursor = v;
  },
  order: enumOf(['asc', 'desc'] as const),
};

const IDENTITY: Record<string, ParamParser> = {
  login: text(256),
  email: text(256),
  ip: (q, v, param) => {
    if (!ipaddr.isValid(v)) throw badParam(param, 'an IPv4 or IPv6 address');
    q.ip = normalizeIp(v);
  },
};

const hideMe: ParamParser = (q, v, param, o) => {
  if (!parseBool(param, v)) return;
  if (!o.hideMe) throw badParam(param, 'needs a signed-in viewer user');
  q.hide = { logins: [...o.hideMe.logins], ips: [...o.hideMe.ips] };
};

/** Accepted parameters per search, each with its parser. */
const SPECS: Record<SearchKind | 'timeline', Record<string, ParamParser>> = {
  requests: {
    ...COMMON,
    ...IDENTITY,
    realm: text(64, REALM_RE, 'use 1-64 letters, digits, _ . -'),
    source: enumOf(['WEB', 'API'] as const, true),
    method: (q, v, param) => {
      if (!METHOD_RE.test(v)) throw badParam(param, 'use an HTTP method such as GET or POST');
      q.method = v.toUpperCase();
    },
    action: enumOf(HTTP_ACTIONS),
    hide_me: hideMe,
    sort: enumOf(REQUEST_SORTS),
  },
  sessions: {
    ...COMMON,
    ...IDENTITY,
    protocol: enumOf(PROTOCOLS),
    os: text(64),
    connected_from: enumOf(['proxy', 'web'] as const),
    state: enumOf(['open', 'ended'] as const),
    session_id: text(128, /^[A-Za-z0-9_.:-]+$/, 'a session id'),
    sort: enumOf(SESSION_SORTS),
  },
  activity: {
    ...COMMON,
    action: text(64, /^[a-z_]+$/i, 'an action such as login, delete, terminate'),
    initiator: text(256),
    types: listOf(['activity', 'audit.gap', 'http.request'] as const),
    sort: enumOf(ACTIVITY_SORTS),
  },
  transfers: {
    ...COMMON,
    ...IDENTITY,
    types: listOf(['file.transfer', 'ftp.command'] as const),
    protocol: enumOf(['ftp', 'sftp', 'scp'] as const),
    server: text(256),
    path: text(4096),
    direction: enumOf(TRANSFER_DIRECTIONS),
    result: enumOf(TRANSFER_RESULTS),
    session_id: text(128, /^[A-Za-z0-9_.:-]+$/, 'a session id'),
    sort: enumOf(TRANSFER_SORTS),
  },
  timeline: { from: COMMON.from!, to: COMMON.to!, limit: COMMON.limit!, cursor: COMMON.cursor!, order: COMMON.order!, ...IDENTITY },
};

export function searchParamNames(kind: SearchKind | 'timeline'): string[] {
  return Object.keys(SPECS[kind]);
}

/**
 * Parses one search's parameters (API query string or CLI flags) into the store's query for
 * that kind. Strict: unknown or repeated parameters and bad values are SG_ERR_BAD_PARAM.
 */
export function parseSearch<K extends SearchKind>(kind: K, params: URLSearchParams, opts?: SearchParamOptions): QueryByKind[K];
export function parseSearch(kind: 'timeline', params: URLSearchParams, opts?: SearchParamOptions): TimelineQuery;
export function parseSearch(kind: SearchKind | 'timeline', params: URLSearchParams, opts: SearchParamOptions = {}): object {
  const spec = SPECS[kind];
  const seen = new Set<string>();
  const q: Parsed = {};
  for (const [k, v] of params) {
    const parse = Object.hasOwn(spec, k) ? spec[k] : undefined;
    if (!parse) throw badParam(printable(k), `unknown parameter (known: ${Object.keys(spec).join(', ')})`);
    if (seen.has(k)) throw badParam(k, 'given more than once');
    seen.add(k);
    if (v === '') continue;
    parse(q, v, k, opts);
  }
  if (typeof q.from === 'number' && typeof q.to === 'number' && q.from > q.to) throw badParam('from', 'is after to');
  if (q.sort === 'time') delete q.sort;
  if (kind === 'timeline' && ['login', 'email', 'ip'].filter((k) => q[k] !== undefined).length !== 1) {
    throw badParam('login', 'give exactly one of login, email, ip');
  }
  return q;
}

export function parseRequestQuery(params: URLSearchParams, opts: SearchParamOptions = {}): RequestQuery {
  return parseSearch('requests', params, opts);
}

/** A parameter name safe to echo back in a message (bounded, no control characters). */
function printable(s: string): string {
  const t = s.length > 64 ? `${s.slice(0, 64)}…` : s;
  return t.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}
