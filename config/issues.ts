// Turns zod issues into sentences an operator can act on ("expected a duration such as 30s,
// got boolean true"), formats config paths (`http[0].routes[1].upstream`) and suggests the key
// that was probably meant. Messages never echo URL credentials.
import type { z } from 'zod';
import { allKeyPaths, kindAt, objectKeysAt, type ConfigPath, type PathSeg, type ValueKind } from './schema-walk.js';
import type { PathIssue } from './yaml-source.js';

/** Marks a message zod would have written itself, so only those are rewritten. */
export const DEFAULT_MESSAGE = '\u0000sg-default';

export function formatKey(path: ConfigPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Hides `user:password@` in anything that looks like a URL. */
export function redactCredentials(s: string): string {
  return s.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s@"]*@/gi, '$1[REDACTED]@');
}

function quote(s: string): string {
  const short = s.length > 60 ? `${s.slice(0, 57)}...` : s;
  return JSON.stringify(redactCredentials(short));
}

/** `string "abc"`, `number 5`, `boolean true`, `an empty value`, `a list`, `a mapping`. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (typeof v === 'string') return v === '' ? 'an empty string' : `string ${quote(v)}`;
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : `number ${v}`;
  if (typeof v === 'boolean') return `boolean ${v}`;
  if (Array.isArray(v)) return v.length ? 'a list' : 'an empty list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

const KIND_EXPECTS: Record<ValueKind, string> = {
  duration: 'a duration such as 250ms, 30s, 5m, 8h or 7d (or a number of milliseconds)',
  size: 'a size such as 512, 16KB, 700MB or 1GB (or a number of bytes)',
  listen: 'a listen address HOST:PORT such as 127.0.0.1:8080 or [::1]:8080',
  cidr: 'an IP address or CIDR such as 10.0.0.0/8',
  url: 'an http:// or https:// URL',
};

const TYPE_EXPECTS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  array: 'a list',
};

function norm(s: string): string {
  return s.toLowerCase().replace(/-/g, '_');
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The candidate closest to `word` when it is close enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = norm(word);
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, norm(c));
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const limit = Math.max(1, Math.floor(Math.max(w.length, 3) / 3));
  return best !== undefined && bestD <= limit ? best : undefined;
}

function unknownKeyMessage(parent: ConfigPath, key: string): string {
  const known = objectKeysAt(parent) ?? [];
  const near = closest(key, known);
  if (near) return `unknown key "${key}" (did you mean "${near}"?)`;
  // A valid key in the wrong place: say where it belongs.
  const elsewhere = allKeyPaths().filter((p) => p.split('.').pop()!.replace(/\[\]$/, '') === key);
  if (elsewhere.length > 0 && elsewhere.length <= 3) return `unknown key "${key}" here (it belongs under ${elsewhere.join(' or ')})`;
  return known.length ? `unknown key "${key}" (valid keys here: ${known.join(', ')})` : `unknown key "${key}"`;
}

function expects(path: ConfigPath, zodExpected: string | undefined): string {
  const kind = kindAt(path);
  if (kind) return KIND_EXPECTS[kind];
  return TYPE_EXPECTS[zodExpected ?? ''] ?? `a value of type ${zodExpected ?? 'unknown'}`;
}

function typeHint(expected: string | undefined, input: unknown): string {
  if (typeof input !== 'string') return '';
  if (expected === 'boolean' && /^(y|n|yes|no|on|off|true|false)$/i.test(input.trim())) return ' (write true or false, without quotes)';
  if ((expected === 'number' || expected === 'int') && /^\s*-?\d+(\.\d+)?\s*$/.test(input)) return ' (write the number without quotes)';
  return '';
}

/** `1ms`, `100ms` for durations, `16384 bytes` for sizes, plain numbers otherwise. */
function amount(path: ConfigPath, n: number | bigint): string {
  const kind = kindAt(path);
  if (kind === 'duration') return `${n}ms`;
  if (kind === 'size') return `${n} bytes`;
  return String(n);
}

function boundMessage(iss: z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall, path: ConfigPath): string {
  const big = iss.code === 'too_big';
  const n = big ? (iss as z.core.$ZodIssueTooBig).maximum : (iss as z.core.$ZodIssueTooSmall).minimum;
  const num = typeof n === 'bigint' ? n : Number(n);
  switch (iss.origin) {
    case 'string':
      if (!big && num === 1) return 'must not be empty';
      return `must be ${big ? 'at most' : 'at least'} ${num} characters long`;
    case 'array':
    case 'set':
      if (!big && num === 1) return 'must have at least one entry';
      return `must have ${big ? 'at most' : 'at least'} ${num} entries`;
    default: {
      const inclusive = iss.inclusive !== false;
      const word = big ? (inclusive ? 'at most' : 'less than') : inclusive ? 'at least' : 'greater than';
      return `must be ${word} ${amount(path, num)}`;
    }
  }
}

/** The raw value at `path` in the parsed YAML data (what the operator wrote). */
export function rawAt(data: unknown, path: ConfigPath): unknown {
  let v: unknown = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = Object.hasOwn(v, seg) ? (v as Record<PathSeg, unknown>)[seg] : undefined;
  }
  return v;
}

/** One zod issue -> one or more path issues (one per unknown key). */
export function humanizeIssue(iss: z.core.$ZodIssue, data: unknown): PathIssue[] {
  const path = iss.path.filter((p): p is PathSeg => typeof p === 'string' || typeof p === 'number');
  const raw = rawAt(data, path);
  const own = iss.message !== DEFAULT_MESSAGE;
  const got = `got ${describeValue(raw)}`;
  let message: string;

  switch (iss.code) {
    case 'unrecognized_keys':
      return iss.keys.map((k) => ({ path: [...path, k], message: unknownKeyMessage(path, k) }));
    case 'invalid_type':
      if (own) message = iss.message;
      else if (raw === undefined) message = path.length ? 'required key is missing' : `the config must be a mapping of keys, got ${describeValue(raw)}`;
      else if (path.length === 0) message = `the config must be a mapping of keys (key: value), ${got}`;
      else message = `expected ${expects(path, iss.expected)}, ${got}${typeHint(iss.expected, raw)}`;
      break;
    case 'invalid_union': {
      if (own) {
        message = iss.message;
        break;
      }
      const kind = kindAt(path);
      const types = [...new Set(iss.errors.flat().flatMap((e) => (e.code === 'invalid_type' ? [TYPE_EXPECTS[e.expected] ?? e.expected] : [])))];
      message = `expected ${kind ? KIND_EXPECTS[kind] : types.length ? types.join(' or ') : 'a different value'}, ${got}`;
      break;
    }
    case 'too_big':
    case 'too_small':
      message = `${own ? iss.message : boundMessage(iss, path)}, ${got}`;
      break;
    case 'invalid_value': {
      const values = iss.values.map((v) => JSON.stringify(v));
      const near = typeof raw === 'string' ? closest(raw, iss.values.filter((v): v is string => typeof v === 'string')) : undefined;
      message = own ? `${iss.message}, ${got}` : `expected one of ${values.join(', ')}, ${got}${near ? ` (did you mean "${near}"?)` : ''}`;
      break;
    }
    case 'invalid_format': {
      let rule: string;
      if (own) rule = iss.message;
      else if (iss.format === 'starts_with') rule = `must start with "${(iss as z.core.$ZodIssueInvalidStringFormat & { prefix?: string }).prefix ?? ''}"`;
      else if (iss.format === 'ends_with') rule = `must end with "${(iss as z.core.$ZodIssueInvalidStringFormat & { suffix?: string }).suffix ?? ''}"`;
      else if (iss.format === 'regex') rule = `invalid format (must match ${iss.pattern ?? 'the expected pattern'})`;
      else rule = `expected a valid ${iss.format}`;
      message = `${rule}, ${got}`;
      break;
    }
    case 'not_multiple_of':
      message = own ? iss.message : `must be a multiple of ${String(iss.divisor)}, ${got}`;
      break;
    case 'custom':
      // Custom issues carry the schema's own sentence (it already quotes the value when safe to).
      message = own ? iss.message : 'invalid value';
      break;
    default:
      message = own ? iss.message : `invalid value, ${got}`;
  }
  return [{ path, message: redactCredentials(message.replace(/\s*\n\s*/g, ' ')) }];
}
