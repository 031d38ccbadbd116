// What the postings index says about an event (docs/store.md "Postings: fields and terms"):
// trigrams of the keyword texts under field `q`, and exact lowercased values under named
// fields. The index only has to be a superset: every query confirms its whole filter on the
// row, using the same normalisation (`norm`) and the same keyword texts (`keywordTexts`).
import type { SgEvent, UserRef } from '../events.js';
import type { Kind } from './kinds.js';
import { MAX_TERM } from './layout.js';

/** Field of keyword trigrams. */
export const Q = 'q';
/** Exact field marking panel requests that belong in the activity log (action is not `view`). */
export const ACTIVITY_FIELD = 'activity';

const ASCII_RE = /^[\x20-\x7e]*$/;

/** The one text normalisation of the index and of every keyword match: NFKC, then lowercase. */
export function norm(s: string): string {
  // ASCII is NFKC-stable: skip the (costly) normalisation on the hot path.
  return ASCII_RE.test(s) ? s.toLowerCase() : s.normalize('NFKC').toLowerCase();
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function userTexts(u: UserRef | undefined, out: string[]): void {
  if (!u || typeof u !== 'object') return;
  for (const v of [u.name, u.email, u.login]) {
    const s = str(v);
    if (s !== undefined) out.push(s);
  }
}

/** The texts the keyword (`q`) of a query over `kind` searches in, raw (not normalised). */
export function keywordTexts(kind: Kind, ev: SgEvent): string[] {
  const e = ev as unknown as Record<string, unknown> & { user?: UserRef; server?: { name?: unknown; host?: unknown } };
  const out: string[] = [];
  const push = (...vs: unknown[]) => {
    for (const v of vs) {
      const s = str(v);
      if (s !== undefined) out.push(s);
    }
  };
  switch (kind) {
    case 'requests':
      push(e.client);
      userTexts(e.user, out);
      push(e.ip, e.url);
      break;
    case 'sessions':
      userTexts(e.user, out);
      push(e.account, e.server?.name, e.server?.host, e.ip, e.client, e.client_name);
      break;
    case 'activity':
      push(e.initiator, e.action, e.description);
      userTexts(e.user, out);
      push(e.ip, e.client);
      if (Array.isArray(e.targets)) for (const t of e.targets as { id?: unknown }[]) push(t?.id);
      // An audit.gap has no other text: its reason is what an auditor types.
      if (e.type === 'audit.gap') push(e.reason);
      break;
    case 'transfers':
      userTexts(e.user, out);
      push(e.ip, e.client, e.server?.name, e.server?.host, e.path, e.to_path, e.command, e.args);
      break;
    case 'ssh':
      userTexts(e.user, out);
      push(e.ip, e.command, e.dest_host);
      break;
  }
  return out;
}

/** Does the normalised keyword occur in one of the event's keyword texts? */
export function keywordMatches(kind: Kind, ev: SgEvent, normKeyword: string): boolean {
  for (const t of keywordTexts(kind, ev)) if (norm(t).includes(normKeyword)) return true;
  return false;
}

/** Every distinct trigram (3 UTF-16 code units) of a normalised text. */
export function trigramsOf(text: string, into: Set<string>): void {
  for (let i = 0; i + 3 <= text.length; i++) into.add(text.slice(i, i + 3));
}

/** The trigrams a query looks up for a normalised keyword of >= 3 code units: all of them
 * (a posting lookup costs far less than reading a row the intersection would have ruled out). */
export function keywordTrigrams(normKeyword: string): string[] {
  const out = new Set<string>();
  trigramsOf(normKeyword, out);
  return [...out];
}

/** The term of an exact value: normalised, cut to MAX_TERM code units (the row confirms the rest). */
export function exactTerm(v: string): string {
  return norm(v).slice(0, MAX_TERM);
}

/** `2xx`... for an HTTP status. */
export function statusClass(status: unknown): string | undefined {
  return typeof status === 'number' && status >= 100 && status <= 999 ? `${Math.floor(status / 100)}xx` : undefined;
}

/** Calls `emit(field, term)` for every exact (non-keyword) posting of the event. */
export function forEachExact(kind: Kind, ev: SgEvent, emit: (field: string, term: string) => void): void {
  const e = ev as unknown as Record<string, unknown> & { user?: UserRef; server?: { name?: unknown; os?: unknown } };
  const exact = (field: string, v: unknown) => {
    const s = str(v);
    if (s !== undefined) emit(field, exactTerm(s));
  };
  if (kind !== 'requests') exact('type', e.type);
  exact('login', e.user?.login);
  exact('email', e.user?.email);
  exact('ip', e.ip);
  exact('session', e.session_id);
  switch (kind) {
    case 'requests':
      exact('realm', e.realm);
      exact('source', e.source);
      exact('method', e.method);
      exact('action', e.action);
      exact('status', statusClass(e.status));
      if (e.action !== 'view') emit(ACTIVITY_FIELD, '1');
      break;
    case 'sessions':
      exact('protocol', e.protocol);
      exact('os', e.server?.os);
      exact('connected_from', e.connected_from);
      break;
    case 'activity':
      exact('action', e.action);
      exact('initiator', e.initiator);
      break;
    case 'transfers':
      exact('protocol', e.protocol);
      exact('direction', e.direction);
      exact('result', e.result);
      exact('server', e.server?.name);
      break;
    case 'ssh':
      break;
  }
}

/**
 * Calls `emit(field, term)` for every posting of the event (the same pair may come twice).
 * The reference statement of the index's content; the segment builder (indexer.ts) computes
 * the same set faster.
 */
export function forEachTerm(kind: Kind, ev: SgEvent, emit: (field: string, term: string) => void): void {
  const grams = new Set<string>();
  for (const t of keywordTexts(kind, ev)) trigramsOf(norm(t), grams);
  for (const g of grams) emit(Q, g);
  forEachExact(kind, ev, emit);
}

/** `[field, term]` pairs of an event, deduplicated (docs/store.md `termsOf`). */
export function termsOf(kind: Kind, ev: SgEvent): [string, string][] {
  const seen = new Set<string>();
  const out: [string, string][] = [];
  forEachTerm(kind, ev, (f, t) => {
    const k = `${f}\0${t}`;
    if (seen.has(k)) return;
    seen.add(k);
    out.push([f, t]);
  });
  return out;
}
