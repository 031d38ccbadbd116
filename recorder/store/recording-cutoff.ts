// How far retention has removed terminal recordings whose session records stay (retention.recordings
// shorter than retention.sessions): meta `retention:recordings` holds the event-id floor below
// which a session.end's recording may be gone, signed like the chain anchor, so `verify` can tell
// a recording retention removed from one that someone deleted. It only grows.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ID_RE } from '../../gateway/core/ids.js';

export const RECORDINGS_CUTOFF_KEY = 'retention:recordings';
const DOMAIN = Buffer.from('sessiongate recordings cutoff v1\0');

export interface RecordingsCutoff {
  /** session.end events with an id below this may have lost their recordings to retention. */
  before: string;
  /** HMAC(key, domain || before), when the store is keyed. */
  hmac?: Buffer;
}

export function recordingsCutoffHmac(key: Buffer, before: string): Buffer {
  return createHmac('sha256', key).update(DOMAIN).update(before, 'utf8').digest();
}

export function makeRecordingsCutoff(key: Buffer | undefined, before: string): RecordingsCutoff {
  return { before, ...(key ? { hmac: recordingsCutoffHmac(key, before) } : {}) };
}

/**
 * The stored value, checked: the cutoff, or why it cannot be trusted (malformed; with a key: an
 * hmac that is missing or does not match).
 */
export function parseRecordingsCutoff(v: unknown, key?: Buffer): RecordingsCutoff | string {
  if (v === null || typeof v !== 'object') return 'not a record';
  const r = v as { before?: unknown; hmac?: unknown };
  if (typeof r.before !== 'string' || !ID_RE.test(r.before)) return 'before is not an event id';
  const hmac = r.hmac instanceof Uint8Array ? Buffer.from(r.hmac.buffer, r.hmac.byteOffset, r.hmac.byteLength) : undefined;
  if (r.hmac !== undefined && hmac?.length !== 32) return 'hmac malformed';
  if (key) {
    if (!hmac) return 'not signed, in a keyed store';
    if (!timingSafeEqual(hmac, recordingsCutoffHmac(key, r.before))) return 'hmac does not match';
  }
  return { before: r.before, ...(hmac ? { hmac } : {}) };
}
