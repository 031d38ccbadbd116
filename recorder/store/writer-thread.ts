// The main thread's handle on the writer thread (writer-worker.ts). One thread serves every
// store of the process (starting a thread costs tens of ms, far more under a TS loader): it
// starts on the first write, is restarted by the next write if it dies (its in-flight writes are
// rejected, so the recorder keeps those batches queued and retries), and keeps the process
// alive only while a reply is awaited.
import type { Worker } from 'node:worker_threads';
import { WorkerRpc } from '../worker-rpc.js';
import type { Logger } from '../../gateway/core/runtime.js';
import type { SgEvent } from '../events.js';
import type { CommitOutcome } from './commit.js';
import type { WriterEnv, WriterError, WriterReply, WriterRequest } from './writer-worker.js';

// Run from source (tests, .ts loader) or compiled (dist/): the worker file sits beside this one.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './writer-worker.ts' : './writer-worker.js', import.meta.url);

const shared = new WorkerRpc<WriterRequest, WriterReply>({ url: WORKER_URL, name: 'sessiongate-store-writer', what: 'store writer thread' });

/** One store's writes through the shared writer thread. */
export class WriterThread {
  private wrote = false;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly env: WriterEnv,
    private readonly logger: Logger,
  ) {}

  private readonly onThreadError = (e: Error) => this.logger.error({ err: e }, 'store writer thread failed');

  /** Encodes and commits `events` (valid, structured-cloneable) in one transaction on the writer thread. */
  async write(events: readonly SgEvent[], now: number = Date.now()): Promise<CommitOutcome> {
    if (this.closing) throw new Error('the store writer is closed');
    this.wrote = true;
    const reply = await shared.request({ op: 'write', seq: 0, env: this.env, events: events as SgEvent[], now }, [], this.onThreadError);
    if (!reply.ok) throw toError(reply.error);
    return reply.outcome ?? { duplicates: [], rejected: [], counts: [] };
  }

  /** Closes segments on the thread: those due at `now`, or (force) the whole open region. */
  async segments(now: number, force: boolean): Promise<number> {
    if (this.closing) throw new Error('the store writer is closed');
    this.wrote = true;
    const reply = await shared.request({ op: 'segment', seq: 0, env: this.env, now, force }, [], this.onThreadError);
    if (!reply.ok) throw toError(reply.error);
    return reply.segments ?? 0;
  }

  /** Closes this store's environment on the thread, after the writes already posted. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.wrote || !shared.thread) return;
      const reply = await shared.request({ op: 'close', seq: 0, path: this.env.path }, [], this.onThreadError).catch((e: unknown): WriterReply => ({ seq: 0, ok: false, error: { message: String(e) } }));
      if (!reply.ok) this.logger.warn({ err: reply.error }, 'store writer thread did not close the environment cleanly');
    })();
    return this.closing;
  }

  /** Whether this store has used the thread (closing indexes only then). */
  get used(): boolean {
    return this.wrote;
  }

  /** For failure-injection tests: the running thread, if any. */
  get thread(): Worker | undefined {
    return shared.thread;
  }
}

function toError(e: WriterError): Error {
  const err = new Error(e.message);
  if (e.name) err.name = e.name;
  if (e.code !== undefined) Object.assign(err, { code: e.code });
  return err;
}
