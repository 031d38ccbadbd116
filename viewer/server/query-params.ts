// Request-search parameters, parsed once for the API (`GET /api/requests`) and the CLI
// (`sessiongate search`), so both accept exactly the same values. Strict: an unknown or
// repeated parameter, or a value out of range, is a SG_ERR_BAD_PARAM naming the parameter —
// a typo must never silently widen an auditor's search.
import type { RequestQuery } from '../../recorder/store/types.js';
import { badParam } from './reply.js';

export const REQUEST_QUERY_PARAMS = ['realm', 'from', 'to', 'q', 'source', 'method', 'hide_me', 'limit', 'cursor', 'sort', 'order'] as const;
export const Q_MAX = 256;
export const LIMIT_MAX = 500;
const REALM_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const METHOD_RE = /^[A-Za-z]{1,20}$/;
const CURSOR_RE = /^[A-Za-z0-9_-]{1,512}$/;
// Date-times must carry their offset: a bare local time means different instants to the
// auditor, the server and the log.
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|z|[+-]\d{2}:?\d{2})$/;
const MS_RE = /^\d{1,16}$/;
const MAX_MS = 253402300799999; // 9999-12-31T23:59:59.999Z

export interface RequestQueryOptions {
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

export function parseRequestQuery(params: URLSearchParams, opts: RequestQueryOptions = {}): RequestQuery {
  const seen = new Map<string, string>();
  for (const [k, v] of params) {
    if (!(REQUEST_QUERY_PARAMS as readonly string[]).includes(k)) {
      throw badParam(printable(k), `unknown parameter (known: ${REQUEST_QUERY_PARAMS.join(', ')})`);
    }
    if (seen.has(k)) throw badParam(k, 'given more than once');
    seen.set(k, v);
  }
  const q: RequestQuery = {};
  const get = (k: string): string | undefined => {
    const v = seen.get(k);
    return v === undefined || v === '' ? undefined : v;
  };

  const realm = get('realm');
  if (realm !== undefined) {
    if (!REALM_RE.test(realm)) throw badParam('realm', 'use 1-64 letters, digits, _ . -');
    q.realm = realm;
  }
  const from = get('from');
  if (from !== undefined) q.from = parseTime('from', from, 'start', opts.localDates);
  const to = get('to');
  if (to !== undefined) q.to = parseTime('to', to, 'end', opts.localDates);
  if (q.from !== undefined && q.to !== undefined && q.from > q.to) throw badParam('from', 'is after to');

  const text = seen.get('q');
  if (text !== undefined && text.length > 0) {
    if (text.length > Q_MAX * 2 || [...text].length > Q_MAX) throw badParam('q', `at most ${Q_MAX} characters`);
    if (text.trim().length > 0) q.q = text;
  }
  const source = get('source');
  if (source !== undefined) {
    const s = source.toUpperCase();
    if (s !== 'WEB' && s !== 'API') throw badParam('source', 'use WEB or API');
    q.source = s;
  }
  const method = get('method');
  if (method !== undefined) {
    if (!METHOD_RE.test(method)) throw badParam('method', 'use an HTTP method such as GET or POST');
    q.method = method.toUpperCase();
  }
  const limit = get('limit');
  if (limit !== undefined) {
    const n = /^\d{1,4}$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= 1 && n <= LIMIT_MAX)) throw badParam('limit', `use a whole number from 1 to ${LIMIT_MAX}`);
    q.limit = n;
  }
  const cursor = get('cursor');
  if (cursor !== undefined) {
    if (!CURSOR_RE.test(cursor)) throw badParam('cursor', 'malformed cursor (pass next_cursor back unchanged)');
    q.cursor = cursor;
  }
  // Newest first is the only order the store serves (indexes for other sorts come later).
  const sort = get('sort');
  if (sort !== undefined && sort !== 'time' && sort !== 'ts') throw badParam('sort', 'only "time" is supported');
  const order = get('order');
  if (order !== undefined && order !== 'desc') throw badParam('order', 'only "desc" (newest first) is supported');

  const hideMe = seen.get('hide_me');
  if (hideMe !== undefined && parseBool('hide_me', hideMe)) {
    if (!opts.hideMe) throw badParam('hide_me', 'needs a signed-in viewer user');
    q.hide = { logins: [...opts.hideMe.logins], ips: [...opts.hideMe.ips] };
  }
  return q;
}

/** A parameter name safe to echo back in a message (bounded, no control characters). */
function printable(s: string): string {
  const t = s.length > 64 ? `${s.slice(0, 64)}…` : s;
  return t.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}
