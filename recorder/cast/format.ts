// asciicast v2 as Sessiongate writes it: the header, one event per line, times in seconds
// rounded to the microsecond, sizes clamped. Shared by the writer, the reader, the keyframe
// thread and repair, so every part agrees on what a line is.
import { join } from 'node:path';

export const CAST_VERSION = 2;
/** Terminal sizes outside these bounds are clamped (a client may announce 0x0 or 65535x65535). */
export const MIN_SIZE = 1;
export const MAX_SIZE = 1000;
/** A session id becomes a file name: no separators, no leading dot. */
export const SESSION_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export type CastCode = 'o' | 'i' | 'r' | 'm';

export interface CastHeader {
  version: 2;
  width: number;
  height: number;
  /** Unix time (s) of the start. */
  timestamp?: number;
  env?: { TERM?: string; SHELL?: string };
  title?: string;
  [key: string]: unknown;
}

export function clampSize(n: number): number {
  if (!Number.isFinite(n)) return MIN_SIZE;
  return Math.min(MAX_SIZE, Math.max(MIN_SIZE, Math.floor(n)));
}

/** Seconds with microsecond precision; the same rounding is used wherever a time is written. */
export function roundTime(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e6;
}

export function headerLine(h: CastHeader): string {
  return JSON.stringify(h);
}

export function eventLine(t: number, code: CastCode, data: string): string {
  return `[${t},"${code}",${JSON.stringify(data)}]`;
}

export function resizeData(cols: number, rows: number): string {
  return `${cols}x${rows}`;
}

/** `"80x24"` -> [80, 24] (clamped), or undefined when it is not a size. */
export function parseResize(data: string): [number, number] | undefined {
  const m = /^(\d{1,9})x(\d{1,9})$/.exec(data);
  return m ? [clampSize(Number(m[1])), clampSize(Number(m[2]))] : undefined;
}

export interface ParsedEvent {
  t: number;
  code: string;
  data: string;
}

/** One event line (without its newline) or undefined when it is not `[number, string, string]`. */
export function parseEvent(line: string): ParsedEvent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || v.length < 3) return undefined;
  const [t, code, data] = v as unknown[];
  if (typeof t !== 'number' || !Number.isFinite(t) || typeof code !== 'string' || typeof data !== 'string') return undefined;
  return { t, code, data };
}

export function parseHeader(line: string): CastHeader | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const h = v as Record<string, unknown>;
  if (h.version !== CAST_VERSION || typeof h.width !== 'number' || typeof h.height !== 'number') return undefined;
  return { ...h, width: clampSize(h.width), height: clampSize(h.height) } as CastHeader;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** `YYYY/MM/DD/<session-id>.cast` (UTC date of the start), relative to the recordings dir. */
export function castRelPath(sessionId: string, startMs: number): string {
  const d = new Date(startMs);
  return join(String(d.getUTCFullYear()), pad(d.getUTCMonth() + 1), pad(d.getUTCDate()), `${sessionId}.cast`);
}

export const idxPathOf = (castFile: string) => `${castFile}.idx`;
export const snapPathOf = (castFile: string) => `${castFile}.snap`;
