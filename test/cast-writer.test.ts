// CastWriter: the asciicast it writes (header, lines, times, sizes), exact UTF-8 through any
// chunking, input only when asked, files and dirs private, size and SHA-256 from close() equal
// to the file, a disk that does not keep up (bounded, reported), live subscribers.
import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { readFile, stat, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CastWriter, type CastGap } from '../recorder/cast/index.js';
import { AppendFile } from '../recorder/cast/append-file.js';
import { SgError } from '../gateway/core/errors.js';
import { silentLogger } from './fixtures/recorder-helpers.js';
import { START_MS, callTimes, castDir, newWriter, readCast, waitFor } from './cast-helpers.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('header, layout, modes, and size + SHA-256 from close() equal the file', async (t) => {
  const dir = await castDir(t);
  const { w, clock } = newWriter(dir, { title: 'web01: ls', env: { TERM: 'xterm-256color', SHELL: '/bin/bash' }, keyframes: false });
  w.output(Buffer.from('hello\r\n'));
  clock.advance(1234.5678);
  w.output('\x1b[31mred\x1b[0m\r\n');
  w.marker('checkpoint');
  const rec = await w.close('client_exit');
  t.equal(rec.path, join('2026', '11', '22', `${w.sessionId}.cast`), 'path is YYYY/MM/DD/<session-id>.cast (UTC)');
  t.equal(rec.file, join(dir, rec.path));
  t.equal(rec.id, w.sessionId);
  const bytes = await readFile(rec.file);
  t.equal(rec.size, bytes.length, 'size = file size');
  t.equal(rec.sha256, sha(bytes), 'sha256 = re-hash of the file');
  t.equal((await stat(rec.file)).mode & 0o777, 0o600, 'the cast is 0600');
  for (const d of [dirname(rec.file), dirname(dirname(rec.file)), dirname(dirname(dirname(rec.file)))]) {
    t.equal((await stat(d)).mode & 0o777, 0o700, `${d} is 0700`);
  }
  t.equal((await stat(`${rec.file}.idx`)).mode & 0o777, 0o600, 'the index is 0600');
  const back = await readCast(rec.file);
  t.same(back.header, { version: 2, width: 80, height: 24, timestamp: START_MS / 1000, env: { TERM: 'xterm-256color', SHELL: '/bin/bash' }, title: 'web01: ls' });
  t.same(back.events, [
    [0, 'o', 'hello\r\n'],
    [1.234568, 'o', '\x1b[31mred\x1b[0m\r\n'],
    [1.234568, 'm', 'checkpoint'],
  ]);
  t.equal(rec.events, 3);
  t.equal(rec.duration_ms, 1235);
  t.ok(back.text.endsWith('\n'), 'the file ends with a newline');
});

t.test('random UTF-8 split at random byte positions comes out exactly (output and input)', async (t) => {
  const dir = await castDir(t);
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 300 }), fc.array(fc.nat(), { maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 60 }), async (text, cuts, typed) => {
      const { w, clock } = newWriter(dir, { recordInput: true, keyframes: false });
      const split = (s: string) => {
        const b = Buffer.from(s, 'utf8');
        const at = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
        const parts: Buffer[] = [];
        let prev = 0;
        for (const c of [...at, b.length]) {
          parts.push(b.subarray(prev, c));
          prev = c;
        }
        return parts;
      };
      const out = split(text);
      const inp = split(typed);
      for (let i = 0; i < Math.max(out.length, inp.length); i++) {
        if (out[i]) w.output(out[i]!);
        if (inp[i]) w.input(inp[i]!);
        clock.advance(0.37);
      }
      const rec = await w.close();
      const back = await readCast(rec.file);
      const joined = (code: string) => back.events.filter((e) => e[1] === code).map((e) => e[2]).join('');
      if (joined('o') !== text || joined('i') !== typed) return false;
      // No empty events: a chunk holding only part of a character waits for the rest.
      return back.events.every((e) => e[2].length > 0);
    }),
    { numRuns: 60 },
  );
});

t.test('a multi-byte character split across chunks comes out whole, in the later event', async (t) => {
  const dir = await castDir(t);
  const { w, clock } = newWriter(dir, { keyframes: false });
  const euro = Buffer.from('a€😀', 'utf8');
  w.output(euro.subarray(0, 2)); // 'a' + first byte of €
  clock.advance(10);
  w.output(euro.subarray(2, 5)); // rest of € + first byte of 😀
  clock.advance(10);
  w.output(euro.subarray(5)); // rest of 😀
  w.output(Buffer.from([0xe2, 0x82])); // a truncated character at close
  const back = await readCast((await w.close()).file);
  t.same(back.events, [
    [0, 'o', 'a'],
    [0.01, 'o', '€'],
    [0.02, 'o', '😀'],
    [0.02, 'o', '\ufffd'],
  ]);
});

t.test('a huge chunk becomes several bounded events, split between characters', async (t) => {
  const dir = await castDir(t);
  const { w } = newWriter(dir, { keyframes: false, maxBufferBytes: 512 * 1024 });
  const big = `${'x'.repeat(65_535)}😀${'y'.repeat(300_000)}`;
  w.output(Buffer.from(big));
  const rec = await w.close();
  const back = await readCast(rec.file);
  t.ok(back.events.length >= 4, `${back.events.length} events`);
  t.equal(back.events.map((e) => e[2]).join(''), big);
  t.equal(back.events[0]![2].length, 65_535, 'the emoji is not cut in half');
  t.equal(rec.lost_events, 0);
});

t.test('input is recorded only with recordInput', async (t) => {
  const dir = await castDir(t);
  const off = newWriter(dir, { keyframes: false });
  off.w.input(Buffer.from('secret\r'));
  off.w.output('$ ');
  const on = newWriter(dir, { keyframes: false, recordInput: true });
  on.w.input(Buffer.from('ls\r'));
  const a = await readCast((await off.w.close()).file);
  const b = await readCast((await on.w.close()).file);
  t.same(a.events, [[0, 'o', '$ ']], 'no i event when recordInput is off');
  t.notOk(a.text.includes('secret'), 'the typed text is nowhere in the file');
  t.same(b.events, [[0, 'i', 'ls\r']]);
});

t.test('terminal sizes are clamped: header and resize events; times never go back', async (t) => {
  const dir = await castDir(t);
  const { w, clock } = newWriter(dir, { width: 0, height: 99_999, keyframes: false });
  t.same([w.header.width, w.header.height], [1, 1000]);
  w.resize(0, 0);
  clock.advance(1);
  w.resize(100_000, 50);
  w.resize(100_000, 50); // same size: nothing
  w.resize(Number.NaN, 10); // garbage: ignored
  w.resize(80.9, -4);
  clock.advance(-5000); // the wall clock stepped back
  w.output('x');
  clock.advance(0.0004); // sub-µs steps round
  w.output('y');
  const back = await readCast((await w.close()).file);
  t.same(back.header.width, 1);
  t.same(back.header.height, 1000);
  t.same(
    back.events.map((e) => e.slice(1)),
    [
      ['r', '1x1'],
      ['r', '1000x50'],
      ['r', '80x1'],
      ['o', 'x'],
      ['o', 'y'],
    ],
  );
  const times = back.events.map((e) => e[0]);
  t.ok(
    times.every((x, i) => i === 0 || x >= times[i - 1]!),
    `times are monotonic: ${times.join(' ')}`,
  );
  t.ok(
    times.every((x) => Math.round(x * 1e6) / 1e6 === x),
    'times have at most µs precision',
  );
  for (const l of back.lines) t.doesNotThrow(() => JSON.parse(l), 'every line is JSON');
});

t.test('invalid options are refused with SG_ERR_CONFIG_INVALID', async (t) => {
  const dir = await castDir(t);
  for (const bad of [{ sessionId: '../etc/passwd' }, { sessionId: '.hidden' }, { flushIntervalMs: 0 }, { clock: {} as never }, { env: { PATH: '/bin' } as never }]) {
    t.throws(() => newWriter(dir, bad), { code: 'SG_ERR_CONFIG_INVALID' }, JSON.stringify(bad));
  }
});

t.test('a recording that cannot be created: ready() and close() reject, the loss is reported', async (t) => {
  const dir = await castDir(t);
  const gaps: CastGap[] = [];
  const first = newWriter(dir, { sessionId: 'dup', keyframes: false });
  await first.w.ready();
  await first.w.close();
  const { w } = newWriter(dir, { sessionId: 'dup', keyframes: false, onGap: (g) => gaps.push(g) });
  await t.rejects(w.ready(), { code: 'SG_ERR_RECORDING_WRITE' }, 'an existing recording is never overwritten');
  w.output('lost');
  const err = await w.close().catch((e: unknown) => e);
  t.ok(err instanceof SgError && err.code === 'SG_ERR_RECORDING_WRITE');
  t.equal(gaps.length, 1);
  t.match(gaps[0], { session_id: 'dup', reason: 'write_failed', lost_events: 1 });
});

t.test('a disk that does not keep up: output() stays fast, memory is bounded, the loss is reported and marked', async (t) => {
  const dir = await castDir(t);
  let fired = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const gaps: CastGap[] = [];
  const { w, clock } = newWriter(dir, {
    keyframes: false,
    maxBufferBytes: 64 * 1024,
    flushBytes: 4096,
    onGap: (g) => gaps.push(g),
    faults: {
      beforeWrite: async () => {
        fired++;
        await gate;
      },
    },
  });
  await w.ready();
  const chunk = Buffer.alloc(4000, 'x');
  w.output(chunk);
  await waitFor(() => fired > 0, 5000, 'the injected write stall');
  t.equal(fired, 1, 'the fault fired: the first write is stuck');
  const calls = callTimes();
  for (let i = 0; i < 2500; i++) {
    calls.time(() => w.output(chunk));
    clock.advance(1);
  }
  const st = w.stats();
  t.ok(st.bytes_buffered <= 64 * 1024, `buffered ${st.bytes_buffered} <= 64 KiB`);
  t.ok(st.lost_events > 2000, `lines dropped while stuck: ${st.lost_events}`);
  const c = calls.summary();
  t.ok(c.total < 2000 && c.p99 < 5, `output() never waited on the disk: ${c.text}`);
  t.equal(gaps.length, 0, 'the gap is reported when it ends');
  release();
  await w.flush();
  w.output('after\r\n');
  t.equal(gaps.length, 1);
  t.match(gaps[0], { reason: 'buffer_full', lost_events: st.lost_events });
  const rec = await w.close();
  t.equal(rec.lost_events, st.lost_events);
  const bytes = await readFile(rec.file);
  t.equal(rec.sha256, sha(bytes));
  const back = await readCast(rec.file);
  const marker = back.events.find((e) => e[1] === 'm');
  t.match(marker?.[2], /sessiongate: \d+ events \(\d+ bytes\) not recorded \(buffer_full\)/, 'the recording says where output is missing');
  t.same(back.events[back.events.length - 1]!.slice(1), ['o', 'after\r\n']);
});

t.test('live subscribers get every line in order; a stuck one is cut off without holding the writer', async (t) => {
  const dir = await castDir(t);
  const { w, clock } = newWriter(dir, { keyframes: false });
  const got: string[] = [];
  const ends: string[] = [];
  const fast = w.subscribe((l) => void got.push(l), { onEnd: (r) => ends.push(`fast:${r}`) });
  const stuck = w.subscribe(() => new Promise(() => undefined), { maxQueuedBytes: 4096, onEnd: (r) => ends.push(`stuck:${r}`) });
  t.equal(fast.offset, Buffer.byteLength(JSON.stringify(w.header)) + 1, 'the live stream starts after the header');
  const calls = callTimes();
  for (let i = 0; i < 2000; i++) {
    calls.time(() => w.output(`line ${i}\r\n`));
    clock.advance(1);
    if (i % 100 === 0) await new Promise((r) => setImmediate(r));
  }
  const c = calls.summary();
  t.ok(c.total < 2000 && c.p99 < 5, `output() never waited on a subscriber: ${c.text}`);
  const rec = await w.close();
  await waitFor(() => ends.includes('fast:closed'), 5000, 'the fast subscriber to end');
  const back = await readCast(rec.file);
  t.same(got, back.lines.slice(1), 'the fast subscriber got exactly the file lines, in order');
  t.ok(stuck.ended && stuck.dropped > 0, `the stuck subscriber was dropped (${stuck.dropped} lines)`);
  t.ok(ends.includes('stuck:slow'));
});

t.test('a subscription after close ends at once; unsubscribe stops delivery', async (t) => {
  const dir = await castDir(t);
  const { w } = newWriter(dir, { keyframes: false });
  const got: string[] = [];
  const sub = w.subscribe((l) => void got.push(l));
  w.output('a');
  await new Promise((r) => setImmediate(r));
  sub.unsubscribe();
  w.output('b');
  await w.close();
  await new Promise((r) => setImmediate(r));
  t.equal(got.length, 1);
  const ended = await new Promise<string>((resolve) => w.subscribe(() => undefined, { onEnd: resolve }));
  t.equal(ended, 'closed');
});

t.test('a recording dir that is a file: the writer fails loudly, not silently', async (t) => {
  const dir = await castDir(t);
  await mkdir(join(dir, '2026', '11'), { recursive: true });
  await writeFile(join(dir, '2026', '11', '22'), 'not a dir');
  const w = new CastWriter({ dir, sessionId: 'x1', width: 80, height: 24, recordInput: false, clock: { now: () => START_MS }, logger: silentLogger(), keyframes: false });
  await t.rejects(w.ready(), { code: 'SG_ERR_RECORDING_WRITE' });
  await t.rejects(w.close(), { code: 'SG_ERR_RECORDING_WRITE' });
});

t.test('AppendFile: offsets count the write in flight; a failed write is retried at the same place', async (t) => {
  const dir = await castDir(t);
  let release!: () => void;
  let gated = 0;
  let failNext = false;
  const f = new AppendFile(join(dir, 'f.bin'), {
    beforeWrite: async () => {
      gated++;
      if (gated === 1) await new Promise<void>((r) => (release = r));
      if (failNext) {
        failNext = false;
        throw Object.assign(new Error('EIO (injected)'), { code: 'EIO' });
      }
    },
    hash: true,
  });
  f.append(Buffer.from('aaaa'));
  f.kick();
  await waitFor(() => gated === 1, 5000, 'the gated write');
  t.equal(f.pendingBytes, 4, 'the running write is still pending');
  t.equal(f.endOffset, 4, 'and counted in the end offset');
  f.append(Buffer.from('bb'));
  t.equal(f.endOffset, 6);
  failNext = true;
  const flushed = f.flush();
  release();
  await flushed;
  t.equal(gated, 2, 'the fault fired once and the write was retried');
  t.equal(f.writeErrors, 1);
  t.equal(f.writtenBytes, 6);
  await f.close();
  const bytes = await readFile(join(dir, 'f.bin'));
  t.equal(bytes.toString(), 'aaaabb', 'no hole, no duplicate');
  t.equal(f.digest(), sha(bytes));
});
