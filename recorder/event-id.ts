// Event ids whose time part is always the event's own ts (floor ms). The store's key order is
// then exactly time order, so a time range is a key range and a page never needs a re-sort.
// gateway/core/ids `newId` is monotonic per process: for a ts older than the last id it hands
// out (a request emitted when it ends, stamped when it started; a clock stepping back) it
// returns a later time. Such "backdated" events get the ts as time prefix and a 40-bit suffix
// that starts at random and counts up while the same ms repeats, so they stay unique across
// revisits of that ms and keep emission order within a burst.
import { randomBytes } from 'node:crypto';
import { ID_RE, idFloor, newId } from '../gateway/core/ids.js';

/** Largest ms an id's 10 base32 chars can hold. */
export const MAX_TS = 32 ** 10 - 1;
/** A ts later than now by more than this never moves the process-wide id clock. */
const FUTURE_SLACK_MS = 1_000;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const SUFFIX_SPACE = 2 ** 40;

let backMs = -1;
let backSuffix = 0;

function encSuffix(n: number): string {
  let s = '';
  for (let i = 0; i < 8; i++) {
    s = CROCKFORD[n % 32] + s;
    n = Math.floor(n / 32);
  }
  return s;
}

function backdatedId(ms: number): string {
  if (ms === backMs && backSuffix < SUFFIX_SPACE - 1) {
    backSuffix++;
  } else {
    // Below 2^39 so a long burst in one ms never wraps.
    backMs = ms;
    backSuffix = randomBytes(5).readUIntBE(0, 5) % 2 ** 39;
  }
  return timePrefix(ms) + encSuffix(backSuffix);
}

// The 10-char time prefix of the last ms asked for: events come in bursts within one ms, so
// this turns per-event base32 work into a string compare.
let prefixMs = -1;
let prefix = '';

function timePrefix(ms: number): string {
  if (ms !== prefixMs) {
    prefix = idFloor(ms).slice(0, 10);
    prefixMs = ms;
  }
  return prefix;
}

/** An id for an event at `ts` (ms since epoch, 0..MAX_TS), with idTime(id) === floor(ts). */
export function mintId(ts: number, now: number): string {
  const ms = Math.floor(ts);
  if (ms <= now + FUTURE_SLACK_MS) {
    const id = newId(ms);
    if (id.startsWith(timePrefix(ms))) return id;
  }
  return backdatedId(ms);
}

export function validTs(ts: unknown): ts is number {
  return typeof ts === 'number' && Number.isFinite(ts) && ts >= 0 && ts <= MAX_TS;
}

/** A caller-supplied id is kept only when it is well formed and agrees with the event's ts. */
export function idMatchesTs(id: string, ts: number): boolean {
  return ID_RE.test(id) && id.startsWith(timePrefix(Math.floor(ts)));
}
