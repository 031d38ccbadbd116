// SFTP version 3 wire facts (draft-ietf-secsh-filexfer-02, as OpenSSH speaks it) and a bounds-checked
// field reader. Every read checks the packet's own bounds: a hostile length never reads past it.

export const FXP = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  RENAME: 18,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

export const FX = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
} as const;

export const PFLAG_WRITE = 0x02;

/** The only protocol version whose packet layout this reader knows. */
export const SFTP_VERSION = 3;

/** The draft caps handles at 256 bytes (OpenSSH uses 4); a longer one is malformed. */
export const MAX_HANDLE = 256;

/** Linux PATH_MAX: a longer path cannot name a file, and keeping it would let a client pin memory. */
export const MAX_PATH_BYTES = 4096;

/** Status texts are the server's words, kept short in records. */
export const MAX_MESSAGE_CHARS = 200;

export class SftpProtocolError extends Error {
  override readonly name = 'SftpProtocolError';
  /** The stream as a whole cannot be read (not just the direction it was seen in). */
  readonly bothSides: boolean;
  constructor(message: string, bothSides = false) {
    super(message);
    this.bothSides = bothSides;
  }
}

/** Reads fields of one packet body (after the type byte). Throws SftpProtocolError past its end. */
export class FieldReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  u32(what: string): number {
    if (this.pos + 4 > this.buf.length) throw new SftpProtocolError(`truncated ${what}`);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** The next uint32 without moving past it (a length read again by `bytes`). */
  peekU32(what: string): number {
    const v = this.u32(what);
    this.pos -= 4;
    return v;
  }

  skip(n: number, what: string): void {
    if (this.pos + n > this.buf.length) throw new SftpProtocolError(`truncated ${what}`);
    this.pos += n;
  }

  /** A length-prefixed string as a view (no copy). */
  bytes(what: string, max = Infinity): Buffer {
    const len = this.u32(`${what} length`);
    if (len > this.buf.length - this.pos) throw new SftpProtocolError(`${what} length ${len} beyond packet`);
    if (len > max) throw new SftpProtocolError(`${what} length ${len} over ${max}`);
    const v = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return v;
  }

  /** A path as the client sent it: UTF-8, invalid bytes shown as U+FFFD, cut at PATH_MAX. */
  path(what: string): string {
    const raw = this.bytes(what);
    if (raw.length <= MAX_PATH_BYTES) return raw.toString('utf8');
    return `${raw.subarray(0, MAX_PATH_BYTES).toString('utf8')}…`;
  }

  /** A handle as a map key; latin1 keeps every byte distinct and is the cheapest decode. */
  handle(): string {
    return this.bytes('handle', MAX_HANDLE).toString('latin1');
  }

  message(): string {
    const raw = this.bytes('message');
    const s = raw.subarray(0, MAX_MESSAGE_CHARS * 4).toString('utf8');
    return s.length > MAX_MESSAGE_CHARS || raw.length > MAX_MESSAGE_CHARS * 4 ? `${s.slice(0, MAX_MESSAGE_CHARS)}…` : s;
  }
}
