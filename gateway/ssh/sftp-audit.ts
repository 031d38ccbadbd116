// Reads an SFTP v3 session on the side of the raw relay and reports each file operation, so the SSH
// front end can record `file.transfer` events without terminating SFTP itself. It sits on the data
// path: it reads packet headers and the few fields it needs, and counts data bytes without copying.
// It never throws to the relay: a malformed stream stops the reading of that direction and is
// reported once through `onError`; ending the session is the front end's call.
import type { FileTransferEvent, TransferDirection, TransferResult } from '../../recorder/events.js';
import { SgError } from '../core/errors.js';
import type { Clock } from '../core/runtime.js';
import { SftpFramer, type FrameHandler } from './sftp/framer.js';
import { FieldReader, FX, FXP, MAX_HANDLE, PFLAG_WRITE, SFTP_VERSION, SftpProtocolError } from './sftp/protocol.js';

/** One file operation, with the field names of FileTransferEvent plus when it started. */
export type SftpOperation = Pick<FileTransferEvent, 'direction' | 'path' | 'to_path' | 'bytes' | 'duration_ms' | 'result' | 'detail'> & {
  /** ms since epoch, when the request that began it was seen. */
  started_at: number;
};

export interface SftpAuditOptions {
  clock: Clock;
  onOperation: (op: SftpOperation) => void;
  /** Called once, with the first malformed-stream reason. */
  onError?: (reason: string) => void;
  /** Largest packet length field accepted. Default 256 KiB + 1 KiB (OpenSSH's cap plus header room). */
  maxPacket?: number;
  /** Open file and directory handles (and opens awaiting a reply) tracked at once. Default 1024. */
  maxOpenHandles?: number;
  /** Tracked requests awaiting a reply. Default 1024 (OpenSSH's client keeps 64 in flight). */
  maxPending?: number;
}

export interface SftpAuditStats {
  /** Bytes each direction holds (at most one packet prefix). */
  buffered: { client: number; server: number };
  pending: number;
  openHandles: number;
  /** Replies whose id matched no tracked request (ignored). */
  unmatched: number;
}

export const SFTP_AUDIT_DEFAULTS = {
  maxPacket: 256 * 1024 + 1024,
  maxOpenHandles: 1024,
  maxPending: 1024,
} as const;

/** The fields of a `file.transfer` event that an operation fills (started_at is not one). */
export function transferFields(op: SftpOperation): Omit<SftpOperation, 'started_at'> {
  const { started_at: _started, ...fields } = op;
  return fields;
}

interface OpenFile {
  path: string;
  /** What the OPEN flags said it was for; the bytes moved decide in the end. */
  intent: 'upload' | 'download' | 'list';
  started_at: number;
  read: number;
  written: number;
  entries: number;
  failure?: { result: TransferResult; detail: string };
}

type Pending =
  | { k: 'open'; path: string; intent: OpenFile['intent']; started_at: number }
  | { k: 'read' | 'write' | 'readdir' | 'close'; file: OpenFile }
  | { k: 'path'; direction: TransferDirection; path: string; to_path?: string; started_at: number };

type Side = 'client' | 'server';

interface Flow {
  file: OpenFile;
  key: 'read' | 'written';
  len: number;
  /** Body bytes after the header: the data, then anything trailing it. */
  room: number;
}

const ID = 4;
/** id, handle length: enough to know how long a WRITE's header is. */
const WRITE_HEAD = 8;
/** id and a data length or entry count: all a DATA or NAME reply needs read. */
const REPLY_HEAD = 8;
/** Smallest NAME entry: filename, longname, attribute flags. */
const MIN_NAME_ENTRY = 12;
const POSIX_RENAME = 'posix-rename@openssh.com';

function resultOf(code: number): TransferResult {
  if (code === FX.OK) return 'ok';
  if (code === FX.PERMISSION_DENIED) return 'denied';
  return 'failed';
}

function positiveInt(name: string, v: unknown, fallback: number, max: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw new SgError('SG_ERR_CONFIG_INVALID', `SftpAudit: ${name} must be an integer from 1 to ${max}`);
  }
  return v;
}

export class SftpAudit {
  private readonly clock: Clock;
  private readonly onOperation: (op: SftpOperation) => void;
  private readonly onError: ((reason: string) => void) | undefined;
  private readonly maxOpenHandles: number;
  private readonly maxPending: number;
  private readonly client: SftpFramer;
  private readonly server: SftpFramer;
  private readonly dead = { client: false, server: false };
  private readonly pending = new Map<number, Pending>();
  private readonly files = new Map<string, OpenFile>();
  private pendingOpens = 0;
  /** The data packet passing on each side, counted when its header was read. */
  private readonly flowing: { client?: Flow; server?: Flow } = {};
  private unmatched = 0;
  private sawInit = false;
  private negotiated: number | undefined;
  private closed = false;
  private error: string | undefined;

  constructor(opts: SftpAuditOptions) {
    if (!opts || typeof opts !== 'object') throw new SgError('SG_ERR_CONFIG_INVALID', 'SftpAudit needs options');
    if (!opts.clock || typeof opts.clock.now !== 'function') throw new SgError('SG_ERR_CONFIG_INVALID', 'SftpAudit: clock.now must be a function');
    if (typeof opts.onOperation !== 'function') throw new SgError('SG_ERR_CONFIG_INVALID', 'SftpAudit: onOperation must be a function');
    if (opts.onError !== undefined && typeof opts.onError !== 'function') throw new SgError('SG_ERR_CONFIG_INVALID', 'SftpAudit: onError must be a function');
    // Below 1 KiB a legitimate OPEN of a long path would not fit; above 16 MiB is no SFTP server's.
    const maxPacket = positiveInt('maxPacket', opts.maxPacket, SFTP_AUDIT_DEFAULTS.maxPacket, 16 * 1024 * 1024);
    if (maxPacket < 1024) throw new SgError('SG_ERR_CONFIG_INVALID', 'SftpAudit: maxPacket must be at least 1024');
    this.maxOpenHandles = positiveInt('maxOpenHandles', opts.maxOpenHandles, SFTP_AUDIT_DEFAULTS.maxOpenHandles, 1_000_000);
    this.maxPending = positiveInt('maxPending', opts.maxPending, SFTP_AUDIT_DEFAULTS.maxPending, 1_000_000);
    this.clock = opts.clock;
    this.onOperation = opts.onOperation;
    this.onError = opts.onError;
    this.client = new SftpFramer(maxPacket, this.clientHandler);
    this.server = new SftpFramer(maxPacket, this.serverHandler);
  }

  /** The first malformed-stream reason, once there is one. */
  get protocolError(): string | undefined {
    return this.error;
  }

  /** The version the server answered with, after the handshake. */
  get version(): number | undefined {
    return this.negotiated;
  }

  stats(): SftpAuditStats {
    return {
      buffered: { client: this.client.buffered, server: this.server.buffered },
      pending: this.pending.size,
      openHandles: this.files.size + this.pendingOpens,
      unmatched: this.unmatched,
    };
  }

  /** Bytes the client sent toward the server. Never throws. */
  fromClient(chunk: Buffer): void {
    this.feed('client', this.client, chunk);
  }

  /** Bytes the server sent toward the client. Never throws. */
  fromServer(chunk: Buffer): void {
    this.feed('server', this.server, chunk);
  }

  /** The session ended: files still open and requests still unanswered are reported `aborted`. Idempotent. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.uncount('client', this.client);
    this.uncount('server', this.server);
    const now = this.now();
    const seen = new Set<OpenFile>();
    for (const p of this.pending.values()) {
      if (p.k === 'open') this.emit({ direction: p.intent, path: p.path, bytes: 0, result: 'aborted', detail: reason }, p.started_at, now);
      else if (p.k === 'path') this.emit({ direction: p.direction, path: p.path, to_path: p.to_path, bytes: 0, result: 'aborted', detail: reason }, p.started_at, now);
      else if (p.k === 'close' && !seen.has(p.file)) {
        seen.add(p.file);
        this.emitFile(p.file, 'aborted', reason, now);
      }
    }
    for (const f of this.files.values()) if (!seen.has(f)) this.emitFile(f, 'aborted', reason, now);
    this.pending.clear();
    this.files.clear();
    this.pendingOpens = 0;
    this.client.release();
    this.server.release();
  }

  /** A stream cut inside a data packet: only the data that went by counts. */
  private uncount(side: Side, framer: SftpFramer): void {
    const f = this.flowing[side];
    const unseen = framer.unseen;
    if (!f || unseen === 0 || this.dead[side]) return;
    const seen = Math.min(f.len, f.room - unseen);
    f.file[f.key] -= f.len - seen;
  }

  private feed(side: Side, framer: SftpFramer, chunk: Buffer): void {
    if (this.closed || this.dead[side]) return;
    try {
      framer.push(chunk);
    } catch (e) {
      const reason = e instanceof SftpProtocolError ? e.message : `internal error: ${e instanceof Error ? e.message : String(e)}`;
      this.fail(e instanceof SftpProtocolError && e.bothSides ? 'both' : side, reason);
    }
  }

  private fail(side: Side | 'both', reason: string): void {
    if (side === 'both' || side === 'client') this.stop('client');
    if (side === 'both' || side === 'server') this.stop('server');
    if (this.error !== undefined) return;
    this.error = `${side === 'both' ? '' : `${side}: `}${reason}`;
    try {
      this.onError?.(this.error);
    } catch {
      // A faulty sink must not break the relay it watches.
    }
  }

  private stop(side: Side): void {
    this.dead[side] = true;
    (side === 'client' ? this.client : this.server).release();
  }

  private now(): number {
    return this.clock.now();
  }

  private emit(fields: Omit<SftpOperation, 'started_at' | 'duration_ms'>, started_at: number, now = this.now()): void {
    const op: SftpOperation = { ...fields, started_at, duration_ms: Math.max(0, now - started_at) };
    if (op.to_path === undefined) delete op.to_path;
    if (op.detail === undefined) delete op.detail;
    try {
      this.onOperation(op);
    } catch {
      // The recorder's emit never throws by contract; a faulty sink must not break the relay.
    }
  }

  private emitFile(f: OpenFile, result: TransferResult, detail: string | undefined, now = this.now()): void {
    if (f.failure) ({ result, detail } = f.failure);
    if (f.intent === 'list') {
      this.emit({ direction: 'list', path: f.path, bytes: 0, result, detail: detail ?? `${f.entries} entries` }, f.started_at, now);
      return;
    }
    const direction = f.written > 0 ? 'upload' : f.read > 0 ? 'download' : f.intent;
    const bytes = direction === 'upload' ? f.written : f.read;
    const mixed = f.written > 0 && f.read > 0 ? `read ${f.read} bytes, wrote ${f.written} bytes` : undefined;
    this.emit({ direction, path: f.path, bytes, result, detail: detail ?? mixed }, f.started_at, now);
  }

  private track(id: number, p: Pending): void {
    const old = this.pending.get(id);
    // A client reusing an unanswered id replaces that request: its slot is freed, not added to.
    const replacedOpen = old?.k === 'open' ? 1 : 0;
    if (!old && this.pending.size >= this.maxPending) throw new SftpProtocolError(`more than ${this.maxPending} requests awaiting a reply`);
    const opens = p.k === 'open' ? 1 : 0;
    if (opens && this.files.size + this.pendingOpens - replacedOpen >= this.maxOpenHandles) throw new SftpProtocolError(`more than ${this.maxOpenHandles} open handles`);
    this.pendingOpens += opens - replacedOpen;
    this.pending.set(id, p);
  }

  private take(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) {
      this.unmatched++;
      return undefined;
    }
    this.pending.delete(id);
    if (p.k === 'open') this.pendingOpens--;
    return p;
  }

  // ---- client -> server ----

  private readonly clientHandler: FrameHandler = {
    prefix: (type, bodyLen) => {
      this.flowing.client = undefined;
      if (!this.sawInit) {
        if (type !== FXP.INIT) throw new SftpProtocolError(`expected INIT, got packet type ${type}`);
        return 4;
      }
      switch (type) {
        case FXP.WRITE:
          return WRITE_HEAD;
        case FXP.OPEN:
        case FXP.OPENDIR:
        case FXP.CLOSE:
        case FXP.READ:
        case FXP.READDIR:
        case FXP.REMOVE:
        case FXP.MKDIR:
        case FXP.RMDIR:
        case FXP.RENAME:
        case FXP.EXTENDED:
          // Small requests whose fields are read whole; a body shorter than an id is truncated.
          return Math.max(bodyLen, ID);
        default:
          return 0;
      }
    },
    frame: (type, body, bodyLen) => {
      if (!this.sawInit) {
        this.sawInit = true;
        return 0;
      }
      return this.request(type, new FieldReader(body), body.length, bodyLen);
    },
  };

  private request(type: number, r: FieldReader, have: number, bodyLen: number): number {
    const id = r.u32('request id');
    switch (type) {
      case FXP.WRITE: {
        const hlen = r.peekU32('handle length');
        if (hlen > MAX_HANDLE) throw new SftpProtocolError(`handle length ${hlen} over ${MAX_HANDLE}`);
        const need = WRITE_HEAD + hlen + 8 + 4;
        if (have < need) return need;
        const handle = r.handle();
        r.skip(8, 'write offset');
        const len = r.u32('write data length');
        if (len > bodyLen - need) throw new SftpProtocolError(`write data length ${len} beyond packet`);
        const f = this.files.get(handle);
        if (f) {
          f.written += len;
          this.flowing.client = { file: f, key: 'written', len, room: bodyLen - need };
          this.track(id, { k: 'write', file: f });
        }
        return 0;
      }
      case FXP.OPEN: {
        const path = r.path('filename');
        const pflags = r.u32('pflags');
        this.track(id, { k: 'open', path, intent: pflags & PFLAG_WRITE ? 'upload' : 'download', started_at: this.now() });
        return 0;
      }
      case FXP.OPENDIR:
        this.track(id, { k: 'open', path: r.path('path'), intent: 'list', started_at: this.now() });
        return 0;
      case FXP.READ:
      case FXP.READDIR:
      case FXP.CLOSE: {
        const handle = r.handle();
        const f = this.files.get(handle);
        if (!f) return 0;
        // Closed from the client's view at once: the server may hand the same handle to the next open.
        if (type === FXP.CLOSE) this.files.delete(handle);
        this.track(id, { k: type === FXP.READ ? 'read' : type === FXP.READDIR ? 'readdir' : 'close', file: f });
        return 0;
      }
      case FXP.REMOVE:
        return this.pathOp(id, 'remove', r.path('filename'));
      case FXP.MKDIR:
        return this.pathOp(id, 'mkdir', r.path('path'));
      case FXP.RMDIR:
        return this.pathOp(id, 'rmdir', r.path('path'));
      case FXP.RENAME:
        return this.pathOp(id, 'rename', r.path('oldpath'), r.path('newpath'));
      case FXP.EXTENDED: {
        const name = r.bytes('extended request name').toString('latin1');
        if (name === POSIX_RENAME) return this.pathOp(id, 'rename', r.path('oldpath'), r.path('newpath'));
        return 0;
      }
    }
    return 0;
  }

  private pathOp(id: number, direction: TransferDirection, path: string, to_path?: string): number {
    this.track(id, { k: 'path', direction, path, to_path, started_at: this.now() });
    return 0;
  }

  // ---- server -> client ----

  private readonly serverHandler: FrameHandler = {
    prefix: (type, bodyLen) => {
      this.flowing.server = undefined;
      if (this.negotiated === undefined) {
        if (type !== FXP.VERSION) throw new SftpProtocolError(`expected VERSION, got packet type ${type}`);
        return 4;
      }
      switch (type) {
        case FXP.STATUS:
        case FXP.HANDLE:
          return Math.max(bodyLen, ID);
        case FXP.DATA:
        case FXP.NAME:
          return REPLY_HEAD;
        default:
          // Any other reply still carries an id, which settles a tracked request it answers.
          return type >= FXP.STATUS ? ID : 0;
      }
    },
    frame: (type, body, bodyLen) => {
      if (this.negotiated === undefined) {
        this.negotiated = body.readUInt32BE(0);
        // Later versions lay packets out differently: reading them as v3 would record nonsense.
        if (this.negotiated !== SFTP_VERSION) throw new SftpProtocolError(`unsupported SFTP version ${this.negotiated}`, true);
        return 0;
      }
      this.reply(type, new FieldReader(body), bodyLen);
      return 0;
    },
  };

  private reply(type: number, r: FieldReader, bodyLen: number): void {
    const id = r.u32('reply id');
    // Fields are checked whether or not the reply is tracked: a malformed one is malformed either way.
    switch (type) {
      case FXP.STATUS: {
        const code = r.u32('status code');
        const message = r.message();
        const p = this.take(id);
        if (p) this.status(p, code, message);
        return;
      }
      case FXP.HANDLE: {
        const handle = r.handle();
        const p = this.take(id);
        if (p?.k === 'open') this.files.set(handle, { path: p.path, intent: p.intent, started_at: p.started_at, read: 0, written: 0, entries: 0 });
        else if (p) this.unexpected(p, type);
        return;
      }
      case FXP.DATA: {
        const len = r.u32('data length');
        const room = bodyLen - REPLY_HEAD;
        if (len > room) throw new SftpProtocolError(`data length ${len} beyond packet`);
        const p = this.take(id);
        if (p?.k === 'read') {
          p.file.read += len;
          this.flowing.server = { file: p.file, key: 'read', len, room };
        } else if (p) this.unexpected(p, type);
        return;
      }
      case FXP.NAME: {
        const count = r.u32('name count');
        if (count > (bodyLen - REPLY_HEAD) / MIN_NAME_ENTRY) throw new SftpProtocolError(`name count ${count} beyond packet`);
        const p = this.take(id);
        if (p?.k === 'readdir') p.file.entries += count;
        else if (p) this.unexpected(p, type);
        return;
      }
    }
    const p = this.take(id);
    if (p) this.unexpected(p, type);
  }

  private unexpected(p: Pending, type: number): void {
    this.status(p, FX.FAILURE, `unexpected reply type ${type}`);
  }

  private status(p: Pending, code: number, message: string): void {
    const result = resultOf(code);
    const detail = result === 'ok' ? undefined : message || undefined;
    switch (p.k) {
      case 'open':
        // Only a failed open ends here; a good one is answered with HANDLE.
        this.emit({ direction: p.intent === 'list' ? 'list' : p.intent, path: p.path, bytes: 0, result: result === 'ok' ? 'failed' : result, detail }, p.started_at);
        return;
      case 'path':
        this.emit({ direction: p.direction, path: p.path, to_path: p.to_path, bytes: 0, result, detail }, p.started_at);
        return;
      case 'close':
        this.emitFile(p.file, result, detail);
        return;
      default:
        // EOF ends a read or a listing; anything else spoils the transfer.
        if (code !== FX.OK && code !== FX.EOF && !p.file.failure) p.file.failure = { result, detail: message };
    }
  }
}
