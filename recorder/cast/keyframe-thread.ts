// The main thread's handle on the keyframe thread (keyframe-worker.ts). One thread serves every
// writer of the process; it starts on the first request, is replaced by the next request if it
// dies (requests in flight are rejected: those keyframes are skipped), and holds the process
// open only while a reply is awaited.
import { Worker } from 'node:worker_threads';
import type { KeyframeReply, KeyframeRequest } from './keyframe-worker.js';

// Run from source (tests, .ts loader) or compiled (dist/): the worker file sits beside this one.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './keyframe-worker.ts' : './keyframe-worker.js', import.meta.url);

export interface Snapshot {
  snapshot: string;
  cols: number;
  rows: number;
}

interface Pending {
  resolve(r: KeyframeReply): void;
  reject(e: unknown): void;
}

type Request = KeyframeRequest extends infer R ? (R extends { seq: number } ? Omit<R, 'seq'> : never) : never;

export class KeyframeThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private restarts = -1;

  /** The terminal state of `file` just before byte `upTo` (which must be on disk already). */
  async snapshot(file: string, upTo: number): Promise<Snapshot> {
    const r = await this.request({ op: 'snapshot', file, upTo });
    if (!r.ok) throw new Error(r.error);
    return { snapshot: r.snapshot ?? '', cols: r.cols ?? 0, rows: r.rows ?? 0 };
  }

  /** Frees the terminal model of `file` (the writer closed). */
  release(file: string): void {
    this.worker?.postMessage({ op: 'release', file } satisfies KeyframeRequest);
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
    return Math.max(0, this.restarts);
  }

  /** Stops the thread (tests; a later request starts a new one). */
  async terminate(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.reject(new Error('the keyframe thread was stopped'));
    if (w) await w.terminate();
  }

  private request(m: Request): Promise<KeyframeReply> {
    const w = this.worker ?? this.start();
    const seq = ++this.seq;
    w.postMessage({ ...m, seq } as KeyframeRequest);
    return new Promise<KeyframeReply>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      if (this.pending.size === 1) w.ref();
    });
  }

  private start(): Worker {
    this.restarts++;
    const w = new Worker(WORKER_URL, { name: 'sessiongate-keyframes' });
    w.unref();
    w.on('message', (r: KeyframeReply) => {
      const p = this.pending.get(r.seq);
      if (!p) return;
      this.pending.delete(r.seq);
      if (this.pending.size === 0) w.unref();
      p.resolve(r);
    });
    const fail = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      const waiting = [...this.pending.values()];
      this.pending.clear();
      for (const p of waiting) p.reject(err);
    };
    w.on('error', (e) => fail(e instanceof Error ? e : new Error(String(e))));
    w.on('exit', (code) => fail(new Error(`the keyframe thread exited (code ${code})`)));
    this.worker = w;
    return w;
  }
}

/** The process's keyframe thread. */
export const keyframeThread = new KeyframeThread();
