// Export files on disk: created 0600 (DESIGN: data files are 0600), written through a stream
// with backpressure, fsynced before they are announced, and written under a temporary name
// and renamed so a reader never sees half a file under its final name.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { once } from 'node:events';
import { SgError } from '../../gateway/core/errors.js';
import type { ExportManifest } from './manifest.js';
import { streamSink, type ExportSink } from './writer.js';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

export interface OpenFile {
  path: string;
  sink: ExportSink;
  /** Ends the stream, fsyncs and closes the file. */
  finish(): Promise<void>;
  /** Closes and removes the file (an export that failed must not look like one that worked). */
  discard(): Promise<void>;
}

/** Opens `path` for an export. `exclusive`: refuse an existing file (SG_ERR_CONFLICT). */
export async function openExportFile(path: string, exclusive: boolean): Promise<OpenFile> {
  let fh;
  try {
    fh = await open(path, exclusive ? 'wx' : 'w', FILE_MODE);
    // An existing file keeps its old mode when truncated: tighten it.
    await fh.chmod(FILE_MODE);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new SgError('SG_ERR_CONFLICT', `${path} exists (use --force to overwrite)`, { cause: e });
    throw new SgError('SG_ERR_BAD_PARAM', `cannot create ${path}: ${(e as Error).message}`, { cause: e, details: { param: 'out' } });
  }
  const stream: WriteStream = createWriteStream('', { fd: fh.fd, autoClose: false, highWaterMark: 256 * 1024 });
  let error: unknown;
  stream.on('error', (e) => (error = e));
  const end = async () => {
    if (!stream.writableEnded) {
      stream.end();
      await once(stream, 'finish').catch(() => undefined);
    }
  };
  return {
    path,
    sink: streamSink(stream),
    async finish() {
      await end();
      if (error) throw error;
      await fh.sync();
      await fh.close();
    },
    async discard() {
      stream.destroy();
      await fh.close().catch(() => undefined);
      await rm(path, { force: true });
    },
  };
}

/** Writes a manifest (0600, fsynced) under a temporary name, then renames it into place. */
export async function writeManifestFile(path: string, manifest: ExportManifest): Promise<void> {
  const tmp = partialPath(path);
  const fh = await open(tmp, 'w', FILE_MODE);
  try {
    await fh.chmod(FILE_MODE);
    await fh.writeFile(JSON.stringify(manifest, null, 2) + '\n', 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** `20251122T134500.123Z`: sortable, no colons (portable file names). */
export function fileStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '');
}

export function manifestPath(file: string): string {
  return `${file}.manifest.json`;
}

/** Creates `dir` 0700 when missing (an existing directory keeps its mode). */
export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
}

/** Makes renames and new files in `dir` durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Temporary name in the same directory (same file system, so rename is atomic). */
export function partialPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.partial`);
}

export async function publish(partial: string, final: string): Promise<void> {
  await rename(partial, final);
}

