// A posting value: the segment-local row offsets holding a term, ascending, as LEB128 varint
// deltas (the first offset as is). Offsets within a segment are small and dense, so most
// deltas take one byte.

/** Encodes strictly ascending non-negative integers. */
export function encodeOffsets(offsets: ArrayLike<number>, n = offsets.length): Buffer {
  const out = Buffer.allocUnsafe(n * 5);
  return out.subarray(0, writeOffsets(offsets, n, out, 0));
}

/** Writes the encoding of `offsets[0..n)` at `p` (room for 5 bytes each); returns the end. */
function writeOffsets(offsets: ArrayLike<number>, n: number, out: Buffer, p: number): number {
  let prev = 0;
  for (let i = 0; i < n; i++) {
    let d = offsets[i]! - prev;
    prev = offsets[i]!;
    while (d >= 0x80) {
      out[p++] = (d & 0x7f) | 0x80;
      d >>>= 7;
    }
    out[p++] = d;
  }
  return p;
}

/** Encodes the many posting values of a segment into shared slabs: one allocation per MiB,
 * not one per value. The values stay valid as long as they are referenced. */
export class OffsetsEncoder {
  private slab = Buffer.alloc(0);
  private p = 0;

  encode(offsets: ArrayLike<number>): Buffer {
    const need = offsets.length * 5;
    if (this.p + need > this.slab.length) {
      this.slab = Buffer.allocUnsafe(Math.max(1 << 20, need));
      this.p = 0;
    }
    const start = this.p;
    this.p = writeOffsets(offsets, offsets.length, this.slab, start);
    return this.slab.subarray(start, this.p);
  }
}

/** The offsets of a posting value. A malformed value (truncated varint) ends the list there. */
export function decodeOffsets(buf: Uint8Array): Uint32Array {
  const out = new Uint32Array(countOffsets(buf));
  let p = 0;
  let prev = 0;
  for (let i = 0; i < out.length; i++) {
    let d = 0;
    let shift = 0;
    for (;;) {
      const b = buf[p++]!;
      d += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
      shift += 7;
    }
    prev += d;
    out[i] = prev;
  }
  return out;
}

/** How many offsets a posting value holds (one per byte below 0x80). */
export function countOffsets(buf: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < buf.length; i++) if (buf[i]! < 0x80) n++;
  return n;
}

/** Intersection of ascending lists. */
export function intersect(a: Uint32Array, b: Uint32Array): Uint32Array {
  const out = new Uint32Array(Math.min(a.length, b.length));
  let i = 0;
  let j = 0;
  let n = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x === y) {
      out[n++] = x;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return out.subarray(0, n);
}

/** Union of ascending lists. */
export function union(lists: Uint32Array[]): Uint32Array {
  if (lists.length === 1) return lists[0]!;
  const all = new Set<number>();
  for (const l of lists) for (const x of l) all.add(x);
  return Uint32Array.from([...all].sort((a, b) => a - b));
}
