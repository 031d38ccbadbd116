// Which named database holds which event type, and the compact stored form of an event.
// One database per kind keeps a query over one kind from wading through the others.
// Stored values leave out what the key or the database already says: the id (it is the key),
// the type when a database holds only one type, and undefined fields.
import type { EventType, SgEvent } from '../events.js';

export const KINDS = ['requests', 'sessions', 'activity', 'transfers', 'ssh'] as const;
export type Kind = (typeof KINDS)[number];

export const KIND_OF_TYPE: Readonly<Record<EventType, Kind>> = {
  'http.request': 'requests',
  'session.start': 'sessions',
  'session.end': 'sessions',
  activity: 'activity',
  'audit.gap': 'activity',
  'file.transfer': 'transfers',
  'ftp.command': 'transfers',
  'ssh.exec': 'ssh',
  'ssh.forward': 'ssh',
};

/** The one type a kind's database holds, when it holds only one: values omit it. */
const IMPLIED_TYPE: Partial<Record<Kind, EventType>> = { requests: 'http.request' };

export function kindOf(type: unknown): Kind | undefined {
  return typeof type === 'string' && Object.hasOwn(KIND_OF_TYPE, type) ? KIND_OF_TYPE[type as EventType] : undefined;
}

export function isEventType(type: unknown): type is EventType {
  return kindOf(type) !== undefined;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

export function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  // A "__proto__" key from parsed JSON must stay data, never become the prototype.
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

export function compactValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(compactValue);
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = v[k];
    if (x !== undefined) setOwn(out, k, compactValue(x));
  }
  return out;
}

/** The map form of a row, as stores wrote rows before shaped rows (row-codec.ts); still read. */
export function toStored(kind: Kind, ev: SgEvent): Record<string, unknown> {
  const dropType = IMPLIED_TYPE[kind] !== undefined;
  const src = ev as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(src)) {
    if (k === 'id' || (dropType && k === 'type')) continue;
    const x = src[k];
    if (x === undefined) continue;
    const v = typeof x === 'object' && x !== null ? compactValue(x) : x;
    if (k === '__proto__') setOwn(out, k, v);
    else out[k] = v;
  }
  return out;
}

/** The event back from its key and a freshly decoded map-form value (completed in place:
 * copying a 20-field object costs more than decoding it). */
export function fromMap(kind: Kind, id: string, value: unknown): { ev: SgEvent; seq: number | undefined } {
  const implied = IMPLIED_TYPE[kind];
  const v = (isPlainObject(value) ? value : {}) as Record<string, unknown>;
  let seq: number | undefined;
  // A session.start row's sequential number belongs to its session row, not to the event.
  if (kind === 'sessions' && 'seq' in v) {
    if (typeof v.seq === 'number') seq = v.seq;
    delete v.seq;
  }
  v.id = id;
  if (implied) v.type = implied;
  return { ev: v as unknown as SgEvent, seq };
}
