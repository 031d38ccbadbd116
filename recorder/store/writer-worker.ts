// The stores' writer thread (one per process): owns the write side of every store environment so
// that the B-tree inserts, the transaction and its commit cost the main thread (which proxies
// traffic) nothing. The main thread validates the events and posts the batch (a structured clone:
// about a third of the main-thread cost of encoding it there); here each event is encoded to its
// stored form and the batch committed in ONE synchronous transaction (all or nothing, ids never
// overwritten, counts in `meta` updated in the same transaction), then answered. Requests
// are handled one at a time, in order; an environment is opened here on its first write and
// closed when its Store closes. Durability (fsync) is requested by the main thread (`sync`), so
// the commit answer is not held up by the disk.
import { parentPort, workerData } from 'node:worker_threads';
import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import { DB_OPTIONS, rootOptions } from './lmdb-options.js';
import { commitRows, encodeEvents, type CommitDbs, type CommitOutcome } from './commit.js';
import type { SgEvent } from '../events.js';
import { KINDS, type Kind } from './kinds.js';

export interface WriterEnv {
  /** Path of the environment file (the Store opened it already). */
  path: string;
  mapSize?: number;
}

export type WriterRequest = { op: 'write'; seq: number; env: WriterEnv; events: SgEvent[] } | { op: 'close'; seq: number; path: string };

export interface WriterError {
  message: string;
  name?: string;
  code?: string | number;
}

export type WriterReply = { seq: number; ok: true; outcome?: CommitOutcome } | { seq: number; ok: false; error: WriterError };

function describe(e: unknown): WriterError {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { message: e.message, name: e.name, ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}) };
  }
  return { message: String(e) };
}

interface OpenEnv {
  root: RootDatabase<unknown, string>;
  target: CommitDbs;
}

const envs = new Map<string, OpenEnv>();

function envFor(e: WriterEnv): OpenEnv {
  let env = envs.get(e.path);
  if (!env) {
    const root = open<unknown, string>(rootOptions(e.path, false, e.mapSize) as Parameters<typeof open>[0] & { path: string });
    try {
      const dbs = {} as Record<Kind, Database<unknown, string> | undefined>;
      for (const k of KINDS) dbs[k] = root.openDB<unknown, string>({ name: k, ...DB_OPTIONS });
      env = { root, target: { meta: root.openDB<unknown, string>({ name: 'meta', ...DB_OPTIONS }), dbs } };
    } catch (err) {
      void root.close().catch(() => undefined);
      throw err;
    }
    envs.set(e.path, env);
  }
  return env;
}

const port = parentPort;
if (port) {
  port.on('message', (m: WriterRequest) => {
    if (m.op === 'write') {
      let reply: WriterReply;
      try {
        const { root, target } = envFor(m.env);
        const { rows, rejected } = encodeEvents(target, m.events);
        const done = rows.length ? (root.transactionSync(() => commitRows(target, rows)) as Omit<CommitOutcome, 'rejected'>) : { duplicates: [], counts: [] };
        reply = { seq: m.seq, ok: true, outcome: { ...done, rejected } };
      } catch (e) {
        reply = { seq: m.seq, ok: false, error: describe(e) };
      }
      port.postMessage(reply);
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
