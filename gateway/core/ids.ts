// Time-ordered unique ids, sortable as strings (like ULID): 10 chars of ms time in
// Crockford base32, 4 chars of a per-ms sequence, 4 random chars per process.
// Sorting ids sorts events by time, which the store uses as its primary key order.
import { randomBytes } from 'node:crypto';

const ALPHA = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function enc(n: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) {
    s = ALPHA[n % 32] + s;
    n = Math.floor(n / 32);
  }
  return s;
}

const NODE = enc(randomBytes(3).readUIntBE(0, 3) & 0xfffff, 4);
let lastMs = -1;
let seq = 0;

export function newId(ms: number = Date.now()): string {
  if (ms <= lastMs) {
    ms = lastMs;
    seq++;
    if (seq >= 32 ** 4) { lastMs = ++ms; seq = 0; }
  } else {
    lastMs = ms;
    seq = 0;
  }
  return enc(ms, 10) + enc(seq, 4) + NODE;
}

/** The smallest / largest id possible at `ms`: used as range bounds for time queries. */
export function idFloor(ms: number): string {
  return enc(Math.max(0, Math.floor(ms)), 10) + '0000' + '0000';
}
export function idCeil(ms: number): string {
  return enc(Math.max(0, Math.floor(ms)), 10) + 'ZZZZ' + 'ZZZZ';
}
export function idTime(id: string): number {
  let n = 0;
  for (let i = 0; i < 10; i++) {
    const v = ALPHA.indexOf(id[i] ?? '');
    if (v < 0) return NaN;
    n = n * 32 + v;
  }
  return n;
}
export const ID_RE = /^[0-9A-HJKMNP-TV-Z]{18}$/;
