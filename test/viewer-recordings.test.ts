// Replay data end to end: a real cast with keyframes (CastWriter), served by the viewer: meta with
// the replay limit, the file with Range, the player's segmented index and segments, download;
// roles, bad ids and ranges; every replay and download recorded as activity.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { CastWriter } from '../recorder/cast/index.js';
import { newId } from '../gateway/core/ids.js';
import { startHarness } from '../viewer/server/test-harness.js';

async function writeCast(dir: string): Promise<{ id: string; file: string }> {
  const id = newId();
  let now = Date.now();
  const w = new CastWriter({ dir: join(dir, 'recordings'), sessionId: id, width: 80, height: 24, recordInput: false, clock: { now: () => now }, logger: pino({ level: 'silent' }), keyframeEveryBytes: 1024, keyframeEveryMs: 1000 });
  await w.ready();
  for (let i = 0; i < 200; i++) {
    now += 50;
    w.output(`line ${i} \x1b[32mgreen\x1b[0m ${'x'.repeat(40)}\r\n`);
    if (i % 20 === 0) await w.flush();
  }
  const rec = await w.close('test');
  return { id, file: join(dir, 'recordings', rec.path) };
}

t.test('recordings: meta, cast with Range, index and segments, download, roles, activity', async (t) => {
  const dir = t.testdir();
  const h = await startHarness({ dir, teardown: (fn) => t.teardown(fn), viewer: { replay_max_bytes: '1MB' } });
  const { id, file } = await writeCast(dir);
  const bytes = readFileSync(file);
  const aud = await h.addUser('aud', 'auditor');
  const sec = await h.addUser('sec', 'security');
  const s = await h.login(aud.name, aud.password);

  const meta = await h.call('GET', `/api/recordings/${id}`, { session: s });
  t.equal(meta.status, 200, meta.text);
  t.match(meta.json, { id, size: bytes.length, width: 80, height: 24, replayable: true, replay_max_bytes: 1024 * 1024 });
  t.ok(meta.json.keyframes >= 2, `keyframes for seeking (${meta.json.keyframes})`);

  const all = await h.call('GET', `/api/recordings/${id}/cast`, { session: s });
  t.equal(all.status, 200);
  t.equal(all.text, bytes.toString('utf8'), 'the whole file');
  const part = await h.call('GET', `/api/recordings/${id}/cast`, { session: s, headers: { range: 'bytes=10-19' } });
  t.equal(part.status, 206);
  t.equal(part.headers['content-range'], `bytes 10-19/${bytes.length}`);
  t.equal(part.text, bytes.subarray(10, 20).toString('utf8'));
  const tail = await h.call('GET', `/api/recordings/${id}/cast`, { session: s, headers: { range: 'bytes=-7' } });
  t.equal(tail.text, bytes.subarray(bytes.length - 7).toString('utf8'), 'a suffix range');
  const bad = await h.call('GET', `/api/recordings/${id}/cast`, { session: s, headers: { range: `bytes=${bytes.length + 5}-` } });
  t.equal(bad.status, 416);
  t.equal(bad.headers['content-range'], `bytes */${bytes.length}`);
  t.equal((await h.call('GET', `/api/recordings/${id}/cast`, { session: s, headers: { range: 'pages=1-2' } })).status, 416, 'a malformed range');

  const index = await h.call('GET', `/api/recordings/${id}/index`, { session: s });
  t.equal(index.status, 200);
  t.ok(index.json.segments.length >= 2, 'a segment per keyframe');
  const lastUrl: string = index.json.segments.at(-1).url;
  const seg = await h.call('GET', lastUrl, { session: s });
  t.equal(seg.status, 200);
  t.match(seg.json, { snapshot: { cols: 80, rows: 24 } });
  t.match(seg.json.snapshot.init, 'green', 'the last segment starts from a snapshot of the screen');
  t.match(JSON.stringify(seg.json.events), 'line 199', 'and holds the end');
  t.equal((await h.call('GET', `/api/recordings/${id}/segments/9999`, { session: s })).status, 404);
  t.equal((await h.call('GET', `/api/recordings/${id}/segments/x1`, { session: s })).status, 400);

  const dl = await h.call('GET', `/api/recordings/${id}/download`, { session: s });
  t.equal(dl.status, 200);
  t.match(dl.headers['content-disposition'], `attachment; filename="${id}.cast"`);
  t.equal(dl.text.length, bytes.toString('utf8').length);

  t.equal((await h.call('GET', `/api/recordings/${newId()}`, { session: s })).status, 404, 'no such recording');
  t.equal((await h.call('GET', '/api/recordings/bad%20id!', { session: s })).status, 400, 'not an id');
  const ss = await h.login(sec.name, sec.password);
  t.equal((await h.call('GET', `/api/recordings/${id}/cast`, { session: ss })).status, 403, 'security may not replay');
  t.equal((await h.call('GET', `/api/recordings/${id}`)).status, 401, 'no session');

  const acts = await h.activity();
  t.ok(acts.some((a) => a.action === 'replay' && a.targets?.[0]?.id === id), 'replays recorded');
  t.ok(acts.some((a) => a.action === 'export' && a.details?.kind === 'recording'), 'the download recorded as an export of a recording');
});

t.test('over viewer.replay_max_bytes: no browser replay, download only', async (t) => {
  const dir = t.testdir();
  const h = await startHarness({ dir, teardown: (fn) => t.teardown(fn), viewer: { replay_max_bytes: 100 } });
  const { id } = await writeCast(dir);
  const aud = await h.addUser('aud', 'auditor');
  const s = await h.login(aud.name, aud.password);
  t.equal((await h.call('GET', `/api/recordings/${id}`, { session: s })).json.replayable, false);
  const r = await h.call('GET', `/api/recordings/${id}/cast`, { session: s });
  t.equal(r.status, 403);
  t.equal(r.json.error.code, 'SG_ERR_FORBIDDEN');
  t.equal((await h.call('GET', `/api/recordings/${id}/download`, { session: s })).status, 200, 'the download still works');
});
