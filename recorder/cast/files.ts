// A recording on disk as retention, verify and backup see it: the `.cast` with its `.idx` and
// `.snap` side files under `${recordingsDir}/YYYY/MM/DD/`, the trailer that says it is closed,
// and the references (`recording` / `recordings` of session.end) that name its size and SHA-256.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize, relative, sep } from 'node:path';
import type { RecordingRef } from '../events.js';
import { idxPathOf, SESSION_ID_RE, snapPathOf } from './format.js';
import type { IdxEnd } from './index-file.js';

/** The `.cast` and the side files that belong to it. */
export function recordingFiles(castFile: string): [cast: string, idx: string, snap: string] {
  return [castFile, idxPathOf(castFile), snapPathOf(castFile)];
}

/** `01ABC.2` (a session's second recording) -> `01ABC`. */
export function sessionOfRecording(id: string): string {
  return id.replace(/\.\d+$/, '');
}

/** A complete reference: what verify and backup can check a file against. */
export interface FullRecordingRef {
  id: string;
  path: string;
  size: number;
  sha256: string;
}

function isFull(r: unknown): r is FullRecordingRef {
  const x = r as Partial<FullRecordingRef> | null;
  return !!x && typeof x.id === 'string' && typeof x.path === 'string' && typeof x.size === 'number' && Number.isSafeInteger(x.size) && x.size >= 0 && typeof x.sha256 === 'string' && /^[0-9a-f]{64}$/.test(x.sha256);
}

/**
 * The recordings an event names (`recording`, and `recordings` when a session had several), each
 * once. `partial` gets the references that lack a path, size or hash (nothing to check them by).
 */
export function recordingRefs(ev: unknown, partial?: (r: RecordingRef) => void): FullRecordingRef[] {
  const e = ev as { recording?: unknown; recordings?: unknown } | null;
  if (!e || typeof e !== 'object') return [];
  const all = [e.recording, ...(Array.isArray(e.recordings) ? e.recordings : [])].filter((r) => r !== undefined && r !== null);
  const out: FullRecordingRef[] = [];
  const seen = new Set<string>();
  for (const r of all) {
    if (!isFull(r)) {
      if (r && typeof r === 'object' && typeof (r as RecordingRef).id === 'string') partial?.(r as RecordingRef);
      continue;
    }
    const k = `${r.id}\0${r.path}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ id: r.id, path: r.path, size: r.size, sha256: r.sha256 });
  }
  return out;
}

/**
 * The absolute path of a reference's `.cast` inside `recordingsDir`, or undefined when the
 * stored path would lead elsewhere (absolute, `..`, not `YYYY/MM/DD/<id>.cast`).
 */
export function resolveRecording(recordingsDir: string, relPath: string): string | undefined {
  if (typeof relPath !== 'string' || !relPath || isAbsolute(relPath) || relPath.includes('\0')) return undefined;
  const n = normalize(relPath);
  const parts = n.split(sep);
  if (parts.length !== 4 || !/^\d{4}$/.test(parts[0]!) || !/^\d\d$/.test(parts[1]!) || !/^\d\d$/.test(parts[2]!)) return undefined;
  const name = parts[3]!;
  if (!name.endsWith('.cast') || !SESSION_ID_RE.test(name.slice(0, -5))) return undefined;
  const file = join(recordingsDir, n);
  const back = relative(recordingsDir, file);
  return back.startsWith('..') || isAbsolute(back) ? undefined : file;
}

/** Size and SHA-256 of a file, read once. */
export async function hashFile(file: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}

const TAIL = 8192;

/**
 * The trailer of a recording's index (its last line), or undefined when the recording was not
 * closed (still being written, or left by a crash and not repaired yet) or has no index.
 */
export async function readTrailer(castFile: string): Promise<IdxEnd['end'] | undefined> {
  let fh;
  try {
    fh = await open(idxPathOf(castFile), 'r');
  } catch {
    return undefined;
  }
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, TAIL);
    if (len === 0) return undefined;
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const text = buf.toString('utf8');
    if (!text.endsWith('\n')) return undefined;
    const start = text.lastIndexOf('\n', text.length - 2) + 1;
    try {
      const r = JSON.parse(text.slice(start, -1)) as Partial<IdxEnd> | null;
      return r && typeof r.end === 'object' && r.end && typeof r.end.size === 'number' ? r.end : undefined;
    } catch {
      return undefined;
    }
  } finally {
    await fh.close();
  }
}

export interface CastOnDisk {
  /** Absolute path of the `.cast`. */
  file: string;
  /** Relative to the recordings dir (`YYYY/MM/DD/<id>.cast`). */
  path: string;
  /** The recording id (file name without `.cast`). */
  id: string;
  /** Start of its day directory (UTC), ms. */
  dayMs: number;
  /** Side files (`.idx`, `.snap`) in that day directory whose `.cast` is gone. */
  orphan?: boolean;
}

async function names(dir: string, re: RegExp): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => re.test(n)).sort();
  } catch {
    return [];
  }
}

/**
 * Every recording under `recordingsDir/YYYY/MM/DD/` whose day starts before `beforeMs`, oldest
 * day first; side files left without their `.cast` come as `orphan` entries (their own path).
 */
export async function* castsOnDisk(recordingsDir: string, beforeMs = Infinity): AsyncGenerator<CastOnDisk> {
  for (const y of await names(recordingsDir, /^\d{4}$/)) {
    for (const m of await names(join(recordingsDir, y), /^\d\d$/)) {
      for (const d of await names(join(recordingsDir, y, m), /^\d\d$/)) {
        const dayMs = Date.UTC(Number(y), Number(m) - 1, Number(d));
        if (!(dayMs < beforeMs)) return;
        const dir = join(recordingsDir, y, m, d);
        const all = await names(dir, /./);
        const casts = new Set(all.filter((n) => n.endsWith('.cast')));
        for (const n of all) {
          if (n.endsWith('.cast')) yield { file: join(dir, n), path: join(y, m, d, n), id: n.slice(0, -5), dayMs };
          else {
            const owner = n.replace(/\.(idx|snap)$/, '');
            if (owner !== n && owner.endsWith('.cast') && !casts.has(owner)) yield { file: join(dir, n), path: join(y, m, d, n), id: owner.slice(0, -5), dayMs, orphan: true };
          }
        }
      }
    }
  }
}

/** Size of a file, or 0 when it is gone. */
export async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}
