// Typed reads of JSON body fields: a wrong type, an over-long value or a control character is
// a 400 naming the field (control characters in a reason or a lock value would end up in
// evidence and in auditors' terminals).
import { badParam } from './reply.js';

const CONTROL = '[\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]';
const CONTROL_RE = new RegExp(CONTROL);
const CONTROL_RE_G = new RegExp(CONTROL, 'g');

export interface StringRule {
  max: number;
  required?: boolean;
  /** Allow control characters (passwords only: they are never shown). */
  raw?: boolean;
}

export function stringField(body: Record<string, unknown>, key: string, rule: StringRule): string | undefined {
  const v = Object.prototype.hasOwnProperty.call(body, key) ? body[key] : undefined;
  if (v === undefined || v === null || v === '') {
    if (rule.required) throw badParam(key, 'is required');
    return undefined;
  }
  if (typeof v !== 'string') throw badParam(key, 'must be a string');
  if (v.length > rule.max) throw badParam(key, `at most ${rule.max} characters`);
  if (!rule.raw && CONTROL_RE.test(v)) throw badParam(key, 'must not contain control characters');
  return v;
}

/** Refuses fields the route does not know: a typo must not be silently ignored. */
export function onlyFields(body: Record<string, unknown>, known: readonly string[]): void {
  for (const k of Object.keys(body)) {
    if (!known.includes(k)) throw badParam(k.length > 64 ? `${k.slice(0, 64)}…` : k.replace(CONTROL_RE_G, '?'), `unknown field (known: ${known.join(', ')})`);
  }
}
