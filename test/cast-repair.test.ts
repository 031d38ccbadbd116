// repairCasts: recordings left open by a crash (a torn last line, an index without a trailer, a
// torn index line) are cut to their last complete line, keep only the keyframes inside the file,
// get a trailer, and report size and SHA-256; the reader then works. Closed recordings are left
// alone, even when tampered with. The real thing: a writer process killed with SIGKILL.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, readFile, stat, truncate, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CastReader, repairCasts, castRelPath } from '../recorder/cast/index.js';
import { START_MS, castDir, newWriter, readCast, screen, waitFor } from './cast-helpers.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function recordSome(dir: string, lines: number, sessionId?: string) {
  const { w, clock } = newWriter(dir, { keyframeEveryBytes: 2048, ...(sessionId ? { sessionId } : {}) });
  for (let i = 0; i < lines; i++) {
    clock.advance(5);
    w.output(`\x1b[3${i % 8}mrow ${i} ${'~'.repeat(i % 50)}\x1b[0m\r\n`);
    if (i % 30 === 0) {
      await w.flush();
      await waitFor(() => w.stats().keyframes_pending === 0, 10_000, 'keyframes');
    }
  }
  return w.close();
}

/** The repaired recording is whole: every line JSON, ends with a newline, keyframes replay right. */
async function checkRepaired(t: Test, file: string, r: { size: number; sha256: string; keyframes: number }) {
  const bytes = await readFile(file);
  t.equal(bytes.length, r.size, 'size = file size');
  t.equal(r.sha256, sha(bytes), 'sha256 = re-hash');
  t.ok(bytes.length === 0 || bytes[bytes.length - 1] === 0x0a, 'ends with a complete line');
  const cast = await readCast(file);
  const reader = await CastReader.open(file);
  try {
    t.match(reader.meta(), { complete: true, indexed: true, keyframes: r.keyframes, size: r.size, sha256: r.sha256, reason: 'interrupted' });
    const full = screen(80, 24);
    await full.feed(cast.events);
    for (const kf of reader.keyframes()) {
      t.ok(kf.offset < r.size);
      const s = screen(kf.cols, kf.rows);
      await s.write(await reader.snapshot(kf));
      await s.feed(cast.events.filter((_, i) => i + 2 >= kf.line));
      t.equal(s.state(), full.state(), `kept keyframe at line ${kf.line} replays right`);
    }
    const seek = await reader.seek(reader.meta().duration);
    let n = 0;
    for await (const _ of seek.events) n++;
    t.ok(n > 0, 'a seek to the end works');
  } finally {
    await reader.close();
  }
}

t.test('a torn cast and index are repaired; closed recordings are left alone', async (t) => {
  const dir = await castDir(t);
  const closed = await recordSome(dir, 100, 'closed-one');
  const closedBytes = await readFile(closed.file);
  const rec = await recordSome(dir, 400, 'crashed-one');
  t.ok(rec.keyframes >= 6, `keyframes before the crash: ${rec.keyframes}`);
  // The crash: no trailer, the cast cut in the middle of a line, a torn index line.
  const idxText = await readFile(`${rec.file}.idx`, 'utf8');
  const idxLines = idxText.trimEnd().split('\n');
  t.match(idxLines[idxLines.length - 1], /^\{"end":/);
  await writeFile(`${rec.file}.idx`, `${idxLines.slice(0, -1).join('\n')}\n{"t":99.5,"o":12`);
  const cut = Math.floor(rec.size * 0.6);
  const castBytes = await readFile(rec.file);
  t.not(castBytes[cut - 1], 0x0a, 'the cut is inside a line');
  await truncate(rec.file, cut);

  const repaired = await repairCasts(dir);
  t.equal(repaired.length, 1, 'only the crashed recording');
  const r = repaired[0]!;
  t.match(r, { sessionId: 'crashed-one', path: rec.path, file: rec.file });
  t.equal(r.size, castBytes.lastIndexOf(0x0a, cut - 1) + 1, 'cut after the last complete line');
  t.equal(r.truncated_bytes, cut - r.size);
  t.ok(r.keyframes > 0 && r.keyframes < rec.keyframes, `keyframes kept: ${r.keyframes} of ${rec.keyframes}`);
  await checkRepaired(t, rec.file, r);
  t.same(await readFile(closed.file), closedBytes, 'the closed recording is untouched');
  t.same(await repairCasts(dir), [], 'a second run finds nothing');
});

t.test('crashes before the first keyframe or inside the header; a tampered closed file is not "repaired"', async (t) => {
  const dir = await castDir(t);
  const day = join(dir, dirname(castRelPath('x', START_MS)));
  await mkdir(day, { recursive: true, mode: 0o700 });
  // Died right after start: half a header, no index.
  await writeFile(join(day, 'half-header.cast'), '{"version":2,"width":80,"hei');
  // Died before any keyframe: a header and two lines, then a torn one; no index.
  await writeFile(join(day, 'no-index.cast'), '{"version":2,"width":80,"height":24}\n[0.1,"o","a"]\n[0.2,"o","b"]\n[0.3,"o","c');
  // Closed, then changed: the trailer's size no longer matches.
  const closed = await recordSome(dir, 50, 'tampered');
  await appendFile(closed.file, '[99,"o","added later"]\n');

  const repaired = (await repairCasts(dir)).sort((a, b) => a.sessionId.localeCompare(b.sessionId));
  t.same(
    repaired.map((r) => [r.sessionId, r.size, r.keyframes]),
    [
      ['half-header', 0, 0],
      ['no-index', Buffer.byteLength('{"version":2,"width":80,"height":24}\n[0.1,"o","a"]\n[0.2,"o","b"]\n'), 0],
    ],
  );
  const noIndex = repaired[1]!;
  t.equal(noIndex.duration_ms, 200);
  await checkRepaired(t, noIndex.file, noIndex);
  t.equal((await stat(`${noIndex.file}.idx`)).mode & 0o777, 0o600);
  await t.rejects(CastReader.open(repaired[0]!.file), { code: 'SG_ERR_RECORDING_INVALID' }, 'an empty recording is reported, not replayed');
  const tampered = await CastReader.open(closed.file);
  t.equal(tampered.meta().complete, false, 'the reader sees the size no longer matches the trailer');
  await tampered.close();
});

t.test('a recording process killed with SIGKILL mid-stream is repaired', async (t) => {
  const dir = await castDir(t);
  const child = spawn(process.execPath, [...process.execArgv, join(HERE, 'cast-crash-child.ts'), dir, 'killed-one'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let written = 0;
  let keyframes = 0;
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
      const [, a, b] = buf.slice(0, nl).split(' ');
      buf = buf.slice(nl + 1);
      written = Math.max(written, Number(a));
      keyframes = Math.max(keyframes, Number(b));
    }
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
  await waitFor(() => written > 512 * 1024 && keyframes >= 3, 60_000, 'the child to record');
  child.kill('SIGKILL');
  t.equal(await exited, 'SIGKILL', 'the fault fired: the writer died without closing');
  const idxBefore = await readFile(join(dir, castRelPath('killed-one', Date.now())) + '.idx', 'utf8').catch(() => '');
  t.notMatch(idxBefore, /"end":/, 'no trailer: the recording was never closed');
  const repaired = await repairCasts(dir);
  t.equal(repaired.length, 1);
  const r = repaired[0]!;
  t.equal(r.sessionId, 'killed-one');
  t.ok(r.size >= written, `everything reported written is kept (${r.size} >= ${written})`);
  t.ok(r.keyframes >= 3, `keyframes kept: ${r.keyframes}`);
  await checkRepaired(t, r.file, r);
});
