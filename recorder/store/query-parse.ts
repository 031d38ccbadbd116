// Validation shared by every kind's query (docs/store.md "Queries"): anything unexpected is a
// SG_ERR_BAD_PARAM naming the parameter, checked before any read, so bad input can neither crash
// a query nor turn it into a full scan.
import ipaddr from 'ipaddr.js';
import { SgError } from '../../gateway/core/errors.js';
import type { SortOrder } from './types.js';
import { norm } from './terms.js';

export const LIMIT_DEFAULT = 50;
export const LIMIT_MAX = 500;
/** Longest keyword (code points). */
export const Q_MAX = 1024;
/** Longest exact filter value and Hide Me list. */
export const VALUE_MAX = 1024;
export const HIDE_MAX = 100;

export function bad(param: string, message: string): SgError {
  return new SgError('SG_ERR_BAD_PARAM', `${param}: ${message}`, { details: { param } });
}

export function checkObject(q: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (q === null || typeof q !== 'object' || Array.isArray(q)) throw bad('query', 'must be an object');
  for (const k of Object.keys(q)) {
    if (!allowed.includes(k)) throw bad(k.replace(/[^\x20-\x7e]/g, '?').slice(0, 64), 'unknown filter');
  }
  return q as Record<string, unknown>;
}

/** A string filter, trimmed; empty means absent. */
export function optString(v: unknown, param: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(param, 'must be a string');
  if (v.length > VALUE_MAX) throw bad(param, `longer than ${VALUE_MAX} characters`);
  const s = v.trim();
  return s === '' ? undefined : s;
}

export function optEnum<T extends string>(v: unknown, param: string, values: readonly T[]): T | undefined {
  const s = optString(v, param);
  if (s === undefined) return undefined;
  if (!(values as readonly string[]).includes(s)) throw bad(param, `must be one of ${values.join(', ')}`);
  return s as T;
}

export function optTime(v: unknown, param: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(param, 'must be ms since epoch (a non-negative number)');
  return v;
}

export function parseLimit(v: unknown): number {
  if (v === undefined || v === null) return LIMIT_DEFAULT;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > LIMIT_MAX) throw bad('limit', `must be an integer 1..${LIMIT_MAX}`);
  return v;
}

export function parseOrder(v: unknown): SortOrder {
  return optEnum(v, 'order', ['asc', 'desc'] as const) ?? 'desc';
}

export function parseSort<T extends string>(v: unknown, sorts: readonly T[]): T {
  return optEnum(v, 'sort', sorts) ?? ('time' as T);
}

export function parseCursor(v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw bad('cursor', 'must be a string');
  return v;
}

/** The keyword, normalised (NFKC, lowercase, trimmed); undefined when blank. */
export function parseKeyword(v: unknown, param = 'q'): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(param, 'must be a string');
  if (v.length > 2 * Q_MAX) throw bad(param, `longer than ${Q_MAX} characters`);
  let points = 0;
  for (const _ of v) if (++points > Q_MAX) throw bad(param, `longer than ${Q_MAX} characters`);
  const k = norm(v.trim());
  return k === '' ? undefined : k;
}

/** IPs as the recorder stores them: IPv4-mapped IPv6 shown as IPv4, canonical text. */
export function normaliseIp(ip: string): string {
  try {
    return ipaddr.process(ip).toString();
  } catch {
    return ip;
  }
}

export function stringList(v: unknown, param: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.length > VALUE_MAX)) throw bad(param, 'must be a list of strings');
  if (v.length > HIDE_MAX) throw bad(param, `at most ${HIDE_MAX} entries`);
  return v as string[];
}

export interface Hide {
  logins: Set<string>;
  ips: Set<string>;
}

/** "Hide Me": the viewer's own panel logins and IPs, compared normalised. */
export function parseHide(v: unknown): Hide | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('hide', 'must be an object');
  const h = v as Record<string, unknown>;
  for (const k of Object.keys(h)) if (k !== 'logins' && k !== 'ips') throw bad(`hide.${k.slice(0, 32)}`, 'unknown filter');
  const logins = new Set(stringList(h.logins, 'hide.logins').map(norm));
  const ips = new Set(stringList(h.ips, 'hide.ips').map((ip) => norm(normaliseIp(ip.trim()))));
  return logins.size || ips.size ? { logins, ips } : undefined;
}

export function parseTypes<T extends string>(v: unknown, all: readonly T[]): T[] {
  if (v === undefined || v === null) return [...all];
  if (!Array.isArray(v) || !v.length || v.some((x) => typeof x !== 'string' || !(all as readonly string[]).includes(x))) throw bad('types', `must be a non-empty list of ${all.join(', ')}`);
  return all.filter((t) => (v as string[]).includes(t));
}
