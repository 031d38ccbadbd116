// `sessiongate search` in-process: the API's filters, a table in local time, NDJSON, paging,
// and above all: recorded control characters never reach the auditor's terminal raw.
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { ActivityEvent, HttpRequestEvent } from '../recorder/events.js';
import { httpEvent } from './fixtures/recorder-helpers.js';
import { Store } from '../recorder/store/store.js';
import { runCli } from '../viewer/server/test-harness.js';
import { localTime } from '../cli/commands/search.js';
import { terminalSafe, jsonLine } from '../cli/commands/common.js';

const DAY = 86_400_000;
let nextBase = Math.ceil(Date.now() / DAY) * DAY + 40 * DAY;

const req = httpEvent;

async function setup(t: Test) {
  const T0 = nextBase;
  nextBase += 10 * DAY;
  const dir = t.testdir();
  const file = join(dir, 'sessiongate.yaml');
  writeFileSync(file, 'data_dir: ./data\n');
  const events = [
    req(T0, { realm: 'admin', source: 'API', method: 'POST', url: 'https://panel.example.com/admin/api/clients', ip: '77.87.125.4', user: { name: 'PUQ Admin', email: 'demo-admin@example.com', login: 'puq' } }),
    req(T0 + 1000, { url: 'https://panel.example.com/client/\x1b[31mred\x1b[0m?x=\x07\x9b2J', ip: '10.0.0.7', client: 'Acme\u202eLtd', user: { name: 'Bob\r\nFAKE ROW', email: 'bob@acme.example' } }),
    req(T0 + 2000, { url: 'https://panel.example.com/client/services', ip: '10.0.0.8', client: 'Demo Client', user: { name: 'Demo Client', email: 'demo-client@example.com' } }),
  ];
  const store = Store.open({ dir: join(dir, 'data', 'store'), logger: pino({ level: 'silent' }) });
  await store.writeBatch(events);
  await store.close();
  return { file, dir, events, T0, c: ['--config', file] };
}

async function activity(dir: string): Promise<ActivityEvent[]> {
  const store = Store.open({ dir: join(dir, 'data', 'store'), logger: pino({ level: 'silent' }) });
  try {
    return [...store.iterateAll()].filter((e): e is ActivityEvent => e.type === 'activity');
  } finally {
    await store.close();
  }
}

t.test('table output: aligned, local time with offset, every control character escaped', async (t) => {
  const tz = process.env.TZ;
  process.env.TZ = 'Asia/Kolkata';
  t.teardown(() => {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  });
  const { c, events, dir } = await setup(t);
  const r = await runCli(['search', ...c]);
  t.equal(r.code, 0, r.err);
  t.notMatch(r.out, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/, 'no raw control character reaches the terminal');
  t.ok(r.out.includes('\\x1b[31mred\\x1b[0m?x=\\x07\\x9b2J'), 'ESC, BEL and CSI shown escaped');
  t.ok(r.out.includes('Acme\\u202eLtd'), 'bidi override shown escaped');
  t.ok(r.out.includes('Bob\\x0d\\x0aFAKE ROW <bob@acme.example>'), 'CR/LF cannot fake a row');
  const [tableText, footer] = r.out.split('\n\n');
  t.equal(footer, '3 in all\n', 'the total under the table');
  const lines = tableText!.trimEnd().split('\n');
  t.equal(lines.length, 4, 'header + 3 rows');
  t.match(lines[0], /^TIME\s+REALM\s+CLIENT\s+USER\s+IP\s+TYPE\s+METHOD\s+STATUS\s+URL$/);
  const urlCol = lines[0]!.indexOf('URL');
  for (const l of lines.slice(1)) t.equal(l.indexOf('https://'), urlCol, 'URL column aligned');
  t.ok(lines[1]!.startsWith(localTime(events[2]!.ts)), 'newest first');
  t.match(lines[1], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\+05:30 /, 'local time with its offset');
  t.match(lines[3], /admin\s+-\s+PUQ Admin <demo-admin@example\.com>\s+77\.87\.125\.4\s+API\s+POST\s+200/);
  const [search] = await activity(dir);
  t.equal(search?.initiator, 'cli', 'the search itself is recorded');
  t.equal(search?.action, 'search');
  t.equal(search?.details?.os_user, 'tester');
});

t.test('--json: NDJSON with every control character escaped', async (t) => {
  const { c, events } = await setup(t);
  const r = await runCli(['search', '--json', ...c]);
  t.equal(r.code, 0, r.err);
  t.notMatch(r.out, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/, 'no raw control character');
  const rows = r.out.trim().split('\n').map((l) => JSON.parse(l) as HttpRequestEvent);
  t.same(rows, [...events].reverse(), 'exact values once parsed');
});

t.test('filters, limit and cursor', async (t) => {
  const { c, events, T0 } = await setup(t);
  const admin = await runCli(['search', '--realm', 'admin', '--json', ...c]);
  t.same(admin.out.trim().split('\n').map((l) => JSON.parse(l).id), [events[0]!.id]);
  const q = await runCli(['search', '-q', 'DEMO-CLIENT', '--json', ...c]);
  t.same(q.out.trim().split('\n').map((l) => JSON.parse(l).id), [events[2]!.id]);
  const win = await runCli(['search', '--from', new Date(T0 + 500).toISOString(), '--to', String(T0 + 1500), '--json', ...c]);
  t.same(win.out.trim().split('\n').map((l) => JSON.parse(l).id), [events[1]!.id]);
  const post = await runCli(['search', '--source', 'api', '--method', 'post', '--json', ...c]);
  t.same(post.out.trim().split('\n').map((l) => JSON.parse(l).id), [events[0]!.id]);
  t.equal((await runCli(['search', '-q', 'nothing-like-this', ...c])).out, 'no matching requests\n');

  const p1 = await runCli(['search', '--limit', '2', ...c]);
  const cursor = /next cursor: (\S+)/.exec(p1.out)?.[1];
  t.ok(cursor, 'next cursor printed');
  const p2 = await runCli(['search', '--limit', '2', '--cursor', cursor!, '--json', ...c]);
  t.same(p2.out.trim().split('\n').map((l) => JSON.parse(l).id), [events[0]!.id], 'second page');
  t.notMatch(p2.err, /next cursor/, 'last page has no cursor');
  const j1 = await runCli(['search', '--limit', '1', '--json', ...c]);
  t.match(j1.err, /^next cursor: \S+\n$/, 'NDJSON mode puts the cursor on stderr');
});

t.test('bad input', async (t) => {
  const { c } = await setup(t);
  const limit = await runCli(['search', '--limit', '0', ...c]);
  t.equal(limit.code, 1);
  t.match(limit.err, /SG_ERR_BAD_PARAM: limit:/);
  t.match((await runCli(['search', '--from', 'yesterday', ...c])).err, /SG_ERR_BAD_PARAM: from:/);
  t.match((await runCli(['search', '--cursor', '!!', ...c])).err, /SG_ERR_BAD_PARAM: cursor:/);
  const unknown = await runCli(['search', '--realmm', 'admin', ...c]);
  t.equal(unknown.code, 2);
  t.match(unknown.err, /unknown option --realmm/);
  t.equal((await runCli(['search', 'stray', ...c])).code, 2);
  t.equal((await runCli(['search', '--json=yes', ...c])).code, 2);
  t.equal((await runCli(['search', '--realm', ...c.slice(0, 1)])).code, 2, '--realm without a value');
  t.match((await runCli(['search', '--help'])).out, /usage: sessiongate search/);
});

t.test('terminalSafe and jsonLine', async (t) => {
  t.equal(terminalSafe('a\x1b[31mb'), 'a\\x1b[31mb');
  t.equal(terminalSafe('tab\there'), 'tab\\x09here');
  t.equal(terminalSafe('back\\slash'), 'back\\\\slash', 'backslash doubled: escapes stay unambiguous');
  t.equal(terminalSafe('\u009b\u200b\ufeff'), '\\x9b\\u200b\\ufeff');
  t.equal(terminalSafe('ünïcödé 😀'), 'ünïcödé 😀', 'ordinary text untouched');
  t.equal(terminalSafe(undefined), '');
  t.equal(jsonLine({ a: '\x1b\u009b\u2028' }), '{"a":"\\u001b\\u009b\\u2028"}\n');
  t.same(JSON.parse(jsonLine({ a: '\x1b\u009b\u2028' })), { a: '\x1b\u009b\u2028' });
});
