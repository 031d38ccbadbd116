// Cuts one direction of an SFTP byte stream into packets without holding their data: the handler
// asks for a prefix of each body (the fields it reads), the rest is skipped by counting. A prefix is
// a view into the caller's chunk when it lies inside one; only prefixes split across chunks are
// copied, into one scratch buffer that never exceeds the largest allowed packet.
import { SftpProtocolError } from './protocol.js';

export interface FrameHandler {
  /** Body bytes (after the type byte) the handler must see together; 0 skips the body unseen. */
  prefix(type: number, bodyLen: number): number;
  /**
   * Sees the prefix. Returns 0 when done with the packet, or a longer prefix it needs first
   * (a WRITE's handle length is only known after its first 8 bytes). Throws SftpProtocolError.
   */
  frame(type: number, prefix: Buffer, bodyLen: number): number;
}

const enum Phase {
  Header,
  Prefix,
  Skip,
}

const HEADER = 5;
/** Scratch buffers above this are dropped after use so idle sessions do not keep them. */
const KEEP_SCRATCH = 16 * 1024;

export class SftpFramer {
  private phase = Phase.Header;
  private readonly hdr = Buffer.alloc(HEADER);
  private hdrFill = 0;
  private type = 0;
  private bodyLen = 0;
  private want = 0;
  private scratch: Buffer | undefined;
  private fill = 0;
  private skip = 0;

  constructor(
    private readonly maxPacket: number,
    private readonly handler: FrameHandler,
  ) {}

  /** Bytes held by this direction (the scratch buffer's size). */
  get buffered(): number {
    return this.scratch?.length ?? 0;
  }

  /** Body bytes of the current packet still to be skipped (0 between packets or while reading a prefix). */
  get unseen(): number {
    return this.phase === Phase.Skip ? this.skip : 0;
  }

  /** Drops what it holds; the stream is not read again. */
  release(): void {
    this.scratch = undefined;
  }

  /** Throws SftpProtocolError on a malformed stream; the caller stops feeding this framer then. */
  push(chunk: Buffer): void {
    const end = chunk.length;
    let off = 0;
    while (off < end) {
      if (this.phase === Phase.Header) {
        let len: number;
        if (this.hdrFill === 0 && end - off >= HEADER) {
          len = chunk.readUInt32BE(off);
          this.type = chunk[off + 4]!;
          off += HEADER;
        } else {
          const n = Math.min(HEADER - this.hdrFill, end - off);
          chunk.copy(this.hdr, this.hdrFill, off, off + n);
          this.hdrFill += n;
          off += n;
          if (this.hdrFill < HEADER) return;
          this.hdrFill = 0;
          len = this.hdr.readUInt32BE(0);
          this.type = this.hdr[4]!;
        }
        this.begin(len);
        continue;
      }
      if (this.phase === Phase.Prefix) {
        let view: Buffer;
        if (this.fill === 0 && end - off >= this.want) {
          view = chunk.subarray(off, off + this.want);
          off += this.want;
        } else {
          const scratch = this.reserve(this.want);
          const n = Math.min(this.want - this.fill, end - off);
          chunk.copy(scratch, this.fill, off, off + n);
          this.fill += n;
          off += n;
          if (this.fill < this.want) return;
          view = scratch.subarray(0, this.want);
        }
        const more = this.handler.frame(this.type, view, this.bodyLen);
        if (more > 0) {
          if (more <= this.want) throw new SftpProtocolError('internal: prefix did not grow');
          if (more > this.bodyLen) throw new SftpProtocolError(`truncated packet type ${this.type}`);
          // A view from the chunk is taken again, longer, from the same start.
          if (this.fill === 0) off -= this.want;
          this.want = more;
          continue;
        }
        this.endPrefix();
        continue;
      }
      const n = Math.min(this.skip, end - off);
      off += n;
      this.skip -= n;
      if (this.skip === 0) this.phase = Phase.Header;
    }
  }

  private begin(len: number): void {
    if (len < 1) throw new SftpProtocolError('packet length 0');
    if (len > this.maxPacket) throw new SftpProtocolError(`packet length ${len} over ${this.maxPacket}`);
    this.bodyLen = len - 1;
    const want = this.handler.prefix(this.type, this.bodyLen);
    if (want > this.bodyLen) throw new SftpProtocolError(`truncated packet type ${this.type}`);
    this.fill = 0;
    if (want > 0) {
      this.want = want;
      this.phase = Phase.Prefix;
      return;
    }
    this.want = 0;
    this.skip = this.bodyLen;
    this.phase = this.skip > 0 ? Phase.Skip : Phase.Header;
  }

  private endPrefix(): void {
    this.skip = this.bodyLen - this.want;
    this.fill = 0;
    this.phase = this.skip > 0 ? Phase.Skip : Phase.Header;
    if (this.scratch && this.scratch.length > KEEP_SCRATCH) this.scratch = undefined;
  }

  private reserve(size: number): Buffer {
    const cur = this.scratch;
    if (cur && cur.length >= size) return cur;
    // Grows in steps so a prefix that grows (WRITE) does not reallocate twice; capped by the packet.
    const next = Buffer.allocUnsafe(Math.min(this.maxPacket, Math.max(size, 512)));
    if (cur && this.fill > 0) cur.copy(next, 0, 0, this.fill);
    this.scratch = next;
    return next;
  }
}
