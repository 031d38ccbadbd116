// `npm run bench -- http`: Sessiongate's HTTP data path side by side with its anchors in ONE run,
// against the same nginx origin (1 KB body), with wrk on loopback: direct, nginx proxy,
// http-proxy, Sessiongate with recording off and on (and the node:http engine). Each target gets
// a warm-up, the set runs twice interleaved and the better run counts; then Sessiongate (recording
// on) runs at c200 for its peak RSS. The stored event count is read back to prove recording happened.
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync, spawnSync } from 'node:child_process';
import { parseArgs } from '../cli/io.js';
import { ProcessSet, type Child } from './lib/procs.js';
import { HOST, freePort, waitForBody } from './lib/net.js';
import { ORIGIN_BODY, originConf, proxyConf, startNginx } from './lib/nginx.js';
import { countStoredRequests, memoryOf, startGateway, type GatewayTarget } from './lib/sessiongate.js';
import { runWrk, errorCount, type WrkResult } from './lib/wrk.js';
import { findRoot, formatBars, formatTable, judgeBars, summarize, type Measured, type RssMeasure } from './lib/report.js';
import { UsageError, intFlag, parseOrUsage, type BenchIo } from './lib/cli.js';
import { hostEnvironment, inTempRun, saveResult, versionOf } from './lib/run.js';

export const TARGETS = ['direct', 'nginx', 'http-proxy', 'floor', 'floor-2t', 'sessiongate-off', 'sessiongate-on', 'sessiongate-node'] as const;
export type TargetName = (typeof TARGETS)[number];

export interface HttpBenchOptions {
  duration: number;
  connections: number;
  warmup: number;
  rounds: number;
  rssConnections: number;
  /** audit.writer of the recording gateways (default: the config default). */
  writer?: 'worker' | 'inline';
  targets: TargetName[];
  keep: boolean;
  strict: boolean;
  outDir: string;
}


const ROOT = findRoot();
// Child processes always run the compiled code.
const CLI = join(ROOT, 'dist', 'cli', 'sessiongate.js');
const HTTP_PROXY_SERVER = join(ROOT, 'dist', 'bench', 'http-proxy-server.js');
// The minimal proxy on the gateway's own stack (uWS + undici), in 1 or 2 threads.
const FLOOR_PROXY = join(ROOT, 'dist', 'bench', 'floor-proxy.js');

const USAGE = `usage: npm run bench -- http [options]

  --duration S         seconds per measured run (default 10)
  --connections N      wrk connections for the comparison (default 50)
  --warmup S           warm-up seconds before each run (default 2)
  --rounds N           interleaved rounds; the better run of each target counts (default 2)
  --rss-connections N  connections for the peak-RSS run of sessiongate-on (default 200; 0 = skip)
  --targets LIST       comma-separated subset of: ${TARGETS.join(', ')}
  --keep               keep the temp dir (configs, logs, data) for inspection
  --strict             exit 3 when a first bar of DESIGN.md, the recording check or a run fails
  --out DIR            where the JSON result goes (default bench/results)
`;

export { UsageError, intFlag, type BenchIo } from './lib/cli.js';

export function parseOptions(argv: string[]): HttpBenchOptions {
  const { flags, positionals } = parseArgs(argv, ['keep', 'strict', 'help']);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const known = new Set(['duration', 'connections', 'warmup', 'rounds', 'rss-connections', 'targets', 'writer', 'keep', 'strict', 'out', 'help']);
  for (const k of Object.keys(flags)) if (!known.has(k)) throw new UsageError(`unknown option --${k}`);
  if (flags.help) throw new UsageError('');
  let targets: TargetName[] = [...TARGETS];
  if (flags.targets !== undefined) {
    if (flags.targets === true) throw new UsageError('--targets needs a list');
    targets = flags.targets.split(',').map((s) => s.trim()).filter(Boolean) as TargetName[];
    const bad = targets.find((t) => !TARGETS.includes(t));
    if (bad || targets.length === 0) throw new UsageError(`unknown target "${bad ?? ''}" (use ${TARGETS.join(', ')})`);
  }
  if (flags.out === true) throw new UsageError('--out needs a directory');
  if (flags.writer !== undefined && flags.writer !== 'worker' && flags.writer !== 'inline') throw new UsageError('--writer must be worker or inline');
  return {
    ...(flags.writer !== undefined ? { writer: flags.writer as 'worker' | 'inline' } : {}),
    duration: intFlag(flags.duration, 'duration', 10, 1, 600),
    connections: intFlag(flags.connections, 'connections', 50, 1, 10_000),
    warmup: intFlag(flags.warmup, 'warmup', 2, 0, 60),
    rounds: intFlag(flags.rounds, 'rounds', 2, 1, 10),
    rssConnections: intFlag(flags['rss-connections'], 'rss-connections', 200, 0, 10_000),
    targets: TARGETS.filter((t) => targets.includes(t)),
    keep: flags.keep === true,
    strict: flags.strict === true,
    outDir: typeof flags.out === 'string' ? flags.out : join(ROOT, 'bench', 'results'),
  };
}

interface Target {
  name: TargetName;
  url: string;
  child?: Child;
  gateway?: GatewayTarget;
  /** Requests completed against this process (wrk's counts and the readiness check), and the
   *  most that may have been in flight when a run ended (wrk does not count those; the gateway
   *  records them too). */
  completed: number;
  inFlight: number;
}

export interface RecordingCheck {
  target: string;
  /** http.request rows read back from the store. */
  stored: number;
  /** The store's own count (must equal the rows). */
  counter: number;
  completed: number;
  /** Most requests wrk may have had in flight when its runs ended (one per connection per run). */
  slack: number;
  ok: boolean;
}



function preflight(o: HttpBenchOptions): void {
  const missing: string[] = [];
  for (const tool of ['wrk', 'nginx']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      missing.push(tool);
    }
  }
  if (missing.length) throw new Error(`${missing.join(' and ')} not found: apt-get install ${missing.map((m) => (m === 'nginx' ? 'nginx-light' : m)).join(' ')}`);
  if (o.targets.some((t) => t.startsWith('sessiongate')) && !existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build)`);
  if (o.targets.includes('http-proxy') && !existsSync(HTTP_PROXY_SERVER)) throw new Error(`${HTTP_PROXY_SERVER} is missing: build first (npm run build)`);
  if (o.targets.some((t) => t.startsWith('floor')) && !existsSync(FLOOR_PROXY)) throw new Error(`${FLOOR_PROXY} is missing: build first (npm run build)`);
}

/** Every completed request must be stored; requests in flight when wrk stopped may be too. */
export function checkRecording(target: string, count: { rows: number; counter: number }, completed: number, slack: number): RecordingCheck {
  const ok = count.rows === count.counter && count.rows >= completed && count.rows <= completed + slack;
  return { target, stored: count.rows, counter: count.counter, completed, slack, ok };
}

export async function run(argv: string[], io: BenchIo = process): Promise<number> {
  const parsed = parseOrUsage('http', USAGE, io, () => parseOptions(argv));
  if ('exit' in parsed) return parsed.exit;
  const o: HttpBenchOptions = parsed.options;
  preflight(o);
  const say = (line: string) => void io.stdout.write(line + '\n');

  return inTempRun({ prefix: 'sg-bench-', keep: o.keep, io }, ({ tmp, procs }) => benchmark(o, tmp, procs, say));
}

/** Starts a target and proves it serves the origin's body. `label` names its dir and logs. */
async function startTarget(procs: ProcessSet, tmp: string, name: TargetName, originUrl: string, originPort: number, writer: HttpBenchOptions['writer'], label: string = name): Promise<Target> {
  const t: Target = { name, url: originUrl, completed: 0, inFlight: 0 };
  if (name === 'direct') return t;
  const port = await freePort();
  t.url = `http://${HOST}:${port}/`;
  if (name === 'nginx') t.child = startNginx(procs, 'nginx-proxy', join(tmp, 'nginx-proxy'), proxyConf(join(tmp, 'nginx-proxy'), port, originPort));
  else if (name === 'http-proxy') t.child = procs.spawn('http-proxy', process.execPath, [HTTP_PROXY_SERVER, String(port), originUrl]);
  else if (name === 'floor' || name === 'floor-2t') t.child = procs.spawn(name, process.execPath, [FLOOR_PROXY, String(port), originUrl, '--threads', name === 'floor' ? '1' : '2']);
  else {
    const recording = name !== 'sessiongate-off';
    t.gateway = startGateway(procs, label, CLI, { dir: join(tmp, label), port, originPort, engine: name === 'sessiongate-node' ? 'node' : 'uws', recording, writer });
    t.child = t.gateway.child;
  }
  await waitForBody(t.url, ORIGIN_BODY, { child: t.child, timeoutMs: 30_000 });
  t.completed += 1;
  return t;
}

async function measure(procs: ProcessSet, t: Target, connections: number, o: HttpBenchOptions): Promise<WrkResult> {
  if (o.warmup > 0) {
    const w = await runWrk(procs, `${t.name}-warmup`, { url: t.url, connections, duration_s: o.warmup });
    t.completed += w.requests;
    t.inFlight += connections;
  }
  const r = await runWrk(procs, t.name, { url: t.url, connections, duration_s: o.duration });
  t.completed += r.requests;
  t.inFlight += connections;
  if (t.child?.exit) throw new Error(`${t.name} died during its run (code ${t.child.exit.code}, signal ${t.child.exit.signal})`);
  return r;
}

/** Stops a gateway gracefully (it flushes its queue), then reads its store back. */
async function stopAndCount(procs: ProcessSet, t: Target, label: string, say: (line: string) => void): Promise<RecordingCheck> {
  const exit = await procs.stop(t.child!, 30_000);
  if (exit.code !== 0) say(`  note: ${t.name} exited with code ${exit.code} signal ${exit.signal}: a graceful stop exits 0`);
  const count = await countStoredRequests(t.gateway!.dataDir);
  if (count.newest) {
    const e = count.newest;
    say(`  ${label}: newest stored record: ${e.method} ${e.url} ${e.status} ${e.bytes_out} B realm=${e.realm} route=${e.route} ip=${e.ip ?? '-'} ${e.duration_ms} ms`);
  }
  return checkRecording(label, count, t.completed, t.inFlight);
}

function describeCheck(c: RecordingCheck): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const counter = c.counter === c.stored ? '' : ` (but the store's counter says ${n(c.counter)})`;
  return `${c.target}: ${n(c.stored)} http.request events read back${counter} for ${n(c.completed)} requests wrk completed (+ up to ${n(c.slack)} in flight when runs ended) -> ${c.ok ? 'OK' : 'MISMATCH'}`;
}

/** How close each Sessiongate target comes to the minimal proxy on the same stack (uWS + undici). */
export function vsFloor(summary: readonly { target: string; rps: number }[]): string | undefined {
  const floor = summary.find((s) => s.target === 'floor');
  if (!floor?.rps) return undefined;
  const parts = summary.filter((s) => s.target.startsWith('sessiongate') || s.target === 'floor-2t').map((s) => `${s.target} ${(s.rps / floor.rps).toFixed(2)}x`);
  return parts.length ? `vs floor (uWS + undici, no checks, no recording, 1 thread): ${parts.join(', ')}` : undefined;
}

async function benchmark(o: HttpBenchOptions, tmp: string, procs: ProcessSet, say: (line: string) => void): Promise<number> {
  const started = new Date();
  const load = loadavg()[0]!;
  if (load > 0.5) say(`note: load average is ${load.toFixed(2)} before the bench starts: other work on this machine makes the figures noisy`);
  say(`Sessiongate HTTP bench: wrk -t1 -c${o.connections} -d${o.duration}s --latency, ${o.warmup}s warm-up, ${o.rounds} interleaved round(s), 1 KB body from an nginx origin (1 worker)`);
  say(`temp dir: ${tmp}`);

  const originPort = await freePort();
  const originUrl = `http://${HOST}:${originPort}/`;
  const origin = startNginx(procs, 'nginx-origin', join(tmp, 'origin'), originConf(join(tmp, 'origin'), originPort));
  await waitForBody(originUrl, ORIGIN_BODY, { child: origin });

  const targets: Target[] = [];
  for (const name of o.targets) {
    targets.push(await startTarget(procs, tmp, name, originUrl, originPort, o.writer));
    say(`  ready: ${name.padEnd(16)} ${targets.at(-1)!.url}`);
  }

  const runs: Measured[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    // Alternate the order so slow drift (heat, page cache) does not favour one side.
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    for (const t of order) {
      const r = await measure(procs, t, o.connections, o);
      runs.push({ target: t.name, round, result: r });
      const errs = errorCount(r);
      say(`  round ${round}/${o.rounds} ${t.name.padEnd(16)} ${Math.round(r.rps).toLocaleString('en-US').padStart(8)} req/s  p99 ${r.latency_ms.p99.toFixed(2)} ms${errs ? `  ${errs} errors!` : ''}`);
    }
  }

  const checks: RecordingCheck[] = [];
  for (const t of targets) if (t.gateway && t.name !== 'sessiongate-off') checks.push(await stopAndCount(procs, t, t.name, say));
  for (const t of targets) if (t.child && !t.child.exit) await procs.stop(t.child);

  let rss: RssMeasure | undefined;
  if (o.rssConnections > 0 && o.targets.includes('sessiongate-on')) {
    // A fresh process and store, so its peak RSS (VmHWM) and its records are the c200 run's alone.
    const label = `sessiongate-on-c${o.rssConnections}`;
    const t = await startTarget(procs, tmp, 'sessiongate-on', originUrl, originPort, o.writer, label);
    const r = await measure(procs, t, o.rssConnections, o);
    const mem = await memoryOf(t.child!.pid);
    rss = { connections: o.rssConnections, ...mem, result: r };
    say(`  sessiongate-on at c${o.rssConnections}: ${Math.round(r.rps).toLocaleString('en-US')} req/s, p99 ${r.latency_ms.p99.toFixed(2)} ms, peak RSS ${(mem.peak_rss / 1048576).toFixed(0)} MB`);
    checks.push(await stopAndCount(procs, t, label, say));
  }
  await procs.stop(origin);

  const summary = summarize(runs);
  const bars = judgeBars(summary, rss);
  say('');
  say(formatTable(summary));
  const floorLine = vsFloor(summary);
  if (floorLine) say(floorLine);
  say('');
  say('DESIGN.md bars (sessiongate-on):');
  say(formatBars(bars));
  if (checks.length) {
    say('');
    say('Recording check (each gateway stopped gracefully, then its store opened read-only and read back):');
    for (const c of checks) say(`  ${describeCheck(c)}`);
  }

  const result = {
    suite: 'http',
    started: started.toISOString(),
    finished: new Date().toISOString(),
    options: { duration_s: o.duration, connections: o.connections, warmup_s: o.warmup, rounds: o.rounds, rss_connections: o.rssConnections, targets: o.targets, writer: o.writer ?? 'default' },
    environment: {
      ...hostEnvironment(),
      nginx: versionOf('nginx', ['-v']),
      wrk: versionOf('wrk', ['-v']),
      commit: versionOf('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
    },
    origin_body_bytes: ORIGIN_BODY.length,
    summary,
    bars,
    rss: rss && { connections: rss.connections, peak_rss_bytes: rss.peak_rss, rss_bytes: rss.rss, result: rss.result },
    recording_checks: checks,
    runs,
  };
  saveResult(o.outDir, 'http', started, result, say);

  const failed = bars.some((b) => b.pass === false) || checks.some((c) => !c.ok) || summary.some((s) => !s.valid);
  if (failed) say('At least one first bar, recording check or run failed (see above).');
  return o.strict && failed ? 3 : 0;
}
