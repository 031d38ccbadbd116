// An export sink that encrypts: the export writer writes plaintext into it exactly as into any
// sink, the OpenPGP Transform encrypts, and the ciphertext goes on to the real destination (a
// file, stdout, an HTTP response) with backpressure end to end. It hashes what it passes on, so
// the manifest can state the SHA-256 of the file as written next to the plaintext's.
import { createHash } from 'node:crypto';
import { SgError } from '../../gateway/core/errors.js';
import { OPENPGP_ENCRYPTION, createOpenPgpEncryptor, type OpenPgpEncryptOptions } from './openpgp-encrypt.js';
import type { ExportManifest } from './manifest.js';
import { streamSink, type ExportSink } from './writer.js';

export interface CipherDigest {
  sha256: string;
  bytes: number;
}

export interface EncryptedSink {
  /** Takes the plaintext. */
  sink: ExportSink;
  /** Ends the message (literal tail, MDC) and waits until all of it reached the destination. */
  finish(): Promise<CipherDigest>;
  /** Stops without ending the message (the destination holds a prefix gpg refuses). */
  abort(reason?: unknown): void;
  /** SHA-256 and size of the ciphertext passed on so far. */
  written(): CipherDigest;
}

export async function encryptedSink(inner: ExportSink, opts: OpenPgpEncryptOptions): Promise<EncryptedSink> {
  const enc = await createOpenPgpEncryptor(opts);
  const hash = createHash('sha256');
  let bytes = 0;
  let failure: unknown;
  // Pulls ciphertext as the destination accepts it: a slow destination stops the Transform,
  // which stops the export writer (its writes wait for 'drain').
  const pump = (async () => {
    for await (const chunk of enc as AsyncIterable<Buffer>) {
      await inner.write(chunk);
      hash.update(chunk);
      bytes += chunk.length;
    }
  })().catch((e: unknown) => {
    failure ??= e;
    enc.destroy();
  });
  const plain = streamSink(enc);
  return {
    sink: {
      async write(chunk) {
        if (failure !== undefined) throw failure;
        try {
          await plain.write(chunk);
        } catch (e) {
          throw failure ?? e;
        }
      },
    },
    async finish() {
      if (failure === undefined && !enc.destroyed) enc.end();
      await pump;
      if (failure !== undefined) throw failure;
      if (enc.destroyed && !enc.readableEnded) throw new SgError('SG_ERR_INTERNAL', 'encryption stopped early');
      return { sha256: hash.copy().digest('hex'), bytes };
    },
    abort(reason) {
      failure ??= reason ?? new SgError('SG_ERR_INTERNAL', 'export aborted');
      enc.destroy();
    },
    written() {
      return { sha256: hash.copy().digest('hex'), bytes };
    },
  };
}

/**
 * The manifest of an encrypted file: `sha256`/`bytes` describe the file as written (what
 * `sha256sum FILE.gpg` prints), `plaintext_sha256`/`plaintext_bytes` what `gpg --decrypt` gives.
 */
export function encryptedManifest(plain: ExportManifest, cipher: CipherDigest, complete = plain.complete): ExportManifest {
  return {
    ...plain,
    sha256: cipher.sha256,
    bytes: cipher.bytes,
    plaintext_sha256: plain.sha256,
    plaintext_bytes: plain.bytes,
    encryption: { ...OPENPGP_ENCRYPTION },
    complete,
  };
}
