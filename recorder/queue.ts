// FIFO of events waiting for a commit, made of fixed-size chunks so that push is O(1) with no
// array re-copying, and a queue_max of millions costs nothing until it fills. The writer
// peeks at the head, commits, and only then drops what it committed: on a failed write the
// events are still in place and in order.

const CHUNK = 1024;

interface Chunk<T> {
  items: (T | undefined)[];
  /** Next free slot. */
  end: number;
  next: Chunk<T> | undefined;
}

function chunk<T>(): Chunk<T> {
  return { items: new Array<T | undefined>(CHUNK), end: 0, next: undefined };
}

export class ChunkQueue<T> {
  private head: Chunk<T> = chunk<T>();
  private tail: Chunk<T> = this.head;
  /** First live slot in `head`. */
  private start = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(v: T): void {
    if (this.tail.end === CHUNK) {
      const c = chunk<T>();
      this.tail.next = c;
      this.tail = c;
    }
    this.tail.items[this.tail.end++] = v;
    this.size++;
  }

  /** The first `n` items (fewer if the queue is shorter), oldest first, without removing them. */
  peek(n: number): T[] {
    const out: T[] = [];
    let c: Chunk<T> | undefined = this.head;
    let i = this.start;
    while (c && out.length < n) {
      if (i >= c.end) {
        c = c.next;
        i = 0;
        continue;
      }
      out.push(c.items[i++] as T);
    }
    return out;
  }

  /** Removes the first `n` items. */
  drop(n: number): void {
    n = Math.min(n, this.size);
    this.size -= n;
    while (n > 0) {
      const avail = this.head.end - this.start;
      const k = Math.min(avail, n);
      // Clear the slots so dropped events can be collected while the chunk stays in use.
      this.head.items.fill(undefined, this.start, this.start + k);
      this.start += k;
      n -= k;
      if (this.start === this.head.end && this.head.end === CHUNK) {
        this.head = this.head.next ?? chunk<T>();
        if (this.head.end === 0 && this.head.next === undefined && this.size === 0) this.tail = this.head;
        this.start = 0;
      }
    }
    if (this.size === 0 && this.head === this.tail) {
      // Reuse the chunk from its beginning.
      this.head.end = 0;
      this.start = 0;
    }
  }

  *[Symbol.iterator](): IterableIterator<T> {
    let c: Chunk<T> | undefined = this.head;
    let i = this.start;
    while (c) {
      if (i >= c.end) {
        c = c.next;
        i = 0;
        continue;
      }
      yield c.items[i++] as T;
    }
  }
}
