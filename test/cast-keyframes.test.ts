// Keyframes: a snapshot replayed into a fresh terminal, then the events after it, gives the
// same screen as replaying the whole cast — through colours, cursor moves, clears, scroll
// regions, line-drawing charsets, saved cursors, the alternate screen and resizes. A stuck
// keyframe thread costs keyframes, never output() time; a dead one is replaced.
import t, { type Test } from 'tap';
import { CastReader, KeyframeThread, type CastWriter } from '../recorder/cast/index.js';
import { callTimes, castDir, newWriter, readCast, screen, waitFor } from './cast-helpers.js';
import type { ManualClock } from './fixtures/recorder-helpers.js';

const ESC = '\x1b';

/** A session's worth of terminal output in phases, each long enough to hold keyframes. */
function* session(): Generator<string | [number, number]> {
  for (let i = 0; i < 60; i++) {
    yield `${ESC}[01;34mdir-${i}${ESC}[0m  ${ESC}[01;32mrun-${i}.sh${ESC}[0m  notes-${i}.txt  ${ESC}[38;5;208mx${i}${ESC}[0m\r\n`;
  }
  yield `${ESC}[H${ESC}[2J`;
  for (let i = 0; i < 60; i++) yield `${ESC}[${(i % 22) + 1};${(i * 7) % 70 + 1}H${ESC}[1;3${i % 8}m*${i}*${ESC}[0m`;
  // less-like: a scroll region, output scrolling inside it.
  yield `${ESC}[H${ESC}[2J${ESC}[2;20r${ESC}[20;1H`;
  for (let i = 0; i < 80; i++) yield `\r\nregion line ${i} ${'-'.repeat(i % 30)}`;
  yield `${ESC}[r${ESC}[24;1H`;
  // mc-like: line drawing (G0 = DEC special graphics), switched with SO/SI on G1 too.
  yield `${ESC}(0`;
  for (let i = 0; i < 30; i++) yield `lqqqqqqqqk\r\nx ${i % 10}      x\r\nmqqqqqqqqj\r\n`;
  yield `${ESC})0${ESC}(B\x0e`;
  for (let i = 0; i < 30; i++) yield `tqqqqu ${i}\r\n`;
  yield '\x0f';
  yield [100, 30];
  for (let i = 0; i < 40; i++) yield `wide: 日本語テキスト ${i} 😀 ${'='.repeat(i % 50)}\r\n`;
  // vim-like: alternate screen, region, hidden cursor, saved cursor, status line.
  yield `${ESC}7${ESC}[?1049h${ESC}[H${ESC}[2J${ESC}[1;29r${ESC}[?25l`;
  for (let i = 0; i < 60; i++) yield `${ESC}[${(i % 28) + 1};1H${ESC}[K~ line ${i} ${ESC}[7mrev${ESC}[27m${ESC}[30;1H${ESC}[1m-- INSERT -- ${i}${ESC}[0m${ESC}[${(i % 28) + 1};12H`;
  yield `${ESC}[5;5H${ESC}7${ESC}[10;10Hmoved`;
  for (let i = 0; i < 20; i++) yield `${ESC}[${(i % 28) + 1};40Hcol40 ${i}`;
  yield [90, 26];
  yield `${ESC}8saved-restored${ESC}[?25h`;
  for (let i = 0; i < 20; i++) yield `${ESC}[${(i % 20) + 1};1Hafter resize ${i}`;
  yield `${ESC}[?1049l${ESC}8`;
  for (let i = 0; i < 40; i++) yield `$ back in the shell ${i}\r\n`;
}

/** Feeds the session, letting keyframes happen (they wait for the bytes to be on disk). */
async function play(w: CastWriter, clock: ManualClock): Promise<void> {
  let since = 0;
  for (const step of session()) {
    clock.advance(3);
    if (Array.isArray(step)) w.resize(step[0], step[1]);
    else {
      w.output(Buffer.from(step));
      since += step.length;
    }
    if (since > 700) {
      since = 0;
      await w.flush();
      await waitFor(() => w.stats().keyframes_pending === 0, 10_000, 'keyframes');
    }
  }
}

t.test('every keyframe + the events after it = the whole cast replayed', async (t) => {
  const dir = await castDir(t);
  const { w, clock } = newWriter(dir, { keyframeEveryBytes: 1024 });
  await play(w, clock);
  const rec = await w.close();
  t.ok(rec.keyframes >= 20, `keyframes taken: ${rec.keyframes}`);
  const cast = await readCast(rec.file);
  const full = screen(80, 24);
  await full.feed(cast.events);
  const want = full.state();
  t.match(want, /back in the shell 39/, 'the replay reached the end');
  const reader = await CastReader.open(rec.file);
  t.teardown(() => reader.close());
  t.equal(reader.keyframes().length, rec.keyframes);
  const lineStarts = [0];
  for (const l of cast.lines) lineStarts.push(lineStarts[lineStarts.length - 1]! + Buffer.byteLength(l) + 1);
  const kinds = new Set<string>();
  for (const kf of reader.keyframes()) {
    t.equal(kf.offset, lineStarts[kf.line - 1], `keyframe ${kf.line}: its offset is the start of its line`);
    const snap = await reader.snapshot(kf);
    const before = cast.events.filter((_, i) => i + 2 < kf.line);
    const after = cast.events.filter((_, i) => i + 2 >= kf.line);
    t.equal(after[0]![0], kf.t, `keyframe ${kf.line}: t is the time of the next event`);
    t.ok(before[before.length - 1]![0] < kf.t, `keyframe ${kf.line}: strictly after the previous event`);
    // The snapshot alone shows what the cast up to the keyframe shows...
    const prefix = screen(80, 24);
    await prefix.feed(before);
    const fromSnap = screen(kf.cols, kf.rows);
    await fromSnap.write(snap);
    t.equal(fromSnap.state(), prefix.state(), `keyframe at line ${kf.line}: snapshot = replay of the prefix`);
    // ...and it carries the hidden state the rest of the session depends on.
    await fromSnap.feed(after);
    t.equal(fromSnap.state(), want, `keyframe at line ${kf.line} (${kf.cols}x${kf.rows}): + events after it = the whole replay`);
    const core = (prefix.term as unknown as { _core: { _bufferService: { buffer: { scrollTop: number; scrollBottom: number } }; _charsetService: { glevel: number; charset?: unknown } } })._core;
    if (core._bufferService.buffer.scrollBottom !== prefix.term.rows - 1) kinds.add('scroll region');
    if (core._charsetService.charset) kinds.add('charset');
    if (prefix.term.buffer.active.type === 'alternate') kinds.add('alternate screen');
    prefix.dispose();
    fromSnap.dispose();
  }
  t.same([...kinds].sort(), ['alternate screen', 'charset', 'scroll region'], 'keyframes fell inside each tricky phase');
});

t.test('a stuck keyframe thread skips keyframes but never slows output()', async (t) => {
  const dir = await castDir(t);
  const thread = new KeyframeThread();
  t.teardown(() => thread.terminate());
  const { w, clock } = newWriter(dir, { keyframeEveryBytes: 16 * 1024, keyframeThread: thread, maxPendingKeyframes: 2, flushBytes: 8192, closeTimeoutMs: 10_000 });
  w.output('warm up\r\n');
  await w.flush();
  const release = await thread.stall(60_000);
  t.teardown(release);
  t.pass('the fault fired: the keyframe thread is blocked');
  const line = `${ESC}[32m${'x'.repeat(200)}${ESC}[0m\r\n`;
  const calls = callTimes();
  let maxPending = 0;
  for (let i = 0; i < 10_000; i++) {
    calls.time(() => w.output(line));
    clock.advance(1);
    maxPending = Math.max(maxPending, w.stats().keyframes_pending);
    if (i % 500 === 0) await new Promise((r) => setImmediate(r));
  }
  await w.flush();
  const during = w.stats();
  const c = calls.summary();
  t.ok(c.total < 2000 && c.p99 < 5, `output() stayed fast while the thread was blocked: ${c.text}`);
  t.ok(maxPending <= 2, `pending keyframes bounded: ${maxPending}`);
  t.ok(during.keyframes_skipped > 50, `keyframes skipped while stuck: ${during.keyframes_skipped}`);
  t.equal(during.keyframes, 0, 'no keyframe came back while stuck');
  release();
  for (let i = 0; i < 400; i++) {
    clock.advance(1);
    w.output(line);
    if (i % 50 === 0) {
      await w.flush();
      await waitFor(() => w.stats().keyframes_pending === 0, 10_000, 'keyframes after the stall');
    }
  }
  const rec = await w.close();
  t.ok(rec.keyframes >= 2, `keyframes resumed after the stall: ${rec.keyframes}`);
  t.ok(rec.keyframes_skipped >= during.keyframes_skipped);
  await checkAllKeyframes(t, rec.file);
});

t.test('a keyframe thread that dies is replaced; its successor rebuilds the terminal from the file', async (t) => {
  const dir = await castDir(t);
  const thread = new KeyframeThread();
  t.teardown(() => thread.terminate());
  const { w, clock } = newWriter(dir, { keyframeEveryBytes: 2048, keyframeThread: thread });
  const put = async (n: number, tag: string) => {
    for (let i = 0; i < n; i++) {
      clock.advance(2);
      w.output(`${ESC}[3${i % 8}m${tag} ${i} ${'.'.repeat(i % 40)}${ESC}[0m\r\n`);
      if (i % 20 === 0) {
        await w.flush();
        await waitFor(() => w.stats().keyframes_pending === 0, 10_000, 'keyframes');
      }
    }
  };
  await put(200, 'before');
  const before = w.stats().keyframes;
  t.ok(before > 0, `keyframes before the crash: ${before}`);
  await thread.terminate();
  await put(200, 'after');
  const rec = await w.close();
  t.ok(rec.keyframes > before, `keyframes after the crash: ${rec.keyframes - before}`);
  t.ok(thread.restartCount >= 1, 'the thread was started again');
  await checkAllKeyframes(t, rec.file);
});

async function checkAllKeyframes(t: Test, file: string): Promise<void> {
  const cast = await readCast(file);
  const full = screen(80, 24);
  await full.feed(cast.events);
  const reader = await CastReader.open(file);
  try {
    for (const kf of reader.keyframes()) {
      const s = screen(kf.cols, kf.rows);
      await s.write(await reader.snapshot(kf));
      await s.feed(cast.events.filter((_, i) => i + 2 >= kf.line));
      t.equal(s.state(), full.state(), `keyframe at line ${kf.line} replays to the same screen`);
      s.dispose();
    }
  } finally {
    await reader.close();
  }
}
