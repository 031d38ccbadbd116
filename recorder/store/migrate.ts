// Schema migrations, run by Store.open on a writable store older than the code (docs/store.md
// "Migrations"). Each step works in bounded transactions and records its progress in `meta`,
// so a crash midway resumes where it stopped.
// 1 -> 2: every existing row, in id order, gets batch records (chunks of 4096 rows, a digest per
// row over its stored bytes, the chained mac when a key is set); session.start rows get their
// sequential number (re-stored with `seq`); then the rows are indexed into segments.
import { asBinary } from 'lmdb';
import type { Logger } from '../../gateway/core/runtime.js';
import { KINDS, type Kind } from './kinds.js';
import { MAX_TERM, META, metaNumber, type BatchRecord, type SessionIndexEntry, type StoreDbs } from './layout.js';
import { DIGEST_BYTES, ZERO_MAC, batchMac, rowDigest } from './integrity.js';
import { closeOneSegment } from './segments.js';

export const MIGRATION_CHUNK = 4096;

export interface MigrateOptions {
  /** Schema version found on disk. */
  from: number;
  key: Buffer | undefined;
  now: () => number;
  logger: Logger;
  segmentRows: number;
}

type Encoder = { encode(v: unknown): Uint8Array; decode(b: Uint8Array): unknown };

/** Up to `n` rows after `after` (exclusive), across kinds, in id order. */
function nextRows(dbs: StoreDbs, after: string, n: number): [Kind, string][] {
  const out: [Kind, string][] = [];
  for (const kind of KINDS) {
    const db = dbs.rows[kind];
    if (!db) continue;
    let taken = 0;
    for (const key of db.getKeys({ start: after || undefined })) {
      if (key === after) continue;
      out.push([kind, key as string]);
      if (++taken >= n) break;
    }
  }
  out.sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return out.slice(0, n);
}

/** One chunk of 1 -> 2 inside a write transaction; returns the last id done ('' when finished). */
function batchChunk(dbs: StoreDbs, after: string, opts: MigrateOptions): string {
  const rows = nextRows(dbs, after, MIGRATION_CHUNK);
  if (!rows.length) return '';
  const b = metaNumber(dbs.meta, META.batchLast) + 1;
  let seq = metaNumber(dbs.meta, META.sessionSeq);
  const digests: Buffer[] = [];
  for (const [kind, id] of rows) {
    const db = dbs.rows[kind]!;
    let bin = db.getBinary(id) as Uint8Array;
    if (kind === 'sessions') {
      const enc = (db as unknown as { encoder: Encoder }).encoder;
      const v = enc.decode(bin) as Record<string, unknown>;
      if (v.type === 'session.start' && typeof v.seq !== 'number') {
        v.seq = ++seq;
        bin = enc.encode(v);
        db.putSync(id, asBinaryValue(bin));
      }
      const sid = v.session_id;
      if (typeof sid === 'string' && sid && sid.length <= MAX_TERM) {
        const cur = (dbs.sessionIndex!.get(sid) as SessionIndexEntry | undefined) ?? {};
        const add: SessionIndexEntry = v.type === 'session.start' ? (cur.s ? {} : { s: id, sb: b }) : cur.e ? {} : { e: id, eb: b };
        if (Object.keys(add).length) dbs.sessionIndex!.putSync(sid, { ...cur, ...add });
      }
    }
    digests.push(rowDigest(kind, id, bin));
  }
  const digestBuf = Buffer.concat(digests, rows.length * DIGEST_BYTES);
  const ts = opts.now();
  let mac: Buffer | undefined;
  if (opts.key) {
    const prev = b > 1 ? (dbs.batches!.get(b - 1) as BatchRecord | undefined)?.mac : undefined;
    mac = batchMac(opts.key, prev ? Buffer.from(prev) : ZERO_MAC, b, ts, digestBuf);
  }
  const rec: BatchRecord = { b, ts, rows, digests: digestBuf, ...(mac ? { mac } : {}) };
  dbs.batches!.putSync(b, rec);
  dbs.meta.putSync(META.batchLast, b);
  dbs.meta.putSync(META.sessionSeq, seq);
  const last = rows[rows.length - 1]![1];
  dbs.meta.putSync(META.migration, { step: 'batches', after: last });
  return last;
}

function asBinaryValue(bin: Uint8Array): unknown {
  return asBinary(bin);
}

/** Runs every step from `opts.from` to the current version. */
export function migrate(dbs: StoreDbs, opts: MigrateOptions): void {
  if (opts.from >= 2) return;
  const { root, meta } = dbs;
  const progress = meta.get(META.migration) as { step?: string; after?: string } | undefined;
  opts.logger.warn({ from: opts.from, to: 2, resumed: progress !== undefined }, 'store: migrating the schema (batch records and segment index for existing rows)');
  let step = progress?.step ?? 'batches';
  let after = progress?.after ?? '';
  let batches = 0;
  if (step === 'batches') {
    if (progress === undefined) root.transactionSync(() => meta.putSync(META.migration, { step: 'batches', after: '' }));
    for (;;) {
      const last = root.transactionSync(() => batchChunk(dbs, after, opts)) as string;
      if (!last) break;
      after = last;
      batches++;
    }
    step = 'segments';
    root.transactionSync(() => meta.putSync(META.migration, { step }));
  }
  let segments = 0;
  while (root.transactionSync(() => closeOneSegment(dbs, opts.segmentRows)) as number) segments++;
  root.transactionSync(() => {
    meta.putSync(META.version, 2);
    meta.removeSync(META.migration);
  });
  opts.logger.warn({ batches, segments }, 'store: schema migrated to version 2');
}
