// `npm run bench -- ftp`: Sessiongate's FTP front end side by side with the same vsftpd reached
// directly, in ONE run, on loopback, recording on, with the same client (curl, passive mode with
// EPSV, binary):
//
//   download   RETR of a generated file (default 200 MiB) into /dev/null
//   upload     STOR of a local file of the same size (vsftpd writes it to disk; removed after)
//
// vsftpd is started by the bench in the foreground with its own config (anonymous logins with a
// password list, writes in pub/, its own passive ports) on a free loopback port, under a shell
// that stops it when the bench's pipe to it closes, so it never outlives the bench. The gateway is
// the real CLI (`node dist/cli/sessiongate.js start --config <generated yaml>`) with two FTP
// listeners in front of that vsftpd: `bench` as configured by default (data relayed on a native
// thread, gateway/ftp/native-relay.ts) and `bench-js` with `native_relay: false` (the JavaScript
// relay, for the record; the bars are read on the default). Rounds alternate the order (direct first, then gateway first);
// best and median count. After the runs the gateway is stopped gracefully and its store is read
// back: every transfer the gateway carried must be recorded as `ok` with its exact byte count.
// Every process is stopped by its PID at the end, on errors and on Ctrl-C.
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg, userInfo } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { stringify } from 'yaml';
import { parseArgs } from '../cli/io.js';
import { Store } from '../recorder/store/store.js';
import { ProcessSet, type Child } from './lib/procs.js';
import { HOST, freePort, waitForChildPort } from './lib/net.js';
import { TIE_SCRIPT } from './lib/procs.js';
import { VSFTPD_BINS, freePortRange, ftpIds, prepareVsftpd, waitForBanner } from './lib/vsftpd.js';
import { bar, f1, findRoot, formatBars, fx, table, type Bar } from './lib/report.js';
import { UsageError, intFlag, parseOrUsage, type BenchIo } from './lib/cli.js';
import { hostEnvironment, inTempRun, needDisk, saveResult, type TempRun, versionOf } from './lib/run.js';

const ROOT = findRoot();
const CLI = join(ROOT, 'dist', 'cli', 'sessiongate.js');
const DIRECTIONS = ['download', 'upload'] as const;
type Direction = (typeof DIRECTIONS)[number];
type Side = 'direct' | 'gateway' | 'gateway-js';
const viaGateway = (s: Side) => s !== 'direct';

export interface FtpBenchOptions {
  mb: number;
  rounds: number;
  directions: Direction[];
  /** Seconds to wait for other benchmarks on this machine to finish before measuring (0: do not wait). */
  waitOthers: number;
  profile: boolean;
  keep: boolean;
  strict: boolean;
  outDir: string;
}

const USAGE = `usage: npm run bench -- ftp [options]

  --mb N             MiB per transfer (default 200)
  --rounds N         interleaved rounds per direction and side; best and median count (default 5)
  --directions LIST  subset of ${DIRECTIONS.join(',')} (default both)
  --wait-others S    wait up to S seconds while another benchmark (wrk, a bench suite) runs (default 600; 0: do not wait)
  --profile          run the gateway under node --cpu-prof (profile in the temp dir; implies --keep)
  --keep             keep the temp dir (configs, logs, data)
  --strict           exit 3 when a first bar or the recording check fails
  --out DIR          where the JSON result goes (default bench/results)
`;

export function parseOptions(argv: string[]): FtpBenchOptions {
  const { flags, positionals } = parseArgs(argv, ['keep', 'strict', 'help', 'profile']);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const known = new Set(['mb', 'rounds', 'directions', 'wait-others', 'profile', 'keep', 'strict', 'out', 'help']);
  for (const k of Object.keys(flags)) if (!known.has(k)) throw new UsageError(`unknown option --${k}`);
  if (flags.help) throw new UsageError('');
  let directions: Direction[] = [...DIRECTIONS];
  if (flags.directions !== undefined) {
    if (flags.directions === true) throw new UsageError('--directions needs a list');
    const xs = flags.directions.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = xs.find((x) => !(DIRECTIONS as readonly string[]).includes(x));
    if (bad || !xs.length) throw new UsageError(`unknown direction "${bad ?? ''}" (use ${DIRECTIONS.join(', ')})`);
    directions = DIRECTIONS.filter((d) => xs.includes(d));
  }
  if (flags.out === true) throw new UsageError('--out needs a directory');
  return {
    mb: intFlag(flags.mb, 'mb', 200, 1, 100_000),
    rounds: intFlag(flags.rounds, 'rounds', 5, 1, 20),
    directions,
    waitOthers: intFlag(flags['wait-others'], 'wait-others', 600, 0, 24 * 3600),
    profile: flags.profile === true,
    keep: flags.keep === true || flags.profile === true,
    strict: flags.strict === true,
    outDir: typeof flags.out === 'string' ? flags.out : join(ROOT, 'bench', 'results'),
  };
}

// ---------- small helpers ----------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}



/** vsftpd -v wants a terminal on stdin; the package manager knows the version. */
function vsftpdVersion(): string {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'vsftpd'], { encoding: 'utf8', timeout: 5_000 });
  return r.status === 0 && r.stdout ? `vsftpd ${r.stdout.trim()}` : 'vsftpd';
}


/** CPU seconds of a process (utime + stime, and stime alone) and of the children it has reaped, from /proc. */
function cpuOf(pid: number | 'self'): { own: number; sys: number; children: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { own: (Number(f[11]) + Number(f[12])) / 100, sys: Number(f[12]) / 100, children: (Number(f[13]) + Number(f[14])) / 100 };
  } catch {
    return { own: NaN, sys: NaN, children: NaN };
  }
}

function hostCpu(): { busy: number; total: number } {
  const l = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = l.reduce((a, b) => a + b, 0);
  return { busy: total - (l[3] ?? 0) - (l[4] ?? 0), total };
}

/**
 * Other benchmarks running on this machine (they would share the 2 cores with this one): wrk,
 * the bench runner and the suites of other checkouts, ab/iperf. This process and its ancestors
 * are left out.
 */
export function otherBenchmarks(): string[] {
  const mine = new Set<number>();
  for (let pid = process.pid; pid > 1; ) {
    mine.add(pid);
    try {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  const found: string[] = [];
  let pids: string[] = [];
  try {
    pids = spawnSync('ls', ['/proc'], { encoding: 'utf8' }).stdout.split('\n').filter((p) => /^\d+$/.test(p));
  } catch {
    return found;
  }
  for (const p of pids) {
    const pid = Number(p);
    if (mine.has(pid)) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      continue;
    }
    if (!cmd) continue;
    if (/(^|\/)(wrk|ab|iperf3?|h2load|oha)( |$)/.test(cmd) || /bench\/run\.(js|ts)\b/.test(cmd) || /\bbench\/(ssh|http|store|viewer|recorder)(\.ts|\.js)?\b/.test(cmd) || /npm run bench\b/.test(cmd)) {
      // A test that runs a bench suite is a benchmark too; our own children are not (they are not started yet).
      found.push(`${pid} ${cmd.slice(0, 120)}`);
    }
  }
  return found;
}

// ---------- vsftpd, tied to this process ----------

interface Vsftpd {
  port: number;
  root: string;
  pub: string;
  password: string;
  proc: ChildProcess;
  exited: Promise<void>;
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * vsftpd in the foreground under `/bin/sh`, which holds the read end of a pipe from this process
 * and kills vsftpd when it reads EOF: the kernel closes the pipe however this process ends.
 */
export async function startVsftpd(dir: string): Promise<Vsftpd> {
  const bin = VSFTPD_BINS.find((b) => existsSync(b));
  if (!bin) throw new Error('vsftpd not found (Debian: apt-get install vsftpd)');
  const password = `bench-${randomBytes(6).toString('hex')}@example.com`;
  const { cfg, port, root, pub } = await prepareVsftpd(dir, { password, active: false, idleTimeoutS: 300, dataTimeoutS: 120 });
  const proc = spawn('/bin/sh', ['-c', TIE_SCRIPT, bin, cfg], { stdio: ['pipe', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4096)));
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = async () => {
    if (!gone) {
      proc.stdin!.end();
      const t = setTimeout(() => proc.pid && tryKill(proc.pid, 'SIGTERM'), 3000);
      await exited;
      clearTimeout(t);
    }
  };
  try {
    await waitForBanner(port, 10_000, () => (gone ? `vsftpd exited before listening: ${stderr.trim()}` : undefined));
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, root, pub, password, proc, exited, stderr: () => stderr, stop };
}

function tryKill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

/** A file of `bytes` bytes of random data (1 MiB of random bytes repeated), owned as given. */
function makeFile(file: string, bytes: number): void {
  const block = randomBytes(1 << 20);
  const fd = openSync(file, 'w', 0o644);
  try {
    for (let left = bytes; left > 0; left -= block.length) writeSync(fd, block, 0, Math.min(left, block.length));
  } finally {
    closeSync(fd);
  }
}

// ---------- the gateway ----------

interface Gw {
  child: Child;
  port: number;
  /** The listener with native_relay: false. */
  portJs: number;
  dataDir: string;
  configFile: string;
  profileDir?: string;
}

async function startGw(procs: ProcessSet, dir: string, vs: Vsftpd, profile: boolean): Promise<Gw> {
  mkdirSync(dir, { recursive: true });
  const dataDir = join(dir, 'data');
  const configFile = join(dir, 'sessiongate.yaml');
  const port = await freePort();
  const portJs = await freePort();
  const range = await freePortRange(20);
  const rangeJs = await freePortRange(20);
  const cfg = {
    data_dir: dataDir,
    log: { level: 'warn', file: join(dir, 'sessiongate.log') },
    viewer: { enabled: false },
    ftp: {
      listeners: [
        { name: 'bench', listen: `${HOST}:${port}`, passive_ports: `${range.from}-${range.to}`, idle_timeout: '10m' },
        { name: 'bench-js', listen: `${HOST}:${portJs}`, passive_ports: `${rangeJs.from}-${rangeJs.to}`, idle_timeout: '10m', native_relay: false },
      ],
      servers: [{ name: 'vsftpd', host: HOST, port: vs.port }],
    },
  };
  writeFileSync(configFile, `# Sessiongate FTP bench target (generated)\n${stringify(cfg)}`);
  const profileDir = profile ? join(dir, 'cpu-prof') : undefined;
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = procs.spawn('sessiongate', process.execPath, [...nodeArgs, CLI, 'start', '--config', configFile]);
  await waitForChildPort(port, child, 30_000);
  await waitForChildPort(portJs, child, 30_000);
  return { child, port, portJs, dataDir, configFile, ...(profileDir ? { profileDir } : {}) };
}

// ---------- the client: curl ----------

interface CurlResult {
  bytes: number;
  /** Seconds of the transfer itself: from the transfer command's start (pretransfer) to the end. */
  seconds: number;
  /** The whole command (connect, login, EPSV, transfer, QUIT). */
  wall_s: number;
}

const TRANSFER_TIMEOUT_MS = 300_000;

function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('curl', ['-sS', '--ftp-pasv', '-w', '%{size_download} %{size_upload} %{time_pretransfer} %{time_total}\\n', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), TRANSFER_TIMEOUT_MS);
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err = (err + d).slice(-4096)));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      const m = /(\d+) (\d+) ([\d.]+) ([\d.]+)\s*$/.exec(out);
      if (code !== 0 || !m) return reject(new Error(`curl ${args.at(-1)} exited ${code}: ${err.trim() || out.slice(-200)}`));
      const bytes = Math.max(Number(m[1]), Number(m[2]));
      resolve({ bytes, seconds: Number(m[4]) - Number(m[3]), wall_s: (performance.now() - t0) / 1000 });
    });
  });
}

interface Endpoint {
  side: Side;
  port: number;
}

// ---------- running ----------

interface Run {
  direction: Direction;
  side: Side;
  round: number;
  bytes: number;
  seconds: number;
  mb_s: number;
  wall_s: number;
  /** CPU ms per MiB moved over the whole command: curl, vsftpd (its session processes), the gateway (and the part of it in the kernel). */
  cpu_ms_per_mb: { client: number; vsftpd: number; gateway: number; gateway_sys: number };
  /** Share of one core the gateway used during the command. */
  gateway_cpu?: number;
  host_busy: number;
}

export async function run(argv: string[], io: BenchIo = process): Promise<number> {
  const parsed = parseOrUsage('ftp', USAGE, io, () => parseOptions(argv));
  if ('exit' in parsed) return parsed.exit;
  const o = parsed.options;
  const say = (line: string) => void io.stdout.write(line + '\n');
  if (spawnSync('sh', ['-c', 'command -v curl']).status !== 0) throw new Error('curl not found (Debian: apt-get install curl)');
  if (userInfo().uid !== 0) throw new Error('the FTP bench starts vsftpd, which needs root (it chroots and switches to the ftp user)');
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build)`);
  needDisk(3 * o.mb * 1048576 + 1e9);
  return inTempRun({ prefix: 'sg-bench-ftp-', keep: o.keep, io }, ({ tmp, procs, atStop }) => benchmark(o, tmp, procs, say, atStop));
}

async function benchmark(o: FtpBenchOptions, tmp: string, procs: ProcessSet, say: (l: string) => void, atStop: TempRun['atStop']): Promise<number> {
  const started = new Date();
  say(`Sessiongate FTP bench: gateway (recording on) vs the same vsftpd direct; curl, EPSV, ${o.mb} MiB per transfer, ${o.rounds} round(s); ${o.directions.join(', ')}`);
  say(`temp dir: ${tmp}`);

  // Nothing else may be measuring on these cores at the same time.
  const waitEnd = Date.now() + o.waitOthers * 1000;
  let others = otherBenchmarks();
  const othersAtStart = others;
  if (others.length && o.waitOthers > 0) say(`waiting (up to ${o.waitOthers} s) for other benchmarks to finish:\n  ${others.join('\n  ')}`);
  while (others.length && Date.now() < waitEnd) {
    await sleep(5_000);
    others = otherBenchmarks();
  }
  if (others.length) say(`note: other benchmarks are still running; the figures are shared with them:\n  ${others.join('\n  ')}`);
  const load = loadavg()[0]!;
  if (load > 1) say(`note: load average is ${load.toFixed(2)}: other work on this 2-core machine makes the figures noisy (read the ratios, measured interleaved)`);

  const vs = await startVsftpd(join(tmp, 'vsftpd'));
  atStop(() => vs.stop());
  const bytes = o.mb * 1048576;
  const downName = 'down.bin';
  makeFile(join(vs.pub, downName), bytes);
  const ids = ftpIds();
  chownSync(join(vs.pub, downName), ids.uid, ids.gid);
  const upLocal = join(tmp, 'up.bin');
  if (o.directions.includes('upload')) makeFile(upLocal, bytes);

  const gw = await startGw(procs, join(tmp, 'gateway'), vs, o.profile);
  const log = readFileSync(join(tmp, 'gateway', 'sessiongate.log'), 'utf8');
  const nativeRelay = !/native data relay unavailable/.test(log);
  if (!nativeRelay) say('note: the gateway logged that its native relay is unavailable: both gateway sides relay in JavaScript');
  say(`${vsftpdVersion()} on ${HOST}:${vs.port}; gateway FTP on ${HOST}:${gw.port} (native relay) and ${HOST}:${gw.portJs} (native_relay: false)${o.profile ? `, under --cpu-prof (${gw.profileDir})` : ''}; ${versionOf('curl', ['--version'])}`);

  const direct: Endpoint = { side: 'direct', port: vs.port };
  const gateway: Endpoint = { side: 'gateway', port: gw.port };
  const gatewayJs: Endpoint = { side: 'gateway-js', port: gw.portJs };
  const auth = ['--user', `anonymous:${vs.password}`];
  const url = (e: Endpoint, name: string) => `ftp://${HOST}:${e.port}/pub/${name}`;
  // Both sides answer, the page cache holds the file and the gateway's code is warm before
  // anything is timed (one whole download each, not counted; recorded like any other).
  for (const e of [direct, gateway, gatewayJs]) await curl([...auth, '-o', '/dev/null', url(e, downName)]);

  const runs: Run[] = [];
  let seq = 0;
  const expected: { direction: Direction; path: string; bytes: number }[] = [];
  say('');
  for (const direction of o.directions) {
    for (let round = 1; round <= o.rounds; round++) {
      const order: Endpoint[] = round % 2 === 1 ? [direct, gateway, gatewayJs] : [gatewayJs, gateway, direct];
      for (const e of order) {
        const name = direction === 'upload' ? `up-${e.side}-${++seq}.bin` : downName;
        const g0 = cpuOf(gw.child.pid);
        const c0 = { gw: g0.own, gwSys: g0.sys, vs: vsftpdCpu(vs.proc.pid!), self: cpuOf('self').children, host: hostCpu() };
        const r = direction === 'upload' ? await curl([...auth, '-T', upLocal, url(e, name)]) : await curl([...auth, '-o', '/dev/null', url(e, name)]);
        // vsftpd's session processes are reaped by its listener (its `children`) just after the client goes.
        await sleep(100);
        const g1 = cpuOf(gw.child.pid);
        const c1 = { gw: g1.own, gwSys: g1.sys, vs: vsftpdCpu(vs.proc.pid!), self: cpuOf('self').children, host: hostCpu() };
        if (r.bytes !== bytes) throw new Error(`${direction} ${e.side}: curl moved ${r.bytes} bytes, ${bytes} expected`);
        if (direction === 'upload') {
          const f = join(vs.pub, name);
          const size = statSync(f).size;
          if (size !== bytes) throw new Error(`upload ${e.side}: vsftpd stored ${size} bytes, ${bytes} expected`);
          unlinkSync(f);
        }
        if (viaGateway(e.side)) expected.push({ direction, path: `/pub/${name}`, bytes });
        const mib = r.bytes / 1048576;
        const gwCpu = c1.gw - c0.gw;
        const run: Run = {
          direction,
          side: e.side,
          round,
          bytes: r.bytes,
          seconds: r.seconds,
          mb_s: mib / r.seconds,
          wall_s: r.wall_s,
          cpu_ms_per_mb: { client: ((c1.self - c0.self) * 1000) / mib, vsftpd: ((c1.vs - c0.vs) * 1000) / mib, gateway: viaGateway(e.side) ? (gwCpu * 1000) / mib : 0, gateway_sys: viaGateway(e.side) ? ((c1.gwSys - c0.gwSys) * 1000) / mib : 0 },
          ...(viaGateway(e.side) ? { gateway_cpu: gwCpu / r.wall_s } : {}),
          host_busy: (c1.host.busy - c0.host.busy) / Math.max(1, c1.host.total - c0.host.total),
        };
        runs.push(run);
        const c = run.cpu_ms_per_mb;
        say(`  ${direction.padEnd(8)} round ${round} ${e.side.padEnd(10)} ${f1(run.mb_s).padStart(7)} MB/s  (${run.seconds.toFixed(3)} s)  CPU ms/MiB curl ${f1(c.client)} vsftpd ${f1(c.vsftpd)}${viaGateway(e.side) ? ` gateway ${f1(c.gateway)} (kernel ${f1(c.gateway_sys)})` : ''}  host busy ${Math.round(run.host_busy * 100)}%`);
      }
    }
  }

  const summary = o.directions.map((direction) => {
    const of = (side: Side) => runs.filter((r) => r.direction === direction && r.side === side);
    const d = of('direct').map((r) => r.mb_s);
    const via = (side: Side) => {
      const g = of(side).map((r) => r.mb_s);
      return {
        best: Math.max(...g),
        median: median(g),
        ratio_best: Math.max(...g) / Math.max(...d),
        ratio_median: median(g) / median(d),
        gateway_cpu: median(of(side).map((r) => r.gateway_cpu!)),
        cpu_ms_per_mb: { client: median(of(side).map((r) => r.cpu_ms_per_mb.client)), vsftpd: median(of(side).map((r) => r.cpu_ms_per_mb.vsftpd)), gateway: median(of(side).map((r) => r.cpu_ms_per_mb.gateway)), gateway_sys: median(of(side).map((r) => r.cpu_ms_per_mb.gateway_sys)) },
      };
    };
    return {
      direction,
      direct_best: Math.max(...d),
      direct_median: median(d),
      direct_cpu_ms_per_mb: { client: median(of('direct').map((r) => r.cpu_ms_per_mb.client)), vsftpd: median(of('direct').map((r) => r.cpu_ms_per_mb.vsftpd)) },
      gateway: via('gateway'),
      gateway_js: via('gateway-js'),
      host_busy: median(runs.filter((r) => r.direction === direction).map((r) => r.host_busy)),
    };
  });

  // The gateway is stopped gracefully (it flushes its records), then its store is read back.
  await procs.stop(gw.child, 30_000);
  const rec = await recordedTransfers(gw.dataDir, expected);
  if (o.profile) say(`cpu profile: ${gw.profileDir}`);

  const lines: string[] = [];
  lines.push(`throughput (MB/s = MiB/s over the transfer: curl's time_total - time_pretransfer; best and median of ${o.rounds}):`);
  const rows = [['direction', 'direct best', 'gateway best', 'ratio', 'direct med', 'gateway med', 'ratio', 'JS relay med', 'ratio']];
  for (const x of summary) rows.push([x.direction, f1(x.direct_best), f1(x.gateway.best), fx(x.gateway.ratio_best), f1(x.direct_median), f1(x.gateway.median), fx(x.gateway.ratio_median), f1(x.gateway_js.median), fx(x.gateway_js.ratio_median)]);
  lines.push(table(rows));
  lines.push('(gateway: native_relay on, the default; JS relay: the listener with native_relay: false)');
  lines.push('');
  lines.push('CPU per MiB moved (ms, medians, whole command) and how busy the host was (all cores, every process):');
  const crow = [['direction', 'side', 'curl', 'vsftpd', 'gateway', '(kernel)', 'total', 'gateway core share', 'host busy']];
  for (const x of summary) {
    const d = x.direct_cpu_ms_per_mb;
    crow.push([x.direction, 'direct', f1(d.client), f1(d.vsftpd), '-', '-', f1(d.client + d.vsftpd), '-', `${Math.round(x.host_busy * 100)}%`]);
    for (const [label, g] of [['gateway', x.gateway], ['JS relay', x.gateway_js]] as const) {
      const c = g.cpu_ms_per_mb;
      crow.push(['', label, f1(c.client), f1(c.vsftpd), f1(c.gateway), f1(c.gateway_sys), f1(c.client + c.vsftpd + c.gateway), `${Math.round(g.gateway_cpu * 100)}%`, '']);
    }
  }
  lines.push(table(crow, 2));

  const bars: Bar<string>[] = [];
  const down = summary.find((x) => x.direction === 'download');
  const up = summary.find((x) => x.direction === 'upload');
  bars.push(bar('FTP download throughput vs direct vsftpd (best runs)', 'x', '>=', 0.85, 0.95, down?.gateway.ratio_best));
  bars.push(bar('FTP download throughput vs direct vsftpd (medians)', 'x', '>=', 0.85, 0.95, down?.gateway.ratio_median));
  if (up) {
    bars.push(bar('FTP upload throughput vs direct vsftpd (best runs; the download bar applied to uploads)', 'x', '>=', 0.85, 0.95, up.gateway.ratio_best));
    bars.push(bar('FTP upload throughput vs direct vsftpd (medians)', 'x', '>=', 0.85, 0.95, up.gateway.ratio_median));
  }

  say('');
  for (const l of lines) say(l);
  say('');
  say(`recording check (gateway stopped gracefully, its store read back): ${rec.ok ? 'OK' : 'MISMATCH'}: ${rec.found}/${rec.expected} gateway transfers recorded as ok with their exact byte count${rec.problems.length ? `; ${rec.problems.slice(0, 5).join('; ')}` : ''}`);
  say('');
  say('DESIGN.md bars:');
  say(formatBars(bars));

  const out = {
    suite: 'ftp',
    started: started.toISOString(),
    finished: new Date().toISOString(),
    options: { ...o, outDir: undefined },
    environment: {
      ...hostEnvironment(),
      curl: versionOf('curl', ['--version']),
      vsftpd: vsftpdVersion(),
      other_benchmarks_at_start: othersAtStart,
      commit: versionOf('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
      native_relay: nativeRelay,
    },
    summary,
    runs,
    recording: rec,
    bars,
  };
  saveResult(o.outDir, 'ftp', started, out, say);
  const failed = bars.some((b) => b.pass === false) || !rec.ok;
  if (failed) say('A first bar or the recording check failed (see above).');
  return o.strict && failed ? 3 : 0;
}

/** CPU seconds of vsftpd's listener and the session processes it has reaped. */
function vsftpdCpu(shellPid: number): number {
  // The tied shell's child is vsftpd itself: its reaped children are the sessions.
  let total = 0;
  const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(shellPid)], { encoding: 'utf8' });
  for (const p of (r.stdout || '').split('\n').map((x) => x.trim()).filter(Boolean)) {
    const c = cpuOf(Number(p));
    total += c.own + c.children;
  }
  const sh = cpuOf(shellPid);
  return total + sh.own + sh.children;
}

/** Every transfer the gateway carried, read back from its store: result ok and the exact byte count. */
async function recordedTransfers(dataDir: string, expected: { direction: Direction; path: string; bytes: number }[]): Promise<{ ok: boolean; expected: number; found: number; problems: string[] }> {
  const store = Store.open({ dir: join(dataDir, 'store'), logger: pino({ level: 'silent' }), readOnly: true, scanBudget: Number.MAX_SAFE_INTEGER });
  const rows: { type: string; direction?: string; path?: string; bytes?: number; result?: string }[] = [];
  try {
    for (let page = store.query('transfers', { limit: 500 }); ; ) {
      rows.push(...(page.items as unknown as typeof rows));
      if (!page.next_cursor) break;
      page = store.query('transfers', { limit: 500, cursor: page.next_cursor });
    }
  } finally {
    await store.close();
  }
  const transfers = rows.filter((r) => r.type === 'file.transfer' && (r.direction === 'download' || r.direction === 'upload'));
  const problems: string[] = [];
  const used = new Set<number>();
  let found = 0;
  for (const e of expected) {
    const i = transfers.findIndex((r, k) => !used.has(k) && r.direction === e.direction && r.path === e.path && r.bytes === e.bytes && r.result === 'ok');
    if (i < 0) problems.push(`no ok record of ${e.direction} ${e.path} with ${e.bytes} bytes`);
    else {
      used.add(i);
      found++;
    }
  }
  return { ok: found === expected.length, expected: expected.length, found, problems };
}
