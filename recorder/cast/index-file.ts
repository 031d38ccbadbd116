// The keyframe index `<id>.cast.idx` (NDJSON) and its snapshots `<id>.cast.snap` (raw UTF-8,
// concatenated). Entries stay small (~100 bytes) so a reader loads the whole index of a 1 GB
// recording (~4000 keyframes) in one read; a snapshot (KBs to 100s of KB) is read only when a
// replay starts from it. Format in docs/recordings.md.

export const IDX_VERSION = 1;

export interface IdxHeader {
  v: 1;
  every_bytes: number;
  every_ms: number;
}

/** A terminal snapshot taken just before the event line at byte `o`. */
export interface IdxKeyframe {
  /** Time (s) of the event at `o`: replay from here starts at t. */
  t: number;
  /** Byte offset of that event line in the .cast. */
  o: number;
  /** Its 1-based line number (the header is line 1). */
  l: number;
  /** Terminal size at the snapshot. */
  c: number;
  r: number;
  /** Snapshot bytes in the .snap file: offset and length. */
  so: number;
  sl: number;
}

export interface IdxMarker {
  t: number;
  m: string;
}

/** Last line of the index of a closed (or repaired) recording. */
export interface IdxEnd {
  end: {
    size: number;
    sha256: string;
    /** Time (s) of the last event. */
    duration: number;
    events: number;
    keyframes: number;
    reason: string;
    keyframes_skipped?: number;
    lost_events?: number;
    lost_bytes?: number;
    repaired?: boolean;
  };
}

export type IdxRecord = IdxHeader | IdxKeyframe | IdxMarker | IdxEnd;

export const idxLine = (r: IdxRecord) => `${JSON.stringify(r)}\n`;

export interface ParsedIdx {
  header?: IdxHeader;
  keyframes: IdxKeyframe[];
  markers: IdxMarker[];
  end?: IdxEnd['end'];
  /** End of the last well-formed line: anything after it is torn or foreign. */
  validBytes: number;
}

const nonNeg = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const posInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

function isKeyframe(r: Record<string, unknown>): r is IdxKeyframe & Record<string, unknown> {
  return nonNeg(r.t) && posInt(r.o) && posInt(r.l) && posInt(r.c) && posInt(r.r) && nonNeg(r.so) && nonNeg(r.sl);
}

/**
 * Reads an index text. Parsing stops at the first line that is torn or malformed; keyframes
 * must grow strictly in offset and time (what the writer guarantees, and what a player's
 * segment list requires).
 */
export function parseIdx(text: string): ParsedIdx {
  const out: ParsedIdx = { keyframes: [], markers: [], validBytes: 0 };
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    if (nl === -1) break;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(text.slice(pos, nl)) as Record<string, unknown>;
    } catch {
      break;
    }
    if (!r || typeof r !== 'object') break;
    if (!out.header) {
      if (r.v !== IDX_VERSION) break;
      out.header = r as unknown as IdxHeader;
    } else if ('end' in r) {
      out.end = r.end as IdxEnd['end'];
    } else if (typeof r.m === 'string' && nonNeg(r.t)) {
      out.markers.push({ t: r.t, m: r.m });
    } else if (isKeyframe(r)) {
      const prev = out.keyframes[out.keyframes.length - 1];
      if (prev && (r.o <= prev.o || r.t <= prev.t)) break;
      out.keyframes.push({ t: r.t, o: r.o, l: r.l, c: r.c, r: r.r, so: r.so, sl: r.sl });
    } else {
      break;
    }
    // Counted line by line: the byte length of the whole prefix at every line was quadratic
    // (about half a second per open of a 1 GB recording's index, 8,400 keyframes).
    out.validBytes += Buffer.byteLength(text.slice(pos, nl + 1));
    pos = nl + 1;
    if (out.end) break;
  }
  return out;
}
