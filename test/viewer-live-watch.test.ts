// `/api/recordings/:id/live` end to end: a real viewer over a real Recorder and LMDB, a real
// CastWriter (file, keyframe thread, live fan-out) registered in the viewer's LiveCasts as the
// SSH front end does, and `ws` as the client. The handshake passes the /api/stream gate; a
// watcher joining mid-session gets the screen as it is (keyframe snapshot + the lines after it,
// compared with an independent replay of the whole output), then new output, then `end`; a
// watcher that stops reading is cut off while the recording and other watchers go on.
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { CastWriter } from '../recorder/cast/index.js';
import { screen, waitFor } from './cast-helpers.js';
import { manualClock, silentLogger, type ManualClock } from './fixtures/recorder-helpers.js';
import { JsonFrameClient, WsClient, wsHandshake, wsUpgradedSocket } from './helpers/http-harness.js';
import { startHarness, type Harness, type SignedIn } from '../viewer/server/test-harness.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- frames are checked field by field
type Frame = any;

class Watcher extends JsonFrameClient<Frame> {
  /** Frames up to and including the first matching `stop`. */
  async until(stop: (f: Frame) => boolean, ms = 5000): Promise<Frame[]> {
    const out: Frame[] = [];
    for (;;) {
      const f = await this.next(ms);
      out.push(f);
      if (stop(f)) return out;
    }
  }
  async closed(ms = 5000): Promise<number> {
    await waitFor(() => this.closeCode !== undefined, ms, 'close');
    return this.closeCode!;
  }
}

/** Event arrays in frames: single live lines and `events` batches. */
function eventsOf(frames: Frame[]): [number, string, string][] {
  return frames.flatMap((f) => (Array.isArray(f) ? [f] : f.op === 'events' ? f.events : []));
}

const url = (h: Harness, id: string) => `${h.base.replace(/^http/, 'ws')}/api/recordings/${encodeURIComponent(id)}/live`;

/** A watcher whose listeners are on before the first frame can arrive. */
async function watch(t: Test, h: Harness, s: SignedIn, id: string, protocols: string[] = []): Promise<Watcher> {
  const ws = new WsClient(url(h, id), protocols, { headers: { cookie: s.cookie, origin: h.base }, perMessageDeflate: false });
  t.teardown(() => ws.terminate());
  const c = new Watcher(ws);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return c;
}

/** A watcher that stops reading after the handshake (a raw socket nobody resumes). */
function stalledWatcher(h: Harness, s: SignedIn, id: string): Promise<import('node:net').Socket> {
  return wsUpgradedSocket(`${h.base}/api/recordings/${id}/live`, { cookie: s.cookie, origin: h.base });
}

/** A raw handshake: the status and JSON body of a refused upgrade (101 when accepted). */
function handshake(h: Harness, path: string, headers: Record<string, string>): Promise<{ status: number; body: Frame }> {
  return wsHandshake<Frame>(`${h.base}${path}`, headers);
}

let n = 0;
/** A recording being written, registered as the SSH front end registers it. */
function liveCast(t: Test, h: Harness, over: Partial<ConstructorParameters<typeof CastWriter>[0]> = {}): { w: CastWriter; clock: ManualClock; id: string } {
  const clock = manualClock(Date.now());
  const id = `W${process.pid}-${++n}`;
  const w = new CastWriter({ dir: join(h.dir, 'recordings'), sessionId: id, width: 80, height: 24, recordInput: false, clock, logger: silentLogger(), title: 'alice on root@web1', ...over });
  h.liveCasts.add(id, w);
  t.teardown(async () => {
    await w.close('test over');
    h.liveCasts.remove(id, w);
  });
  return { w, clock, id };
}

t.test('live watch', async (t) => {
  const h = await startHarness({ dir: t.testdir(), teardown: (fn) => t.teardown(fn), liveWatch: { highWaterBytes: 16 * 1024, maxQueuedBytes: 256 * 1024 } });
  const sec = await h.addUser('sam', 'security');
  const aud = await h.addUser('audrey', 'auditor');
  const adm = await h.addUser('ada', 'admin');
  const samS = await h.login(sec.name, sec.password);
  const audS = await h.login(aud.name, aud.password);
  const adaS = await h.login(adm.name, adm.password);

  await t.test('the handshake passes the same gate as /api/stream', async (t) => {
    const { id } = liveCast(t, h);
    const path = `/api/recordings/${id}/live`;
    const ok = { cookie: samS.cookie, origin: h.base };
    t.equal((await handshake(h, path, ok)).status, 101, 'security may watch');
    t.equal((await handshake(h, path, { ...ok, cookie: adaS.cookie })).status, 101, 'admin may watch');
    const refusals: [string, Record<string, string>, number, string][] = [
      ['no cookie', { origin: h.base }, 401, 'SG_ERR_AUTH_REQUIRED'],
      ['no Origin', { cookie: samS.cookie }, 403, 'SG_ERR_CSRF'],
      ['another Origin', { ...ok, origin: 'https://evil.example' }, 403, 'SG_ERR_CSRF'],
      ['the auditor role', { ...ok, cookie: audS.cookie }, 403, 'SG_ERR_FORBIDDEN'],
    ];
    for (const [what, headers, status, code] of refusals) {
      const r = await handshake(h, path, headers);
      t.equal(r.status, status, `${what}: ${status}`);
      t.equal(r.body?.error?.code, code, `${what}: ${code}`);
    }
    const bad = await handshake(h, '/api/recordings/..%2Fetc/live', ok);
    t.match(bad, { status: 400, body: { error: { code: 'SG_ERR_BAD_PARAM', param: 'id' } } }, 'a malformed id is refused');
    const query = await handshake(h, `${path}?x=1`, ok);
    t.equal(query.status, 400, 'no query parameters');
    const plain = await h.call('GET', path, { session: samS });
    t.equal(plain.status, 426, 'a plain GET says it is a WebSocket endpoint');

    const unknown = await watch(t, h, samS, 'no-such-recording');
    const f = await unknown.next();
    t.match(f, { op: 'error', error: { code: 'SG_ERR_NOT_FOUND', message: /not being written now/ } }, 'an unknown or ended recording: a clear error');
    t.equal(await unknown.closed(), 4404, 'then closed with 4404');
  });

  await t.test('a watcher joining mid-session sees the screen as it is, then new output, then the end', async (t) => {
    const { w, clock, id } = liveCast(t, h, { keyframeEveryBytes: 1024 });
    const all: string[] = [];
    const out = (s: string) => {
      clock.advance(7);
      all.push(s);
      w.output(s);
    };
    out('\x1b[1;32mhello\x1b[0m from the start\r\n');
    for (let i = 0; i < 120; i++) out(`line ${i} ${'x'.repeat(i % 40)}\r\n`);
    await w.flush();
    await waitFor(() => w.stats().keyframes >= 2, 10_000, 'keyframes');
    out('\x1b[2J\x1b[Hafter the keyframes: \x1b[7mreverse\x1b[0m\r\n$ ');
    out('tail 1\r\n$ ');

    const c = await watch(t, h, samS, id);
    const head = await c.next();
    t.match(head, { op: 'header', id, header: { version: 2, width: 80, height: 24, title: 'alice on root@web1' } }, 'the cast header first');
    const scr = await c.next();
    t.match(scr, { op: 'screen', cols: 80, rows: 24 }, 'then the screen');
    t.ok(scr.init.length > 0 && scr.t > 0, 'from a keyframe snapshot, not from the start');
    const catchUp = await c.until((f) => f.op === 'live');
    const replayed = eventsOf(catchUp);
    t.ok(replayed.length < 121, `only the lines after the keyframe (${replayed.length})`);
    t.ok(replayed.every((e) => e[0] >= scr.t), 'none before the keyframe');

    // The screen the watcher builds equals an independent replay of everything.
    const mine = screen(80, 24);
    const ref = screen(80, 24);
    t.teardown(() => {
      mine.dispose();
      ref.dispose();
    });
    await mine.write(scr.init);
    await mine.feed(replayed);
    await ref.write(all.join(''));
    t.equal(mine.state(), ref.state(), 'the current screen on join');

    out('NEW OUTPUT <img src=x onerror=alert(1)>\r\n');
    w.resize(100, 30);
    const live = await c.until((f) => Array.isArray(f) && f[1] === 'r');
    t.match(eventsOf(live), [[Number, 'o', 'NEW OUTPUT <img src=x onerror=alert(1)>\r\n'], [Number, 'r', '100x30']], 'new output and resizes as they happen, as cast lines');

    const watches = (await h.activity('watch')).filter((a) => a.targets?.[0]?.id === id);
    t.equal(watches.length, 1, 'one watch activity');
    t.match(watches[0], { initiator: 'sam', action: 'watch', targets: [{ kind: 'recording', id }], user: { role: 'security' } });

    out('bye\r\n');
    await w.close('client_exit');
    const rest = await c.until((f) => f.op === 'end');
    t.match(rest[rest.length - 1], { op: 'end', reason: 'closed' }, 'the end of the recording is announced');
    t.match(eventsOf(rest), [[Number, 'o', 'bye\r\n']], 'after its last lines');
    t.equal(await c.closed(), 1000, 'and the socket closes normally');
    t.equal(w.stats().subscribers, 0);
  });

  await t.test("asciinema-player's live mode: the v2.asciicast subprotocol is a plain asciicast v2 stream", async (t) => {
    const { w, clock, id } = liveCast(t, h, { keyframeEveryBytes: 1024 });
    for (let i = 0; i < 80; i++) {
      clock.advance(9);
      w.output(`row ${i} ${'z'.repeat(30)}\r\n`);
    }
    await w.flush();
    await waitFor(() => w.stats().keyframes >= 1, 10_000, 'a keyframe');
    clock.advance(9);
    w.output('after\r\n');
    const offered = ['v1.alis', 'v2.asciicast', 'v3.asciicast', 'raw'];
    const c = await watch(t, h, samS, id, offered);
    t.equal(c.ws.protocol, 'v2.asciicast', 'the one protocol it speaks is chosen');
    const head = await c.next();
    t.match(head, { version: 2, width: 80, height: 24, title: 'alice on root@web1' }, 'the first frame is an asciicast v2 header');
    t.notOk('op' in head, 'no control frames');
    const snap = await c.next();
    t.match(snap, [Number, 'o', String], 'then the snapshot as output');
    clock.advance(9);
    w.output('live line\r\n');
    await c.until((f) => Array.isArray(f) && f[2] === 'live line\r\n');
    t.ok(c.frames.every((f, i) => i === 0 || (Array.isArray(f) && f.length === 3)), 'every other frame is an event line');
    await w.close('client_exit');
    t.equal(await c.closed(), 1000, 'the end is a normal close');

    const gone = await watch(t, h, samS, 'not-live', offered);
    t.equal(await gone.closed(), 1000, 'a recording not being written: closed at once (the player shows the stream ended)');
    t.equal(gone.frames.length, 0);
  });

  await t.test('a watcher that stops reading is cut off; the recording and other watchers go on', async (t) => {
    const { w, clock, id } = liveCast(t, h);
    w.output('start\r\n');
    const slow = await stalledWatcher(h, samS, id);
    t.teardown(() => slow.destroy());
    let slowBytes = Buffer.alloc(0);
    const good = await watch(t, h, adaS, id);
    await good.until((f) => f.op === 'live');
    await waitFor(() => w.stats().subscribers === 2, 5000, 'both watchers');
    // The stalled one reads nothing from here on: the kernel buffers fill, then the viewer's
    // socket, then its fan-out queue.
    slow.pause();
    const chunk = `${'y'.repeat(1000)}\r\n`;
    let sent = 0;
    // Kernel buffers on loopback take a few MB before the viewer's own buffer grows.
    for (let i = 0; i < 40_000 && w.stats().subscribers > 1; i++) {
      clock.advance(1);
      w.output(chunk);
      sent++;
      if (i % 32 === 31) await w.flush();
    }
    await waitFor(() => w.stats().subscribers === 1, 10_000, 'the slow watcher to be cut off');
    t.ok(sent < 40_000, `cut off after ${(sent / 1024).toFixed(1)} MB`);
    w.output('still recording\r\n');
    await waitFor(() => good.frames.some((f) => Array.isArray(f) && f[2] === 'still recording\r\n'), 10_000, 'the other watcher');
    t.pass('the other watcher still gets every line');
    const rec = await w.close('client_exit');
    t.equal(rec.lost_events, 0, 'the recording lost nothing');
    t.equal(rec.events, sent + 2, 'every line is in the file');
    const goodFrames = await good.until((f) => f.op === 'end');
    t.equal(eventsOf(good.frames).filter((e) => e[2] === chunk).length, sent, 'the reading watcher got every line');
    t.match(goodFrames[goodFrames.length - 1], { op: 'end', reason: 'closed' });

    // Only the tail matters: the end frame and the close frame are the last things sent.
    slow.on('data', (d: Buffer) => (slowBytes = Buffer.concat([slowBytes, d]).subarray(-4096)));
    slow.resume();
    await waitFor(() => slowBytes.includes('{"op":"end","reason":"slow"}'), 10_000, 'the end frame');
    t.pass('the slow watcher is told why');
    // A close frame (0x88) with code 1013 (0x03f5): try again later, from a keyframe.
    await waitFor(() => slowBytes.includes(Buffer.from([0x88, 10, 0x03, 0xf5, ...Buffer.from('too slow')])), 10_000, 'the close frame');
    t.pass('closed with 1013');
  });
});
