// The stores' writer thread (one per process): owns the write side of every store environment so
// that the B-tree inserts, the transaction and its commit cost the main thread (which proxies
// traffic) nothing. The main thread validates the events and posts the batch (a structured clone:
// about a third of the main-thread cost of encoding it there); here each event is encoded to its
// stored form and the batch committed in ONE synchronous transaction (all or nothing, ids never
// overwritten, counts in `meta` updated in the same transaction), then answered. Requests
// are handled one at a time, in order; an environment is opened here on its first write and
// closed when its Store closes. Durability (fsync) is requested by the main thread (`sync`), so
// the commit answer is not held up by the disk.
import { parentPort } from 'node:worker_threads';
import { open } from 'lmdb';
import type { RootDatabase } from 'lmdb';
import { rootOptions } from './lmdb-options.js';
import { commitRows, encodeEvents, storedRows, type ChainHead, type CommitOutcome, type CommitResult } from './commit.js';
import type { SgEvent } from '../events.js';
import { openLayout, type StoreDbs } from './layout.js';
import { OpenRegionTracker, closeOneSegment, type SegmentPolicy } from './segments.js';

export interface WriterEnv {
  /** Path of the environment file (the Store opened it already). */
  path: string;
  mapSize?: number;
  /** The integrity key (audit.key_file), when set. */
  key?: Uint8Array;
  policy: SegmentPolicy;
}

export type WriterRequest =
  | { op: 'write'; seq: number; env: WriterEnv; events: SgEvent[]; now: number }
  | { op: 'segment'; seq: number; env: WriterEnv; now: number; force: boolean }
  | { op: 'close'; seq: number; path: string };

export interface WriterError {
  message: string;
  name?: string;
  code?: string | number;
}

export type WriterReply = { seq: number; ok: true; outcome?: CommitOutcome; segments?: number } | { seq: number; ok: false; error: WriterError };

function describe(e: unknown): WriterError {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { message: e.message, name: e.name, ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}) };
  }
  return { message: String(e) };
}

interface OpenEnv {
  root: RootDatabase<unknown, string>;
  dbs: StoreDbs;
  key: Buffer | undefined;
  head: ChainHead | undefined;
  tracker: OpenRegionTracker;
  policy: SegmentPolicy;
}

const envs = new Map<string, OpenEnv>();

function envFor(e: WriterEnv): OpenEnv {
  let env = envs.get(e.path);
  if (!env) {
    const root = open<unknown, string>(rootOptions(e.path, false, e.mapSize) as Parameters<typeof open>[0] & { path: string });
    try {
      const dbs = openLayout(root);
      const key = e.key ? Buffer.from(e.key.buffer, e.key.byteOffset, e.key.byteLength) : undefined;
      env = { root, dbs, key, head: undefined, tracker: new OpenRegionTracker(dbs, e.policy), policy: e.policy };
    } catch (err) {
      void root.close().catch(() => undefined);
      throw err;
    }
    envs.set(e.path, env);
  }
  return env;
}

/** Closes segments while the open region is due (or, forced, until it is empty); one
 * transaction per segment. Returns how many were closed. */
function closeSegments(env: OpenEnv, now: number, force: boolean): number {
  let n = 0;
  try {
    while (force ? env.tracker.current().rows > 0 : env.tracker.due(now)) {
      const s = env.root.transactionSync(() => closeOneSegment(env.dbs, env.policy.rows, env.tracker.preparedRegion())) as number;
      env.tracker.forget();
      if (!s) break;
      n++;
    }
  } catch (e) {
    env.tracker.forget();
    throw e;
  }
  return n;
}

const port = parentPort;
if (port) {
  port.on('message', (m: WriterRequest) => {
    if (m.op === 'write') {
      let reply: WriterReply;
      let env: OpenEnv | undefined;
      try {
        env = envFor(m.env);
        const { rows, rejected } = encodeEvents(env.dbs, m.events);
        const e = env;
        const done: CommitResult = rows.length ? (e.root.transactionSync(() => commitRows(e.dbs, rows, { key: e.key, now: m.now, head: e.head })) as CommitResult) : { duplicates: [], counts: [] };
        if (done.batch) e.head = { b: done.batch.b, mac: done.batch.mac };
        try {
          e.tracker.committed(done.batch, storedRows(m.events, done));
        } catch {
          e.tracker.forget();
        }
        reply = { seq: m.seq, ok: true, outcome: { duplicates: done.duplicates, counts: done.counts, rejected } };
      } catch (e) {
        if (env) {
          env.head = undefined;
          env.tracker.forget();
        }
        reply = { seq: m.seq, ok: false, error: describe(e) };
      }
      port.postMessage(reply);
      // After the answer: indexing never holds up the commit it follows.
      if (reply.ok && env) {
        try {
          closeSegments(env, m.now, false);
        } catch {
          // Left open: the next commit or a forced close retries.
        }
      }
    } else if (m.op === 'segment') {
      try {
        const n = closeSegments(envFor(m.env), m.now, m.force);
        port.postMessage({ seq: m.seq, ok: true, segments: n } satisfies WriterReply);
      } catch (e) {
        port.postMessage({ seq: m.seq, ok: false, error: describe(e) } satisfies WriterReply);
      }
    } else if (m.op === 'close') {
      const env = envs.get(m.path);
      envs.delete(m.path);
      (env ? env.root.close() : Promise.resolve()).then(
        () => port.postMessage({ seq: m.seq, ok: true } satisfies WriterReply),
        (e: unknown) => port.postMessage({ seq: m.seq, ok: false, error: describe(e) } satisfies WriterReply),
      );
    }
  });
}
