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

/** One kind's postings of a segment: field -> term -> ascending row offsets. */
export class TermAccumulator {
  private readonly ascii: Lists<number> = new Map();
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
      if (i >= 2) add(this.ascii, code, offset);
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
      if (a < 0x80 && b < 0x80 && c < 0x80) add(this.ascii, gramCode(a, b, c), offset);
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

  /** Every [field, term, offsets]. */
  *entries(): Generator<[string, string, number[]]> {
    for (const [code, offs] of this.ascii) yield [Q, String.fromCharCode(code >> 14, (code >> 7) & 0x7f, code & 0x7f), offs];
    for (const [term, offs] of this.wide) yield [Q, term, offs];
    for (const [field, m] of this.exact) for (const [term, offs] of m) yield [field, term, offs];
  }
}
