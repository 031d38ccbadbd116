// The main thread's handle on the keyframe thread (keyframe-worker.ts). One thread serves every
// writer of the process; it starts on the first request, is replaced by the next request if it
// dies (requests in flight are rejected: those keyframes are skipped), and holds the process
// open only while a reply is awaited.
import { WorkerRpc } from '../worker-rpc.js';
import type { KeyframeReply, KeyframeRequest } from './keyframe-worker.js';

// Run from source (tests, .ts loader) or compiled (dist/): the worker file sits beside this one.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './keyframe-worker.ts' : './keyframe-worker.js', import.meta.url);

export interface Snapshot {
  snapshot: string;
  cols: number;
  rows: number;
}

type Request = KeyframeRequest extends infer R ? (R extends { seq: number } ? Omit<R, 'seq'> : never) : never;

export class KeyframeThread {
  private readonly rpc = new WorkerRpc<KeyframeRequest, KeyframeReply>({ url: WORKER_URL, name: 'sessiongate-keyframes', what: 'keyframe thread' });

  /** The terminal state of `file` just before byte `upTo` (which must be on disk already). */
  async snapshot(file: string, upTo: number): Promise<Snapshot> {
    const r = await this.request({ op: 'snapshot', file, upTo });
    if (!r.ok) throw new Error(r.error);
    return { snapshot: r.snapshot ?? '', cols: r.cols ?? 0, rows: r.rows ?? 0 };
  }

  /** Frees the terminal model of `file` (the writer closed). */
  release(file: string): void {
    this.rpc.notify({ op: 'release', file } satisfies KeyframeRequest);
  }

  /**
   * Fault injection (tests, bench): blocks the thread for at most `ms`. Resolves once the thread
   * is blocked, with a function that unblocks it.
   */
  async stall(ms: number): Promise<() => void> {
    const gate = new SharedArrayBuffer(4);
    await this.request({ op: 'stall', ms, gate });
    return () => {
      const g = new Int32Array(gate);
      Atomics.store(g, 0, 1);
      Atomics.notify(g, 0);
    };
  }

  /** How many times the thread had to be started again after dying. */
  get restartCount(): number {
    return this.rpc.restartCount;
  }

  /** Stops the thread (tests; a later request starts a new one). */
  terminate(): Promise<void> {
    return this.rpc.terminate('the keyframe thread was stopped');
  }

  private request(m: Request): Promise<KeyframeReply> {
    return this.rpc.request({ ...m, seq: 0 } as KeyframeRequest);
  }
}

/** The process's keyframe thread. */
export const keyframeThread = new KeyframeThread();
