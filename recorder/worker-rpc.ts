// Requests to one shared worker thread, matched to replies by sequence number: started on the
// first request, replaced by the next request if it dies (requests in flight are rejected), and
// holding the process open only while a reply is awaited. The store's writer thread and the
// keyframe thread both work this way.
import { Worker } from 'node:worker_threads';

interface Pending<R> {
  resolve(r: R): void;
  reject(e: unknown): void;
}

export class WorkerRpc<Req extends object, Reply extends { seq: number }> {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending<Reply>>();
  private seq = 0;
  private starts = 0;

  /** `what` names the thread in errors ("the store writer thread exited (code 1)"). */
  constructor(private readonly opts: { url: URL; name: string; what: string }) {}

  /** The running thread, if any (failure-injection tests). */
  get thread(): Worker | undefined {
    return this.worker;
  }

  /** How many times the thread had to be started again after dying. */
  get restartCount(): number {
    return Math.max(0, this.starts - 1);
  }

  /**
   * Posts `m` (its `seq` is set here) and resolves with the matching reply. Posted before
   * anything waits: a message that cannot be cloned throws here. `onError` hears a thread that
   * fails, when this request starts it.
   */
  request(m: Req, transfer: ArrayBuffer[] = [], onError?: (e: Error) => void): Promise<Reply> {
    const w = this.worker ?? this.start(onError);
    const seq = ++this.seq;
    (m as { seq?: number }).seq = seq;
    w.postMessage(m, transfer);
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      if (this.pending.size === 1) w.ref();
    });
  }

  /** A message that wants no reply, to a running thread only. */
  notify(m: unknown): void {
    this.worker?.postMessage(m);
  }

  /** Stops the thread and rejects what waits (a later request starts a new one). */
  async terminate(reason: string): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.rejectAll(new Error(reason));
    if (w) await w.terminate();
  }

  private rejectAll(err: Error): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.reject(err);
  }

  private start(onError?: (e: Error) => void): Worker {
    this.starts++;
    const w = new Worker(this.opts.url, { name: this.opts.name });
    w.unref();
    w.on('message', (r: Reply) => {
      const p = this.pending.get(r.seq);
      if (!p) return;
      this.pending.delete(r.seq);
      if (this.pending.size === 0) w.unref();
      p.resolve(r);
    });
    const fail = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      this.rejectAll(err);
    };
    w.on('error', (e) => {
      const err = e instanceof Error ? e : new Error(String(e));
      onError?.(err);
      fail(err);
    });
    w.on('exit', (code) => fail(new Error(`the ${this.opts.what} exited (code ${code})`)));
    this.worker = w;
    return w;
  }
}
