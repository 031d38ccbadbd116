// Builds a segment's postings from its rows, fast: this runs for every stored event. Keyword
// trigrams of ASCII text (nearly all of it: URLs, emails, IPs, logins) are rolled into a 21-bit
// integer (3 x 7 bits, lowercased on the fly; ASCII is NFKC-stable) instead of sliced strings;
// other text takes terms.ts's reference path. Either way the terms equal `termsOf` (a test
// holds them to it).
import type { SgEvent } from '../events.js';
import type { Kind } from './kinds.js';
import { Q, forEachExact, keywordTexts, norm } from './terms.js';

type Lists<K> = Map<K, number[]>;

function add<K>(m: Lists<K>, k: K, offset: number): void {
  const l = m.get(k);
  if (!l) m.set(k, [offset]);
  else if (l[l.length - 1] !== offset) l.push(offset);
}

function gramCode(a: number, b: number, c: number): number {
  return (a << 14) | (b << 7) | c;
}

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** Every ASCII trigram code (3 x 7 bits). */
const CODES = 1 << 21;

/**
 * ASCII keyword trigrams by code: a direct table instead of a Map (tens of millions of adds per
 * million events; measured ~80 ns per Map add, a few here) and no array per term: per code
 * the head of a linked list of offsets (newest first) in growable typed arrays. The table is
 * 8 MB of address space per (open region, kind), touched only where codes occur.
 */
class GramTable {
  /** Per code: 1 + its term number (dense, in first-seen order), 0 when not seen. */
  private readonly slot = new Int32Array(CODES);
  /** Per term number: its code, the newest node + 1. */
  private codes = new Int32Array(1024);
  private heads = new Int32Array(1024);
  private terms = 0;
  /** Nodes in the order added (= ascending offsets): offset, term number, the term's previous node + 1. */
  private off = new Int32Array(8192);
  private term = new Int32Array(8192);
  private next = new Int32Array(8192);
  private nodes = 0;

  add(code: number, offset: number): void {
    let t = this.slot[code]! - 1;
    if (t < 0) {
      t = this.terms++;
      if (t === this.codes.length) {
        this.codes = grow(this.codes);
        this.heads = grow(this.heads);
      }
      this.codes[t] = code;
      this.slot[code] = t + 1;
    } else if (this.off[this.heads[t]! - 1] === offset) return;
    const n = this.nodes;
    if (n === this.off.length) {
      this.off = grow(this.off);
      this.term = grow(this.term);
      this.next = grow(this.next);
    }
    this.off[n] = offset;
    this.term[n] = t;
    this.next[n] = this.heads[t]!;
    this.heads[t] = n + 1;
    this.nodes = n + 1;
  }

  /** One code's offsets, ascending (a query on the open region). */
  get(code: number): number[] | undefined {
    const t = this.slot[code]! - 1;
    if (t < 0) return undefined;
    const out: number[] = [];
    for (let h = this.heads[t]!; h !== 0; h = this.next[h - 1]!) out.push(this.off[h - 1]!);
    return out.reverse();
  }

  /** Every [code, ascending offsets], by ascending code (= their trigrams' order): one
   * counting sort of the nodes rather than a list walk per code. */
  forEach(f: (code: number, offsets: Int32Array) => void): void {
    const n = this.terms;
    const start = new Int32Array(n + 1);
    for (let i = 0; i < this.nodes; i++) start[this.term[i]! + 1]!++;
    for (let t = 0; t < n; t++) start[t + 1]! += start[t]!;
    const at = start.slice(0, n);
    const flat = new Int32Array(this.nodes);
    for (let i = 0; i < this.nodes; i++) flat[at[this.term[i]!]!++] = this.off[i]!;
    for (const code of this.codes.slice(0, n).sort()) {
      const t = this.slot[code]! - 1;
      f(code, flat.subarray(start[t]!, start[t + 1]!));
    }
  }
}

/** UTF-16 string order (Array#sort's default goes through ToString per comparison: slower). */
function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function grow(a: Int32Array): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** One kind's postings of a segment: field -> term -> ascending row offsets. */
export class TermAccumulator {
  private readonly ascii = new GramTable();
  private readonly wide: Lists<string> = new Map();
  private readonly exact = new Map<string, Lists<string>>();

  /** Adds the terms of the row at `offset` (offsets must come in ascending order). */
  add(kind: Kind, ev: SgEvent, offset: number): void {
    for (const t of keywordTexts(kind, ev)) this.keyword(t, offset);
    forEachExact(kind, ev, (field, term) => {
      let m = this.exact.get(field);
      if (!m) this.exact.set(field, (m = new Map()));
      add(m, term, offset);
    });
  }

  private keyword(t: string, offset: number): void {
    const n = t.length;
    let code = 0;
    for (let i = 0; i < n; i++) {
      const c = t.charCodeAt(i);
      if (c >= 0x80) {
        this.slow(t, offset);
        return;
      }
      code = ((code & 0x3fff) << 7) | lower(c);
      if (i >= 2) this.ascii.add(code, offset);
    }
  }

  /** Text with non-ASCII characters: normalised, sliced; ASCII trigrams still go by code so
   * that one term never gets two postings in a segment. */
  private slow(t: string, offset: number): void {
    const s = norm(t);
    for (let i = 0; i + 3 <= s.length; i++) {
      const a = s.charCodeAt(i);
      const b = s.charCodeAt(i + 1);
      const c = s.charCodeAt(i + 2);
      if (a < 0x80 && b < 0x80 && c < 0x80) this.ascii.add(gramCode(a, b, c), offset);
      else add(this.wide, s.slice(i, i + 3), offset);
    }
  }

  /** The offsets holding one term (normalised as terms.ts makes them), if any. */
  get(field: string, term: string): readonly number[] | undefined {
    if (field !== Q) return this.exact.get(field)?.get(term);
    if (term.length === 3) {
      const a = term.charCodeAt(0);
      const b = term.charCodeAt(1);
      const c = term.charCodeAt(2);
      if (a < 0x80 && b < 0x80 && c < 0x80) return this.ascii.get(gramCode(a, b, c));
    }
    return this.wide.get(term);
  }

  /** Calls `f(field, term, offsets)` for every posting, in string order of (field, term): the
   * order of the posting keys for nearly every term (the writer checks the bytes). Streams: a
   * segment has ~3.5 postings per row, and a tuple each was measurable. */
  forEachEntry(f: (field: string, term: string, offsets: ArrayLike<number>) => void): void {
    for (const field of [...this.exact.keys(), Q].sort()) {
      if (field === Q) this.keywordEntries(f);
      else {
        const m = this.exact.get(field)!;
        // The default sort compares strings by UTF-16 code units, as byString does, and
        // measured faster on a segment's few thousand terms than a comparator.
        for (const term of [...m.keys()].sort()) f(field, term, m.get(term)!);
      }
    }
  }

  /** Every [field, term, offsets] of forEachEntry (tests, tools). */
  entries(): [string, string, ArrayLike<number>][] {
    const out: [string, string, ArrayLike<number>][] = [];
    this.forEachEntry((field, term, offs) => out.push([field, term, offs]));
    return out;
  }

  private keywordEntries(f: (field: string, term: string, offsets: ArrayLike<number>) => void): void {
    const gram = (code: number) => String.fromCharCode(code >> 14, (code >> 7) & 0x7f, code & 0x7f);
    if (!this.wide.size) {
      this.ascii.forEach((code, offs) => f(Q, gram(code), offs));
      return;
    }
    const q: [string, ArrayLike<number>][] = [...this.wide];
    this.ascii.forEach((code, offs) => q.push([gram(code), offs]));
    q.sort((a, b) => byString(a[0], b[0]));
    for (const [term, offs] of q) f(Q, term, offs);
  }
}
