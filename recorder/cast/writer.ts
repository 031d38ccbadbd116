// CastWriter: one per terminal session. The relay calls output()/input()/resize()/marker() on
// its data path; each call decodes UTF-8 incrementally, formats one asciicast line and queues it
// in memory — no I/O, no await, no sync fs. The lines reach the disk through one write at a time
// (timer or size), the running SHA-256 covers what was written, and a full buffer drops lines
// and reports the gap instead of growing. Keyframes are cut between two lines and computed by
// the shared keyframe thread from the file itself once the bytes before the cut are on disk.
import { StringDecoder } from 'node:string_decoder';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RecordingRef } from '../events.js';
import type { Clock, Logger } from '../../gateway/core/runtime.js';
import { SgError } from '../../gateway/core/errors.js';
import { LogLimiter } from '../log-limit.js';
import { AppendFile } from './append-file.js';
import { castRelPath, clampSize, eventLine, headerLine, idxPathOf, resizeData, roundTime, snapPathOf, type CastCode, type CastHeader } from './format.js';
import { IDX_VERSION, idxLine, type IdxKeyframe, type IdxRecord } from './index-file.js';
import { keyframeThread as sharedThread, type KeyframeThread, type Snapshot } from './keyframe-thread.js';
import { LiveFanout, type CastListener, type CastSubscription, type SubscribeOptions } from './live.js';
import { resolveWriterOptions, type CastGap, type CastWriterOptions, type ResolvedWriterOptions } from './writer-options.js';

/** What close() resolves: a RecordingRef (id, path, size, sha256) and more. */
export interface CastRecording extends Required<Pick<RecordingRef, 'id' | 'path' | 'size' | 'sha256'>> {
  /** Path relative to the recordings dir (what RecordingRef stores). */
  path: string;
  /** Absolute path of the .cast. */
  file: string;
  /** Time of the last event, ms. */
  duration_ms: number;
  events: number;
  keyframes: number;
  keyframes_skipped: number;
  lost_events: number;
  lost_bytes: number;
}

export interface CastWriterStats {
  events: number;
  bytes_written: number;
  bytes_buffered: number;
  keyframes: number;
  keyframes_pending: number;
  keyframes_skipped: number;
  keyframes_failed: number;
  lost_events: number;
  lost_bytes: number;
  write_errors: number;
  subscribers: number;
}

interface Cut {
  t: number;
  o: number;
  l: number;
}

interface OpenGap {
  reason: CastGap['reason'];
  events: number;
  bytes: number;
  from_ms: number;
  to_ms: number;
}

const MARKER_MAX = 1024;
const MAX_EVENT_CHARS = 64 * 1024;
const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;

export class CastWriter {
  readonly sessionId: string;
  /** Relative to the recordings dir. */
  readonly path: string;
  /** Absolute. */
  readonly file: string;
  readonly header: CastHeader;

  private readonly o: ResolvedWriterOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly startMs: number;
  private readonly cast: AppendFile;
  private readonly idx: AppendFile;
  private readonly snap: AppendFile;
  private readonly thread: KeyframeThread;
  private readonly live: LiveFanout;
  private readonly outDec = new StringDecoder('utf8');
  private readonly inDec = new StringDecoder('utf8');
  private readonly logLimit = new LogLimiter();
  private readonly opening: Promise<void>;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private isOpen = false;
  private failure: unknown;
  private closed: Promise<CastRecording> | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private cols: number;
  private rows: number;
  private lineNo = 1;
  private events = 0;
  private lastT = 0;
  private gap: OpenGap | undefined;
  private lostEvents = 0;
  private lostBytes = 0;
  // Keyframes
  private kfBytes = 0;
  private kfDirty = false;
  private kfLastT = 0;
  private kfSkipCounted = 0;
  private kfAccepting: boolean;
  private idxStarted = false;
  private readonly awaitingFlush: Cut[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private cutsPending = 0;
  private posted = false;
  private keyframes = 0;
  private kfSkipped = 0;
  private kfFailed = 0;

  constructor(opts: CastWriterOptions) {
    const o = resolveWriterOptions(opts);
    this.o = o;
    this.clock = o.clock;
    this.logger = o.logger;
    this.sessionId = o.sessionId;
    this.startMs = o.clock.now();
    this.path = castRelPath(o.sessionId, this.startMs);
    this.file = join(o.dir, this.path);
    this.cols = clampSize(o.width);
    this.rows = clampSize(o.height);
    const env = o.env ? Object.fromEntries(Object.entries(o.env).filter(([, v]) => v !== undefined)) : undefined;
    this.header = {
      version: 2,
      width: this.cols,
      height: this.rows,
      timestamp: Math.floor(this.startMs / 1000),
      ...(env ? { env } : {}),
      ...(o.title !== undefined ? { title: o.title } : {}),
    };
    this.thread = o.keyframeThread ?? sharedThread;
    this.kfAccepting = o.keyframes;
    this.live = new LiveFanout(o.logger);
    const onError = (what: string) => (e: unknown) => this.logFailure(`recording ${what} write failed; retrying`, e);
    this.cast = new AppendFile(this.file, {
      hash: true,
      onWritten: (n) => this.postCuts(n),
      onError: onError('cast'),
      ...(o.faults?.beforeWrite ? { beforeWrite: o.faults.beforeWrite } : {}),
    });
    this.idx = new AppendFile(idxPathOf(this.file), { onError: onError('index') });
    this.snap = new AppendFile(snapPathOf(this.file), { onError: onError('snapshot') });
    this.cast.append(Buffer.from(`${headerLine(this.header)}\n`));
    this.opening = mkdir(dirname(this.file), { recursive: true, mode: 0o700 })
      .then(() => this.cast.ensureOpen())
      .then(
        () => {
          this.isOpen = true;
          this.cast.kick();
        },
        (e: unknown) => this.fail(e),
      );
  }

  /** Resolves once the .cast exists; rejects (SG_ERR_RECORDING_WRITE) when it cannot be created. */
  async ready(): Promise<void> {
    await this.opening;
    if (this.failure) throw new SgError('SG_ERR_RECORDING_WRITE', `cannot create the recording ${this.file}`, { cause: this.failure });
  }

  output(data: Uint8Array | string): void {
    this.text('o', this.outDec, data);
  }

  /** Ignored unless recordInput is on. */
  input(data: Uint8Array | string): void {
    if (this.o.recordInput) this.text('i', this.inDec, data);
  }

  resize(cols: number, rows: number): void {
    if (this.state !== 'open' || !Number.isFinite(cols) || !Number.isFinite(rows)) return;
    const c = clampSize(cols);
    const r = clampSize(rows);
    if (c === this.cols && r === this.rows) return;
    if (this.append('r', resizeData(c, r))) {
      this.cols = c;
      this.rows = r;
    }
  }

  marker(label: string): void {
    if (this.state === 'open') this.append('m', String(label).slice(0, MARKER_MAX));
  }

  /** Live watch: every line appended from now on. */
  subscribe(fn: CastListener, opts?: SubscribeOptions): CastSubscription {
    return this.live.subscribe(fn, this.cast.endOffset, opts);
  }

  /** Writes everything queued so far (the caller never needs this on the data path). */
  async flush(): Promise<void> {
    await this.opening;
    if (this.failure) return;
    await Promise.all([this.cast.flush(), this.idx.flush(), this.snap.flush()]);
  }

  stats(): CastWriterStats {
    return {
      events: this.events,
      bytes_written: this.cast.writtenBytes,
      bytes_buffered: this.cast.pendingBytes,
      keyframes: this.keyframes,
      keyframes_pending: this.cutsPending,
      keyframes_skipped: this.kfSkipped,
      keyframes_failed: this.kfFailed,
      lost_events: this.lostEvents + (this.gap?.events ?? 0),
      lost_bytes: this.lostBytes + (this.gap?.bytes ?? 0),
      write_errors: this.cast.writeErrors + this.idx.writeErrors + this.snap.writeErrors,
      subscribers: this.live.size,
    };
  }

  /**
   * Ends the recording: flushes, waits (bounded by closeTimeoutMs) for the keyframes in flight,
   * writes the index trailer and resolves the file's size and SHA-256 (hashed while writing).
   * Rejects with SG_ERR_RECORDING_WRITE only when the file could never be created.
   */
  close(reason = 'closed'): Promise<CastRecording> {
    this.closed ??= this.finish(reason);
    return this.closed;
  }

  // ---- data path ----

  private text(code: 'o' | 'i', dec: StringDecoder, data: Uint8Array | string): void {
    if (this.state !== 'open') return;
    const s = typeof data === 'string' ? dec.end() + data : dec.write(data as Buffer);
    // A huge chunk becomes several events (same time): lines stay a size a player parses.
    for (let i = 0; i < s.length; ) {
      let end = Math.min(s.length, i + MAX_EVENT_CHARS);
      if (end < s.length && isHighSurrogate(s.charCodeAt(end - 1))) end--;
      this.append(code, s.slice(i, end));
      i = end;
    }
  }

  private now(): number {
    return Math.max(this.lastT, roundTime((this.clock.now() - this.startMs) / 1000));
  }

  /** Queues one event line; false when it was dropped. */
  private append(code: CastCode, data: string): boolean {
    const t = this.now();
    const line = eventLine(t, code, data);
    const bytes = Buffer.from(`${line}\n`);
    if (this.failure !== undefined || this.cast.pendingBytes + bytes.length > this.o.maxBufferBytes) {
      this.drop(bytes.length);
      return false;
    }
    if (this.gap) this.endGap(t);
    this.cutBefore(t);
    this.put(t, line, bytes);
    if (code === 'o' || code === 'r') this.kfDirty = true;
    if (code === 'm') this.idxAppend({ t, m: data });
    return true;
  }

  private put(t: number, line: string, bytes: Buffer): void {
    this.cast.append(bytes);
    this.lineNo++;
    this.events++;
    this.lastT = t;
    this.kfBytes += bytes.length;
    this.live.publish(line);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.isOpen) return;
    if (this.cast.pendingBytes >= this.o.flushBytes) this.cast.kick();
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.cast.kick();
        this.idx.kick();
        this.snap.kick();
      }, this.o.flushIntervalMs);
      this.flushTimer.unref();
    }
  }

  private drop(bytes: number): void {
    const now = this.clock.now();
    this.gap ??= { reason: this.failure !== undefined || this.cast.failing ? 'write_failed' : 'buffer_full', events: 0, bytes: 0, from_ms: now, to_ms: now };
    this.gap.events++;
    this.gap.bytes += bytes;
    this.gap.to_ms = now;
  }

  /** The first line after a loss: report it, and say so in the recording itself (a marker). */
  private endGap(t: number): void {
    const g = this.gap!;
    this.gap = undefined;
    this.lostEvents += g.events;
    this.lostBytes += g.bytes;
    this.reportGap(g);
    const label = `sessiongate: ${g.events} events (${g.bytes} bytes) not recorded (${g.reason})`;
    const line = eventLine(t, 'm', label);
    this.cutBefore(t);
    this.put(t, line, Buffer.from(`${line}\n`));
    this.idxAppend({ t, m: label });
  }

  private reportGap(g: OpenGap): void {
    const gap: CastGap = { session_id: this.sessionId, reason: g.reason, lost_events: g.events, lost_bytes: g.bytes, from_ms: g.from_ms, to_ms: g.to_ms };
    this.logger.warn({ gap, file: this.file }, 'recording lines dropped: the disk did not keep up');
    try {
      this.o.onGap?.(gap);
    } catch (e) {
      this.logger.error({ err: e }, 'recording onGap callback threw');
    }
  }

  private fail(e: unknown): void {
    this.failure = e ?? new Error('unknown failure');
    this.logger.error({ err: e, file: this.file }, 'cannot create the recording file');
    const n = this.cast.abandon();
    // The header is the only thing queued this early; what follows is counted by drop().
    if (n > 0) this.lostBytes += n;
  }

  private logFailure(msg: string, e: unknown): void {
    const s = this.logLimit.take(msg);
    if (s >= 0) this.logger.warn({ err: e, file: this.file, suppressed: s }, msg);
  }

  // ---- keyframes ----

  /** Decides whether a keyframe goes between the last line and the next one (at time t). */
  private cutBefore(t: number): void {
    if (!this.kfAccepting || !this.kfDirty) return;
    if (this.kfBytes < this.o.keyframeEveryBytes && (t - this.kfLastT) * 1000 < this.o.keyframeEveryMs) return;
    // Strictly after the previous event: a player's segment must start at its first event's time.
    if (t <= this.lastT) return;
    if (this.cutsPending >= this.o.maxPendingKeyframes) {
      const due = Math.max(1, Math.floor(this.kfBytes / this.o.keyframeEveryBytes));
      if (due > this.kfSkipCounted) {
        this.kfSkipped += due - this.kfSkipCounted;
        this.kfSkipCounted = due;
      }
      return;
    }
    this.awaitingFlush.push({ t, o: this.cast.endOffset, l: this.lineNo + 1 });
    this.cutsPending++;
    this.kfBytes = 0;
    this.kfDirty = false;
    this.kfLastT = t;
    this.kfSkipCounted = 0;
  }

  /** The .cast is written up to `written`: the cuts before it can be snapshotted. */
  private postCuts(written: number): void {
    while (this.awaitingFlush.length > 0 && this.awaitingFlush[0]!.o <= written) {
      const cut = this.awaitingFlush.shift()!;
      this.posted = true;
      const p = this.thread.snapshot(this.file, cut.o).then(
        (s) => this.commitKeyframe(cut, s),
        (e: unknown) => {
          this.kfFailed++;
          this.logFailure('keyframe failed; skipped', e);
        },
      );
      const tracked = p.finally(() => {
        this.cutsPending--;
        this.inFlight.delete(tracked);
      });
      this.inFlight.add(tracked);
    }
  }

  private commitKeyframe(cut: Cut, s: Snapshot): void {
    if (!this.kfAccepting || s.cols < 1 || s.rows < 1) return;
    const snap = Buffer.from(s.snapshot);
    const rec: IdxKeyframe = { t: cut.t, o: cut.o, l: cut.l, c: s.cols, r: s.rows, so: this.snap.endOffset, sl: snap.length };
    this.snap.append(snap);
    this.idxAppend(rec);
    this.keyframes++;
    if (this.isOpen) {
      this.snap.kick();
      this.idx.kick();
    }
  }

  private idxAppend(r: IdxRecord): void {
    if (!this.idxStarted) {
      this.idxStarted = true;
      this.idx.append(Buffer.from(idxLine({ v: IDX_VERSION, every_bytes: this.o.keyframeEveryBytes, every_ms: this.o.keyframeEveryMs })));
    }
    this.idx.append(Buffer.from(idxLine(r)));
  }

  // ---- close ----

  private async finish(reason: string): Promise<CastRecording> {
    const deadline = performance.now() + this.o.closeTimeoutMs;
    const left = () => Math.max(0, deadline - performance.now());
    for (const [code, dec] of [['o', this.outDec], ['i', this.inDec]] as const) {
      const rest = dec.end();
      if (rest && (code === 'o' || this.o.recordInput)) this.append(code, rest);
    }
    this.state = 'closing';
    clearTimeout(this.flushTimer);
    await this.opening;
    if (this.failure !== undefined) {
      this.state = 'closed';
      this.kfAccepting = false;
      if (this.gap) this.closeGap();
      this.live.close();
      throw new SgError('SG_ERR_RECORDING_WRITE', `cannot create the recording ${this.file}`, { cause: this.failure });
    }
    if (!(await within(this.cast.flush(), left()))) {
      const n = this.cast.abandon();
      this.logger.error({ file: this.file, bytes: n }, 'recording: the disk did not take the last bytes before close; they are lost');
      this.lostBytes += n;
    }
    if (this.gap) this.closeGap();
    this.postCuts(this.cast.writtenBytes);
    if (!(await within(Promise.allSettled([...this.inFlight]), left()))) {
      this.logger.warn({ file: this.file, pending: this.cutsPending }, 'recording: keyframes still computing at close are skipped');
      this.kfSkipped += this.cutsPending;
    }
    this.kfAccepting = false;
    this.kfSkipped += this.awaitingFlush.length;
    if (this.posted) this.thread.release(this.file);
    await this.cast.close();
    this.state = 'closed';
    const size = this.cast.writtenBytes;
    const sha256 = this.cast.digest();
    const rec: CastRecording = {
      id: this.sessionId,
      path: this.path,
      file: this.file,
      size,
      sha256,
      duration_ms: Math.round(this.lastT * 1000),
      events: this.events,
      keyframes: this.keyframes,
      keyframes_skipped: this.kfSkipped,
      lost_events: this.lostEvents,
      lost_bytes: this.lostBytes,
    };
    this.idxAppend({
      end: {
        size,
        sha256,
        duration: this.lastT,
        events: this.events,
        keyframes: this.keyframes,
        reason,
        ...(this.kfSkipped ? { keyframes_skipped: this.kfSkipped } : {}),
        ...(this.lostEvents || this.lostBytes ? { lost_events: this.lostEvents, lost_bytes: this.lostBytes } : {}),
      },
    });
    if (!(await within(Promise.all([this.snap.flush(), this.idx.flush()]), Math.max(left(), 1000)))) {
      this.logger.error({ file: this.file }, 'recording: the keyframe index could not be written; replay will scan the file');
      this.snap.abandon();
      this.idx.abandon();
    }
    await Promise.all([this.snap.close(), this.idx.close()]);
    this.live.close();
    this.logger.debug({ recording: rec, reason }, 'recording closed');
    return rec;
  }

  /** A loss still open at close (nothing was appended after it) is reported now. */
  private closeGap(): void {
    const g = this.gap!;
    this.gap = undefined;
    this.lostEvents += g.events;
    this.lostBytes += g.bytes;
    this.reportGap(g);
  }
}

/** true when `p` settled within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
