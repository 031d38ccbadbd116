// Streams items into a sink in constant memory: items are encoded into chunks of ~64 KiB and
// each chunk waits for the sink to accept it (backpressure); the source is pulled lazily (the
// store is paged on demand). The manifest is computed over the exact bytes accepted, so an
// export cut short still has an honest manifest of the prefix that was written.
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { SgError } from '../../gateway/core/errors.js';
import { itemKey, type ExportKind } from './columns.js';
import { encoderFor, type Encoder, type ExportFormat } from './formats.js';
import { ManifestBuilder, type EventRef, type ExportManifest } from './manifest.js';

export const CHUNK_BYTES = 64 * 1024;

/** Where an export's bytes go (a file, stdout, an HTTP response). */
export interface ExportSink {
  /** Resolves when the sink can take more; rejects when the destination failed or went away. */
  write(chunk: Buffer): Promise<void>;
}

export interface ExportWriterOptions {
  kind: ExportKind;
  format: ExportFormat;
  /** Recorded in the manifest as given. */
  filters: Record<string, unknown>;
  createdAt: number;
  file?: string;
  exportId?: string;
  /** Checked before each chunk. */
  signal?: AbortSignal;
}

const closedError = () => new SgError('SG_ERR_INTERNAL', 'export destination closed');

/** A Node stream as a sink: waits for 'drain' when the stream's buffer is full. */
export function streamSink(stream: Writable): ExportSink {
  return {
    async write(chunk) {
      if (stream.destroyed || stream.writableEnded) throw closedError();
      if (stream.write(chunk)) return;
      const ac = new AbortController();
      try {
        await Promise.race([
          once(stream, 'drain', { signal: ac.signal }),
          once(stream, 'close', { signal: ac.signal }).then(() => Promise.reject(closedError())),
          once(stream, 'error', { signal: ac.signal }).then(([e]) => Promise.reject(e instanceof Error ? e : closedError())),
        ]);
      } finally {
        ac.abort();
      }
    },
  };
}

/** Push-based: add() items, then finish(). A failed write makes every later call reject. */
export class ExportWriter {
  private readonly enc: Encoder;
  private readonly mb: ManifestBuilder;
  private parts: string[] = [];
  private size = 0;
  private items = 0;
  private first: EventRef | undefined;
  private last: EventRef | undefined;
  private failed: unknown;
  private wrote = false;

  constructor(
    private readonly sink: ExportSink,
    private readonly opts: ExportWriterOptions,
  ) {
    this.enc = encoderFor(opts.kind, opts.format);
    this.mb = new ManifestBuilder({ kind: opts.kind, format: opts.format, filters: opts.filters, createdAt: opts.createdAt, file: opts.file, exportId: opts.exportId });
    this.push(this.enc.head());
  }

  get contentType(): string {
    return this.enc.contentType;
  }

  /** Why writing stopped, once it did. */
  get failure(): unknown {
    return this.failed;
  }

  /** True once a chunk reached the sink. */
  get started(): boolean {
    return this.wrote;
  }

  async add(item: unknown): Promise<void> {
    if (this.failed !== undefined) throw this.failed;
    this.push(this.enc.item(item));
    this.items++;
    const k = itemKey(item);
    if (k) {
      this.first ??= k;
      this.last = k;
    }
    // UTF-16 length approximates bytes well enough for chunking.
    if (this.size >= CHUNK_BYTES) await this.flush();
  }

  /** Writes what is buffered; the manifest says `complete` unless a write failed. */
  async finish(): Promise<ExportManifest> {
    if (this.failed === undefined) await this.flush().catch(() => undefined);
    return this.mb.finish(this.failed === undefined);
  }

  /** The manifest of what reached the sink so far, marked incomplete (nothing more is written). */
  abandon(reason: unknown): ExportManifest {
    this.failed ??= reason;
    return this.mb.finish(false);
  }

  private push(text: string): void {
    this.parts.push(text);
    this.size += text.length;
  }

  private async flush(): Promise<void> {
    if (!this.parts.length) return;
    const buf = Buffer.from(this.parts.join(''), 'utf8');
    const items = this.items;
    const first = this.first;
    const last = this.last;
    this.parts = [];
    this.size = 0;
    this.items = 0;
    this.first = this.last = undefined;
    try {
      this.opts.signal?.throwIfAborted();
      await this.sink.write(buf);
    } catch (e) {
      this.failed = e;
      throw e;
    }
    this.mb.chunkOut(buf, items, first, last);
    this.wrote = true;
    // Store pages are read synchronously: let other work run between chunks even when the sink is fast.
    await yieldNow();
  }
}

export interface StreamExportResult {
  manifest: ExportManifest;
  /** Why the export stopped early, when it did. */
  error?: unknown;
}

/**
 * Writes every item of a lazy source. A sink failure or an abort is not thrown: the result says
 * how far it got (`manifest.complete: false`, `error`). An error reading the items (the store)
 * is thrown when nothing reached the sink yet, otherwise reported the same way.
 */
export async function streamExport(items: Iterable<unknown>, sink: ExportSink, opts: ExportWriterOptions): Promise<StreamExportResult> {
  const w = new ExportWriter(sink, opts);
  const it = items[Symbol.iterator]();
  try {
    for (;;) {
      let r: IteratorResult<unknown>;
      try {
        r = it.next();
      } catch (e) {
        if (!w.started) throw e;
        return { manifest: w.abandon(e), error: e };
      }
      if (r.done) break;
      await w.add(r.value);
    }
    const manifest = await w.finish();
    return manifest.complete ? { manifest } : { manifest, error: w.failure ?? closedError() };
  } catch (e) {
    return { manifest: w.abandon(e), error: e };
  } finally {
    it.return?.();
  }
}
