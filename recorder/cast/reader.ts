// CastReader: a recording opened for replay. The keyframe index (small entries) is loaded whole;
// a seek reads one snapshot and the events from its keyframe's offset, so starting near the end
// of a 1 GB recording reads a tail, not the file. Without an index (a recording from before
// keyframes, or one cut short before its first keyframe) it falls back to reading from the start
// and says so (`indexed: false`, one log line). Works on a recording still being written: only
// complete lines are read.
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Logger } from '../../gateway/core/runtime.js';
import { SgError } from '../../gateway/core/errors.js';
import { eventLine, headerLine, idxPathOf, parseEvent, parseHeader, roundTime, snapPathOf, type CastCode, type CastHeader } from './format.js';
import { parseIdx, type IdxMarker, type ParsedIdx } from './index-file.js';
import { NL, lastLineEnd, lineBefore, readAt, readLines, type ReadCounter } from './lines.js';

export interface Keyframe {
  /** Time (s) of the first event after the snapshot. */
  t: number;
  /** Byte offset of that event's line in the .cast. */
  offset: number;
  /** Its line number (1-based; the header is line 1). */
  line: number;
  cols: number;
  rows: number;
  snapOffset: number;
  snapLength: number;
}

export interface CastEvent {
  t: number;
  code: string;
  data: string;
  /** Byte offset of the event's line. */
  offset: number;
}

export interface CastMeta {
  size: number;
  /** Time (s) of the last event. */
  duration: number;
  keyframes: number;
  markers: number;
  /** A keyframe index was found (seeks start from keyframes). */
  indexed: boolean;
  /** The recording was closed (or repaired) and its size is the one recorded at its end. */
  complete: boolean;
  /** From the index trailer, when complete. */
  sha256?: string;
  events?: number;
  reason?: string;
}

export interface CastSeek {
  /** The time asked for. */
  t: number;
  /** The keyframe replay starts from (none: from the beginning). */
  keyframe?: Keyframe;
  /** Terminal state at the keyframe as escape sequences ('' at the beginning). */
  snapshot: string;
  cols: number;
  rows: number;
  /** Time of the replay's first event (the keyframe's t, or 0). */
  base: number;
  /** Seconds to fast-forward (without rendering) after `base` to reach t. */
  startAt: number;
  indexed: boolean;
  /** Events from the keyframe to the end. */
  events: AsyncGenerator<CastEvent>;
}

/** asciinema-player's `{format: "segmented"}` index (player 3.18). */
export interface PlayerIndex {
  version: 1;
  duration: number;
  term: { cols: number; rows: number };
  segments: { start: number; url: string }[];
  markers: [number, string][];
}

interface Segment {
  start: number;
  from: number;
  kf?: Keyframe;
}

const HEADER_MAX = 1 << 20;

export class CastReader {
  private snapFh: FileHandle | undefined;
  private warnedLinear = false;
  private readonly counter: ReadCounter;

  private constructor(
    readonly file: string,
    private readonly fh: FileHandle,
    private readonly size: number,
    private readonly head: CastHeader,
    private readonly headerEnd: number,
    private readonly dataEnd: number,
    private readonly duration: number,
    private readonly idx: ParsedIdx | undefined,
    private readonly kfs: Keyframe[],
    counter: ReadCounter,
    private readonly logger: Logger | undefined,
  ) {
    this.counter = counter;
  }

  static async open(file: string, opts: { logger?: Logger } = {}): Promise<CastReader> {
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new SgError(code === 'ENOENT' ? 'SG_ERR_NOT_FOUND' : 'SG_ERR_RECORDING_INVALID', `cannot open the recording ${file}`, { cause: e });
    }
    try {
      const counter: ReadCounter = { bytes: 0 };
      const size = (await fh.stat()).size;
      const { head, nl } = await readHeader(fh, size, counter);
      if (!head) throw new SgError('SG_ERR_RECORDING_INVALID', `${file} does not start with an asciicast v2 header`);
      const headerEnd = nl + 1;
      const idx = await loadIdx(file, counter);
      const complete = idx?.end !== undefined && idx.end.size === size;
      const dataEnd = complete ? size : await lastLineEnd(fh, size, counter);
      let duration = complete ? idx!.end!.duration : 0;
      if (!complete && dataEnd > headerEnd) duration = parseEvent((await lineBefore(fh, dataEnd, counter))?.text ?? '')?.t ?? 0;
      const kfs = (idx?.keyframes ?? [])
        .filter((k) => k.o >= headerEnd && k.o < dataEnd)
        .map((k) => ({ t: k.t, offset: k.o, line: k.l, cols: k.c, rows: k.r, snapOffset: k.so, snapLength: k.sl }));
      return new CastReader(file, fh, size, head, headerEnd, dataEnd, duration, idx, kfs, counter, opts.logger);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Bytes this reader has read from the .cast, .idx and .snap (seek cost, in tests and the bench). */
  get bytesRead(): number {
    return this.counter.bytes;
  }

  header(): CastHeader {
    return { ...this.head };
  }

  meta(): CastMeta {
    const end = this.idx?.end;
    const complete = end !== undefined && end.size === this.size;
    return {
      size: this.size,
      duration: this.duration,
      keyframes: this.kfs.length,
      markers: this.markers().length,
      indexed: this.idx !== undefined,
      complete,
      ...(complete ? { sha256: end.sha256, events: end.events, reason: end.reason } : {}),
    };
  }

  keyframes(): readonly Keyframe[] {
    return this.kfs;
  }

  /** Markers (time, label) from the index, in time order. */
  markers(): IdxMarker[] {
    return (this.idx?.markers ?? []).filter((m) => m.t <= this.duration).sort((a, b) => a.t - b.t);
  }

  /** The last keyframe at or before t. */
  keyframeAt(t: number): Keyframe | undefined {
    let lo = 0;
    let hi = this.kfs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.kfs[mid]!.t <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 ? this.kfs[lo - 1] : undefined;
  }

  async snapshot(kf: Keyframe): Promise<string> {
    this.snapFh ??= await open(snapPathOf(this.file), 'r').catch((e: unknown) => {
      throw new SgError('SG_ERR_RECORDING_INVALID', `the snapshots of ${this.file} are missing`, { cause: e });
    });
    const buf = await readAt(this.snapFh, kf.snapOffset, kf.snapLength, this.counter);
    if (buf.length !== kf.snapLength) throw new SgError('SG_ERR_RECORDING_INVALID', `snapshot at ${kf.snapOffset} of ${this.file} is cut short`);
    return buf.toString('utf8');
  }

  /** Events whose lines start in [from, to) (byte offsets; default: the whole recording). */
  async *events(range: { from?: number; to?: number } = {}): AsyncGenerator<CastEvent> {
    const from = Math.max(this.headerEnd, range.from ?? this.headerEnd);
    const to = Math.min(this.dataEnd, range.to ?? this.dataEnd);
    for await (const l of readLines(this.fh, from, to, this.counter)) {
      const ev = parseEvent(l.text);
      if (ev) yield { ...ev, offset: l.offset };
    }
  }

  /** Where replay of time t starts: the keyframe at or before t and the events from there. */
  async seek(t: number): Promise<CastSeek> {
    if (this.idx === undefined) this.warnLinear();
    const kf = this.keyframeAt(t);
    const snapshot = kf ? await this.snapshot(kf) : '';
    const base = kf?.t ?? 0;
    return {
      t,
      ...(kf ? { keyframe: kf } : {}),
      snapshot,
      cols: kf?.cols ?? this.head.width,
      rows: kf?.rows ?? this.head.height,
      base,
      startAt: Math.max(0, roundTime(t - base)),
      indexed: this.idx !== undefined,
      events: this.events({ from: kf?.offset ?? this.headerEnd }),
    };
  }

  /**
   * A small asciicast that starts at the keyframe before t: the header (with the keyframe's
   * size), one `o` event at 0 holding the snapshot, then the following events shifted by the
   * keyframe's time. Give a player `startAt` to land on t. Stops after `maxBytes` (default 64 MiB:
   * a player holds the whole cast in memory; use the segmented index for long recordings).
   */
  async startCast(t: number, opts: { maxBytes?: number } = {}): Promise<{ startAt: number; lines: AsyncGenerator<string> }> {
    const s = await this.seek(t);
    const max = opts.maxBytes ?? 64 * 1024 * 1024;
    const head: CastHeader = { ...this.head, width: s.cols, height: s.rows };
    delete head.duration;
    async function* lines(): AsyncGenerator<string> {
      let n = 0;
      const out = (line: string) => {
        n += line.length + 1;
        return `${line}\n`;
      };
      yield out(headerLine(head));
      if (s.snapshot) yield out(eventLine(0, 'o', s.snapshot));
      for await (const e of s.events) {
        if (n >= max) return;
        yield out(eventLine(roundTime(e.t - s.base), e.code as CastCode, e.data));
      }
    }
    return { startAt: s.startAt, lines: lines() };
  }

  /** Raw bytes [start, end] (inclusive, like HTTP Range) of the .cast as it was at open. */
  range(start: number, end = this.size - 1): Readable {
    const last = Math.min(end, this.size - 1);
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > last) {
      throw new SgError('SG_ERR_BAD_PARAM', `range ${start}-${end} is outside the recording (${this.size} bytes)`, { status: 416, details: { size: this.size } });
    }
    return createReadStream(this.file, { start, end: last });
  }

  /**
   * asciinema-player's segmented index: one segment per keyframe (segment 0 starts at 0 from
   * the header). `segmentUrl(i)` names where the viewer serves playerSegment(i).
   */
  playerIndex(segmentUrl: (i: number) => string): PlayerIndex {
    if (this.idx === undefined) this.warnLinear();
    return {
      version: 1,
      duration: this.duration,
      term: { cols: this.head.width, rows: this.head.height },
      segments: this.segments().map((s, i) => ({ start: s.start, url: segmentUrl(i) })),
      markers: this.markers().map((m): [number, string] => [m.t, m.m]),
    };
  }

  /** Segment i of the player's segmented format, as JSON text: `{snapshot: {cols, rows, init}, events}`. */
  async playerSegment(i: number): Promise<string> {
    const segs = this.segments();
    const seg = segs[i];
    if (!seg || !Number.isInteger(i)) throw new SgError('SG_ERR_NOT_FOUND', `no segment ${i} (${segs.length} segments)`);
    const init = seg.kf ? await this.snapshot(seg.kf) : '';
    const events: string[] = [];
    for await (const e of this.events({ from: seg.from, to: segs[i + 1]?.from ?? this.dataEnd })) events.push(eventLine(e.t, e.code as CastCode, e.data));
    // The player wants at least one event per segment (an empty recording has none).
    if (events.length === 0) events.push(eventLine(seg.start, 'o', ''));
    const cols = seg.kf?.cols ?? this.head.width;
    const rows = seg.kf?.rows ?? this.head.height;
    return `{"snapshot":{"cols":${cols},"rows":${rows},"init":${JSON.stringify(init)}},"events":[${events.join(',')}]}`;
  }

  async close(): Promise<void> {
    await Promise.all([this.fh.close(), this.snapFh?.close()]);
    this.snapFh = undefined;
  }

  /** Segment starts must be strictly increasing and before the duration (player rules). */
  private segments(): Segment[] {
    const out: Segment[] = [{ start: 0, from: this.headerEnd }];
    for (const kf of this.kfs) if (kf.t > 0 && kf.t < this.duration) out.push({ start: kf.t, from: kf.offset, kf });
    return out;
  }

  private warnLinear(): void {
    if (this.warnedLinear) return;
    this.warnedLinear = true;
    this.logger?.warn({ file: this.file, size: this.size }, 'recording has no keyframe index: replay reads it from the start');
  }
}

/** The header line, read in growing steps (a header is ~150 bytes; a long title may be more). */
async function readHeader(fh: FileHandle, size: number, counter: ReadCounter): Promise<{ head?: CastHeader; nl: number }> {
  for (let len = 4096; ; len *= 4) {
    const buf = await readAt(fh, 0, Math.min(size, len, HEADER_MAX), counter);
    const nl = buf.indexOf(NL);
    if (nl !== -1) return { head: parseHeader(buf.subarray(0, nl).toString('utf8')), nl };
    if (buf.length >= Math.min(size, HEADER_MAX)) return { nl: -1 };
  }
}

async function loadIdx(castFile: string, counter: ReadCounter): Promise<ParsedIdx | undefined> {
  const path = idxPathOf(castFile);
  try {
    await stat(path);
  } catch {
    return undefined;
  }
  const text = await readFile(path, 'utf8');
  counter.bytes += Buffer.byteLength(text);
  const idx = parseIdx(text);
  return idx.header ? idx : undefined;
}
