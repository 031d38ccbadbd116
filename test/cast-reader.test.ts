// CastReader: a seek near the end of a large recording reads a tail (counted), and lands on the
// same screen as a full replay; the segmented player index and segments follow the rules
// asciinema-player 3.18 enforces; the start-at-t cast; Range; no index -> linear, said so; a
// recording still being written reads up to its last complete line.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { CastReader, type PlayerIndex } from '../recorder/cast/index.js';
import { captureLogger } from './fixtures/recorder-helpers.js';
import { castDir, newWriter, readCast, screen, waitFor } from './cast-helpers.js';

const ESC = '\x1b';

/** The checks asciinema-player 3.18 makes on a segmented recording (src/driver/recording/segmented.js). */
function checkPlayerFormat(t: Test, index: PlayerIndex, segments: unknown[]): void {
  t.equal(index.version, 1);
  t.ok(Number.isInteger(index.term.cols) && index.term.cols > 0 && Number.isInteger(index.term.rows) && index.term.rows > 0);
  t.equal(index.segments[0]!.start, 0, 'first segment starts at 0');
  let prev = -1;
  let markerPrev = -1;
  for (const m of index.markers) {
    t.ok(m[0] >= markerPrev && m[0] <= index.duration, 'markers in order and range');
    markerPrev = m[0];
  }
  index.segments.forEach((s, i) => {
    if (i > 0) t.ok(s.start > prev && s.start < index.duration, `segment ${i} start increasing and before the duration`);
    prev = s.start;
  });
  segments.forEach((raw, i) => {
    const seg = raw as { snapshot: { cols: number; rows: number; init: string }; events: [number, string, string][] };
    t.ok(Number.isInteger(seg.snapshot.cols) && seg.snapshot.cols > 0 && typeof seg.snapshot.init === 'string', `segment ${i} snapshot`);
    t.ok(seg.events.length > 0, `segment ${i} has events`);
    const start = index.segments[i]!.start * 1000;
    const end = (index.segments[i + 1]?.start ?? index.duration) * 1000;
    const last = i === index.segments.length - 1;
    let p = -1;
    const bad = seg.events.filter((e) => {
      const time = e[0] * 1000;
      const wrong = e.length !== 3 || typeof e[1] !== 'string' || time < p || time < start || (last ? time > end : time >= end);
      p = time;
      return wrong;
    });
    t.same(bad, [], `segment ${i}: every event inside [start, end)`);
    if (i > 0) t.equal(seg.events[0]![0] * 1000, start, `segment ${i}: first event at its start`);
    if (last) t.equal(seg.events[seg.events.length - 1]![0] * 1000, index.duration * 1000, 'last event at the duration');
  });
}

t.test('seek near the end of a 30 MB recording reads a tail, and shows the same screen as a full replay', async (t) => {
  const dir = await castDir(t);
  const { w, clock } = newWriter(dir, { width: 120, height: 40 });
  let n = 0;
  const target = 30 * 1024 * 1024;
  for (let i = 0; w.stats().bytes_written + w.stats().bytes_buffered < target; i++) {
    clock.advance(0.25);
    const row = `${ESC}[01;3${i % 8}m${String(i).padStart(8, '0')}${ESC}[0m ${'lorem ipsum dolor sit amet '.repeat(4)}${ESC}[38;5;${i % 256}m#${ESC}[0m\r\n`;
    w.output(row);
    if (i % 7919 === 0) {
      clock.advance(50);
      w.output(`${ESC}[H${ESC}[2J`);
    }
    if (i === 60_000) w.resize(100, 30);
    if (++n % 1000 === 0) {
      // A session's pace: the keyframe thread keeps up (a burst faster than that skips keyframes).
      await w.flush();
      await waitFor(() => w.stats().keyframes_pending === 0, 20_000, 'keyframes');
    }
  }
  w.marker('near the end');
  w.output('the last line\r\n');
  const rec = await w.close();
  t.ok(rec.size >= target, `recording size ${(rec.size / 1048576).toFixed(1)} MB`);
  t.ok(rec.keyframes >= 100, `keyframes: ${rec.keyframes}`);

  const opened = performance.now();
  const reader = await CastReader.open(rec.file);
  t.teardown(() => reader.close());
  const meta = reader.meta();
  t.match(meta, { size: rec.size, keyframes: rec.keyframes, indexed: true, complete: true, sha256: rec.sha256, markers: 1 });
  t.equal(meta.duration * 1000, rec.duration_ms);
  const openBytes = reader.bytesRead;
  t.ok(openBytes < 64 * 1024, `open read ${openBytes} bytes (header + index)`);

  const seek = await reader.seek(meta.duration - 0.5);
  const tail: [number, string, string][] = [];
  for await (const e of seek.events) tail.push([e.t, e.code, e.data]);
  const seekBytes = reader.bytesRead - openBytes;
  const took = performance.now() - opened;
  t.ok(seek.keyframe && seek.keyframe.offset > rec.size - 1024 * 1024, 'the keyframe is near the end');
  t.ok(seekBytes < 1024 * 1024, `seek + reading to the end read ${(seekBytes / 1024).toFixed(0)} KiB of ${(rec.size / 1048576).toFixed(0)} MiB`);
  t.ok(took < 2000, `open + seek + tail in ${took.toFixed(0)} ms`);
  t.same(tail[tail.length - 1], [rec.duration_ms / 1000, 'o', 'the last line\r\n']);

  const fromKf = screen(seek.cols, seek.rows);
  await fromKf.write(seek.snapshot);
  await fromKf.feed(tail);
  const full = screen(120, 40);
  await full.feed((await readCast(rec.file)).events);
  t.equal(fromKf.state(), full.state(), 'keyframe + tail = full replay');

  const before = reader.bytesRead;
  const index = reader.playerIndex((i) => `/api/recordings/x/segments/${i}`);
  t.equal(index.segments.length, rec.keyframes + 1);
  const last = JSON.parse(await reader.playerSegment(index.segments.length - 1)) as unknown;
  t.ok(reader.bytesRead - before < 1024 * 1024, `the last player segment read ${reader.bytesRead - before} bytes`);
  const some = [0, 1, Math.floor(index.segments.length / 2)];
  const segs = await Promise.all(some.map(async (i) => JSON.parse(await reader.playerSegment(i)) as unknown));
  checkPlayerFormat(t, index, []);
  for (const [k, i] of some.entries()) {
    const seg = segs[k] as { events: [number, string, string][] };
    const start = index.segments[i]!.start;
    const end = index.segments[i + 1]!.start;
    t.ok(seg.events.length > 0 && seg.events.every((e) => e[0] >= start && e[0] < end), `segment ${i}: events in [${start}, ${end})`);
    if (i > 0) t.equal(seg.events[0]![0], start, `segment ${i}: first event at its start`);
  }
  const lastSeg = last as { events: [number, string, string][] };
  t.equal(lastSeg.events[lastSeg.events.length - 1]![0], index.duration, 'the last segment ends at the duration');
  t.same(index.markers, [[rec.duration_ms / 1000, 'near the end']]);
});

t.test('player index and segments of a small recording pass every player check; start-at-t cast', async (t) => {
  const dir = await castDir(t);
  const { w, clock } = newWriter(dir, { keyframeEveryBytes: 1024, keyframeEveryMs: 100 });
  for (let i = 0; i < 300; i++) {
    clock.advance(20);
    w.output(`${ESC}[3${i % 8}mline ${i}${ESC}[0m\r\n`);
    if (i === 100) w.marker('one hundred');
    if (i === 150) w.resize(100, 30);
    if (i % 25 === 0) {
      await w.flush();
      await waitFor(() => w.stats().keyframes_pending === 0, 10_000, 'keyframes');
    }
  }
  const rec = await w.close();
  const reader = await CastReader.open(rec.file);
  t.teardown(() => reader.close());
  t.ok(reader.keyframes().length >= 5);
  const index = reader.playerIndex((i) => `seg/${i}`);
  const segments = [];
  for (let i = 0; i < index.segments.length; i++) segments.push(JSON.parse(await reader.playerSegment(i)) as unknown);
  checkPlayerFormat(t, index, segments);
  t.same(index.markers.map((m) => m[1]), ['one hundred']);
  await t.rejects(reader.playerSegment(index.segments.length), { code: 'SG_ERR_NOT_FOUND' });

  // Every event appears in exactly one segment, in order.
  const all = segments.flatMap((s) => (s as { events: unknown[] }).events);
  t.same(all, (await readCast(rec.file)).events);

  const at = 4.0;
  const s = await reader.startCast(at);
  let text = '';
  for await (const l of s.lines) text += l;
  const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
  const kf = reader.keyframeAt(at)!;
  t.match(lines[0], { version: 2, width: kf.cols, height: kf.rows });
  t.same(lines[1], [0, 'o', await reader.snapshot(kf)], 'the snapshot is the first event, at 0');
  t.same((lines[2] as unknown[])[0], 0, 'the next event is shifted to 0');
  t.equal(s.startAt, Math.round((at - kf.t) * 1e6) / 1e6);
  const played = screen(kf.cols, kf.rows);
  await played.feed(lines.slice(1) as [number, string, string][]);
  const full = screen(80, 24);
  await full.feed((await readCast(rec.file)).events);
  t.equal(played.state(), full.state(), 'the start-at cast ends on the same screen');
});

t.test('without an index: linear replay, and the reader says so', async (t) => {
  const dir = await castDir(t);
  const { w, clock } = newWriter(dir, { keyframeEveryBytes: 1024 });
  for (let i = 0; i < 100; i++) {
    clock.advance(10);
    w.output(`row ${i} ${'x'.repeat(40)}\r\n`);
    if (i % 20 === 0) await w.flush();
  }
  const rec = await w.close();
  await rm(`${rec.file}.idx`);
  await rm(`${rec.file}.snap`, { force: true });
  const cap = captureLogger();
  const reader = await CastReader.open(rec.file, { logger: cap.logger });
  t.teardown(() => reader.close());
  t.match(reader.meta(), { indexed: false, complete: false, keyframes: 0, size: rec.size });
  t.equal(reader.meta().duration * 1000, rec.duration_ms, 'duration from the last line');
  const s = await reader.seek(0.9);
  t.equal(s.keyframe, undefined);
  t.equal(s.indexed, false);
  t.equal(s.startAt, 0.9);
  let n = 0;
  for await (const _ of s.events) n++;
  t.equal(n, 100, 'events from the start');
  await reader.seek(0.5);
  t.equal(cap.lines.filter((l) => /no keyframe index/.test(String(l.msg))).length, 1, 'said once');
  t.equal(reader.playerIndex((i) => `${i}`).segments.length, 1);
});

t.test('range(): raw bytes for HTTP Range; outside the file is a 416', async (t) => {
  const dir = await castDir(t);
  const { w } = newWriter(dir, { keyframes: false });
  w.output('0123456789'.repeat(100));
  const rec = await w.close();
  const reader = await CastReader.open(rec.file);
  t.teardown(() => reader.close());
  const bytes = await readFile(rec.file);
  const read = async (s: number, e?: number) => {
    const chunks: Buffer[] = [];
    for await (const c of reader.range(s, e)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  t.same(await read(10, 19), bytes.subarray(10, 20));
  t.same(await read(100), bytes.subarray(100));
  t.same(await read(bytes.length - 5, bytes.length + 100), bytes.subarray(-5), 'an end past the file is clamped');
  t.throws(() => reader.range(bytes.length), { code: 'SG_ERR_BAD_PARAM', status: 416 });
  t.throws(() => reader.range(5, 2), { code: 'SG_ERR_BAD_PARAM' });
  t.equal(createHash('sha256').update(await read(0)).digest('hex'), rec.sha256);
});

t.test('a recording still being written reads up to its last complete line', async (t) => {
  const dir = await castDir(t);
  const { w, clock } = newWriter(dir, { keyframes: false });
  for (let i = 0; i < 50; i++) {
    clock.advance(100);
    w.output(`live ${i}\r\n`);
  }
  await w.flush();
  const reader = await CastReader.open(w.file);
  t.teardown(() => reader.close());
  t.match(reader.meta(), { complete: false, duration: 5 });
  let n = 0;
  for await (const _ of reader.events()) n++;
  t.equal(n, 50);
  await w.close();
  await t.rejects(CastReader.open(`${w.file}.nope`), { code: 'SG_ERR_NOT_FOUND' });
});
