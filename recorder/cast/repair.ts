// Repair on start: a recording whose index has no trailer was never closed (the process died).
// Its .cast is cut after the last complete, well-formed line (a torn last line is dropped), its
// index keeps the keyframes that point inside the cut file at a line start and whose snapshot
// bytes exist, the .snap is cut after the last kept snapshot, and a trailer marks it repaired.
// The SHA-256 is computed by reading the file (the hash kept while writing died with the
// process). Recordings with a trailer are left alone, even when their size no longer matches:
// that is evidence for `verify`, not something to tidy away.
import { createHash } from 'node:crypto';
import { open, readdir, readFile, stat, truncate, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import type { Logger } from '../../gateway/core/runtime.js';
import { idxPathOf, parseEvent, parseHeader, snapPathOf } from './format.js';
import { IDX_VERSION, idxLine, parseIdx, type IdxKeyframe, type ParsedIdx } from './index-file.js';
import { NL, READ_CHUNK, lastLineEnd, lineBefore, readAt } from './lines.js';

export interface RepairedCast {
  sessionId: string;
  /** Relative to the recordings dir (as RecordingRef stores it). */
  path: string;
  file: string;
  size: number;
  sha256: string;
  /** Time of the last event kept, ms. */
  duration_ms: number;
  keyframes: number;
  /** Bytes cut from the end of the .cast (a torn line). */
  truncated_bytes: number;
}

const DATE_DIRS = [/^\d{4}$/, /^\d{2}$/, /^\d{2}$/];

/** Every `.cast` under `dir/YYYY/MM/DD/`. */
async function* casts(dir: string, depth = 0): AsyncGenerator<string> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch {
    return;
  }
  for (const name of names) {
    if (depth < DATE_DIRS.length) {
      if (DATE_DIRS[depth]!.test(name)) yield* casts(join(dir, name), depth + 1);
    } else if (name.endsWith('.cast')) {
      yield join(dir, name);
    }
  }
}

async function readIdx(castFile: string): Promise<ParsedIdx | undefined> {
  try {
    return parseIdx(await readFile(idxPathOf(castFile), 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Repairs every recording under `dir` left open by a crash. Run it before any writer starts
 * (it cannot tell a crashed recording from one being written). Returns what it repaired, so the
 * gateway can end those sessions as `interrupted` with the recording's size and hash.
 */
export async function repairCasts(dir: string, opts: { logger?: Logger } = {}): Promise<RepairedCast[]> {
  const out: RepairedCast[] = [];
  for await (const file of casts(dir)) {
    const idx = await readIdx(file);
    if (idx?.end) continue;
    try {
      const r = await repairOne(file, idx);
      r.path = relative(dir, file);
      out.push(r);
      opts.logger?.warn({ recording: r }, 'recording left open by a crash repaired');
    } catch (e) {
      opts.logger?.error({ err: e, file }, 'cannot repair a recording left open by a crash');
    }
  }
  return out;
}

async function repairOne(file: string, idx: ParsedIdx | undefined): Promise<RepairedCast> {
  const fh = await open(file, 'r+');
  try {
    const size = (await fh.stat()).size;
    const { end, last } = await lastGoodEnd(fh, size);
    if (end < size) await fh.truncate(end);
    const keep = await keptKeyframes(fh, file, idx, end);
    const snapEnd = keep.reduce((m, k) => Math.max(m, k.so + k.sl), 0);
    await truncate(snapPathOf(file), snapEnd).catch(() => undefined);
    const { sha256, lines: fileLines } = await hashFile(fh, end);
    const duration = last?.t ?? 0;
    const header = idx?.header ?? { v: IDX_VERSION, every_bytes: 0, every_ms: 0 };
    const markers = (idx?.markers ?? []).filter((m) => m.t <= duration);
    const lines = [idxLine(header), ...keep.map(idxLine), ...markers.map(idxLine)];
    const events = Math.max(0, fileLines - 1);
    lines.push(idxLine({ end: { size: end, sha256, duration, events, keyframes: keep.length, reason: 'interrupted', repaired: true } }));
    await writeFile(idxPathOf(file), lines.join(''), { mode: 0o600 });
    const sessionId = basename(file, '.cast');
    return { sessionId, path: file, file, size: end, sha256, duration_ms: Math.round(duration * 1000), keyframes: keep.length, truncated_bytes: size - end };
  } finally {
    await fh.close();
  }
}

/** The end of the last complete line that parses (the header, or an event after it). */
async function lastGoodEnd(fh: FileHandle, size: number): Promise<{ end: number; last?: { t: number } }> {
  let end = await lastLineEnd(fh, size);
  for (;;) {
    const line = await lineBefore(fh, end);
    if (!line) return { end: 0 };
    if (line.offset === 0) return { end: parseHeader(line.text) ? end : 0 };
    const ev = parseEvent(line.text);
    if (ev) return { end, last: ev };
    end = line.offset;
  }
}

async function keptKeyframes(fh: FileHandle, file: string, idx: ParsedIdx | undefined, end: number): Promise<IdxKeyframe[]> {
  const snapSize = await stat(snapPathOf(file)).then(
    (s) => s.size,
    () => 0,
  );
  const keep: IdxKeyframe[] = [];
  for (const k of idx?.keyframes ?? []) {
    if (k.o >= end || k.so + k.sl > snapSize) break;
    // The keyframe must point at a line start: the byte before it is a newline.
    const before = await readAt(fh, k.o - 1, 1);
    if (before[0] !== NL) break;
    keep.push(k);
  }
  return keep;
}

/** SHA-256 and line count of the first `size` bytes. */
async function hashFile(fh: FileHandle, size: number): Promise<{ sha256: string; lines: number }> {
  const h = createHash('sha256');
  let lines = 0;
  for (let pos = 0; pos < size; ) {
    const chunk = await readAt(fh, pos, Math.min(READ_CHUNK, size - pos));
    if (chunk.length === 0) break;
    h.update(chunk);
    for (let i = chunk.indexOf(NL); i !== -1; i = chunk.indexOf(NL, i + 1)) lines++;
    pos += chunk.length;
  }
  return { sha256: h.digest('hex'), lines };
}
