// `sessiongate replay ID` in-process through cli/main.ts: a real cast written by CastWriter, played
// back all at once (--cat) and from a point (--from), the replay recorded as activity; bad input.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { CastWriter } from '../recorder/cast/index.js';
import { newId } from '../gateway/core/ids.js';
import { Store } from '../recorder/store/store.js';
import { runCli } from '../viewer/server/test-harness.js';
import type { ActivityEvent } from '../recorder/events.js';

t.test('replay plays a recorded session and leaves a trace', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'sessiongate.yaml');
  writeFileSync(file, 'data_dir: ./data\nlog:\n  level: warn\nviewer: { enabled: false }\n');
  const id = newId();
  let now = Date.now();
  const clock = { now: () => now };
  const w = new CastWriter({ dir: join(dir, 'data', 'recordings'), sessionId: id, width: 80, height: 24, recordInput: false, clock, logger: pino({ level: 'silent' }) });
  await w.ready();
  w.output('$ echo first\r\nfirst\r\n');
  now += 3000;
  w.resize(100, 30);
  w.output('$ echo second-héllo\r\nsecond-héllo\r\n');
  await w.close('test');

  const all = await runCli(['replay', id, '--cat', '--config', file]);
  t.equal(all.code, 0, all.err);
  t.match(all.out, 'first');
  t.match(all.out, 'second-héllo', 'UTF-8 intact');
  t.match(all.err, /replaying .*: 80x24/);

  const later = await runCli(['replay', id, '--from', '2', '--idle-limit', '0.05', '--config', file]);
  t.equal(later.code, 0, later.err);
  t.match(later.out, 'second-héllo', 'from 2 s on');

  const missing = await runCli(['replay', newId(), '--config', file]);
  t.equal(missing.code, 1);
  t.match(missing.err, 'SG_ERR_NOT_FOUND');
  t.equal((await runCli(['replay', '../../etc/passwd', '--config', file])).code, 2, 'not a session id');
  t.equal((await runCli(['replay', id, '--speed', '0', '--config', file])).code, 2, 'speed out of range');
  t.equal((await runCli(['replay', '--config', file])).code, 2, 'no id');

  const store = Store.open({ dir: join(dir, 'data', 'store'), logger: pino({ level: 'silent' }), readOnly: true });
  const replays = [...store.iterateAll()].filter((e): e is ActivityEvent => e.type === 'activity' && e.action === 'replay');
  await store.close();
  t.equal(replays.length, 2, 'each replay is an activity event');
  t.same(replays[0]!.targets, [{ kind: 'recording', id }]);
});
