// The recordings being written now, by recording id, so the viewer can watch one live
// (`/api/recordings/:id/live`). Front ends add a writer when its channel opens and remove it when
// the recording closes; the viewer only reads. One instance per gateway (cli/app.ts).
import type { CastWriter } from './writer.js';

export class LiveCasts {
  private readonly writers = new Map<string, CastWriter>();

  add(id: string, writer: CastWriter): void {
    this.writers.set(id, writer);
  }

  /** Removes `id` only if it still maps to `writer` (a late close cannot drop a newer writer). */
  remove(id: string, writer: CastWriter): void {
    if (this.writers.get(id) === writer) this.writers.delete(id);
  }

  get(id: string): CastWriter | undefined {
    return this.writers.get(id);
  }

  get size(): number {
    return this.writers.size;
  }
}
