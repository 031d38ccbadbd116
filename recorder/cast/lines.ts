// Line splitting over byte chunks: a newline byte never occurs inside a UTF-8 sequence, so
// lines are cut on bytes and decoded whole. Used by the reader (async reads), the keyframe
// thread (sync reads) and repair.
import type { FileHandle } from 'node:fs/promises';

export const NL = 0x0a;
export const READ_CHUNK = 1 << 20;

export interface RawLine {
  /** Byte offset of the line's first byte in the file. */
  offset: number;
  /** The line without its newline. */
  text: string;
}

/** Feed chunks in file order; complete lines come out, a trailing partial line waits. */
export class LineSplitter {
  private rest: Buffer[] = [];
  private restBytes = 0;
  private next: number;

  constructor(startOffset: number) {
    this.next = startOffset;
  }

  /** Offset of the first byte not yet returned as part of a complete line. */
  get consumed(): number {
    return this.next;
  }

  push(chunk: Buffer): RawLine[] {
    const out: RawLine[] = [];
    let from = 0;
    for (let nl = chunk.indexOf(NL); nl !== -1; nl = chunk.indexOf(NL, from)) {
      const part = chunk.subarray(from, nl);
      const bytes = this.restBytes > 0 ? Buffer.concat([...this.rest, part]) : part;
      out.push({ offset: this.next, text: bytes.toString('utf8') });
      this.next += bytes.length + 1;
      this.rest = [];
      this.restBytes = 0;
      from = nl + 1;
    }
    if (from < chunk.length) {
      this.rest.push(Buffer.from(chunk.subarray(from)));
      this.restBytes += chunk.length - from;
    }
    return out;
  }
}

/** Counts every byte read through it: tests and the bench assert that a seek reads a tail only. */
export interface ReadCounter {
  bytes: number;
}

export async function readAt(fh: FileHandle, position: number, length: number, counter?: ReadCounter): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  if (counter) counter.bytes += got;
  return got === length ? buf : buf.subarray(0, got);
}

/** Complete lines in [from, to): a partial line at `to` is not returned. */
export async function* readLines(fh: FileHandle, from: number, to: number, counter?: ReadCounter): AsyncGenerator<RawLine> {
  const split = new LineSplitter(from);
  for (let pos = from; pos < to; ) {
    const chunk = await readAt(fh, pos, Math.min(READ_CHUNK, to - pos), counter);
    if (chunk.length === 0) return;
    pos += chunk.length;
    yield* split.push(chunk);
  }
}

/**
 * The end of the last complete line at or before `size` (0 when there is none), reading
 * backwards in growing steps: a torn or live tail costs only the bytes after the last newline.
 */
export async function lastLineEnd(fh: FileHandle, size: number, counter?: ReadCounter): Promise<number> {
  let step = 64 * 1024;
  for (let end = size; end > 0; ) {
    const start = Math.max(0, end - step);
    const buf = await readAt(fh, start, end - start, counter);
    const nl = buf.lastIndexOf(NL);
    if (nl !== -1) return start + nl + 1;
    end = start;
    step *= 2;
  }
  return 0;
}

/** The complete line that ends at `end` (exclusive of its newline), read backwards. */
export async function lineBefore(fh: FileHandle, end: number, counter?: ReadCounter): Promise<RawLine | undefined> {
  if (end <= 0) return undefined;
  const start = await lastLineEnd(fh, end - 1, counter);
  const buf = await readAt(fh, start, end - 1 - start, counter);
  return { offset: start, text: buf.toString('utf8') };
}
