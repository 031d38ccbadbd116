// The HTTP bench's parts (wrk report parsing, ratios and bars, generated configs, process
// handling) and a short real run against nginx, so `npm run bench -- http` stays runnable.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parseConfigText } from '../config/loader.js';
import { parseWrk, parseTimeMs, errorCount, type WrkResult } from '../bench/lib/wrk.js';
import { summarize, judgeBars, overhead, formatTable, formatBars, bestRuns, type Measured } from '../bench/lib/report.js';
import { gatewayYaml, countStoredRequests } from '../bench/lib/sessiongate.js';
import pino from 'pino';
import { Store } from '../recorder/store/store.js';
import { newId } from '../gateway/core/ids.js';
import type { SgEvent } from '../recorder/events.js';
import { ORIGIN_BODY, originConf, proxyConf, startNginx } from '../bench/lib/nginx.js';
import { ProcessSet } from '../bench/lib/procs.js';
import { freePort, get, waitForBody } from '../bench/lib/net.js';
import { parseOptions, run, UsageError, TARGETS, checkRecording } from '../bench/http.js';
import { requireTool } from './helpers/interop.js';

const WRK_OK = `Running 1s test @ http://127.0.0.1:33317/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   749.77us  729.80us  10.05ms   93.25%
    Req/Sec    60.68k    13.78k   83.07k    60.00%
  Latency Distribution
     50%  594.00us
     75%  799.00us
     90%    1.10ms
     99%    4.01ms
  60415 requests in 1.00s, 67.64MB read
Requests/sec:  60236.70
Transfer/sec:     67.44MB
`;

const WRK_ERRORS = `Running 10s test @ http://127.0.0.1:8081/
  1 threads and 200 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    25.10ms   10.00ms   1.20s    90.00%
    Req/Sec     8.00k     1.00k    9.00k    70.00%
  Latency Distribution
     50%   20.00ms
     75%   30.00ms
     90%   40.00ms
     99%    1.02s
  80000 requests in 1.00m, 90.00MB read
  Socket errors: connect 3, read 2, write 1, timeout 7
  Non-2xx or 3xx responses: 11
Requests/sec:   1333.33
Transfer/sec:      1.50MB
`;

function fakeResult(rps: number, p99: number, errors = 0): WrkResult {
  return {
    requests: Math.round(rps * 10),
    duration_s: 10,
    rps,
    latency_ms: { avg: p99 / 3, p50: p99 / 4, p75: p99 / 3, p90: p99 / 2, p99, max: p99 * 2 },
    errors: { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx: errors,
  };
}

t.test('wrk report parsing', async (t) => {
  const r = parseWrk(WRK_OK);
  t.equal(r.requests, 60415);
  t.equal(r.duration_s, 1);
  t.equal(r.rps, 60236.7);
  t.equal(r.latency_ms.p99, 4.01);
  t.equal(r.latency_ms.p50, 0.594);
  t.equal(r.latency_ms.max, 10.05);
  t.same(r.errors, { connect: 0, read: 0, write: 0, timeout: 0 });
  t.equal(errorCount(r), 0);

  const e = parseWrk(WRK_ERRORS);
  t.equal(e.duration_s, 60, 'minutes');
  t.equal(e.latency_ms.p99, 1020, 'seconds');
  t.same(e.errors, { connect: 3, read: 2, write: 1, timeout: 7 });
  t.equal(e.non2xx, 11);
  t.equal(errorCount(e), 24);

  t.equal(parseTimeMs('386.00us'), 0.386);
  t.equal(parseTimeMs('2.00s'), 2000);
  t.throws(() => parseTimeMs('fast'));
  t.throws(() => parseWrk(WRK_OK.replace(/ {2}Latency Distribution[\s\S]*?99%.*\n/, '')), /--latency/, 'a report without --latency is refused');
  t.throws(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused'), /no latency line/);
});

t.test('best run, ratios and DESIGN.md bars', async (t) => {
  const runs: Measured[] = [
    { target: 'nginx', round: 1, result: fakeResult(20_000, 4) },
    { target: 'nginx', round: 2, result: fakeResult(22_000, 3) },
    { target: 'http-proxy', round: 1, result: fakeResult(4_000, 20) },
    { target: 'sessiongate-off', round: 1, result: fakeResult(12_000, 6) },
    { target: 'sessiongate-on', round: 1, result: fakeResult(10_000, 12) },
    { target: 'sessiongate-on', round: 2, result: fakeResult(11_000, 6) },
  ];
  t.equal(bestRuns(runs).get('nginx')!.round, 2, 'the higher req/s run is kept');
  const s = summarize(runs);
  const on = s.find((x) => x.target === 'sessiongate-on')!;
  t.equal(on.rps, 11_000);
  t.equal(on.vs_nginx, 0.5);
  t.equal(on.vs_http_proxy, 2.75);
  t.equal(on.p99_vs_nginx, 2, 'p99 of the kept run');
  t.ok(on.valid);
  t.equal(overhead(11_000, 12_000).toFixed(4), '0.0833');

  const bars = judgeBars(s, { connections: 200, peak_rss: 150 * 1024 * 1024, rss: 100 * 1024 * 1024, result: fakeResult(9_000, 30) });
  const by = Object.fromEntries(bars.map((b) => [b.what, b]));
  t.match(by['HTTP req/s with recording on vs nginx'], { value: 0.5, pass: true, goal_met: false });
  t.match(by['HTTP req/s vs http-proxy'], { value: 2.75, pass: false, goal_met: false });
  t.equal(by['recording overhead (on vs off)']!.pass, true);
  t.equal(by['recording overhead (on vs off)']!.value!.toFixed(2), '8.33');
  t.match(by['HTTP p99 vs nginx at c50'], { value: 2, pass: true, goal_met: false });
  t.match(by['RSS at c200 (peak, VmHWM)'], { value: 150, pass: true, goal_met: false });

  const table = formatTable(s);
  t.match(table, /sessiongate-on\s+11,000\s+0\.50x\s+2\.75x/);
  const text = formatBars(bars);
  t.match(text, /\[PASS\]\s+HTTP req\/s with recording on vs nginx\s+0\.50x/);
  t.match(text, /\[FAIL\]\s+HTTP req\/s vs http-proxy/);

  // A run with errors proves nothing: its bars fail, whatever the figures.
  const withErrors = summarize([...runs.filter((r) => r.target !== 'sessiongate-on'), { target: 'sessiongate-on', round: 1, result: fakeResult(30_000, 1, 5) }]);
  t.notOk(withErrors.find((x) => x.target === 'sessiongate-on')!.valid);
  const eb = judgeBars(withErrors);
  t.match(eb[0], { pass: false, note: 'a run had errors' });
  t.equal(eb[4]!.pass, undefined, 'no RSS run: not measured');
  t.match(formatBars(eb), /\[ n\/a\]\s+RSS at c200/);

  const onlyAnchors = judgeBars(summarize(runs.filter((r) => !r.target.startsWith('sessiongate'))));
  t.ok(onlyAnchors.every((b) => b.pass === undefined), 'without sessiongate every bar is n/a');
});

t.test('recording check', async (t) => {
  t.match(checkRecording('on', { rows: 1000, counter: 1000 }, 1000, 50), { ok: true, stored: 1000 });
  t.match(checkRecording('on', { rows: 1040, counter: 1040 }, 1000, 50), { ok: true }, 'in-flight requests may be stored too');
  t.match(checkRecording('on', { rows: 999, counter: 999 }, 1000, 50), { ok: false }, 'a completed request missing');
  t.match(checkRecording('on', { rows: 1100, counter: 1100 }, 1000, 50), { ok: false }, 'more than could have been sent');
  t.match(checkRecording('on', { rows: 1000, counter: 1001 }, 1000, 50), { ok: false }, 'rows and counter disagree');
});

t.test('stored requests are counted by reading a real store back', async (t) => {
  const dataDir = t.testdir();
  const store = Store.open({ dir: join(dataDir, 'store'), logger: pino({ level: 'silent' }) });
  const t0 = Date.now() - 60_000;
  const events: SgEvent[] = [];
  for (let i = 0; i < 1234; i++) {
    const ts = t0 + i;
    events.push({ id: newId(ts), ts, type: 'http.request', realm: 'client', listener: 'bench', route: 'origin', source: 'WEB', method: 'GET', url: `http://127.0.0.1/${i}`, status: 200, bytes_in: 0, bytes_out: 1024, duration_ms: 1, action: 'view', identity_verified: false });
  }
  events.push({ id: newId(t0 + 5000), ts: t0 + 5000, type: 'activity', initiator: 'system', action: 'start', description: 'not a request' });
  const w = await store.writeBatch(events);
  t.equal(w.stored, 1235, 'written');
  await store.close();
  const c = await countStoredRequests(dataDir);
  t.equal(c.rows, 1234, 'every request row read back, activity not counted');
  t.equal(c.counter, 1234, "the store's counter agrees");
  t.equal(c.newest?.url, 'http://127.0.0.1/1233', 'newest first');
  await t.rejects(countStoredRequests(join(dataDir, 'nope')), { code: 'SG_ERR_STORE_OPEN' });
});

t.test('options', async (t) => {
  const d = parseOptions([]);
  t.match(d, { duration: 10, connections: 50, warmup: 2, rounds: 2, rssConnections: 200, keep: false, strict: false });
  t.same(d.targets, [...TARGETS]);
  const o = parseOptions(['--duration', '3', '--connections=20', '--targets', 'nginx,direct', '--keep']);
  t.match(o, { duration: 3, connections: 20, keep: true });
  t.same(o.targets, ['direct', 'nginx'], 'targets keep the canonical order');
  for (const bad of [['--duration', '0'], ['--duration', 'x'], ['--connections', '-1'], ['--targets', 'apache'], ['--frobnicate'], ['extra']]) {
    t.throws(() => parseOptions(bad), UsageError, bad.join(' '));
  }
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  t.equal(await run(['--rounds', '99'], { stdout: out, stderr: out }), 2);
  t.match(text, /--rounds must be an integer from 1 to 10/);
});

t.test('generated Sessiongate configs are valid', async (t) => {
  for (const recording of [true, false]) {
    for (const engine of ['uws', 'node'] as const) {
      const yaml = gatewayYaml({ dir: '/tmp/sg-bench-x/sessiongate-on', port: 18123, originPort: 18124, engine, recording });
      // The real loader: schema, semantic checks; throws a ConfigError on any problem.
      const { config: c, warnings } = parseConfigText(yaml, '/tmp/sg-bench-x/sessiongate-on/sessiongate.yaml');
      t.equal(c.audit.enabled, recording, `recording ${recording}, engine ${engine}: valid`);
      t.equal(c.http.length, 1);
      t.match(c.http[0], { engine, listen: { host: '127.0.0.1', port: 18123 } });
      t.equal(c.http[0]!.routes[0]!.upstream, 'http://127.0.0.1:18124');
      t.match(c.viewer.listen, { host: '127.0.0.1', port: 0 });
      t.equal(c.data_dir, '/tmp/sg-bench-x/sessiongate-on/data');
      t.equal(c.log.level, 'warn', 'no per-request logging in the measured path');
      if (recording) t.same(warnings, [], 'no warnings');
      else t.ok(warnings.some((w) => w.key === 'audit.enabled'), 'the loader warns that recording is off');
    }
  }
});

t.test('process set: stops by PID, escalates to SIGKILL', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-bench-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const procs = new ProcessSet(dir);
  t.teardown(() => procs.stopAll(1_000));
  const stubborn = procs.spawn('stubborn', process.execPath, ['-e', "process.on('SIGTERM', () => console.log('ignored')); console.log('up'); setInterval(() => {}, 1000)"]);
  for (let i = 0; i < 100 && !readFileSync(stubborn.stdoutFile, 'utf8').includes('up'); i++) await new Promise((r) => setTimeout(r, 50));
  const polite = procs.spawn('polite', process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
  t.equal(procs.running.length, 2);
  const e1 = await procs.stop(stubborn, 500);
  t.equal(e1.signal, 'SIGKILL', 'a process ignoring SIGTERM is killed');
  t.match(readFileSync(stubborn.stdoutFile, 'utf8'), /ignored/, 'it did receive SIGTERM first');
  await procs.stopAll(5_000);
  t.equal(polite.exit?.signal, 'SIGTERM');
  t.equal(procs.running.length, 0);
  t.throws(() => procs.spawn('late', process.execPath, ['-e', '0']), /stopping/, 'nothing starts once stopping');
});

t.test('nginx origin and proxy serve the 1 KB body', async (t) => {
  if (!requireTool(t, 'nginx')) return;
  const dir = mkdtempSync(join(tmpdir(), 'sg-bench-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const procs = new ProcessSet(dir);
  t.teardown(() => procs.stopAll(5_000));
  const [op, pp] = [await freePort(), await freePort()];
  const origin = startNginx(procs, 'origin', join(dir, 'origin'), originConf(join(dir, 'origin'), op));
  const proxy = startNginx(procs, 'proxy', join(dir, 'proxy'), proxyConf(join(dir, 'proxy'), pp, op));
  await waitForBody(`http://127.0.0.1:${op}/`, ORIGIN_BODY, { child: origin });
  await waitForBody(`http://127.0.0.1:${pp}/any/path?x=1`, ORIGIN_BODY, { child: proxy });
  const r = await get(`http://127.0.0.1:${pp}/`);
  t.equal(r.status, 200);
  t.equal(r.body.length, 1024, 'exactly 1 KB');
  t.ok(existsSync(join(dir, 'origin', 'nginx.pid')), 'pid file inside the prefix dir');
  await procs.stopAll(5_000);
  t.ok(origin.exit && proxy.exit, 'both masters exited');
  await t.rejects(get(`http://127.0.0.1:${op}/`, 1_000), 'the origin no longer answers (workers gone too)');
  await t.rejects(get(`http://127.0.0.1:${pp}/`, 1_000), 'the proxy no longer answers');
});

t.test('a short real bench run (direct + nginx) leaves nothing behind', async (t) => {
  if (!requireTool(t, 'nginx') || !requireTool(t, 'wrk')) return;
  const out = mkdtempSync(join(tmpdir(), 'sg-bench-out-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  const code = await run(['--targets', 'direct,nginx', '--duration', '1', '--warmup', '0', '--rounds', '1', '--out', out], { stdout: stream, stderr: stream });
  if (!t.equal(code, 0, 'the bench exits 0')) t.comment(text);
  t.match(text, /direct\s+[\d,]+\s+[\d.]+x/);
  t.match(text, /nginx\s+[\d,]+\s+1\.00x/);
  const files = readdirSync(out).filter((f) => /^http-.*\.json$/.test(f));
  t.equal(files.length, 1, 'one JSON result');
  const result = JSON.parse(readFileSync(join(out, files[0]!), 'utf8'));
  t.same(result.summary.map((s: { target: string }) => s.target), ['direct', 'nginx']);
  t.ok(result.summary.every((s: { valid: boolean; rps: number }) => s.valid && s.rps > 0), 'both runs valid');
  t.equal(result.origin_body_bytes, 1024);
  t.match(result.environment.nginx, /nginx/);
  const tmp = /temp dir: (\S+)/.exec(text)![1]!;
  t.notOk(existsSync(tmp), 'temp dir removed');
  const leftovers = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(tmp);
      } catch {
        return false;
      }
    });
  t.same(leftovers, [], 'no process of the run is left');
});
