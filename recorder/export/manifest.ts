// The manifest that travels with every export file: what was asked (kind, filters, format),
// what came out (count, first/last event, byte size, SHA-256 of the exact bytes), when and by
// which gateway. Auditors check a file against it with `sha256sum`.
import { createHash, type Hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExportKind } from './columns.js';
import type { ExportFormat } from './formats.js';
import type { ExportEncryptionInfo } from './openpgp-encrypt.js';

export const MANIFEST_VERSION = 1;

export interface EventRef {
  id: string;
  ts: number;
}

export interface ExportManifest {
  manifest_version: typeof MANIFEST_VERSION;
  kind: ExportKind;
  format: ExportFormat;
  /** The query as given (filters and order; no paging). */
  filters: Record<string, unknown>;
  count: number;
  /** First and last item in file order. */
  first?: EventRef;
  last?: EventRef;
  /** Of the file as written: the ciphertext when encrypted. */
  sha256: string;
  bytes: number;
  /** Encrypted files only: SHA-256 and size of what `gpg --decrypt` gives back. */
  plaintext_sha256?: string;
  plaintext_bytes?: number;
  /** Encrypted files only: how (never with what passphrase). */
  encryption?: ExportEncryptionInfo;
  /** False when the export stopped early (client went away, write failed): the file is a prefix. */
  complete: boolean;
  created_at: string;
  gateway: { name: 'sessiongate'; version: string };
  /** File name, when written to a file. */
  file?: string;
  /** The export's own activity event id (viewer API). */
  export_id?: string;
}

let version: string | undefined;

/** package.json's version, found by walking up from this module (src or dist). */
export function gatewayVersion(): string {
  if (version !== undefined) return version;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sessiongate' && typeof pkg.version === 'string') return (version = pkg.version);
    } catch {
      /* keep walking up */
    }
    dir = dirname(dir);
  }
  return (version = 'unknown');
}

/** Counts, hashes and remembers the first/last item while a file is written. */
export class ManifestBuilder {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private count = 0;
  private first: EventRef | undefined;
  private last: EventRef | undefined;

  constructor(
    private readonly base: { kind: ExportKind; format: ExportFormat; filters: Record<string, unknown>; createdAt: number; file?: string; exportId?: string },
  ) {}

  /** A chunk the destination accepted, holding `items` whole items (first/last in file order). */
  chunkOut(chunk: Buffer, items: number, first: EventRef | undefined, last: EventRef | undefined): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.count += items;
    if (first) this.first ??= first;
    if (last) this.last = last;
  }

  get itemCount(): number {
    return this.count;
  }

  finish(complete: boolean): ExportManifest {
    const m: ExportManifest = {
      manifest_version: MANIFEST_VERSION,
      kind: this.base.kind,
      format: this.base.format,
      filters: this.base.filters,
      count: this.count,
      ...(this.first ? { first: this.first, last: this.last } : {}),
      sha256: this.hash.digest('hex'),
      bytes: this.bytes,
      complete,
      created_at: new Date(this.base.createdAt).toISOString(),
      gateway: { name: 'sessiongate', version: gatewayVersion() },
      ...(this.base.file !== undefined ? { file: this.base.file } : {}),
      ...(this.base.exportId !== undefined ? { export_id: this.base.exportId } : {}),
    };
    return m;
  }
}
