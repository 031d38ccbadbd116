// Validation of a RequestQuery and the row filter the request scan applies. Kept apart from
// the scan so the API layer can validate parameters the same way before it reaches the store.
import ipaddr from 'ipaddr.js';
import type { HttpRequestEvent } from '../events.js';
import type { RequestQuery } from './types.js';
import { SgError } from '../../gateway/core/errors.js';
import { decodeCursor } from './cursor.js';

export const LIMIT_DEFAULT = 50;
export const LIMIT_MAX = 500;
export const Q_MAX = 1024;

export interface ParsedRequestQuery {
  limit: number;
  /** Inclusive ms bounds on ts. */
  from: number | undefined;
  to: number | undefined;
  /** The scan continues strictly below this key. */
  after: string | undefined;
  match: (e: HttpRequestEvent) => boolean;
  /** True when no row filter applies (every row in range matches). */
  matchesAll: boolean;
}

function bad(param: string, message: string): SgError {
  return new SgError('SG_ERR_BAD_PARAM', `${param}: ${message}`, { details: { param } });
}

function optString(v: unknown, param: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(param, 'must be a string');
  return v;
}

function optTime(v: unknown, param: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(param, 'must be ms since epoch (a non-negative number)');
  return v;
}

function stringList(v: unknown, param: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(param, 'must be a list of strings');
  return v as string[];
}

/** IPs as the recorder stores them: IPv4-mapped IPv6 shown as IPv4, canonical text. */
export function normaliseIp(ip: string): string {
  try {
    return ipaddr.process(ip).toString();
  } catch {
    return ip;
  }
}

/** Case-insensitive keyword match used by the search box (no regex: the keyword is literal). */
export function keywordFields(e: HttpRequestEvent): (string | undefined)[] {
  return [e.client, e.user?.name, e.user?.email, e.user?.login, e.ip, e.url];
}

export function parseRequestQuery(q: RequestQuery): ParsedRequestQuery {
  if (q === null || typeof q !== 'object') throw bad('query', 'must be an object');
  let limit = LIMIT_DEFAULT;
  if (q.limit !== undefined && q.limit !== null) {
    if (typeof q.limit !== 'number' || !Number.isInteger(q.limit) || q.limit < 1 || q.limit > LIMIT_MAX) throw bad('limit', `must be an integer 1..${LIMIT_MAX}`);
    limit = q.limit;
  }
  const from = optTime(q.from, 'from');
  const to = optTime(q.to, 'to');
  const realm = optString(q.realm, 'realm');
  const source = optString(q.source, 'source');
  if (source !== undefined && source !== 'WEB' && source !== 'API') throw bad('source', 'must be WEB or API');
  const methodRaw = optString(q.method, 'method');
  const method = methodRaw?.trim() ? methodRaw.trim().toUpperCase() : undefined;
  const qRaw = optString(q.q, 'q');
  if (qRaw !== undefined && qRaw.length > Q_MAX) throw bad('q', `longer than ${Q_MAX} characters`);
  const keyword = qRaw?.trim() ? qRaw.trim().toLowerCase() : undefined;
  if (q.hide !== undefined && q.hide !== null && typeof q.hide !== 'object') throw bad('hide', 'must be an object');
  const hideLogins = new Set(stringList(q.hide?.logins, 'hide.logins'));
  const hideIps = new Set(stringList(q.hide?.ips, 'hide.ips').map(normaliseIp));
  const cursor = optString(q.cursor, 'cursor');
  const after = cursor ? decodeCursor(cursor) : undefined;

  const tests: ((e: HttpRequestEvent) => boolean)[] = [];
  if (from !== undefined) tests.push((e) => e.ts >= from);
  if (to !== undefined) tests.push((e) => e.ts <= to);
  if (realm !== undefined) tests.push((e) => e.realm === realm);
  if (source !== undefined) tests.push((e) => e.source === source);
  if (method !== undefined) tests.push((e) => typeof e.method === 'string' && e.method.toUpperCase() === method);
  if (hideLogins.size) tests.push((e) => !(e.user?.login !== undefined && hideLogins.has(e.user.login)));
  if (hideIps.size) tests.push((e) => !(e.ip !== undefined && hideIps.has(e.ip)));
  if (keyword !== undefined) {
    tests.push((e) => keywordFields(e).some((f) => typeof f === 'string' && f.toLowerCase().includes(keyword)));
  }
  const match = (e: HttpRequestEvent) => {
    for (const t of tests) if (!t(e)) return false;
    return true;
  };
  // from/to are also enforced by the key range; they do not make "total" expensive to know.
  const matchesAll = realm === undefined && source === undefined && method === undefined && !hideLogins.size && !hideIps.size && keyword === undefined && from === undefined && to === undefined;
  return { limit, from, to, after, match, matchesAll };
}
