// The integrity chain of the store (docs/store.md "Integrity"): every committed batch lists a
// digest per row and, when audit.key_file is set, an HMAC chained on the previous batch's, so
// an edited, removed or inserted row, or a rewritten batch record, is found by `verify`.
// The key lives outside data_dir: whoever can write the store cannot forge the chain.
import * as crypto from 'node:crypto';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, realpathSync, writeSync, constants as fsc } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { open, type RootDatabase, type Transaction } from 'lmdb';
import { SgError } from '../../gateway/core/errors.js';
import { KINDS, type Kind } from './kinds.js';
import { openLayout, type BatchRecord, type StoreDbs } from './layout.js';
import { ENV_FILE, rootOptions } from './lmdb-options.js';
import type { Logger } from '../../gateway/core/runtime.js';

export const DIGEST_BYTES = 16;
export const MAC_BYTES = 32;
export const KEY_MIN_BYTES = 32;
export const ZERO_MAC: Buffer = Buffer.alloc(MAC_BYTES);

const NUL = Buffer.from([0]);

/** One-shot SHA-256 (`crypto.hash`, Node >= 20.12): a few us cheaper per row than a Hash object;
 * older Nodes (the engines range starts at 20.10) take the streaming path. */
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash;

/** Reused for the `kind \0 id \0 bin` message (grown when a row is larger): no allocation per row. */
let scratch = Buffer.allocUnsafe(4096);

/** SHA-256(kind \0 id \0 bin) truncated to 16 bytes: one row's digest in its batch record. */
export function rowDigest(kind: string, id: string, bin: Uint8Array): Buffer {
  const need = Buffer.byteLength(kind, 'utf8') + Buffer.byteLength(id, 'utf8') + 2 + bin.length;
  if (!oneShot) return createHash('sha256').update(kind, 'utf8').update(NUL).update(id, 'utf8').update(NUL).update(bin).digest().subarray(0, DIGEST_BYTES);
  if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, scratch.length * 2));
  let p = scratch.write(kind, 0, 'utf8');
  scratch[p++] = 0;
  p += scratch.write(id, p, 'utf8');
  scratch[p++] = 0;
  scratch.set(bin, p);
  return oneShot('sha256', scratch.subarray(0, need), 'buffer').subarray(0, DIGEST_BYTES);
}

function u64be(n: number, what: string): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new SgError('SG_ERR_INTERNAL', `integrity: ${what} must be a non-negative safe integer, got ${n}`);
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

export function sha256(data: Uint8Array): Buffer {
  return oneShot ? oneShot('sha256', data, 'buffer') : createHash('sha256').update(data).digest();
}

const pads = new WeakMap<Buffer, { inner: Buffer; outer: Buffer }>();

/**
 * HMAC-SHA-256 (RFC 2104) from two one-shot hashes over the key's precomputed pads: the same
 * bytes as createHmac, without its per-call object (~5 us; this runs for every page of every
 * search). Keys up to the block size (64 bytes), as the store's secrets are.
 */
export function hmacSha256(key: Buffer, message: Uint8Array): Buffer {
  if (!oneShot || key.length > 64) return createHmac('sha256', key).update(message).digest();
  let p = pads.get(key);
  if (!p) {
    const inner = Buffer.alloc(64, 0x36);
    const outer = Buffer.alloc(64 + 32, 0x5c);
    for (let i = 0; i < key.length; i++) {
      inner[i]! ^= key[i]!;
      outer[i]! ^= key[i]!;
    }
    pads.set(key, (p = { inner, outer }));
  }
  const inner = oneShot('sha256', Buffer.concat([p.inner, message]), 'buffer');
  inner.copy(p.outer, 64);
  return oneShot('sha256', p.outer, 'buffer');
}

/** The chain link: HMAC-SHA-256(key, prevMac(32) || u64be(b) || u64be(ts) || SHA-256(digests)). */
export function batchMac(key: Buffer, prevMac: Buffer, b: number, ts: number, digests: Buffer): Buffer {
  return batchMacOfHash(key, prevMac, b, ts, sha256(digests));
}

/** batchMac from SHA-256(digests): a pruned batch keeps only that hash (see PrunedBatch). */
export function batchMacOfHash(key: Buffer, prevMac: Buffer, b: number, ts: number, digestsHash: Buffer): Buffer {
  if (prevMac.length !== MAC_BYTES) throw new SgError('SG_ERR_INTERNAL', `integrity: prevMac must be ${MAC_BYTES} bytes, got ${prevMac.length}`);
  const h = createHmac('sha256', key);
  h.update(prevMac);
  h.update(u64be(b, 'batch number'));
  h.update(u64be(ts, 'batch ts'));
  h.update(digestsHash);
  return h.digest();
}

function configError(file: string, message: string, cause?: unknown): SgError {
  return new SgError('SG_ERR_CONFIG_INVALID', `audit.key_file ${file}: ${message}`, { cause, details: { key: 'audit.key_file', file } });
}

/** Resolves symlinks of the longest existing prefix so "inside data_dir" cannot be dodged by a link. */
function realish(p: string): string {
  const abs = resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    const parent = dirname(abs);
    if (parent === abs) return abs;
    return resolve(realish(parent), abs.slice(parent.length + (parent.endsWith('/') ? 0 : 1)));
  }
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Loads audit.key_file (creates it 0600 with 32 random bytes when missing and create is true);
 * refuses a file inside dataDir, shorter than 32 bytes, or readable by group/other (SG_ERR_CONFIG_INVALID). */
export function loadIntegrityKey(file: string, opts: { dataDir: string; create: boolean }): Buffer {
  if (typeof file !== 'string' || file === '') throw configError(String(file), 'must be a file path');
  if (isInside(realish(file), realish(opts.dataDir))) {
    throw configError(file, `must be outside data_dir (${opts.dataDir}): whoever can write the store must not be able to read the key`);
  }
  const existing = readKeyFile(file);
  if (existing) return existing;
  if (!opts.create) throw configError(file, 'does not exist');
  return createKeyFile(file) ?? readKeyFile(file) ?? failMissing(file);
}

function failMissing(file: string): never {
  throw configError(file, 'vanished while being created');
}

/** The key in `file`, or undefined when there is no such file. */
function readKeyFile(file: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw configError(file, `cannot be opened (${code ?? String(e)})`, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw configError(file, 'is not a regular file');
    if ((st.mode & 0o077) !== 0) throw configError(file, `is accessible by group/other (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    if (off < KEY_MIN_BYTES) throw configError(file, `holds ${off} bytes, needs at least ${KEY_MIN_BYTES} random bytes`);
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/** Creates the key file; undefined when another process created it first (then read theirs). */
function createKeyFile(file: string): Buffer | undefined {
  const key = randomBytes(KEY_MIN_BYTES);
  // A first start may name a key directory that does not exist yet (the demo's ../data).
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    // O_EXCL: two processes starting together must not each write a different key.
    fd = openSync(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return undefined;
    throw configError(file, `cannot be created (${code ?? String(e)})`, e);
  }
  try {
    writeSync(fd, key);
    // A key lost in a crash would leave every mac written with it unverifiable.
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncDir(dirname(resolve(file)));
  return key;
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, fsc.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the file itself is synced.
  }
}

// ---------- records of the chain (docs/store.md "Integrity", "Retention") ----------

/** meta key of the retention anchor. */
export const ANCHOR_KEY = 'chain:anchor';
const ANCHOR_DOMAIN = Buffer.from('sessiongate chain anchor v1\0');
const PRUNED_DOMAIN = Buffer.from('sessiongate pruned batch v1\0');

/** A batch record as verify and retention read it: `pruned` is set by retention once every
 * row of the batch is gone (rows and digests are then empty). */
export interface ChainBatch extends Omit<BatchRecord, 'digests' | 'mac'> {
  digests: Buffer;
  mac?: Buffer;
  pruned?: PrunedBatch;
}

/**
 * What retention keeps of a batch whose rows it all removed: the row count and SHA-256 of the
 * digests, enough to recompute the batch's mac, so a fully pruned batch in the middle of the
 * chain costs ~100 bytes instead of its row list. `hmac` (keyed stores) proves that retention,
 * which holds the key, pruned it: nobody else can turn a batch of recent rows into a stub.
 */
export interface PrunedBatch {
  n: number;
  dsha: Buffer;
  hmac?: Buffer;
}

/**
 * Where the chain starts after retention dropped batches 1..b: `mac` is batch b's mac (batch
 * b+1 chains on it). `cutoffs[kind]`: retention removed rows of that kind whose id sorts below
 * it, so such a row listed by a remaining batch may be absent (it was older than the retention
 * period); any other listed row must be present and match its digest. `hmac` covers all of it.
 */
export interface ChainAnchor {
  b: number;
  ts: number;
  mac?: Buffer;
  cutoffs: Partial<Record<Kind, string>>;
  hmac?: Buffer;
}

function u64(n: number): Buffer {
  return u64be(n, 'integer');
}

function lenPrefixed(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([u64(b.length), b]);
}

export function anchorHmac(key: Buffer, a: Omit<ChainAnchor, 'hmac'>): Buffer {
  const h = createHmac('sha256', key).update(ANCHOR_DOMAIN).update(u64(a.b)).update(u64(a.ts));
  h.update(lenPrefixed(a.mac ? a.mac.toString('hex') : ''));
  for (const k of KINDS) h.update(lenPrefixed(a.cutoffs[k] ?? ''));
  return h.digest();
}

export function prunedHmac(key: Buffer, b: number, ts: number, p: Omit<PrunedBatch, 'hmac'>, mac: Buffer | undefined): Buffer {
  return createHmac('sha256', key)
    .update(PRUNED_DOMAIN)
    .update(u64(b))
    .update(u64(ts))
    .update(u64(p.n))
    .update(p.dsha)
    .update(lenPrefixed(mac ? mac.toString('hex') : ''))
    .digest();
}

/** The anchor, signed when there is a key. */
export function makeAnchor(key: Buffer | undefined, a: Omit<ChainAnchor, 'hmac'>): ChainAnchor {
  const cutoffs: Partial<Record<Kind, string>> = {};
  for (const k of KINDS) if (a.cutoffs[k]) cutoffs[k] = a.cutoffs[k];
  const out: ChainAnchor = { b: a.b, ts: a.ts, cutoffs, ...(a.mac ? { mac: a.mac } : {}) };
  if (key) out.hmac = anchorHmac(key, out);
  return out;
}

/** The stub retention leaves of `rec` once all its rows are gone. */
export function pruneBatch(key: Buffer | undefined, rec: ChainBatch): ChainBatch {
  const pruned: PrunedBatch = { n: rec.rows.length, dsha: sha256(rec.digests) };
  if (key) pruned.hmac = prunedHmac(key, rec.b, rec.ts, pruned, rec.mac);
  return { b: rec.b, ts: rec.ts, rows: [], digests: Buffer.alloc(0), ...(rec.mac ? { mac: rec.mac } : {}), pruned };
}

function asBuffer(v: unknown): Buffer | undefined {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return undefined;
}

const isKind = (k: unknown): k is Kind => typeof k === 'string' && (KINDS as readonly string[]).includes(k);
const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** A stored batch value, checked, or why it is not one. */
export function parseBatch(key: unknown, v: unknown): ChainBatch | string {
  if (v === null || typeof v !== 'object') return 'not a record';
  const r = v as Record<string, unknown>;
  if (r.b !== key || !isCount(r.b) || r.b < 1) return `its number ${JSON.stringify(r.b)} differs from its key ${JSON.stringify(key)}`;
  if (!isCount(r.ts)) return 'ts is not a time';
  if (!Array.isArray(r.rows)) return 'rows is not a list';
  for (const row of r.rows) {
    if (!Array.isArray(row) || row.length !== 2 || !isKind(row[0]) || typeof row[1] !== 'string') return 'a row is not [kind, id]';
  }
  const digests = asBuffer(r.digests);
  if (!digests || digests.length !== r.rows.length * DIGEST_BYTES) return `digests hold ${digests?.length ?? 0} bytes for ${r.rows.length} rows`;
  const mac = r.mac === undefined || r.mac === null ? undefined : asBuffer(r.mac);
  if ((r.mac !== undefined && r.mac !== null && !mac) || (mac && mac.length !== MAC_BYTES)) return 'mac is not 32 bytes';
  const rec: ChainBatch = { b: r.b, ts: r.ts, rows: r.rows as [Kind, string][], digests, ...(mac ? { mac } : {}) };
  if (r.pruned !== undefined) {
    const p = r.pruned as Record<string, unknown> | null;
    const dsha = asBuffer(p?.dsha);
    const hmac = p?.hmac === undefined ? undefined : asBuffer(p.hmac);
    if (!p || !isCount(p.n) || !dsha || dsha.length !== 32 || (p.hmac !== undefined && hmac?.length !== MAC_BYTES) || rec.rows.length) return 'malformed pruned batch';
    rec.pruned = { n: p.n, dsha, ...(hmac ? { hmac } : {}) };
  }
  return rec;
}

/** The stored anchor, or why it is not one. */
export function parseAnchor(v: unknown): ChainAnchor | string {
  if (v === null || typeof v !== 'object') return 'not a record';
  const a = v as Record<string, unknown>;
  // b 0: nothing dropped yet, only cutoffs (the chain still starts at batch 1 with ZERO_MAC).
  if (!isCount(a.b) || !isCount(a.ts)) return 'b or ts malformed';
  const mac = a.mac === undefined ? undefined : asBuffer(a.mac);
  const hmac = a.hmac === undefined ? undefined : asBuffer(a.hmac);
  if ((a.mac !== undefined && mac?.length !== MAC_BYTES) || (a.hmac !== undefined && hmac?.length !== MAC_BYTES)) return 'mac or hmac malformed';
  const cutoffs: Partial<Record<Kind, string>> = {};
  const c = a.cutoffs;
  if (c === null || typeof c !== 'object') return 'cutoffs malformed';
  for (const [k, id] of Object.entries(c)) {
    if (!isKind(k) || typeof id !== 'string') return 'cutoffs malformed';
    cutoffs[k] = id;
  }
  return { b: a.b, ts: a.ts, cutoffs, ...(mac ? { mac } : {}), ...(hmac ? { hmac } : {}) };
}

// ---------- verify ----------

export type BreakProblem =
  /** A row's stored bytes differ from the digest its batch recorded. */
  | 'row_changed'
  /** A row its batch lists is absent and not below the anchor's retention cutoff. */
  | 'row_missing'
  /** A row no batch lists (someone inserted it). */
  | 'extra_row'
  /** A batch's mac (or a pruned batch's hmac) does not match, or a keyed store holds an unsigned batch. */
  | 'batch_mac'
  /** A hole in the batch numbers, or batches missing at the end (meta batch:last is further). */
  | 'batch_missing'
  /** A batch record that is not a valid record. */
  | 'batch_invalid'
  /** A batch at or below the anchor (retention drops those), or past meta batch:last. */
  | 'batch_unexpected'
  /** The retention anchor is malformed or its hmac does not match. */
  | 'anchor_invalid';

export interface VerifyBreak {
  problem: BreakProblem;
  /** The batch concerned. */
  b?: number;
  /** Its commit time (ms). */
  ts?: number;
  kind?: Kind;
  /** The event concerned; its time is in the id (gateway/core/ids.ts idTime). */
  id?: string;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Macs were checked with a key; false: only digests (anyone able to write the store could recompute them). */
  keyed: boolean;
  /** Some batch carries a mac (the store is written with a key). */
  signed: boolean;
  /** Batch records walked (pruned ones included). */
  batches: number;
  pruned_batches: number;
  /** Rows read and checked against their digest. */
  rows: number;
  /** Listed rows absent because retention removed them (below the anchor's cutoff). */
  pruned_rows: number;
  anchor?: { b: number; ts: number; cutoffs: Partial<Record<Kind, string>> };
  /** The last batch: keep its mac somewhere else (a ticket, a SIEM) to detect a cut-off tail later. */
  head?: { b: number; ts: number; mac?: string };
  first_break?: VerifyBreak;
  /** The first MAX_BREAKS breaks, in batch order, extra rows last. */
  breaks: VerifyBreak[];
  break_count: number;
  /** Names of the extra checks run (see IntegrityCheck). */
  checks: string[];
}

export const MAX_BREAKS = 100;

/**
 * A further check `verify` runs after the chain, in the same read snapshot: DESIGN's SHA-256
 * of terminal recordings plugs in here once recordings exist (their events will carry the
 * file's hash, and the check compares the files on disk).
 */
export interface IntegrityCheck {
  name: string;
  run(ctx: { dbs: StoreDbs; txn: Transaction; report(b: VerifyBreak): void }): void;
}

/** lmdb-js writes flags into the options object it is given: every call gets a fresh one. */
type Txn = () => { transaction: Transaction };
type RawGet = (id: string, o: { transaction: Transaction }) => Buffer | undefined;

class BreakList {
  readonly list: VerifyBreak[] = [];
  count = 0;
  add(b: VerifyBreak): void {
    this.count++;
    if (this.list.length < MAX_BREAKS) this.list.push(b);
  }
}

/** Keys of an extra-row search pass held in memory at once. */
const EXTRA_SCAN_CHUNK = 500_000;

/**
 * Walks the chain inside one read transaction (a consistent snapshot: a live writer does not
 * disturb it) and reports every break. After a bad batch the walk continues from that batch's
 * own stored mac, so one edit is reported once and later batches are still checked.
 */
export function verifyLayout(dbs: StoreDbs, opts: { key?: Buffer | undefined; checks?: readonly IntegrityCheck[] } = {}): VerifyReport {
  const key = opts.key;
  const breaks = new BreakList();
  const report: VerifyReport = { ok: false, keyed: key !== undefined, signed: false, batches: 0, pruned_batches: 0, rows: 0, pruned_rows: 0, breaks: breaks.list, break_count: 0, checks: [] };
  const txn = dbs.root.useReadTransaction();
  const t: Txn = () => ({ transaction: txn });
  try {
    let expect = 1;
    let prevMac: Buffer | undefined = ZERO_MAC;
    let cutoffs: Partial<Record<Kind, string>> = {};
    const rawAnchor = dbs.meta.get(ANCHOR_KEY, t());
    if (rawAnchor !== undefined) {
      const a = parseAnchor(rawAnchor);
      if (typeof a === 'string') {
        breaks.add({ problem: 'anchor_invalid', detail: `meta ${ANCHOR_KEY}: ${a}` });
        prevMac = undefined;
      } else {
        report.anchor = { b: a.b, ts: a.ts, cutoffs: a.cutoffs };
        expect = a.b + 1;
        cutoffs = a.cutoffs;
        prevMac = a.mac ?? ZERO_MAC;
        if (key && (!a.hmac || !a.hmac.equals(anchorHmac(key, a)))) {
          breaks.add({ problem: 'anchor_invalid', b: a.b, ts: a.ts, detail: a.hmac ? 'the anchor hmac does not match (anchor edited, or another key)' : 'the anchor is not signed' });
          // Its cutoffs cannot be trusted: every listed row must then be present.
          cutoffs = {};
          prevMac = undefined;
        }
      }
    }
    const present = new Map<Kind, number>();
    let last: ChainBatch | undefined;
    if (dbs.batches) {
      for (const { key: b, value } of dbs.batches.getRange(t())) {
        if (typeof b !== 'number' || b < expect) {
          breaks.add({ problem: 'batch_unexpected', b: Number(b), detail: `batch ${String(b)} is at or below the retention anchor (batch ${expect - 1}), which no longer holds it` });
          continue;
        }
        if (b > expect) {
          breaks.add({ problem: 'batch_missing', b: expect, detail: b === expect + 1 ? `batch ${expect} is missing` : `batches ${expect}..${b - 1} are missing` });
          prevMac = undefined;
        }
        expect = b + 1;
        report.batches++;
        const rec = parseBatch(b, value);
        if (typeof rec === 'string') {
          breaks.add({ problem: 'batch_invalid', b, detail: `batch ${b}: ${rec}` });
          prevMac = undefined;
          continue;
        }
        last = rec;
        if (rec.mac) report.signed = true;
        let dsha: Buffer;
        if (rec.pruned) {
          report.pruned_batches++;
          dsha = rec.pruned.dsha;
          if (key && (!rec.pruned.hmac || !rec.pruned.hmac.equals(prunedHmac(key, b, rec.ts, rec.pruned, rec.mac)))) {
            breaks.add({ problem: 'batch_mac', b, ts: rec.ts, detail: `batch ${b} is marked pruned by retention but its hmac does not match: its rows may have been removed by someone else` });
          }
        } else {
          dsha = sha256(rec.digests);
          checkRows(dbs, t, rec, cutoffs, present, report, breaks);
        }
        if (key) {
          if (!rec.mac) breaks.add({ problem: 'batch_mac', b, ts: rec.ts, detail: `batch ${b} has no mac (written without audit.key_file, or its mac was removed)` });
          else if (prevMac && !rec.mac.equals(batchMacOfHash(key, prevMac, b, rec.ts, dsha))) {
            breaks.add({ problem: 'batch_mac', b, ts: rec.ts, detail: `batch ${b}: the mac does not match (the batch record was changed, a batch before it was replaced, or the key differs)` });
          }
        }
        prevMac = rec.mac;
      }
    }
    const batchLast = dbs.meta.get('batch:last', t());
    const lastB = expect - 1;
    if (typeof batchLast === 'number' && batchLast > lastB) {
      breaks.add({ problem: 'batch_missing', b: lastB + 1, detail: `batches ${lastB + 1}..${batchLast} are missing (meta batch:last is ${batchLast}): the end of the chain was cut off` });
    } else if (typeof batchLast === 'number' && batchLast < lastB) {
      breaks.add({ problem: 'batch_unexpected', b: batchLast + 1, detail: `batches after meta batch:last (${batchLast}) exist, up to ${lastB}` });
    }
    if (last) report.head = { b: last.b, ts: last.ts, ...(last.mac ? { mac: last.mac.toString('hex') } : {}) };
    findExtraRows(dbs, t, present, breaks);
    for (const c of opts.checks ?? []) {
      report.checks.push(c.name);
      c.run({ dbs, txn, report: (x) => breaks.add(x) });
    }
  } finally {
    txn.done();
  }
  report.break_count = breaks.count;
  report.ok = breaks.count === 0;
  if (breaks.list.length) report.first_break = breaks.list[0];
  return report;
}

function checkRows(dbs: StoreDbs, t: Txn, rec: ChainBatch, cutoffs: Partial<Record<Kind, string>>, present: Map<Kind, number>, report: VerifyReport, breaks: BreakList): void {
  for (let i = 0; i < rec.rows.length; i++) {
    const [kind, id] = rec.rows[i]!;
    const db = dbs.rows[kind];
    const raw = db ? (db.getBinary as unknown as RawGet).call(db, id, t()) : undefined;
    if (raw === undefined) {
      const cut = cutoffs[kind];
      if (cut !== undefined && id < cut) report.pruned_rows++;
      else breaks.add({ problem: 'row_missing', b: rec.b, ts: rec.ts, kind, id, detail: `${kind} row ${id} listed by batch ${rec.b} is missing` });
      continue;
    }
    present.set(kind, (present.get(kind) ?? 0) + 1);
    report.rows++;
    const want = rec.digests.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
    if (!rowDigest(kind, id, raw).equals(want)) breaks.add({ problem: 'row_changed', b: rec.b, ts: rec.ts, kind, id, detail: `${kind} row ${id} differs from what batch ${rec.b} recorded` });
  }
}

/**
 * Rows no batch lists. Counting first (rows present vs rows listed and present, per kind) costs
 * one key count; only when they differ are the culprits looked for, in chunks of keys so that
 * memory stays bounded at any store size.
 */
function findExtraRows(dbs: StoreDbs, t: Txn, present: Map<Kind, number>, breaks: BreakList): void {
  for (const kind of KINDS) {
    const db = dbs.rows[kind];
    if (!db) continue;
    const stored = db.getKeysCount(t());
    let extra = stored - (present.get(kind) ?? 0);
    if (extra <= 0) continue;
    let start: string | undefined;
    while (extra > 0) {
      const chunk: string[] = [];
      for (const k of db.getKeys({ ...t(), ...(start !== undefined ? { start, exclusiveStart: true } : {}), limit: EXTRA_SCAN_CHUNK })) chunk.push(String(k));
      if (!chunk.length) break;
      const lo = chunk[0]!;
      const hi = chunk[chunk.length - 1]!;
      const listed = new Set<string>();
      for (const { value } of dbs.batches?.getRange(t()) ?? []) {
        const rows = (value as { rows?: unknown }).rows;
        if (!Array.isArray(rows)) continue;
        for (const r of rows as [unknown, unknown][]) {
          if (r?.[0] === kind && typeof r[1] === 'string' && r[1] >= lo && r[1] <= hi) listed.add(r[1]);
        }
      }
      for (const id of chunk) {
        if (listed.has(id)) continue;
        breaks.add({ problem: 'extra_row', kind, id, detail: `${kind} row ${id} is listed by no batch (inserted outside the recorder)` });
        if (--extra <= 0) break;
      }
      start = hi;
    }
  }
}

/** Opens the store at `storeDir` read-only (next to a running gateway) and verifies it. */
export async function verifyStore(opts: { storeDir: string; key?: Buffer | undefined; logger: Logger; checks?: readonly IntegrityCheck[] }): Promise<VerifyReport> {
  const envPath = join(opts.storeDir, ENV_FILE);
  if (!existsSync(envPath)) throw new SgError('SG_ERR_STORE_OPEN', `no store at ${opts.storeDir}`);
  let root: RootDatabase<unknown, string>;
  try {
    root = open<unknown, string>(rootOptions(envPath, true, undefined) as Parameters<typeof open>[0] & { path: string });
  } catch (e) {
    throw new SgError('SG_ERR_STORE_OPEN', `cannot open the store at ${opts.storeDir}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const dbs = openLayout(root);
    const version = dbs.meta?.get('schema_version');
    if (typeof version !== 'number') throw new SgError('SG_ERR_STORE_OPEN', `${opts.storeDir} is not an initialised Sessiongate store`);
    if (version < 2) throw new SgError('SG_ERR_STORE_OPEN', `store ${opts.storeDir} has schema version ${version}: it has no integrity chain until the gateway has started once and migrated it`, { details: { found: version } });
    const started = Date.now();
    const report = verifyLayout(dbs, { key: opts.key, ...(opts.checks ? { checks: opts.checks } : {}) });
    opts.logger.info({ ok: report.ok, batches: report.batches, rows: report.rows, breaks: report.break_count, keyed: report.keyed, ms: Date.now() - started }, 'store verified');
    return report;
  } finally {
    await root.close();
  }
}
