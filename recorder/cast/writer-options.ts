// CastWriter options: validated once at construction (zod), defaults filled in.
import { z } from 'zod';
import type { Clock, Logger } from '../../gateway/core/runtime.js';
import { SgError } from '../../gateway/core/errors.js';
import { SESSION_ID_RE } from './format.js';
import type { KeyframeThread } from './keyframe-thread.js';

/** Output the writer could not keep (reported through `onGap`; the front end stores an audit.gap). */
export interface CastGap {
  session_id: string;
  /** `buffer_full`: the disk did not keep up and the buffer was full; `write_failed`: the
   * recording file could not be created or written. */
  reason: 'buffer_full' | 'write_failed';
  lost_events: number;
  lost_bytes: number;
  /** Clock ms of the first and last loss of this gap. */
  from_ms: number;
  to_ms: number;
}

export interface CastWriterOptions {
  /** Recordings root (e.g. `${data_dir}/recordings`); the file is `${dir}/YYYY/MM/DD/<sessionId>.cast`. */
  dir: string;
  sessionId: string;
  width: number;
  height: number;
  title?: string;
  env?: { TERM?: string; SHELL?: string };
  /** Record `i` events (typed input, passwords included): off unless the config says so. */
  recordInput: boolean;
  /** Event times come from clock.now() (ms; a fractional clock gives µs precision). */
  clock: Clock;
  logger: Logger;
  /** Buffered lines are written at least this often. Default 1000. */
  flushIntervalMs?: number;
  /** ... and as soon as this many bytes wait. Default 64 KiB. */
  flushBytes?: number;
  /** Lines beyond this many unwritten bytes are dropped and reported (onGap). Default 4 MiB. */
  maxBufferBytes?: number;
  /** Keyframes on/off. Default on. */
  keyframes?: boolean;
  /** A keyframe after this many bytes of recording... Default 256 KiB. */
  keyframeEveryBytes?: number;
  /** ... or this much time with output, whichever comes first. Default 10 s. */
  keyframeEveryMs?: number;
  /** Keyframes of this writer waiting for the thread; a keyframe due beyond that is skipped. Default 2. */
  maxPendingKeyframes?: number;
  /** How long close() waits for the disk and for pending keyframes. Default 5000. */
  closeTimeoutMs?: number;
  onGap?: (gap: CastGap) => void;
  /** The keyframe thread (default: the process's shared one). */
  keyframeThread?: KeyframeThread;
  /** Fault injection for tests: awaited before every write of the .cast. */
  faults?: { beforeWrite?: () => Promise<void> };
}

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', what);

const schema = z.object({
  dir: z.string().min(1),
  sessionId: z.string().regex(SESSION_ID_RE, 'letters, digits, . _ - (a file name)'),
  width: z.number(),
  height: z.number(),
  title: z.string().max(1024).optional(),
  env: z.object({ TERM: z.string().max(256).optional(), SHELL: z.string().max(256).optional() }).strict().optional(),
  recordInput: z.boolean(),
  clock: z.custom<Clock>((v) => typeof (v as Clock | null)?.now === 'function', 'a Clock'),
  logger: z.custom<Logger>((v) => typeof (v as Logger | null)?.warn === 'function', 'a pino logger'),
  flushIntervalMs: z.number().int().min(1).max(60_000).default(1000),
  flushBytes: z.number().int().min(1).default(64 * 1024),
  maxBufferBytes: z.number().int().min(4096).default(4 * 1024 * 1024),
  keyframes: z.boolean().default(true),
  keyframeEveryBytes: z.number().int().min(1024).default(256 * 1024),
  keyframeEveryMs: z.number().int().min(100).default(10_000),
  maxPendingKeyframes: z.number().int().min(1).max(16).default(2),
  closeTimeoutMs: z.number().int().min(0).default(5000),
  onGap: fn<(gap: CastGap) => void>('a function').optional(),
  keyframeThread: z.custom<KeyframeThread>((v) => typeof (v as KeyframeThread | null)?.snapshot === 'function', 'a KeyframeThread').optional(),
  faults: z.object({ beforeWrite: fn<() => Promise<void>>('a function').optional() }).strict().optional(),
});

export type ResolvedWriterOptions = z.output<typeof schema>;

export function resolveWriterOptions(opts: CastWriterOptions): ResolvedWriterOptions {
  const parsed = schema.safeParse(opts);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new SgError('SG_ERR_CONFIG_INVALID', `invalid cast writer options: ${issues}`, { details: { issues: parsed.error.issues } });
  }
  return parsed.data;
}
