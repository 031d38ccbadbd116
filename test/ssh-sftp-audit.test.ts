// SftpAudit: real OpenSSH traffic (sftp client <-> sftp-server through a logging tee), the same
// traffic in random chunkings, hand-built packets for each operation, and hostile streams.
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SFTP_AUDIT_DEFAULTS, SftpAudit, transferFields, type SftpAuditOptions, type SftpOperation } from '../gateway/ssh/sftp-audit.js';
import { FX, FXP } from '../gateway/ssh/sftp/protocol.js';
import { packet, pk, readTeeLog, rechunk, runs, type Record } from './fixtures/sftp-packets.js';
import { interopRequired, requireTool } from './helpers/interop.js';

const here = dirname(fileURLToPath(import.meta.url));
const TEE = join(here, 'fixtures', 'sftp-tee.mjs');
const NOBODY = 65534;

function counterClock() {
  let now = 1_000_000;
  return { now: () => ++now };
}

function harness(opts: Partial<SftpAuditOptions> = {}) {
  const ops: SftpOperation[] = [];
  const errors: string[] = [];
  const audit = new SftpAudit({ clock: counterClock(), onOperation: (op) => ops.push(op), onError: (e) => errors.push(e), ...opts });
  return { audit, ops, errors };
}

/** A harness past the INIT/VERSION handshake, with c()/s() feeding either side. */
function session(opts: Partial<SftpAuditOptions> = {}) {
  const h = harness(opts);
  const c = (...bufs: Buffer[]) => bufs.forEach((b) => h.audit.fromClient(b));
  const s = (...bufs: Buffer[]) => bufs.forEach((b) => h.audit.fromServer(b));
  c(pk.init());
  s(pk.version());
  return { ...h, c, s };
}

function replay(records: Iterable<Record>, onChunk?: (a: SftpAudit) => void) {
  const h = harness();
  for (const r of records) {
    if (r.dir === 'C') h.audit.fromClient(r.data);
    else h.audit.fromServer(r.data);
    onChunk?.(h.audit);
  }
  return h;
}

type Shape = Pick<SftpOperation, 'direction' | 'path' | 'to_path' | 'bytes' | 'result'>;

/** What a batch did, without timings. */
const shape = (ops: SftpOperation[]): Shape[] =>
  ops.map((o) => ({ direction: o.direction, path: o.path, ...(o.to_path ? { to_path: o.to_path } : {}), bytes: o.bytes, result: o.result }));

// ---------- real OpenSSH traffic ----------

const SERVER_PATHS = ['/usr/lib/openssh/sftp-server', '/usr/libexec/openssh/sftp-server', '/usr/libexec/sftp-server', '/usr/lib/ssh/sftp-server'];

/** requireTool's semantics for a binary that lives outside PATH. */
function requireSftpServer(tt: Test): string | undefined {
  const p = SERVER_PATHS.find((x) => existsSync(x));
  if (p) return p;
  const msg = 'sftp-server is not installed (apt-get install openssh-server or openssh-sftp-server)';
  if (interopRequired) tt.fail(`SESSIONGATE_REQUIRE_INTEROP=1 and ${msg}`);
  else {
    tt.comment(`SKIP: ${msg}`);
    tt.pass(`skipped: ${msg}`);
  }
  return undefined;
}

interface RealRun {
  records: Record[];
  expected: Shape[];
  remote: string;
  listEntries: number;
}

const FIVE_MB = 5 * 1024 * 1024;

/** A regular, world-readable file whose read fails (EINVAL on loopback): opens fine, then the READ fails. */
function unreadableFile(): string | undefined {
  const p = '/sys/class/net/lo/speed';
  try {
    readFileSync(p);
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EINVAL' ? p : undefined;
  }
}

async function runBatch(tt: Test): Promise<RealRun | undefined> {
  const sftp = requireTool(tt, 'sftp');
  const server = requireSftpServer(tt);
  if (!sftp || !server) return undefined;
  const base = mkdtempSync(join(tmpdir(), 'sg-sftp-'));
  tt.teardown(() => rmSync(base, { recursive: true, force: true }));
  const asRoot = process.getuid?.() === 0;
  const local = join(base, 'local');
  const remote = join(base, 'remote');
  const ro = join(remote, 'ro');
  mkdirSync(local);
  mkdirSync(remote);
  mkdirSync(ro);
  // Root ignores file modes: the server runs as nobody so the read-only directory really refuses.
  if (asRoot) {
    chmodSync(base, 0o755);
    chownSync(remote, NOBODY, NOBODY);
    chownSync(ro, NOBODY, NOBODY);
  }
  chmodSync(ro, 0o555);
  const src = join(local, 'src.bin');
  const content = randomBytes(FIVE_MB);
  writeFileSync(src, content);
  const batch = join(base, 'batch');
  const unreadable = unreadableFile();
  if (!unreadable) tt.comment('no world-readable file whose read fails here: the failed-download case is left out');
  writeFileSync(
    batch,
    [
      `put ${src} ${remote}/up.bin`,
      `get ${remote}/up.bin ${local}/down.bin`,
      `rename ${remote}/up.bin ${remote}/moved.bin`,
      `mkdir ${remote}/newdir`,
      `ls ${remote}`,
      `rmdir ${remote}/newdir`,
      `rm ${remote}/moved.bin`,
      `-put ${src} ${ro}/denied.bin`,
      `-get ${remote}/missing.bin ${local}/missing.bin`,
      ...(unreadable ? [`-get ${unreadable} ${local}/unreadable.bin`] : []),
      `-rmdir ${remote}/nope`,
      '',
    ].join('\n'),
  );
  const log = join(base, 'tee.log');
  const cmd = `${process.execPath} ${TEE} ${log} ${asRoot ? NOBODY : '-'} ${server}`;
  const res = await promisify(execFile)(sftp, ['-b', batch, '-D', cmd], { cwd: base, timeout: 60_000 });
  tt.comment(res.stdout.trim().split('\n').filter((l) => l.startsWith('sftp>')).join(' | '));
  tt.ok(readFileSync(join(local, 'down.bin')).equals(content), 'downloaded file equals the uploaded one byte for byte');
  tt.notOk(existsSync(join(ro, 'denied.bin')), 'the read-only directory refused the put');
  return {
    records: readTeeLog(readFileSync(log)),
    remote,
    listEntries: 5, // ".", "..", moved.bin, newdir, ro
    expected: [
      { direction: 'upload', path: `${remote}/up.bin`, bytes: FIVE_MB, result: 'ok' },
      { direction: 'download', path: `${remote}/up.bin`, bytes: FIVE_MB, result: 'ok' },
      { direction: 'rename', path: `${remote}/up.bin`, to_path: `${remote}/moved.bin`, bytes: 0, result: 'ok' },
      { direction: 'mkdir', path: `${remote}/newdir`, bytes: 0, result: 'ok' },
      { direction: 'list', path: `${remote}/`, bytes: 0, result: 'ok' },
      { direction: 'rmdir', path: `${remote}/newdir`, bytes: 0, result: 'ok' },
      { direction: 'remove', path: `${remote}/moved.bin`, bytes: 0, result: 'ok' },
      { direction: 'upload', path: `${ro}/denied.bin`, bytes: 0, result: 'denied' },
      // The get of a missing file never reaches OPEN: OpenSSH's client stats it first and stops.
      ...(unreadable ? [{ direction: 'download' as const, path: unreadable, bytes: 0, result: 'failed' as const }] : []),
      { direction: 'rmdir', path: `${remote}/nope`, bytes: 0, result: 'failed' },
    ],
  };
}

let real: RealRun | undefined;

t.test('real OpenSSH sftp batch through a tee: every operation reported, byte counts exact', async (tt) => {
  real = await runBatch(tt);
  if (!real) return;
  const { audit, ops, errors } = replay(real.records);
  tt.same(errors, [], 'no protocol error');
  tt.equal(audit.version, 3, 'handshake read: version 3');
  tt.same(shape(ops), real.expected, 'operations match what the batch did');
  const list = ops.find((o) => o.direction === 'list');
  tt.equal(list?.detail, `${real.listEntries} entries`, 'listing counts its entries');
  tt.match(ops.find((o) => o.result === 'denied')?.detail ?? '', /denied/i, 'denied carries the server text');
  for (const op of ops) tt.ok(op.duration_ms >= 0 && op.started_at > 0, `${op.direction} ${op.path} has timings`);
  tt.same({ pending: audit.stats().pending, openHandles: audit.stats().openHandles }, { pending: 0, openHandles: 0 }, 'nothing left open');
  const before = ops.length;
  audit.close('client_exit');
  tt.equal(ops.length, before, 'close after a clean end reports nothing more');
});

t.test('the same traffic in random chunkings gives identical operations', async (tt) => {
  if (!real) {
    tt.pass('skipped: no recorded traffic (see the test above)');
    return;
  }
  const baseline = replay(real.records).ops;
  const joined = runs(real.records);
  const chunkSizes = (max: number) => fc.array(fc.integer({ min: 1, max }), { minLength: 1, maxLength: 12 });
  const check = (sizes: number[]) => {
    let peak = 0;
    const { ops, errors } = replay(rechunk(joined, sizes), (a) => {
      const b = a.stats().buffered;
      peak = Math.max(peak, b.client, b.server);
    });
    return errors.length === 0 && peak <= SFTP_AUDIT_DEFAULTS.maxPacket && JSON.stringify(ops) === JSON.stringify(baseline);
  };
  fc.assert(fc.property(chunkSizes(300_000), check), { numRuns: 25 });
  fc.assert(fc.property(chunkSizes(9), check), { numRuns: 3 });
  tt.pass('identical operations across chunkings');
  tt.ok(check([1]), 'one byte at a time');
});

// ---------- each operation, hand-built ----------

t.test('upload, download and listing with out-of-order replies', async (tt) => {
  const { c, s, ops, audit } = session();
  c(pk.open(1, '/up', 0x1a), pk.open(2, '/down', 0x01), pk.opendir(3, '/dir'));
  s(pk.handle(3, 'D'), pk.handle(2, 'R'), pk.handle(1, 'W'));
  c(pk.write(4, 'W', 0, Buffer.alloc(1000)), pk.read(5, 'R', 0, 4096), pk.write(6, 'W', 1000, Buffer.alloc(24)), pk.readdir(7, 'D'), pk.readdir(8, 'D'));
  s(pk.name(8, 2), pk.data(5, Buffer.alloc(700)), pk.status(6, FX.OK), pk.status(4, FX.OK), pk.name(7, 3));
  c(pk.read(9, 'R', 700, 4096), pk.readdir(10, 'D'));
  s(pk.status(10, FX.EOF), pk.status(9, FX.EOF));
  c(pk.close(11, 'W'), pk.close(12, 'R'), pk.close(13, 'D'));
  s(pk.status(13, FX.OK), pk.status(11, FX.OK), pk.status(12, FX.OK));
  tt.same(shape(ops), [
    { direction: 'list', path: '/dir', bytes: 0, result: 'ok' },
    { direction: 'upload', path: '/up', bytes: 1024, result: 'ok' },
    { direction: 'download', path: '/down', bytes: 700, result: 'ok' },
  ]);
  tt.equal(ops[0]!.detail, '5 entries');
  tt.same(audit.stats().pending, 0);
  tt.same(audit.stats().openHandles, 0);
  tt.same(Object.keys(transferFields(ops[1]!)).sort(), ['bytes', 'direction', 'duration_ms', 'path', 'result'], 'transferFields drops started_at');
});

t.test('opened and closed without data keeps the intent; failures and denials', async (tt) => {
  const { c, s, ops } = session();
  c(pk.open(1, '/empty-w', 0x1a), pk.open(2, '/empty-r', 0x01), pk.open(3, '/nope', 0x01), pk.open(4, '/ro/x', 0x1a));
  s(pk.handle(1, 'a'), pk.handle(2, 'b'), pk.status(3, FX.NO_SUCH_FILE, 'No such file'), pk.status(4, FX.PERMISSION_DENIED, 'Permission denied'));
  c(pk.close(5, 'a'), pk.close(6, 'b'));
  s(pk.status(5, FX.OK), pk.status(6, FX.OK));
  // A write the server refuses spoils the upload even though it closes fine.
  c(pk.open(7, '/full', 0x1a));
  s(pk.handle(7, 'c'));
  c(pk.write(8, 'c', 0, Buffer.alloc(10)));
  s(pk.status(8, FX.FAILURE, 'No space left'));
  c(pk.close(9, 'c'));
  s(pk.status(9, FX.OK));
  tt.same(shape(ops), [
    { direction: 'download', path: '/nope', bytes: 0, result: 'failed' },
    { direction: 'upload', path: '/ro/x', bytes: 0, result: 'denied' },
    { direction: 'upload', path: '/empty-w', bytes: 0, result: 'ok' },
    { direction: 'download', path: '/empty-r', bytes: 0, result: 'ok' },
    { direction: 'upload', path: '/full', bytes: 10, result: 'failed' },
  ]);
  tt.equal(ops[1]!.detail, 'Permission denied');
  tt.equal(ops[4]!.detail, 'No space left');
});

t.test('remove, rename, posix-rename, mkdir, rmdir; handle reuse after close', async (tt) => {
  const { c, s, ops } = session();
  c(pk.remove(1, '/a'), pk.rename(2, '/b', '/c'), pk.posixRename(3, '/d', '/e'), pk.mkdir(4, '/m'), pk.rmdir(5, '/m'), pk.rmdir(6, '/x'));
  s(pk.status(6, FX.NO_SUCH_FILE, 'No such file'), pk.status(5, FX.OK), pk.status(4, FX.OK), pk.status(3, FX.OK), pk.status(2, FX.PERMISSION_DENIED), pk.status(1, FX.OK));
  // OpenSSH hands out the same handle again once one is closed.
  c(pk.open(7, '/f1', 0x1a));
  s(pk.handle(7, 'h'));
  c(pk.write(8, 'h', 0, Buffer.alloc(5)), pk.close(9, 'h'), pk.open(10, '/f2', 0x01));
  s(pk.status(8, FX.OK), pk.handle(10, 'h'), pk.status(9, FX.OK));
  c(pk.read(11, 'h', 0, 100));
  s(pk.data(11, Buffer.alloc(3)));
  c(pk.close(12, 'h'));
  s(pk.status(12, FX.OK));
  tt.same(shape(ops), [
    { direction: 'rmdir', path: '/x', bytes: 0, result: 'failed' },
    { direction: 'rmdir', path: '/m', bytes: 0, result: 'ok' },
    { direction: 'mkdir', path: '/m', bytes: 0, result: 'ok' },
    { direction: 'rename', path: '/d', to_path: '/e', bytes: 0, result: 'ok' },
    { direction: 'rename', path: '/b', to_path: '/c', bytes: 0, result: 'denied' },
    { direction: 'remove', path: '/a', bytes: 0, result: 'ok' },
    { direction: 'upload', path: '/f1', bytes: 5, result: 'ok' },
    { direction: 'download', path: '/f2', bytes: 3, result: 'ok' },
  ]);
});

t.test('paths: invalid UTF-8 shown with replacement characters; over PATH_MAX cut', async (tt) => {
  const { c, s, ops } = session();
  c(pk.remove(1, Buffer.from([0x2f, 0xff, 0x61])), pk.remove(2, 'é/ü'), pk.remove(3, `/${'x'.repeat(5000)}`));
  s(pk.status(1, FX.OK), pk.status(2, FX.OK), pk.status(3, FX.OK));
  tt.equal(ops[0]!.path, '/\ufffda');
  tt.equal(ops[1]!.path, 'é/ü');
  tt.equal(ops[2]!.path.length, 4097, 'cut at 4096 bytes plus an ellipsis');
});

t.test('close() mid-transfer reports the open file as aborted with the bytes so far', async (tt) => {
  const { c, s, ops, audit } = session();
  c(pk.open(1, '/big', 0x1a), pk.open(2, '/pending', 0x01), pk.mkdir(3, '/unanswered'));
  s(pk.handle(1, 'w'));
  c(pk.write(4, 'w', 0, Buffer.alloc(1000)), pk.write(5, 'w', 1000, Buffer.alloc(500)));
  // The next WRITE is cut half-way: only the data that went by counts.
  const cut = pk.write(6, 'w', 1500, Buffer.alloc(4000));
  const headerLen = cut.length - 4000;
  c(cut.subarray(0, 2000));
  s(pk.status(4, FX.OK));
  audit.close('client_exit');
  audit.close('again');
  tt.same(shape(ops), [
    { direction: 'download', path: '/pending', bytes: 0, result: 'aborted' },
    { direction: 'mkdir', path: '/unanswered', bytes: 0, result: 'aborted' },
    { direction: 'upload', path: '/big', bytes: 1500 + 2000 - headerLen, result: 'aborted' },
  ]);
  tt.ok(ops.every((o) => o.detail === 'client_exit'), 'detail carries the close reason');
  tt.same(audit.stats(), { buffered: { client: 0, server: 0 }, pending: 0, openHandles: 0, unmatched: 0 });
  audit.fromClient(pk.open(9, '/late', 1));
  tt.equal(ops.length, 3, 'nothing is read after close');
});

t.test('a download cut inside a DATA reply counts the data that went by', async (tt) => {
  const { c, s, ops, audit } = session();
  c(pk.open(1, '/dl', 0x01));
  s(pk.handle(1, 'r'));
  c(pk.read(2, 'r', 0, 4096), pk.read(3, 'r', 4096, 4096));
  s(pk.data(2, Buffer.alloc(4096)));
  const d = pk.data(3, Buffer.alloc(4096));
  s(d.subarray(0, d.length - 4096 + 100));
  audit.close('upstream_exit');
  tt.same(shape(ops), [{ direction: 'download', path: '/dl', bytes: 4196, result: 'aborted' }]);
});

t.test('real traffic cut anywhere: never throws, never over-counts, the cut transfer is aborted', async (tt) => {
  if (!real) {
    tt.pass('skipped: no recorded traffic');
    return;
  }
  const joined = runs(real.records);
  const total = joined.reduce((n, r) => n + r.data.length, 0);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: total }), (cutAt) => {
      const h = harness();
      let left = cutAt;
      for (const r of joined) {
        if (left <= 0) break;
        const part = r.data.subarray(0, left);
        left -= part.length;
        if (r.dir === 'C') h.audit.fromClient(part);
        else h.audit.fromServer(part);
      }
      h.audit.close('cut');
      const aborted = h.ops.filter((o) => o.result === 'aborted');
      return h.errors.length === 0 && h.ops.every((o) => o.bytes <= FIVE_MB) && aborted.length <= 2 && aborted.every((o) => o.detail === 'cut');
    }),
    { numRuns: 100 },
  );
  tt.pass('cut streams close cleanly');
});

t.test('data is counted, not copied: a WRITE fed in tiny chunks keeps the buffer at its header size', async (tt) => {
  const { c, s, ops, audit } = session();
  c(pk.open(1, '/f', 0x1a));
  s(pk.handle(1, 'h'));
  const w = pk.write(2, 'h', 0, randomBytes(200_000));
  let peak = 0;
  for (let off = 0; off < w.length; off += 7) {
    c(w.subarray(off, off + 7));
    peak = Math.max(peak, audit.stats().buffered.client);
  }
  tt.ok(peak <= 512, `buffer peak ${peak} bytes for a 200 KB write`);
  c(pk.close(3, 'h'));
  s(pk.status(3, FX.OK));
  tt.equal(ops[0]!.bytes, 200_000);
});

// ---------- hostile streams ----------

function header(len: number, type: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(len >>> 0);
  b[4] = type;
  return b;
}

t.test('malformed packets: one error, that direction stops, nothing throws', async (tt) => {
  const cases: [string, (h: ReturnType<typeof session>) => void, RegExp][] = [
    ['huge length', (h) => h.c(header(0xffffffff, FXP.OPEN)), /packet length 4294967295 over/],
    ['one past maxPacket', (h) => h.c(header(SFTP_AUDIT_DEFAULTS.maxPacket + 1, FXP.WRITE)), /over/],
    ['zero length', (h) => h.c(Buffer.from([0, 0, 0, 0, 3])), /packet length 0/],
    ['request without an id', (h) => h.c(Buffer.from([0, 0, 0, 3, FXP.REMOVE, 0, 0])), /truncated/],
    ['string length beyond packet', (h) => h.c(packet(FXP.OPEN, 1, { raw: Buffer.from([0, 0, 0x10, 0, 0x2f]) })), /filename length 4096 beyond packet/],
    ['write data length beyond packet', (h) => h.c(packet(FXP.WRITE, 1, 'h', { u64: 0 }, { raw: Buffer.from([0, 1, 0, 0, 1, 2]) })), /write data length 65536 beyond packet/],
    ['write handle too long', (h) => h.c(packet(FXP.WRITE, 1, 'h'.repeat(300), { u64: 0 }, 'x')), /handle length 300/],
    ['data length beyond packet', (h) => {
      h.c(pk.open(1, '/f', 1));
      h.s(pk.handle(1, 'h'));
      h.c(pk.read(2, 'h', 0, 10));
      h.s(packet(FXP.DATA, 2, { raw: Buffer.from([0, 0, 1, 0, 9]) }));
    }, /server: data length 256 beyond packet/],
    ['name count beyond packet', (h) => {
      h.c(pk.opendir(1, '/d'));
      h.s(pk.handle(1, 'h'));
      h.c(pk.readdir(2, 'h'));
      h.s(packet(FXP.NAME, 2, 1000));
    }, /name count 1000/],
    ['status without a code', (h) => h.s(packet(FXP.STATUS, 7)), /truncated status code/],
  ];
  for (const [name, feed, re] of cases) {
    const h = session();
    tt.doesNotThrow(() => feed(h), `${name}: no throw`);
    tt.equal(h.errors.length, 1, `${name}: reported once`);
    tt.match(h.audit.protocolError ?? '', re, `${name}: ${h.audit.protocolError}`);
    const side = /^server/.test(h.audit.protocolError ?? '') ? 's' : 'c';
    h[side](randomBytes(5000), pk.remove(50, '/after'));
    tt.equal(h.errors.length, 1, `${name}: still one report after more bytes`);
    const b = h.audit.stats().buffered;
    tt.equal(b.client + b.server <= SFTP_AUDIT_DEFAULTS.maxPacket, true, `${name}: buffers bounded`);
  }
});

t.test('handshake: INIT and VERSION first, version 3 only', async (tt) => {
  const a = harness();
  a.audit.fromClient(pk.open(1, '/x', 1));
  tt.match(a.audit.protocolError, /client: expected INIT, got packet type 3/);
  const b = harness();
  b.audit.fromClient(pk.init(6));
  b.audit.fromServer(pk.version(6));
  tt.match(b.audit.protocolError, /^unsupported SFTP version 6/);
  b.audit.fromClient(pk.remove(1, '/x'));
  tt.equal(b.audit.stats().pending, 0, 'neither side is read after an unknown version');
  const c = harness();
  c.audit.fromServer(pk.status(1, 0));
  tt.match(c.audit.protocolError, /server: expected VERSION/);
});

t.test('a truncated packet then close: bounded, no operation invented', async (tt) => {
  const { c, ops, audit, errors } = session();
  const big = packet(FXP.OPEN, 1, 'p'.repeat(200_000), 1, 0);
  c(big.subarray(0, 150_000));
  tt.ok(audit.stats().buffered.client <= SFTP_AUDIT_DEFAULTS.maxPacket, 'holds at most one packet');
  audit.close('client_exit');
  tt.same(ops, []);
  tt.same(errors, []);
  tt.equal(audit.stats().buffered.client, 0, 'released on close');
});

t.test('replies for unknown ids are ignored and counted', async (tt) => {
  const { s, ops, audit, errors } = session();
  s(pk.data(999, Buffer.alloc(100)), pk.status(1000, FX.OK), pk.handle(1001, 'h'), pk.name(1002, 1));
  tt.same(ops, []);
  tt.same(errors, []);
  tt.equal(audit.stats().unmatched, 4);
  tt.equal(audit.stats().openHandles, 0);
});

t.test('a flood of OPENs or unanswered requests is bounded and reported', async (tt) => {
  const a = session({ maxOpenHandles: 8 });
  for (let id = 1; id <= 8; id++) a.c(pk.open(id, `/f${id}`, 1));
  for (let id = 1; id <= 5; id++) a.s(pk.handle(id, `h${id}`));
  tt.same(a.errors, []);
  a.c(pk.open(9, '/f9', 1));
  tt.match(a.audit.protocolError, /client: more than 8 open handles/);
  for (let id = 10; id <= 100; id++) a.c(pk.open(id, `/f${id}`, 1));
  tt.equal(a.audit.stats().openHandles, 8, 'never more than the limit tracked');
  a.s(pk.handle(6, 'h6'));
  tt.equal(a.audit.stats().openHandles, 8, 'the server side still settles what was tracked');

  const b = session({ maxPending: 16 });
  for (let id = 1; id <= 1000; id++) b.c(pk.remove(id, `/r${id}`));
  tt.match(b.audit.protocolError, /more than 16 requests awaiting a reply/);
  tt.equal(b.audit.stats().pending, 16);

  const d = session({ maxOpenHandles: 2 });
  d.c(pk.open(1, '/a', 1), pk.open(1, '/b', 1), pk.open(2, '/c', 1));
  tt.same(d.errors, [], 'an id reused before its reply replaces the request, it does not take a second slot');
  tt.equal(d.audit.stats().openHandles, 2);
});

t.test('random garbage on either side never throws and stays bounded', async (tt) => {
  fc.assert(
    fc.property(fc.boolean(), fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 3000 }), (handshake, cb, sb) => {
      const h = handshake ? session({ maxPacket: 2048 }) : { ...harness({ maxPacket: 2048 }) };
      h.audit.fromClient(Buffer.from(cb));
      h.audit.fromServer(Buffer.from(sb));
      h.audit.close('x');
      const st = h.audit.stats();
      return h.errors.length <= 1 && st.buffered.client === 0 && st.buffered.server === 0 && (h.errors.length === 0) === (h.audit.protocolError === undefined);
    }),
    { numRuns: 300 },
  );
  tt.pass('no throw, at most one error, buffers released');
});

t.test('options are validated; a throwing sink does not break reading', async (tt) => {
  const clock = counterClock();
  const ok = { clock, onOperation: () => {} };
  tt.throws(() => new SftpAudit(undefined as unknown as SftpAuditOptions), { code: 'SG_ERR_CONFIG_INVALID' });
  tt.throws(() => new SftpAudit({ ...ok, clock: {} as never }), { code: 'SG_ERR_CONFIG_INVALID' });
  tt.throws(() => new SftpAudit({ ...ok, onOperation: 1 as never }), { code: 'SG_ERR_CONFIG_INVALID' });
  tt.throws(() => new SftpAudit({ ...ok, maxPacket: 100 }), { code: 'SG_ERR_CONFIG_INVALID' });
  tt.throws(() => new SftpAudit({ ...ok, maxOpenHandles: 0 }), { code: 'SG_ERR_CONFIG_INVALID' });
  tt.throws(() => new SftpAudit({ ...ok, maxPending: 1.5 }), { code: 'SG_ERR_CONFIG_INVALID' });
  let calls = 0;
  const a = new SftpAudit({
    clock,
    onOperation: () => {
      calls++;
      throw new Error('sink broke');
    },
  });
  a.fromClient(Buffer.concat([pk.init(), pk.remove(1, '/a'), pk.remove(2, '/b')]));
  a.fromServer(Buffer.concat([pk.version(), pk.status(1, FX.OK), pk.status(2, FX.OK)]));
  tt.equal(calls, 2);
  tt.equal(a.protocolError, undefined);
});
