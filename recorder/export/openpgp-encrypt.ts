// OpenPGP symmetric encryption (RFC 4880), the format `gpg --symmetric` writes, so an auditor
// opens an export with `gpg --decrypt FILE.gpg > FILE` and no Sessiongate tool. Written as a
// Transform in constant memory: plaintext in, OpenPGP message out, nothing buffered beyond one
// partial-body chunk per packet level.
//
// The message: SKESK v4 (5.3: AES-256, S2K iterated+salted SHA-256, the S2K key is the session
// key), then SEIPD v1 (5.13) in partial body lengths (4.2.2.4), whose content is AES-256 in
// OpenPGP CFB with a zero IV and no resync — the same bytes as standard CFB-128 — over: 16
// random bytes, their last 2 repeated, a Literal Data packet (5.9, format 'b', also in partial
// body lengths) holding the export, and the MDC packet (5.14: 0xD3 0x14 + SHA-1 of everything
// before it, including its own two header octets).
import { createCipheriv, createHash, randomBytes, type Cipher, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { SgError } from '../../gateway/core/errors.js';

/** What manifests and activity records say about an encrypted file (never the passphrase). */
export const OPENPGP_ENCRYPTION = { format: 'openpgp', cipher: 'AES-256', s2k: 'iterated-salted-sha256' } as const;
export type ExportEncryptionInfo = typeof OPENPGP_ENCRYPTION;

/** 0xff: 65,011,712 bytes hashed, what gpg writes by default (about 45 ms of SHA-256 here). */
export const DEFAULT_S2K_COUNT_BYTE = 0xff;
/** 2^16-byte partial chunks: headers are 1/65536 of the file, memory stays ~2 chunks per level. */
export const DEFAULT_CHUNK_BITS = 16;

const CIPHER_AES256 = 9;
const HASH_SHA256 = 8;
const S2K_ITERATED_SALTED = 3;
const TAG_SKESK = 3;
const TAG_LITERAL = 11;
const TAG_SEIPD = 18;
const MDC_HEADER = Buffer.from([0xd3, 0x14]);
const BLOCK = 16;
/** Bytes hashed for an S2K count octet (RFC 4880 3.7.1.3). */
export function s2kByteCount(c: number): number {
  return (16 + (c & 15)) << ((c >> 4) + 6);
}

/**
 * Iterated and salted S2K with SHA-256: salt||passphrase repeated until `count` bytes (at least
 * once) are hashed. SHA-256 gives exactly the 32 key bytes AES-256 needs. Yields to the event
 * loop every few MB so a viewer deriving a key keeps serving other requests.
 */
export async function s2kKey(passphrase: Buffer, salt: Buffer, count: number): Promise<Buffer> {
  const unit = Buffer.concat([salt, passphrase]);
  const reps = Math.max(1, Math.floor(65_536 / unit.length));
  const block = Buffer.alloc(unit.length * reps);
  for (let i = 0; i < reps; i++) unit.copy(block, i * unit.length);
  const h = createHash('sha256');
  let left = Math.max(count, unit.length);
  let sinceYield = 0;
  while (left >= block.length) {
    h.update(block);
    left -= block.length;
    sinceYield += block.length;
    if (sinceYield >= 8 * 1024 * 1024) {
      sinceYield = 0;
      await yieldNow();
    }
  }
  // The stream of repeats is cut at `count`: the block starts on a unit boundary, so its prefix continues it.
  h.update(block.subarray(0, left));
  const key = h.digest();
  unit.fill(0);
  block.fill(0);
  return key;
}

/** A new-format body length (4.2.2): 1, 2 or 5 octets. */
export function bodyLength(n: number): Buffer {
  if (n < 192) return Buffer.from([n]);
  if (n < 8384) return Buffer.from([((n - 192) >> 8) + 192, (n - 192) & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = 0xff;
  b.writeUInt32BE(n, 1);
  return b;
}

/**
 * One packet written with partial body lengths (4.2.2.4): every full chunk of 2^bits bytes
 * (bits >= 9, so the first is at least 512) goes out as soon as more data follows it; end()
 * writes the rest (1 byte or more: the bodies here are never empty) with a normal length.
 */
class PartialBodyPacket {
  private parts: Buffer[] = [];
  private size = 0;
  private head: Buffer | undefined;
  private readonly chunk: number;
  private readonly partialOctet: Buffer;

  constructor(
    tag: number,
    bits: number,
    private readonly out: (b: Buffer) => void,
  ) {
    this.head = Buffer.from([0xc0 | tag]);
    this.chunk = 2 ** bits;
    this.partialOctet = Buffer.from([224 + bits]);
  }

  write(b: Buffer): void {
    if (!b.length) return;
    this.parts.push(b);
    this.size += b.length;
    // Strictly more than a chunk: the last length header then always has data after it.
    while (this.size > this.chunk) this.emit(this.chunk, this.partialOctet);
  }

  end(): void {
    this.emit(this.size, bodyLength(this.size));
  }

  private emit(n: number, len: Buffer): void {
    const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    const rest = all.subarray(n);
    this.parts = rest.length ? [rest] : [];
    this.size = rest.length;
    const head = this.head;
    this.head = undefined;
    this.out(Buffer.concat(head ? [head, len, all.subarray(0, n)] : [len, all.subarray(0, n)]));
  }
}

export interface OpenPgpEncryptOptions {
  /** UTF-8 bytes are the passphrase gpg is given (check it with checkPassphrase, passphrase.ts). A Buffer is zeroed once used. */
  passphrase: string | Buffer;
  /** Stored in the Literal Data packet (`gpg --use-embedded-filename`); at most 255 bytes are kept. */
  fileName: string;
  /** Literal Data date, ms since the epoch. */
  date: number;
  /** S2K count octet (default 0xff). */
  s2kCountByte?: number;
  /** Partial body chunks of 2^chunkBits bytes, 9-30 (default 16). */
  chunkBits?: number;
}

/**
 * Derives the key (yielding while it hashes), then returns the encrypting Transform. The
 * passphrase bytes are wiped once the key exists: a Buffer passphrase is handed over (it is
 * zeroed), a string one is copied and the copy zeroed (a JS string itself cannot be wiped).
 */
export async function createOpenPgpEncryptor(opts: OpenPgpEncryptOptions): Promise<OpenPgpEncryptStream> {
  const countByte = opts.s2kCountByte ?? DEFAULT_S2K_COUNT_BYTE;
  const bits = opts.chunkBits ?? DEFAULT_CHUNK_BITS;
  if (!Number.isInteger(countByte) || countByte < 0 || countByte > 255) throw new SgError('SG_ERR_INTERNAL', 's2k count byte must be 0-255');
  if (!Number.isInteger(bits) || bits < 9 || bits > 30) throw new SgError('SG_ERR_INTERNAL', 'chunkBits must be 9-30');
  const pass = typeof opts.passphrase === 'string' ? Buffer.from(opts.passphrase, 'utf8') : opts.passphrase;
  const salt = randomBytes(8);
  try {
    const key = await s2kKey(pass, salt, s2kByteCount(countByte));
    return new OpenPgpEncryptStream({ key, salt, countByte, bits, fileName: opts.fileName, date: opts.date });
  } finally {
    pass.fill(0);
  }
}

interface StreamInit {
  key: Buffer;
  salt: Buffer;
  countByte: number;
  bits: number;
  fileName: string;
  date: number;
}

export class OpenPgpEncryptStream extends Transform {
  private readonly cipher: Cipher;
  private readonly mdc: Hash = createHash('sha1');
  private readonly outer: PartialBodyPacket;
  private readonly literal: PartialBodyPacket;

  constructor(init: StreamInit) {
    super({ writableHighWaterMark: 64 * 1024, readableHighWaterMark: 64 * 1024 });
    this.cipher = createCipheriv('aes-256-cfb', init.key, Buffer.alloc(BLOCK));
    init.key.fill(0);

    // SKESK v4 without an encrypted session key: the S2K output is the session key.
    const skesk = Buffer.concat([Buffer.from([4, CIPHER_AES256, S2K_ITERATED_SALTED, HASH_SHA256]), init.salt, Buffer.from([init.countByte])]);
    this.push(Buffer.concat([Buffer.from([0xc0 | TAG_SKESK]), bodyLength(skesk.length), skesk]));

    this.outer = new PartialBodyPacket(TAG_SEIPD, init.bits, (b) => this.push(b));
    this.outer.write(Buffer.from([1])); // SEIPD version 1
    const prefix = randomBytes(BLOCK);
    this.seal(Buffer.concat([prefix, prefix.subarray(BLOCK - 2)]));

    this.literal = new PartialBodyPacket(TAG_LITERAL, init.bits, (b) => this.seal(b));
    let name = Buffer.from(init.fileName, 'utf8');
    if (name.length > 255) name = name.subarray(0, 255);
    const date = Buffer.alloc(4);
    date.writeUInt32BE(Math.max(0, Math.floor(init.date / 1000)) >>> 0);
    this.literal.write(Buffer.concat([Buffer.from([0x62, name.length]), name, date])); // 'b': binary
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.literal.write(chunk);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.literal.end();
      this.mdc.update(MDC_HEADER);
      const tail = Buffer.concat([MDC_HEADER, this.mdc.digest()]);
      this.outer.write(this.cipher.update(tail));
      const rest = this.cipher.final(); // CFB is a stream mode: nothing is held back
      if (rest.length) this.outer.write(rest);
      this.outer.end();
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  /** Plaintext inside the SEIPD packet: hashed for the MDC, encrypted, framed. */
  private seal(plain: Buffer): void {
    this.mdc.update(plain);
    this.outer.write(this.cipher.update(plain));
  }
}
