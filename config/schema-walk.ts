// Reads the zod config schema as a tree, so the loader can say what a key expects, which keys
// are valid beside an unknown one, and validate one leaf on its own (semantic checks run even
// when another part of the file is broken, so one run reports every problem).
import type { z } from 'zod';
import { configSchema, duration, byteSize, listenAddress, cidr, httpUrl } from './schema.js';

export type PathSeg = string | number;
export type ConfigPath = readonly PathSeg[];

type Schema = z.ZodType;

/** The parts of zod 4's internal definition that the walker reads. */
interface Def {
  type: string;
  innerType?: Schema;
  in?: Schema;
  out?: Schema;
  shape?: Record<string, Schema>;
  element?: Schema;
  options?: readonly Schema[];
  defaultValue?: unknown;
}

function defOf(s: Schema): Def {
  return (s as unknown as { _zod: { def: Def } })._zod.def;
}

const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly', 'nonoptional', 'catch']);

/** Strips optional/default/... wrappers and pipes down to the schema that decides the shape. */
function unwrap(s: Schema): Schema {
  for (;;) {
    const d = defOf(s);
    if (WRAPPERS.has(d.type) && d.innerType) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else return s;
  }
}

/** The schema at `path` (with its own optional/default wrapper), or undefined if the path leaves the schema. */
export function schemaAt(path: ConfigPath, root: Schema = configSchema): Schema | undefined {
  let s: Schema = root;
  for (const seg of path) {
    const d = defOf(unwrap(s));
    if (d.type === 'object' && typeof seg === 'string' && d.shape && Object.hasOwn(d.shape, seg)) s = d.shape[seg]!;
    else if (d.type === 'array' && typeof seg === 'number' && d.element) s = d.element;
    else return undefined;
  }
  return s;
}

/** Keys an object at `path` accepts, or undefined when `path` is not an object in the schema. */
export function objectKeysAt(path: ConfigPath): string[] | undefined {
  const s = schemaAt(path);
  if (!s) return undefined;
  const d = defOf(unwrap(s));
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : undefined;
}

/** Whether the key at `path` may be left out without a default taking its place. */
export function isOptionalAt(path: ConfigPath): boolean {
  const s = schemaAt(path);
  return !!s && defOf(s).type === 'optional';
}

export type ValueKind = 'duration' | 'size' | 'listen' | 'cidr' | 'url';

const KINDS = new Map<Schema, ValueKind>([
  [duration, 'duration'],
  [byteSize, 'size'],
  [listenAddress, 'listen'],
  [cidr, 'cidr'],
  [httpUrl, 'url'],
]);

/** The special string format of the value at `path` (duration, size, address, ...), if it has one. */
export function kindAt(path: ConfigPath): ValueKind | undefined {
  let s = schemaAt(path);
  // A custom kind may sit inside wrappers or at the input side of a pipe (e.g. duration.pipe(max)).
  while (s) {
    const k = KINDS.get(s);
    if (k) return k;
    const d = defOf(s);
    s = WRAPPERS.has(d.type) ? d.innerType : d.type === 'pipe' ? d.in : undefined;
  }
  return undefined;
}

/** The default the schema puts at `path` when the key is absent, if any. */
export function defaultAt(path: ConfigPath): { has: boolean; value?: unknown } {
  const s = schemaAt(path);
  if (!s) return { has: false };
  const d = defOf(s);
  if (d.type !== 'default' && d.type !== 'prefault') return { has: false };
  const r = s.safeParse(undefined);
  return r.success ? { has: true, value: r.data } : { has: false };
}

/** Validates one value against the schema at `path` alone; undefined when it is not valid. */
export function parseAt(path: ConfigPath, value: unknown): { ok: true; value: unknown } | { ok: false } {
  const s = schemaAt(path);
  if (!s) return { ok: false };
  const r = s.safeParse(value);
  return r.success ? { ok: true, value: r.data } : { ok: false };
}

/**
 * Every key the schema declares, as `http[].routes[].upstream`-style strings, parents before
 * children. Used to suggest where a misplaced key belongs and by tests that check the example
 * config and docs/config.md cover every key.
 */
let keyPaths: readonly string[] | undefined;

export function allKeyPaths(): readonly string[] {
  if (keyPaths) return keyPaths;
  const out: string[] = [];
  const walk = (s: Schema, prefix: string): void => {
    const d = defOf(unwrap(s));
    if (d.type === 'array' && d.element) return walk(d.element, `${prefix}[]`);
    if (d.type !== 'object' || !d.shape) return;
    for (const [k, child] of Object.entries(d.shape)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.push(p);
      walk(child, p);
    }
  };
  walk(configSchema, '');
  return (keyPaths = Object.freeze(out));
}
