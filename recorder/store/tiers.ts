// Tiers (docs/store.md "Tiers"): which segments of a run of TIER_SEGMENTS hold a keyword
// trigram, so that a rare keyword skips the segments without it instead of looking its
// trigrams up in every one. Postings are keyed segment first (cheap to append, see layout.ts),
// which makes a keyword query cost one B-tree lookup per segment even when it matches nothing:
// ~1 ms per million events. A tier key is `[t, kind, 'q', term]` -> TIER_SEGMENTS bits, bit i
// set when segment TIER_SEGMENTS * t + 1 + i has a posting for the term. Tiers are derived data, built in the
// background from the postings once all of a tier's segments are closed (never rewritten:
// retention only takes postings away, so a tier stays a superset of what its segments hold).
import type { Kind } from './kinds.js';
import { metaNumber, type PostingKey, type StoreDbs } from './layout.js';
import { Q } from './terms.js';

/** Segments per tier: the bitmaps a query reads grow with segments / TIER_SEGMENTS, the
 * segments not in a tier yet (read one by one) with TIER_SEGMENTS. 16 balances the two at
 * about a million events (245 segments). */
export const TIER_SEGMENTS = 16; // <= 30: a tier's segments are the bits of one int
const BITMAP_BYTES = TIER_SEGMENTS / 8;
/** meta: the highest tier built (-1: none). */
export const TIER_LAST = 'tier:last';

export type TierKey = [number, Kind, string, string];

export function tierOf(s: number): number {
  return Math.floor((s - 1) / TIER_SEGMENTS);
}

export function tierLast(dbs: StoreDbs): number {
  return metaNumber(dbs.meta, TIER_LAST, -1);
}

/** The next tier to build, when all its segments are closed. */
export function tierDue(dbs: StoreDbs): number | undefined {
  const t = tierLast(dbs) + 1;
  return metaNumber(dbs.meta, 'segment:last') >= (t + 1) * TIER_SEGMENTS ? t : undefined;
}

/** One segment's keyword terms of every kind it holds, added to the tier's bitmaps. Reads only. */
export function collectSegment(dbs: StoreDbs, s: number, kinds: readonly Kind[], into: Map<string, Uint8Array>): void {
  const bit = (s - 1) % TIER_SEGMENTS;
  for (const kind of kinds) {
    for (const key of dbs.postings!.getKeys({ start: [s, kind, Q] as unknown as PostingKey })) {
      const k = key as PostingKey;
      if (k[0] !== s || k[1] !== kind || k[2] !== Q) break;
      const name = `${kind}\0${k[3]}`;
      let bm = into.get(name);
      if (!bm) into.set(name, (bm = new Uint8Array(BITMAP_BYTES)));
      bm[bit >> 3]! |= 1 << (bit & 7);
    }
  }
}

/** Writes tier `t` from its collected bitmaps and marks it built. In a write transaction. */
export function writeTier(dbs: StoreDbs, t: number, bitmaps: Map<string, Uint8Array>): void {
  if (tierLast(dbs) !== t - 1) throw new Error(`tier ${t} is not the next tier to build (last built: ${tierLast(dbs)})`);
  for (const [name, bm] of bitmaps) {
    const at = name.indexOf('\0');
    dbs.tiers!.putSync([t, name.slice(0, at) as Kind, Q, name.slice(at + 1)], Buffer.from(bm));
  }
  dbs.meta.putSync(TIER_LAST, t);
}

/** Removes the tiers wholly before segment `firstKept` (retention dropped their segments). In a write transaction. */
export function dropTiersBefore(dbs: StoreDbs, firstKept: number): void {
  const upTo = tierOf(firstKept) - 1;
  if (upTo < 0 || !dbs.tiers) return;
  const gone = [...dbs.tiers.getKeys({ end: [upTo + 1] as unknown as TierKey })];
  for (const key of gone) dbs.tiers.removeSync(key as TierKey);
}

/**
 * Per query: whether a segment may hold candidates for the keyword groups, from the tiers
 * built when the query started (bitmaps read once per tier and term).
 */
export class TierFilter {
  /** Per kind and tier: the segments (bits) that may hold every keyword group. */
  private readonly masks = new Map<Kind, Map<number, number>>();

  constructor(
    private readonly dbs: StoreDbs,
    private readonly last: number,
  ) {}

  /** False only when a keyword group has none of its terms in segment `s`. The groups are the
   * same on every call for a kind (one query's plan). */
  may(kind: Kind, s: number, groups: readonly (readonly [string, string])[][]): boolean {
    const t = tierOf(s);
    if (t > this.last || !this.dbs.tiers) return true;
    let byTier = this.masks.get(kind);
    if (!byTier) this.masks.set(kind, (byTier = new Map()));
    let mask = byTier.get(t);
    if (mask === undefined) byTier.set(t, (mask = this.mask(t, kind, groups)));
    return (mask & (1 << ((s - 1) % TIER_SEGMENTS))) !== 0;
  }

  private mask(t: number, kind: Kind, groups: readonly (readonly [string, string])[][]): number {
    let mask = (1 << TIER_SEGMENTS) - 1;
    for (const g of groups) {
      if (!g.length || g.some(([f]) => f !== Q)) continue;
      let any = 0;
      for (const [, term] of g) any |= this.bits(t, kind, term);
      mask &= any;
      if (!mask) break;
    }
    return mask;
  }

  private bits(t: number, kind: Kind, term: string): number {
    // No copy: read at once.
    const v = (this.dbs.tiers as unknown as { getBinaryFast(k: TierKey): Buffer | undefined }).getBinaryFast([t, kind, Q, term]);
    let n = 0;
    if (v) for (let i = 0; i < v.length && i < BITMAP_BYTES; i++) n |= v[i]! << (8 * i);
    return n;
  }
}
