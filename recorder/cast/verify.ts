// `verify` of terminal recordings (DESIGN "Integrity": a recording's SHA-256 is stored at its
// end). The references are read inside verify's read snapshot of the store (an IntegrityCheck:
// every session.end's `recording` / `recordings`), then each file is hashed and compared with
// the size and SHA-256 its session.end recorded. A missing file is not a break when retention
// removed it: its session.end is below the signed `retention:recordings` cutoff.
import { stat } from 'node:fs/promises';
import type { IntegrityCheck } from '../store/integrity.js';
import { fromStored } from '../store/row-codec.js';
import { parseRecordingsCutoff, RECORDINGS_CUTOFF_KEY } from '../store/recording-cutoff.js';
import { hashFile, recordingRefs, resolveRecording, type FullRecordingRef } from './files.js';

export type RecordingProblemKind =
  /** The file a session.end names is not there (and retention did not remove it). */
  | 'recording_missing'
  /** Shorter than recorded: cut off. */
  | 'recording_truncated'
  /** Same size (or longer) with another SHA-256: changed or appended to. */
  | 'recording_altered'
  /** The stored path leads outside the recordings dir or is not `YYYY/MM/DD/<id>.cast`. */
  | 'recording_bad_path'
  /** A file that cannot be read (permissions, I/O error). */
  | 'recording_unreadable'
  /** meta `retention:recordings` is malformed or its hmac does not match: not trusted. */
  | 'recordings_cutoff_invalid';

export interface RecordingProblem {
  problem: RecordingProblemKind;
  /** The recording id, its session and the session.end event that names it. */
  id?: string;
  session_id?: string;
  event_id?: string;
  path?: string;
  detail: string;
}

export interface RecordingsReport {
  /** False when no recordings directory was given or found: nothing below was checked. */
  checked: boolean;
  dir?: string;
  /** References found in session.end events. */
  refs: number;
  /** Files that match their reference. */
  intact: number;
  /** Bytes hashed. */
  bytes: number;
  /** Missing files retention removed (their session.end is below its signed cutoff). */
  removed_by_retention: number;
  /** References without a path, size or SHA-256 (nothing to check them by). */
  unverifiable: number;
  problems: RecordingProblem[];
  problem_count: number;
}

interface CollectedRef extends FullRecordingRef {
  session_id: string;
  event_id: string;
}

export const MAX_RECORDING_PROBLEMS = 100;

/**
 * The check verify runs in its snapshot: collects the references (and the retention cutoff) for
 * `checkFiles` to compare with the files afterwards (hashing is I/O, outside the transaction).
 */
export function recordingsCheck(key: Buffer | undefined) {
  const refs: CollectedRef[] = [];
  let unverifiable = 0;
  let cutoff: string | undefined;
  let cutoffProblem: string | undefined;
  const check: IntegrityCheck = {
    name: 'recordings',
    run({ dbs, txn }) {
      const raw = dbs.meta.get(RECORDINGS_CUTOFF_KEY, { transaction: txn });
      if (raw !== undefined) {
        const c = parseRecordingsCutoff(raw, key);
        if (typeof c === 'string') cutoffProblem = c;
        else cutoff = c.before;
      }
      const db = dbs.rows.sessions;
      if (!db) return;
      for (const { key: id, value } of db.getRange({ transaction: txn })) {
        let ev: ReturnType<typeof fromStored>;
        try {
          ev = fromStored('sessions', String(id), value);
        } catch {
          continue; // the chain walk reports a row it cannot read
        }
        if (ev.type !== 'session.end') continue;
        for (const r of recordingRefs(ev, () => unverifiable++)) refs.push({ ...r, session_id: ev.session_id, event_id: ev.id });
      }
    },
  };
  return {
    check,
    /** Compares every collected reference with its file under `dir` (undefined: not checked). */
    checkFiles: (dir: string | undefined) => checkFiles(dir, refs, unverifiable, cutoff, cutoffProblem),
  };
}

async function checkFiles(dir: string | undefined, refs: CollectedRef[], unverifiable: number, cutoff: string | undefined, cutoffProblem: string | undefined): Promise<RecordingsReport> {
  const report: RecordingsReport = { checked: dir !== undefined, ...(dir ? { dir } : {}), refs: refs.length, intact: 0, bytes: 0, removed_by_retention: 0, unverifiable, problems: [], problem_count: 0 };
  const add = (p: RecordingProblem) => {
    report.problem_count++;
    if (report.problems.length < MAX_RECORDING_PROBLEMS) report.problems.push(p);
  };
  if (cutoffProblem) add({ problem: 'recordings_cutoff_invalid', detail: `meta ${RECORDINGS_CUTOFF_KEY}: ${cutoffProblem}; missing recordings are all reported` });
  if (dir === undefined) return report;
  for (const r of refs) {
    const who = { id: r.id, session_id: r.session_id, event_id: r.event_id, path: r.path };
    const file = resolveRecording(dir, r.path);
    if (!file) {
      add({ problem: 'recording_bad_path', ...who, detail: `session.end ${r.event_id} names the recording by the path ${JSON.stringify(r.path.slice(0, 300))}, which is not YYYY/MM/DD/<id>.cast inside the recordings directory` });
      continue;
    }
    try {
      await stat(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') {
        if (cutoff !== undefined && r.event_id < cutoff) report.removed_by_retention++;
        else add({ problem: 'recording_missing', ...who, detail: `the file is gone; session.end ${r.event_id} recorded ${r.size} bytes, SHA-256 ${r.sha256}` });
      } else add({ problem: 'recording_unreadable', ...who, detail: `cannot read it: ${(e as Error).message}` });
      continue;
    }
    let got: { size: number; sha256: string };
    try {
      got = await hashFile(file);
    } catch (e) {
      add({ problem: 'recording_unreadable', ...who, detail: `cannot read it: ${(e as Error).message}` });
      continue;
    }
    report.bytes += got.size;
    if (got.size === r.size && got.sha256 === r.sha256) {
      report.intact++;
      continue;
    }
    if (got.size < r.size) add({ problem: 'recording_truncated', ...who, detail: `it is ${got.size} bytes; session.end ${r.event_id} recorded ${r.size} bytes (${r.size - got.size} missing), SHA-256 ${r.sha256}` });
    else add({ problem: 'recording_altered', ...who, detail: `its SHA-256 is ${got.sha256}${got.size !== r.size ? ` over ${got.size} bytes` : ''}; session.end ${r.event_id} recorded ${r.sha256} over ${r.size} bytes` });
  }
  return report;
}
