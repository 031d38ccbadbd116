// The stored form of a row (docs/store.md "Rows"): a msgpack array in a fixed field order per
// kind, `[shape, extras, ...values]`, instead of a map with its keys spelled out in every row.
// Measured on generated panel requests: a third fewer bytes (290 vs 423) and about half the
// time to pack and to decode, on every write and every row a query reads.
// - `shape` numbers the field lists below; a list never changes once rows use it (a new field
//   order takes a new shape number, and decoders keep the old lists).
// - `extras` is null, or `[name, value, name, value...]` of the fields the list does not name (a
//   future or odd field is kept whole, never dropped; pairs rather than a map because msgpackr
//   renames a decoded map key `__proto__`: a top-level field keeps its exact name).
// - an absent field is msgpack's `undefined` extension (3 bytes); trailing ones are left out;
//   `null` stays null.
// - `user` is itself `[name, email, role, login]` when it holds only those (string) fields, and
//   goes to extras otherwise.
// Rows written before shapes existed are maps: kinds.ts still reads them.
import type { SgEvent } from '../events.js';
import { compactValue, fromMap, isPlainObject, setOwn, type Kind } from './kinds.js';

export const SHAPE_V1 = 1;

const BASE = ['ts', 'ip', 'user', 'client', 'session_id'] as const;

/** Field lists of shape 1, per kind (`type` is implied for requests). */
const FIELDS_V1: Readonly<Record<Kind, readonly string[]>> = {
  requests: [...BASE, 'realm', 'listener', 'route', 'source', 'method', 'url', 'status', 'bytes_in', 'bytes_out', 'duration_ms', 'user_agent', 'action', 'identity_verified', 'identity_source', 'panel_session', 'error', 'upstream_ms'],
  sessions: ['type', ...BASE, 'seq', 'protocol', 'listener', 'account', 'server', 'client_name', 'connected_from', 'recording', 'reason', 'terminated_by', 'terminate_reason', 'duration_ms', 'bytes_in', 'bytes_out', 'exit_code', 'exit_signal'],
  activity: ['type', ...BASE, 'initiator', 'action', 'description', 'targets', 'details', 'lost', 'reason', 'from_ts', 'to_ts', 'by_type'],
  transfers: ['type', ...BASE, 'protocol', 'server', 'path', 'to_path', 'direction', 'bytes', 'duration_ms', 'result', 'detail', 'command', 'args', 'reply_code', 'cwd'],
  ssh: ['type', ...BASE, 'command', 'exit_code', 'exit_signal', 'bytes_in', 'bytes_out', 'pty', 'output', 'kind', 'allowed', 'dest_host', 'dest_port'],
};

const USER_FIELDS = ['name', 'email', 'role', 'login'] as const;

const SHAPES: ReadonlyMap<number, Readonly<Record<Kind, readonly string[]>>> = new Map([[SHAPE_V1, FIELDS_V1]]);

const POSITION_V1 = Object.fromEntries(Object.entries(FIELDS_V1).map(([k, fs]) => [k, new Map(fs.map((f, i) => [f, i]))])) as unknown as Record<Kind, ReadonlyMap<string, number>>;

/** Fields never stored in the value: the id is the key; requests imply their type. */
function skipped(kind: Kind, k: string): boolean {
  return k === 'id' || (kind === 'requests' && k === 'type');
}

/** `[name, email, role, login]`, or undefined when `u` holds anything else (it then goes to
 * extras as it is). */
function shapedUser(u: unknown): unknown[] | undefined {
  if (!isPlainObject(u)) return undefined;
  for (const k of Object.keys(u)) {
    const v = u[k];
    if (v !== undefined && (typeof v !== 'string' || !(USER_FIELDS as readonly string[]).includes(k))) return undefined;
  }
  const out: unknown[] = [u.name, u.email, u.role, u.login];
  while (out.length && out[out.length - 1] === undefined) out.pop();
  return out;
}

/** The array to pack for `ev` (session rows take their sequential number as `seq`). */
export function shapeRow(kind: Kind, ev: SgEvent, seq?: number): unknown[] {
  const fields = FIELDS_V1[kind];
  const pos = POSITION_V1[kind];
  const src = ev as unknown as Record<string, unknown>;
  const out: unknown[] = new Array(2 + fields.length);
  out[0] = SHAPE_V1;
  out[1] = null;
  let extras: unknown[] | undefined;
  for (const k of Object.keys(src)) {
    if (skipped(kind, k)) continue;
    const x = src[k];
    if (x === undefined) continue;
    const i = pos.get(k);
    const user = k === 'user' ? shapedUser(x) : undefined;
    if (user) out[2 + i!] = user;
    else if (i === undefined || k === 'user') (extras ??= []).push(k, typeof x === 'object' && x !== null ? compactValue(x) : x);
    else out[2 + i] = typeof x === 'object' && x !== null ? compactValue(x) : x;
  }
  if (seq !== undefined) out[2 + pos.get('seq')!] = seq;
  else if (kind === 'sessions') out[2 + pos.get('seq')!] = undefined;
  if (extras) out[1] = extras;
  let n = out.length;
  while (n > 2 && out[n - 1] === undefined) n--;
  out.length = n;
  return out;
}

/** Is a decoded value a shaped row? */
export function isShaped(value: unknown): value is unknown[] {
  return Array.isArray(value) && typeof value[0] === 'number';
}

function userOf(v: unknown[]): Record<string, unknown> {
  const u: Record<string, unknown> = {};
  if (v[0] !== undefined) u.name = v[0];
  if (v[1] !== undefined) u.email = v[1];
  if (v[2] !== undefined) u.role = v[2];
  if (v[3] !== undefined) u.login = v[3];
  return u;
}

type Fill = (o: Record<string, unknown>, a: unknown[], userOf: (v: unknown[]) => Record<string, unknown>) => number | undefined;

/**
 * Per (shape, kind), a function that sets the row's fields on the object with one named store
 * each: rows of a kind then share V8 hidden classes, and decoding a page costs a third of what
 * a loop of keyed stores does (measured). Generated from the constant field lists above only.
 */
function compileFill(fields: readonly string[]): Fill {
  const body = fields
    .map((f, i) => {
      const v = `a[${i + 2}]`;
      if (f === 'seq') return `if (typeof ${v} === 'number') seq = ${v};`;
      if (f === 'user') return `if (Array.isArray(${v})) o.user = userOf(${v});`;
      return `if (${v} !== undefined) o[${JSON.stringify(f)}] = ${v};`;
    })
    .join('\n');
  return new Function('o', 'a', 'userOf', `let seq;\n${body}\nreturn seq;`) as Fill;
}

const FILLS = new Map<number, Map<Kind, Fill>>([...SHAPES].map(([n, byKind]) => [n, new Map(Object.entries(byKind).map(([k, fs]) => [k as Kind, compileFill(fs)]))]));

/** The event of a shaped row, and its `seq` (session rows). Throws on an unknown shape. */
export function unshapeRow(kind: Kind, id: string, a: unknown[]): { ev: SgEvent; seq: number | undefined } {
  const fill = FILLS.get(a[0] as number)?.get(kind);
  if (!fill) throw new Error(`row ${id} has unknown shape ${String(a[0])}`);
  const o: Record<string, unknown> = kind === 'requests' ? { id, type: 'http.request' } : { id };
  const seq = fill(o, a, userOf);
  const extras = a[1];
  if (Array.isArray(extras)) {
    for (let i = 0; i + 1 < extras.length; i += 2) {
      const k = extras[i];
      if (typeof k === 'string' && !skipped(kind, k) && !Object.hasOwn(o, k)) setOwn(o, k, extras[i + 1]);
    }
  }
  return { ev: o as unknown as SgEvent, seq };
}

/** A row's event and `seq` from its decoded value, in either stored form. */
export function decodeRow(kind: Kind, id: string, value: unknown): { ev: SgEvent; seq: number | undefined } {
  return isShaped(value) ? unshapeRow(kind, id, value) : fromMap(kind, id, value);
}

/** A row's event from its decoded value. */
export function fromStored(kind: Kind, id: string, value: unknown): SgEvent {
  return decodeRow(kind, id, value).ev;
}
