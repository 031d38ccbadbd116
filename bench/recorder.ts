// `npm run bench -- recorder`: what recording costs the thread that proxies HTTP. Emits N panel
// request events shaped like the proxy's (gateway/http/proxy.ts) into a real Recorder, at a
// fixed rate and flat out, once per store writer ("inline": LMDB transaction on the main thread,
// the old path; "worker": the writer thread), and reports main-thread CPU per event (from the
// kernel's per-thread run time, minus the same loop emitting nowhere), process CPU per event
// (all threads), the event-loop utilisation, max events/s ingested and bytes per stored event.
// With --e2e: the real gateway (recording off / on, and optionally another build's CLI for a
// before/after) behind wrk, reporting req/s and the gateway's CPU per request, main thread and
// whole process, read from the kernel's per-thread counters: robust on a shared, noisy machine.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { parseArgs } from '../cli/io.js';
import { Recorder } from '../recorder/recorder.js';
import { STORE_WRITERS, type StoreWriter } from '../recorder/store/store.js';
import type { EventInput } from '../recorder/events.js';
import { ProcessSet } from './lib/procs.js';
import { HOST, freePort, waitForBody } from './lib/net.js';
import { ORIGIN_BODY, originConf, startNginx } from './lib/nginx.js';
import { startGateway } from './lib/sessiongate.js';
import { runWrk } from './lib/wrk.js';

const USAGE = `usage: npm run bench -- recorder [options]

  --events N        events per measured run (default 200000)
  --rates LIST      comma-separated events/s; 0 = flat out (default 10000,0)
  --writers LIST    comma-separated subset of: ${STORE_WRITERS.join(', ')} (default all)
  --batch-max N     audit.batch_max (default 10000, the config default)
  --flush-ms N      audit.flush_interval (default 50, the config default)

  --e2e             instead: the gateway behind wrk (c50), recording off and on, CPU per request
  --duration S      seconds per wrk run (default 5)
  --rounds N        interleaved rounds (default 3)
  --baseline-cli F  also run recording on with another build's dist/cli/sessiongate.js (before/after)
`;

interface Run {
  writer: StoreWriter | 'none';
  rate: number;
  events: number;
  wallMs: number;
  /** Main-thread CPU (kernel run time of this thread), ns. */
  mainNs: number;
  /** Whole-process CPU (all threads: LMDB's, the writer's), us. */
  procUs: number;
  elu: number;
  /** Wall time from the first emit until everything is committed. */
  ingestMs: number;
  storeBytes: number;
  stored: number;
}

/** This thread's CPU time in ns (Linux: /proc/thread-self/schedstat, ns precision). */
function threadCpuNs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  } catch {
    const u = process.cpuUsage();
    return (u.user + u.system) * 1000;
  }
}

const UAS = ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36', 'curl/8.5.0', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) Gecko/20100101 Firefox/121.0'];

/** A record as the proxy emits it (same fields, realistic sizes). */
function event(i: number): EventInput {
  const u = i % 97;
  return {
    type: 'http.request',
    ts: Date.now(),
    realm: i % 3 ? 'client' : 'admin',
    listener: 'main',
    route: 'panel',
    source: i % 4 ? 'WEB' : 'API',
    method: i % 9 ? 'GET' : 'POST',
    url: `https://panel.example.com/admin/customers/${i % 5000}/invoices?page=${i % 7}&sort=date`,
    status: i % 50 ? 200 : 302,
    bytes_in: 412 + (i % 300),
    bytes_out: 1024 + (i % 4000),
    duration_ms: Math.round((1 + (i % 37) * 0.37) * 100) / 100,
    action: i % 9 ? 'view' : 'update',
    identity_verified: i % 2 === 0,
    ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    user_agent: UAS[i % UAS.length],
    user: { name: `User ${u}`, email: `user${u}@customer${u % 13}.example.com`, login: `user${u}` },
    client: `Customer ${u % 13} Ltd`,
    identity_source: 'basic',
    panel_session: 'c2f1a9e0b7d64e1f9a3c5b8d7e6f4a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f',
  } as EventInput;
}

/** Emits `n` events at `rate`/s (0 = as fast as the recorder's queue allows) into `sink`. */
async function drive(n: number, rate: number, sink: (e: EventInput) => void, backlog: () => number): Promise<void> {
  const t0 = performance.now();
  let i = 0;
  while (i < n) {
    if (rate > 0) {
      const due = Math.min(n, Math.floor(((performance.now() - t0) * rate) / 1000));
      for (; i < due; i++) sink(event(i));
      await new Promise((r) => setTimeout(r, 1));
    } else {
      // Flat out, but as a gateway would be: the queue is bounded, the producer yields.
      if (backlog() > 50_000) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      const end = Math.min(n, i + 500);
      for (; i < end; i++) sink(event(i));
      await new Promise((r) => setImmediate(r));
    }
  }
}

async function runOnce(writer: StoreWriter | 'none', rate: number, n: number, audit: { batch_max: number; flush_interval: number }): Promise<Run> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sg-bench-rec-'));
  try {
    const rec =
      writer === 'none'
        ? undefined
        : await Recorder.open({
            dataDir,
            audit: { enabled: true, mode: 'best_effort', queue_max: 1_000_000, max_store_size: 64 * 1024 ** 3, writer: 'inline', ...audit },
            clock: { now: () => Date.now() },
            logger: pino({ level: 'warn' }),
            writer,
          });
    let sunk = 0;
    const sink = rec ? (e: EventInput) => void rec.emit(e) : (e: EventInput) => void (sunk += e.type.length);
    const backlog = rec ? () => rec.stats().queued : () => 0;
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const main0 = threadCpuNs();
    const t0 = performance.now();
    await drive(n, rate, sink, backlog);
    if (rec) await rec.flush();
    const ingestMs = performance.now() - t0;
    const mainNs = threadCpuNs() - main0;
    const cpu = process.cpuUsage(cpu0);
    const elu = performance.eventLoopUtilization(elu0).utilization;
    const stored = rec ? rec.stats().stored : sunk && 0;
    const storeBytes = rec ? statSync(join(dataDir, 'store', 'data.mdb')).size : 0;
    const usedBytes = rec ? rec.store.sizeBytes() : 0;
    await rec?.close();
    return { writer, rate, events: n, wallMs: ingestMs, mainNs, procUs: cpu.user + cpu.system, elu, ingestMs, storeBytes: usedBytes || storeBytes, stored };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function row(r: Run, base: Run | undefined): string {
  const perEv = (ns: number) => (ns / r.events / 1000).toFixed(2);
  const mainUs = perEv(r.mainNs);
  const extra = base ? perEv(Math.max(0, r.mainNs - base.mainNs)) : '-';
  const proc = ((r.procUs * 1000) / r.events / 1000).toFixed(2);
  const evs = Math.round((r.events / r.ingestMs) * 1000);
  const bpe = r.stored ? Math.round(r.storeBytes / r.stored) : 0;
  return [r.writer.padEnd(7), (r.rate ? String(r.rate) : 'max').padStart(6), mainUs.padStart(9), extra.padStart(11), proc.padStart(9), (r.elu * 100).toFixed(1).padStart(6), String(evs).padStart(9), String(bpe).padStart(6)].join(' ');
}

/** CPU ns of a process's threads now: the main thread (tid = pid) and all of them. */
function procCpuNs(pid: number): { main: number; all: number } {
  let main = 0;
  let all = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      all += ns;
      if (Number(tid) === pid) main = ns;
    } catch {
      /* the thread ended */
    }
  }
  return { main, all };
}

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

interface E2eTarget {
  label: string;
  cli: string;
  recording: boolean;
  runs: { rps: number; mainUs: number; allUs: number }[];
}

async function e2e(duration: number, rounds: number, baselineCli: string | undefined): Promise<number> {
  const tmp = mkdtempSync(join(tmpdir(), 'sg-bench-rec-e2e-'));
  mkdirSync(join(tmp, 'logs'));
  const procs = new ProcessSet(join(tmp, 'logs'));
  const cli = join(repoRoot(), 'dist', 'cli', 'sessiongate.js');
  const targets: E2eTarget[] = [
    { label: 'off', cli, recording: false, runs: [] },
    { label: 'on', cli, recording: true, runs: [] },
  ];
  if (baselineCli) targets.push({ label: 'on (baseline build)', cli: resolve(baselineCli), recording: true, runs: [] });
  try {
    const originPort = await freePort();
    const origin = startNginx(procs, 'nginx-origin', join(tmp, 'origin'), originConf(join(tmp, 'origin'), originPort));
    await waitForBody(`http://${HOST}:${originPort}/`, ORIGIN_BODY, { child: origin });
    for (let r = 0; r < rounds; r++) {
      for (const t of targets) {
        const port = await freePort();
        const g = startGateway(procs, `gw-${r}-${t.label}`, t.cli, { dir: join(tmp, `gw-${r}-${t.label.replace(/\W+/g, '-')}`), port, originPort, engine: 'uws', recording: t.recording });
        const url = `http://${HOST}:${port}/`;
        await waitForBody(url, ORIGIN_BODY, { child: g.child, timeoutMs: 30_000 });
        await runWrk(procs, `warm-${t.label}`, { url, connections: 50, duration_s: 1 });
        const c0 = procCpuNs(g.child.pid);
        const w = await runWrk(procs, t.label, { url, connections: 50, duration_s: duration });
        const c1 = procCpuNs(g.child.pid);
        await procs.stop(g.child, 30_000);
        t.runs.push({ rps: w.requests / duration, mainUs: (c1.main - c0.main) / w.requests / 1000, allUs: (c1.all - c0.all) / w.requests / 1000 });
        const last = t.runs[t.runs.length - 1]!;
        process.stdout.write(`  round ${r + 1}/${rounds} ${t.label.padEnd(20)} ${Math.round(last.rps).toString().padStart(6)} req/s  main ${last.mainUs.toFixed(1)} us/req  process ${last.allUs.toFixed(1)} us/req\n`);
      }
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const off = targets[0]!;
    const offMain = med(off.runs.map((x) => x.mainUs));
    process.stdout.write('\ntarget                 req/s (best)  main us/req (median)  process us/req (median)  main-thread cost of recording\n');
    for (const t of targets) {
      const m = med(t.runs.map((x) => x.mainUs));
      const extra = t === off ? '-' : `+${(m - offMain).toFixed(1)} us/req (${(((m - offMain) / offMain) * 100).toFixed(1)}%)`;
      process.stdout.write(`${t.label.padEnd(22)} ${String(Math.round(Math.max(...t.runs.map((x) => x.rps)))).padStart(12)}  ${m.toFixed(1).padStart(20)}  ${med(t.runs.map((x) => x.allUs)).toFixed(1).padStart(23)}  ${extra}\n`);
    }
    process.stdout.write('The gateway is bound by its main thread: the main-thread cost of recording is what it takes from throughput.\n');
    return 0;
  } finally {
    await procs.stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, ['help', 'e2e']);
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const num = (k: string, d: number) => {
    const v = flags[k];
    const n = typeof v === 'string' ? Number(v) : d;
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${k} must be a number >= 0`);
    return n;
  };
  if (flags.e2e) return e2e(num('duration', 5), num('rounds', 3), typeof flags['baseline-cli'] === 'string' ? flags['baseline-cli'] : undefined);
  const n = num('events', 200_000);
  const rates = (typeof flags.rates === 'string' ? flags.rates : '10000,0').split(',').map(Number);
  const writers = (typeof flags.writers === 'string' ? flags.writers.split(',') : [...STORE_WRITERS]) as StoreWriter[];
  for (const w of writers) if (!STORE_WRITERS.includes(w)) throw new Error(`unknown writer "${w}" (one of ${STORE_WRITERS.join(', ')})`);
  const audit = { batch_max: num('batch-max', 10_000), flush_interval: num('flush-ms', 50) };

  process.stdout.write(`recorder bench: ${n} http.request events per run, batch_max ${audit.batch_max}, flush ${audit.flush_interval} ms\n`);
  // Warm up the JIT and the native module once per writer.
  for (const w of writers) await runOnce(w, 0, Math.min(n, 20_000), audit);
  process.stdout.write('writer    rate  main us/ev  recorder us  proc us   ELU%   ev/s max  B/ev\n');
  for (const rate of rates) {
    const base = await runOnce('none', rate, n, audit);
    process.stdout.write(`${row(base, undefined)}   (the emitting loop alone)\n`);
    for (const w of writers) process.stdout.write(`${row(await runOnce(w, rate, n, audit), base)}\n`);
  }
  process.stdout.write('main us/ev: main-thread CPU per event; recorder us: the same minus the loop alone (what recording costs the data path);\nproc us: whole-process CPU per event (all threads); ev/s max: events / time until all committed; B/ev: store pages used / events.\n');
  return 0;
}
