// `npm run bench -- ssh`: Sessiongate's SSH front end side by side with the same OpenSSH sshd
// reached directly, in ONE run, on loopback, recording on (pty channels get a cast):
//
//   throughput  200 MB through `ssh -c CIPHER` (exec download `head -c`, exec upload into `wc -c`,
//               and a pty download of text, which goes through the cast writer), per cipher
//   echo        keystroke round trip: one byte into a pty running `cat` (the tty echoes it),
//               timed until it comes back, through an ssh2 Client, direct and gateway interleaved
//   connect     `ssh ... true`: TCP + key exchange + auth + one exec, to exit
//   replay      a generated recording (default 1 GiB, real CastWriter: .cast + keyframe index),
//               served by the gateway's viewer: first frame (meta + /index + segment 0) and a seek
//               to 95 % of the duration (the segment holding it), against a small recording
//
// sshd is started by the bench (own config, keys, free loopback port); the gateway is the real CLI
// (`node dist/cli/sessiongate.js start --config <generated yaml>`) with one SSH listener, one
// target (that sshd) and the viewer; its users are added with `sessiongate users`. Every process
// is stopped by its PID at the end, on errors and on Ctrl-C.
import { createReadStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, userInfo } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import ssh2 from 'ssh2';
import { stringify } from 'yaml';
import { parseArgs } from '../cli/io.js';
import { ProcessSet, type Child } from './lib/procs.js';
import { HOST, freePort, waitForChildPort } from './lib/net.js';
import { bar, f1, findRoot, formatBars, fx, table, type Bar } from './lib/report.js';
import { UsageError, intFlag, parseOrUsage, type BenchIo } from './lib/cli.js';
import { hostEnvironment, inTempRun, needDisk, saveResult, versionOf } from './lib/run.js';
import { generateCast, type GeneratedCast } from './ssh-cast.js';
import { keygen, prepareSshd, type KeyPair } from './lib/sshd.js';

const ROOT = findRoot();
const CLI = join(ROOT, 'dist', 'cli', 'sessiongate.js');
const PARTS = ['throughput', 'echo', 'connect', 'replay'] as const;
type Part = (typeof PARTS)[number];
const CIPHERS = ['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com'] as const;
/** A text line for the pty variant (the tty turns \n into \r\n; the cast writer records all of it). */
const PTY_LINE = '2026-11-22T10:00:00.123Z INFO [worker-3] GET /api/v1/orders/48213?page=2 200 12ms user=alice@example.com';

export interface SshBenchOptions {
  mb: number;
  rounds: number;
  ciphers: string[];
  pty: boolean;
  echoSamples: number;
  connects: number;
  replayMb: number;
  anchorMb: number;
  replayRuns: number;
  parts: Part[];
  profile: boolean;
  keep: boolean;
  strict: boolean;
  outDir: string;
}

const USAGE = `usage: npm run bench -- ssh [options]

  --mb N             MB (MiB) per throughput transfer (default 200)
  --rounds N         interleaved rounds per throughput variant and for connect; best and median count (default 3)
  --ciphers LIST     client ciphers (default ${CIPHERS.join(',')}); the first also runs the pty variant
  --no-pty           skip the pty download (the one that goes through the cast writer)
  --echo N           keystroke samples per side (default 300)
  --connects N       new connections per side (default 10)
  --replay-mb N      size of the generated recording for the replay part (default 1024; 0 skips)
  --anchor-mb N      size of the small anchor recording (default 4)
  --replay-runs N    replay measurements per recording (default 5)
  --parts LIST       subset of ${PARTS.join(',')} (default all)
  --profile          run the gateway under node --cpu-prof (profile in the temp dir; implies --keep)
  --keep             keep the temp dir (configs, logs, data, recordings)
  --strict           exit 3 when a first bar fails
  --out DIR          where the JSON result goes (default bench/results)
`;

export function parseOptions(argv: string[]): SshBenchOptions {
  const { flags, positionals } = parseArgs(argv, ['keep', 'strict', 'help', 'no-pty', 'profile']);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const known = new Set(['mb', 'rounds', 'ciphers', 'no-pty', 'echo', 'connects', 'replay-mb', 'anchor-mb', 'replay-runs', 'parts', 'profile', 'keep', 'strict', 'out', 'help']);
  for (const k of Object.keys(flags)) if (!known.has(k)) throw new UsageError(`unknown option --${k}`);
  if (flags.help) throw new UsageError('');
  const list = (v: string | true | undefined, name: string): string[] | undefined => {
    if (v === undefined) return undefined;
    if (v === true) throw new UsageError(`--${name} needs a list`);
    const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (!xs.length) throw new UsageError(`--${name} needs a list`);
    return xs;
  };
  const parts = list(flags.parts, 'parts') ?? [...PARTS];
  const badPart = parts.find((p) => !(PARTS as readonly string[]).includes(p));
  if (badPart) throw new UsageError(`unknown part "${badPart}" (use ${PARTS.join(', ')})`);
  const ciphers = list(flags.ciphers, 'ciphers') ?? [...CIPHERS];
  const badCipher = ciphers.find((c) => !/^[a-z0-9@.-]{3,64}$/.test(c));
  if (badCipher) throw new UsageError(`bad cipher name "${badCipher}"`);
  if (flags.out === true) throw new UsageError('--out needs a directory');
  return {
    mb: intFlag(flags.mb, 'mb', 200, 1, 100_000),
    rounds: intFlag(flags.rounds, 'rounds', 3, 1, 20),
    ciphers,
    pty: flags['no-pty'] !== true,
    echoSamples: intFlag(flags.echo, 'echo', 300, 10, 100_000),
    connects: intFlag(flags.connects, 'connects', 10, 1, 1000),
    replayMb: intFlag(flags['replay-mb'], 'replay-mb', 1024, 0, 100_000),
    anchorMb: intFlag(flags['anchor-mb'], 'anchor-mb', 4, 1, 1000),
    replayRuns: intFlag(flags['replay-runs'], 'replay-runs', 5, 1, 100),
    parts: PARTS.filter((p) => parts.includes(p)),
    profile: flags.profile === true,
    keep: flags.keep === true || flags.profile === true,
    strict: flags.strict === true,
    outDir: typeof flags.out === 'string' ? flags.out : join(ROOT, 'bench', 'results'),
  };
}

// ---------- statistics ----------

export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[k]!;
}

export interface Stats {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function stats(xs: readonly number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, min: s[0] ?? NaN, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), max: s.at(-1) ?? NaN };
}

const median = (xs: readonly number[]) => percentile([...xs].sort((a, b) => a - b), 50);
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));



// ---------- processes: keys, sshd, gateway ----------

export interface Sshd {
  child: Child;
  port: number;
  hostKey: string;
  accountKey: KeyPair;
  account: string;
}

export async function startSshd(procs: ProcessSet, dir: string): Promise<Sshd> {
  const { cfg, port, hostKey, accountKey } = await prepareSshd(dir, ['UseDNS no', 'MaxStartups 100:30:200']);
  const account = userInfo().username;
  const sshd = execFileSync('sh', ['-c', 'command -v sshd || echo /usr/sbin/sshd'], { encoding: 'utf8' }).trim();
  const child = procs.spawn('sshd', sshd, ['-D', '-e', '-f', cfg]);
  await waitForChildPort(port, child, 10_000);
  return { child, port, hostKey, accountKey, account };
}

export interface Gw {
  child: Child;
  sshPort: number;
  viewer: string;
  dataDir: string;
  configFile: string;
  userKey: KeyPair;
  user: string;
  password: string;
  profileDir?: string;
}

function cli(configFile: string, args: string[], input?: string, cliPath = CLI): string {
  const r = spawnSync(process.execPath, [cliPath, ...args, '--config', configFile], { input, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`sessiongate ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

export function writeGatewayConfig(dir: string, sshd: Sshd, sshPort: number, viewerPort: number, replayMax: number): { configFile: string; dataDir: string } {
  mkdirSync(dir, { recursive: true });
  const dataDir = join(dir, 'data');
  const configFile = join(dir, 'sessiongate.yaml');
  const cfg = {
    data_dir: dataDir,
    log: { level: 'warn', file: join(dir, 'sessiongate.log') },
    viewer: { listen: `${HOST}:${viewerPort}`, replay_max_bytes: replayMax },
    ssh: {
      listeners: [{ name: 'bench', listen: `${HOST}:${sshPort}`, idle_timeout: 0 }],
      targets: [{ name: 'web1', host: HOST, port: sshd.port, host_key: sshd.hostKey, accounts: [{ name: sshd.account, key_file: sshd.accountKey.file }] }],
    },
  };
  writeFileSync(configFile, `# Sessiongate SSH bench target (generated)\n${stringify(cfg)}`);
  return { configFile, dataDir };
}

export async function startGw(procs: ProcessSet, dir: string, sshd: Sshd, o: Pick<SshBenchOptions, 'profile'>, prepared: { configFile: string; dataDir: string; sshPort: number; viewerPort: number }, env?: NodeJS.ProcessEnv, cliPath = CLI): Promise<Gw> {
  const userKey = keygen(dir, 'user_key');
  const user = 'bench';
  const password = randomBytes(18).toString('base64url');
  cli(prepared.configFile, ['users', 'add', user, '--role', 'admin', '--password-stdin'], `${password}\n`, cliPath);
  cli(prepared.configFile, ['users', 'ssh', user, '--key', userKey.pub, '--target', `web1:${sshd.account}`], undefined, cliPath);
  const profileDir = o.profile ? join(dir, 'cpu-prof') : undefined;
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = procs.spawn('sessiongate', process.execPath, [...nodeArgs, cliPath, 'start', '--config', prepared.configFile], env ? { env } : {});
  await waitForChildPort(prepared.sshPort, child, 30_000);
  await waitForChildPort(prepared.viewerPort, child, 30_000);
  return { child, sshPort: prepared.sshPort, viewer: `http://${HOST}:${prepared.viewerPort}`, dataDir: prepared.dataDir, configFile: prepared.configFile, userKey, user, password, ...(profileDir ? { profileDir } : {}) };
}

/**
 * CPU seconds of a process from /proc (100 ticks/s): its own (utime + stime) and that of its
 * children it has waited for (cutime + cstime). sshd's reaped session processes land in the
 * listener's `children`; the ssh clients this bench ran land in its own.
 */
function cpuOf(pid: number | 'self'): { own: number; children: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { own: (Number(f[11]) + Number(f[12])) / 100, children: (Number(f[13]) + Number(f[14])) / 100 };
  } catch {
    return { own: NaN, children: NaN };
  }
}

/** Busy and total jiffies of the whole host (/proc/stat). */
function hostCpu(): { busy: number; total: number } {
  const l = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = l.reduce((a, b) => a + b, 0);
  return { busy: total - (l[3] ?? 0) - (l[4] ?? 0), total };
}

interface CpuMark {
  gateway: number;
  sshd: number;
  client: number;
  host: { busy: number; total: number };
}

export function cpuMark(gwPid: number, sshdPid: number): CpuMark {
  return { gateway: cpuOf(gwPid).own, sshd: cpuOf(sshdPid).children, client: cpuOf('self').children, host: hostCpu() };
}

/** CPU seconds each side used between two marks, and how busy the host was (share of all cores). */
export function cpuSince(a: CpuMark, b: CpuMark): { gateway_s: number; sshd_s: number; client_s: number; host_busy: number } {
  return { gateway_s: b.gateway - a.gateway, sshd_s: b.sshd - a.sshd, client_s: b.client - a.client, host_busy: (b.host.busy - a.host.busy) / Math.max(1, b.host.total - a.host.total) };
}

// ---------- the OpenSSH client ----------

type Side = 'direct' | 'gateway';

export interface Endpoint {
  side: Side;
  port: number;
  login: string;
  key: string;
}

function sshArgs(e: Endpoint, extra: string[] = []): string[] {
  return [
    '-F', '/dev/null',
    '-p', String(e.port),
    '-i', e.key,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR',
    '-o', 'Compression=no',
    ...extra,
    `${e.login}@${HOST}`,
  ];
}

export interface Transfer {
  variant: string;
  side: Side;
  round: number;
  bytes: number;
  /** Time of the data only: first to last byte (download), first byte sent to the count back (upload). */
  seconds: number;
  mb_s: number;
  /** Wall time of the whole ssh command, connection included. */
  wall_s: number;
  /** CPU the gateway process used during the transfer, as a share of one core over `seconds`. */
  gateway_cpu?: number;
  /** CPU ms per MiB moved, over the whole command (connection included): ssh client, sshd (session processes and the command), gateway. */
  cpu_ms_per_mb: { client: number; sshd: number; gateway: number };
  /** Share of all cores busy on the host over the whole command (every process, this bench's or not). */
  host_busy: number;
}

const TRANSFER_TIMEOUT_MS = 300_000;

/** `ssh ... cmd`, stdout counted; MB/s over first to last byte (the connection is not counted). */
export function download(e: Endpoint, extra: string[], cmd: string): Promise<{ bytes: number; seconds: number; wall_s: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('ssh', [...sshArgs(e, extra), cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let first = 0;
    let firstLen = 0;
    let last = 0;
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), TRANSFER_TIMEOUT_MS);
    p.stdout.on('data', (d: Buffer) => {
      const now = performance.now();
      if (!first) {
        first = now;
        firstLen = d.length;
      }
      bytes += d.length;
      last = now;
    });
    p.stderr.on('data', (d: Buffer) => (err += d).length > 4096 && (err = err.slice(-4096)));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`ssh (${e.side}) exited ${code}: ${err.trim()}`));
      if (bytes <= firstLen) return reject(new Error(`ssh (${e.side}): the output came in one chunk (${bytes} bytes): too small to time`));
      // The first chunk arrived at \`first\`: the rate is that of the bytes after it.
      resolve({ bytes, seconds: ((last - first) / 1000) * (bytes / (bytes - firstLen)), wall_s: (performance.now() - t0) / 1000 });
    });
  });
}

/** `ssh ... 'echo go; exec wc -c'`: `bytes` of /dev/zero sent once `go` arrives, timed to the count coming back. */
export function upload(e: Endpoint, extra: string[], bytes: number): Promise<{ bytes: number; seconds: number; wall_s: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('ssh', [...sshArgs(e, extra), 'echo go; exec wc -c'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let start = 0;
    let end = 0;
    const timer = setTimeout(() => p.kill('SIGKILL'), TRANSFER_TIMEOUT_MS);
    p.stdin.on('error', () => {});
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      out += d;
      if (!start && out.includes('go\n')) {
        start = performance.now();
        createReadStream('/dev/zero', { start: 0, end: bytes - 1, highWaterMark: 256 * 1024 }).pipe(p.stdin);
      }
      if (start && !end && /go\n\s*\d+\s*\n/.test(out)) end = performance.now();
    });
    p.stderr.on('data', (d: Buffer) => (err += d).length > 4096 && (err = err.slice(-4096)));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      const m = /go\n\s*(\d+)/.exec(out);
      if (code !== 0 || !m || !end) return reject(new Error(`ssh upload (${e.side}) exited ${code}: ${err.trim() || out.slice(0, 200)}`));
      resolve({ bytes: Number(m[1]), seconds: (end - start) / 1000, wall_s: (performance.now() - t0) / 1000 });
    });
  });
}

export function connectOnce(e: Endpoint, extra: string[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('ssh', [...sshArgs(e, extra), 'true'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`ssh true (${e.side}) exited ${code}: ${err.trim()}`));
      resolve(performance.now() - t0);
    });
  });
}

// ---------- keystroke echo through an ssh2 Client ----------

interface EchoChannel {
  conn: ssh2.Client;
  ch: ssh2.ClientChannel;
}

export async function openEcho(e: Endpoint, cipher: string): Promise<EchoChannel> {
  const conn = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    conn.once('ready', () => resolve());
    conn.once('error', reject);
    conn.connect({ host: HOST, port: e.port, username: e.login, privateKey: readFileSync(e.key), algorithms: { cipher: [cipher as ssh2.CipherAlgorithm] }, hostVerifier: () => true, readyTimeout: 20_000 });
  });
  conn.setNoDelay(true);
  const ch = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
    conn.exec('exec cat >/dev/null', { pty: { rows: 24, cols: 80, term: 'xterm' } }, (err, ch) => (err ? reject(err) : resolve(ch))),
  );
  // The pty is there once its first echo comes back.
  await waitFor(ch, 'x', 10_000);
  return { conn, ch };
}

/** Writes `send` and resolves with the ms until `expect` comes back. */
export function waitFor(ch: ssh2.ClientChannel, send: string, timeoutMs = 5_000, expect = send): Promise<number> {
  return new Promise((resolve, reject) => {
    const code = expect.charCodeAt(0);
    const timer = setTimeout(() => {
      ch.off('data', onData);
      reject(new Error(`no echo of ${JSON.stringify(send)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      if (!d.includes(code)) return;
      const ms = performance.now() - t0;
      clearTimeout(timer);
      ch.off('data', onData);
      resolve(ms);
    };
    ch.on('data', onData);
    const t0 = performance.now();
    ch.write(send);
  });
}

// ---------- replay through the viewer ----------

interface ReplaySample {
  recording: 'big' | 'anchor';
  run: number;
  /** GET /api/recordings/:id + /index + /segments/0. */
  first_frame_ms: number;
  /** GET /api/recordings/:id + /index + the segment holding t = 95 % (a player opened at startAt). */
  seek_cold_ms: number;
  /** Only the segment holding t = 95 % (a player that has its index already). */
  seek_ms: number;
  seek_segment: number;
  segment_bytes: number;
}

async function viewerLogin(viewer: string, name: string, password: string): Promise<string> {
  const r = await fetch(`${viewer}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: viewer }, body: JSON.stringify({ name, password }) });
  if (!r.ok) throw new Error(`viewer sign-in answered ${r.status}: ${(await r.text()).slice(0, 200)}`);
  const cookie = r.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  if (!cookie) throw new Error('viewer sign-in set no cookie');
  return cookie;
}

async function getOk(url: string, cookie: string): Promise<{ text: string; bytes: number }> {
  const r = await fetch(url, { headers: { cookie } });
  const text = await r.text();
  if (!r.ok) throw new Error(`GET ${url} answered ${r.status}: ${text.slice(0, 200)}`);
  return { text, bytes: Buffer.byteLength(text) };
}

async function replayOnce(viewer: string, cookie: string, id: string): Promise<Omit<ReplaySample, 'recording' | 'run'>> {
  const base = `${viewer}/api/recordings/${encodeURIComponent(id)}`;
  const open = async () => {
    const meta = JSON.parse((await getOk(base, cookie)).text) as { replayable: boolean; duration: number };
    if (!meta.replayable) throw new Error(`recording ${id} is not replayable (over viewer.replay_max_bytes)`);
    const index = JSON.parse((await getOk(`${base}/index`, cookie)).text) as { duration: number; segments: { start: number; url: string }[] };
    return index;
  };
  let t0 = performance.now();
  const index = await open();
  await getOk(`${viewer}${index.segments[0]!.url}`, cookie);
  const first = performance.now() - t0;
  const target = index.duration * 0.95;
  let seg = 0;
  for (let i = 0; i < index.segments.length; i++) if (index.segments[i]!.start <= target) seg = i;
  t0 = performance.now();
  await open();
  const s = await getOk(`${viewer}${index.segments[seg]!.url}`, cookie);
  const cold = performance.now() - t0;
  t0 = performance.now();
  await getOk(`${viewer}${index.segments[seg]!.url}`, cookie);
  const warm = performance.now() - t0;
  return { first_frame_ms: first, seek_cold_ms: cold, seek_ms: warm, seek_segment: seg, segment_bytes: s.bytes };
}

// ---------- running ----------

export async function run(argv: string[], io: BenchIo = process): Promise<number> {
  const parsed = parseOrUsage('ssh', USAGE, io, () => parseOptions(argv));
  if ('exit' in parsed) return parsed.exit;
  const o = parsed.options;
  const say = (line: string) => void io.stdout.write(line + '\n');
  for (const tool of ['ssh', 'ssh-keygen']) if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} not found (Debian: apt-get install openssh-client openssh-server)`);
  if (!existsSync('/usr/sbin/sshd') && spawnSync('sh', ['-c', 'command -v sshd']).status !== 0) throw new Error('sshd not found (Debian: apt-get install openssh-server)');
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build)`);
  const need = (o.parts.includes('replay') ? (o.replayMb + o.anchorMb) * 1.1 * 1048576 : 0) + (o.parts.includes('throughput') && o.pty ? o.rounds * o.mb * 1.3 * 1048576 : 0);
  needDisk(need + 1e9);
  return inTempRun({ prefix: 'sg-bench-ssh-', keep: o.keep, io }, ({ tmp, procs }) => benchmark(o, tmp, procs, say));
}

async function benchmark(o: SshBenchOptions, tmp: string, procs: ProcessSet, say: (l: string) => void): Promise<number> {
  const started = new Date();
  const load = loadavg()[0]!;
  if (load > 0.5) say(`note: load average is ${load.toFixed(2)} before the bench starts: other work on this machine makes the figures noisy (read the ratios)`);
  say(`Sessiongate SSH bench: gateway (recording on) vs the same sshd direct; ${o.parts.join(', ')}`);
  say(`temp dir: ${tmp}`);

  const sshd = await startSshd(procs, join(tmp, 'sshd'));
  const gwDir = join(tmp, 'gateway');
  const sshPort = await freePort();
  const viewerPort = await freePort();
  const replayMax = Math.max(2 * 1024 ** 3, (o.replayMb + 64) * 1048576);
  const prepared = { ...writeGatewayConfig(gwDir, sshd, sshPort, viewerPort, replayMax), sshPort, viewerPort };

  // 1. The recordings for the replay part, before the gateway runs (the generator's keyframe
  //    thread would otherwise share the CPU with the transfers).
  const casts: { big?: GeneratedCast; anchor?: GeneratedCast } = {};
  if (o.parts.includes('replay')) {
    const dir = join(prepared.dataDir, 'recordings');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const startMs = Date.now() - 86_400_000;
    casts.anchor = await generateCast({ dir, bytes: o.anchorMb * 1048576, seed: 2, startMs: startMs - 3_600_000 });
    say(`recording (anchor): ${(casts.anchor.size / 1048576).toFixed(1)} MiB, ${casts.anchor.events.toLocaleString('en-US')} events, ${casts.anchor.keyframes} keyframes, ${f1(casts.anchor.duration_s / 3600)} h simulated, generated in ${f1(casts.anchor.generate_s)} s`);
    say(`recording: generating ${o.replayMb} MiB with CastWriter (bench/ssh-cast.ts)...`);
    casts.big = await generateCast({ dir, bytes: o.replayMb * 1048576, seed: 1, startMs });
    say(`recording: ${(casts.big.size / 1048576).toFixed(0)} MiB, ${casts.big.events.toLocaleString('en-US')} events, ${casts.big.keyframes.toLocaleString('en-US')} keyframes (${casts.big.keyframes_skipped} skipped), ${f1(casts.big.duration_s / 3600)} h simulated, generated in ${f1(casts.big.generate_s)} s`);
  }

  const gw = await startGw(procs, gwDir, sshd, o, prepared);
  const direct: Endpoint = { side: 'direct', port: sshd.port, login: sshd.account, key: sshd.accountKey.file };
  const gateway: Endpoint = { side: 'gateway', port: gw.sshPort, login: gw.user, key: gw.userKey.file };
  say(`sshd ${versionOf('ssh', ['-V'])} on ${HOST}:${sshd.port}; gateway ssh on ${HOST}:${gw.sshPort}, viewer ${gw.viewer}${o.profile ? `, under --cpu-prof (${gw.profileDir})` : ''}`);
  // Both sides answer before anything is timed.
  await connectOnce(direct);
  await connectOnce(gateway);

  const result: Record<string, unknown> = {};
  const bars: Bar<string>[] = [];
  const lines: string[] = [];

  // 2. Throughput.
  if (o.parts.includes('throughput')) {
    const bytes = o.mb * 1048576;
    const variants: { name: string; cipher: string; kind: 'down' | 'up' | 'pty' }[] = [];
    for (const c of o.ciphers) {
      variants.push({ name: `download ${c}`, cipher: c, kind: 'down' });
      variants.push({ name: `upload ${c}`, cipher: c, kind: 'up' });
    }
    if (o.pty && o.ciphers[0]) variants.push({ name: `pty download ${o.ciphers[0]} (recorded)`, cipher: o.ciphers[0], kind: 'pty' });
    const transfers: Transfer[] = [];
    say('');
    say(`throughput: ${o.mb} MiB per transfer, ${o.rounds} interleaved round(s) per variant`);
    for (const v of variants) {
      for (let round = 1; round <= o.rounds; round++) {
        const order: Endpoint[] = round % 2 === 1 ? [direct, gateway] : [gateway, direct];
        for (const e of order) {
          const extra = ['-c', v.cipher, ...(v.kind === 'pty' ? ['-tt'] : [])];
          const m0 = cpuMark(gw.child.pid, sshd.child.pid);
          const r =
            v.kind === 'up'
              ? await upload(e, extra, bytes)
              : await download(e, extra, v.kind === 'pty' ? `yes '${PTY_LINE}' | head -c ${bytes}` : `head -c ${bytes} /dev/zero`);
          // sshd reaps its session processes just after the client has gone.
          await sleep(100);
          const cpu = cpuSince(m0, cpuMark(gw.child.pid, sshd.child.pid));
          if (v.kind === 'pty' ? r.bytes < bytes : r.bytes !== bytes) throw new Error(`${v.name} ${e.side}: ${r.bytes} bytes arrived, ${bytes} expected`);
          const mib = r.bytes / 1048576;
          const t: Transfer = {
            variant: v.name,
            side: e.side,
            round,
            bytes: r.bytes,
            seconds: r.seconds,
            mb_s: mib / r.seconds,
            wall_s: r.wall_s,
            ...(e.side === 'gateway' ? { gateway_cpu: cpu.gateway_s / r.wall_s } : {}),
            cpu_ms_per_mb: { client: (cpu.client_s * 1000) / mib, sshd: (cpu.sshd_s * 1000) / mib, gateway: (cpu.gateway_s * 1000) / mib },
            host_busy: cpu.host_busy,
          };
          transfers.push(t);
          const c = t.cpu_ms_per_mb;
          say(`  ${v.name.padEnd(46)} round ${round} ${e.side.padEnd(7)} ${f1(t.mb_s).padStart(7)} MB/s  CPU ms/MiB client ${f1(c.client)} sshd ${f1(c.sshd)}${e.side === 'gateway' ? ` gateway ${f1(c.gateway)}` : ''}  host busy ${Math.round(t.host_busy * 100)}%`);
        }
      }
    }
    const summary = variants.map((v) => {
      const of = (side: Side) => transfers.filter((t) => t.variant === v.name && t.side === side);
      const d = of('direct').map((t) => t.mb_s);
      const g = of('gateway').map((t) => t.mb_s);
      return {
        variant: v.name,
        direct_best: Math.max(...d),
        direct_median: median(d),
        gateway_best: Math.max(...g),
        gateway_median: median(g),
        ratio_best: Math.max(...g) / Math.max(...d),
        ratio_median: median(g) / median(d),
        gateway_cpu: median(of('gateway').map((t) => t.gateway_cpu!)),
        cpu_ms_per_mb: {
          direct: { client: median(of('direct').map((t) => t.cpu_ms_per_mb.client)), sshd: median(of('direct').map((t) => t.cpu_ms_per_mb.sshd)) },
          gateway: { client: median(of('gateway').map((t) => t.cpu_ms_per_mb.client)), sshd: median(of('gateway').map((t) => t.cpu_ms_per_mb.sshd)), gateway: median(of('gateway').map((t) => t.cpu_ms_per_mb.gateway)) },
        },
        host_busy: median(transfers.filter((t) => t.variant === v.name).map((t) => t.host_busy)),
      };
    });
    lines.push(`throughput (MB/s = MiB/s, first to last byte; best and median of ${o.rounds}):`);
    const rows = [['variant', 'direct best', 'gateway best', 'ratio', 'direct med', 'gateway med', 'ratio']];
    for (const s of summary) rows.push([s.variant, f1(s.direct_best), f1(s.gateway_best), fx(s.ratio_best), f1(s.direct_median), f1(s.gateway_median), fx(s.ratio_median)]);
    lines.push(table(rows));
    lines.push('');
    lines.push('CPU per MiB moved (ms, medians; whole command, connection included) and how busy the host was (all cores, every process):');
    const crow = [['variant', 'direct: client', 'sshd', 'total', 'gateway: client', 'sshd', 'gateway', 'total', 'CPU-bound ratio', 'host busy']];
    for (const s of summary) {
      const d = s.cpu_ms_per_mb.direct;
      const g = s.cpu_ms_per_mb.gateway;
      crow.push([s.variant, f1(d.client), f1(d.sshd), f1(d.client + d.sshd), f1(g.client), f1(g.sshd), f1(g.gateway), f1(g.client + g.sshd + g.gateway), fx((d.client + d.sshd) / (g.client + g.sshd + g.gateway)), `${Math.round(s.host_busy * 100)}%`]);
    }
    lines.push(table(crow));
    lines.push('  (CPU-bound ratio: direct total / gateway total, the throughput ratio to expect when the host\'s cores are the limit, as "host busy" near 100 % says they are)');
    const judged = summary.filter((s) => !s.variant.startsWith('pty'));
    const worst = judged.reduce((a, b) => (b.ratio_best < a.ratio_best ? b : a), judged[0]!);
    if (worst) bars.push(bar(`SSH throughput vs direct sshd (worst exec variant: ${worst.variant}, best runs)`, 'x', '>=', 0.85, 0.95, worst.ratio_best));
    const pty = summary.find((s) => s.variant.startsWith('pty'));
    if (pty) bars.push(bar('SSH throughput vs direct, pty download through the cast writer (best runs)', 'x', '>=', 0.85, 0.95, pty.ratio_best));
    result.throughput = { mb: o.mb, rounds: o.rounds, summary, transfers };
  }

  // 3. Keystroke echo.
  if (o.parts.includes('echo')) {
    const cipher = o.ciphers[0] ?? CIPHERS[0];
    const d = await openEcho(direct, cipher);
    const g = await openEcho(gateway, cipher);
    const samples: Record<Side, number[]> = { direct: [], gateway: [] };
    try {
      // Warm-up, then alternate sides sample by sample; a pause between keys as a typist makes.
      for (let i = 0; i < 20; i++) {
        await waitFor(d.ch, 'x');
        await waitFor(g.ch, 'x');
      }
      for (let i = 0; i < o.echoSamples; i++) {
        const pair: [Side, EchoChannel][] = i % 2 === 0 ? [['direct', d], ['gateway', g]] : [['gateway', g], ['direct', d]];
        for (const [side, c] of pair) {
          samples[side].push(await waitFor(c.ch, 'x'));
          await sleep(3 + (i % 7));
        }
        // Keep the tty's line short (its canonical buffer holds 4095 characters).
        if (i % 60 === 59) for (const c of [d, g]) await waitFor(c.ch, '\r', 5_000, '\n');
      }
    } finally {
      for (const c of [d, g]) c.conn.end();
    }
    const sd = stats(samples.direct);
    const sg = stats(samples.gateway);
    lines.push('');
    lines.push(`keystroke echo (ms, one byte into a pty running cat, until it comes back; ssh2 Client, ${cipher}, ${o.echoSamples} samples per side, interleaved):`);
    lines.push(
      table([
        ['side', 'p50', 'p95', 'p99', 'max'],
        ['direct', f2(sd.p50), f2(sd.p95), f2(sd.p99), f2(sd.max)],
        ['gateway', f2(sg.p50), f2(sg.p95), f2(sg.p99), f2(sg.max)],
        ['added', f2(sg.p50 - sd.p50), f2(sg.p95 - sd.p95), f2(sg.p99 - sd.p99), ''],
        ['ratio', fx(sg.p50 / sd.p50), fx(sg.p95 / sd.p95), fx(sg.p99 / sd.p99), ''],
      ]),
    );
    bars.push(bar('keystroke echo added by the gateway, p95', 'ms', '<=', 1, 0.5, sg.p95 - sd.p95));
    result.echo = { cipher, direct: sd, gateway: sg, added_p50_ms: sg.p50 - sd.p50, added_p95_ms: sg.p95 - sd.p95, samples };
  }

  // 4. New connections: with the client's default key exchange (what a user gets: OpenSSH 9
  //    offers sntrup761x25519 first, which sshd takes and the gateway does not have), and with
  //    curve25519-sha256 on both (what the gateway and its own leg to the target use).
  if (o.parts.includes('connect')) {
    const kexes = [
      { name: 'default key exchange', args: [] as string[] },
      { name: 'curve25519-sha256 both', args: ['-o', 'KexAlgorithms=curve25519-sha256'] },
    ];
    const out: Record<string, unknown> = {};
    lines.push('');
    lines.push(`new connection (ms, \`ssh ... true\`: TCP, key exchange, auth, exec, exit; ${o.connects} per side, interleaved):`);
    const rows = [['key exchange', 'direct p50', 'p95', 'gateway p50', 'p95', 'ratio p50', 'added p50']];
    for (const k of kexes) {
      const samples: Record<Side, number[]> = { direct: [], gateway: [] };
      for (let i = 0; i < o.connects; i++) {
        for (const e of i % 2 === 0 ? [direct, gateway] : [gateway, direct]) samples[e.side].push(await connectOnce(e, k.args));
      }
      const sd = stats(samples.direct);
      const sg = stats(samples.gateway);
      rows.push([k.name, f1(sd.p50), f1(sd.p95), f1(sg.p50), f1(sg.p95), fx(sg.p50 / sd.p50), f1(sg.p50 - sd.p50)]);
      out[k.name] = { direct: sd, gateway: sg, ratio_p50: sg.p50 / sd.p50, added_p50_ms: sg.p50 - sd.p50, samples };
    }
    lines.push(table(rows));
    result.connect = out;
  }

  // 5. Replay through the viewer.
  if (o.parts.includes('replay') && casts.big && casts.anchor) {
    const cookie = await viewerLogin(gw.viewer, gw.user, gw.password);
    const samples: ReplaySample[] = [];
    for (let run = 1; run <= o.replayRuns; run++) {
      for (const [which, c] of [['big', casts.big], ['anchor', casts.anchor]] as const) samples.push({ recording: which, run, ...(await replayOnce(gw.viewer, cookie, c.id)) });
    }
    const of = (w: 'big' | 'anchor', k: 'first_frame_ms' | 'seek_cold_ms' | 'seek_ms') => stats(samples.filter((s) => s.recording === w).map((s) => s[k]));
    const big = { first_frame: of('big', 'first_frame_ms'), seek_cold: of('big', 'seek_cold_ms'), seek: of('big', 'seek_ms') };
    const anchor = { first_frame: of('anchor', 'first_frame_ms'), seek_cold: of('anchor', 'seek_cold_ms'), seek: of('anchor', 'seek_ms') };
    const bigSeg = samples.find((s) => s.recording === 'big')!;
    lines.push('');
    lines.push(
      `replay through the viewer (ms; ${(casts.big.size / 1048576).toFixed(0)} MiB recording, ${casts.big.keyframes.toLocaleString('en-US')} keyframes, vs a ${(casts.anchor.size / 1048576).toFixed(1)} MiB one; ${o.replayRuns} runs; the files were just written, so they are in the page cache):`,
    );
    lines.push(
      table([
        ['measure', 'big p50', 'max', 'anchor p50', 'max', 'ratio p50'],
        ['first frame: meta + /index + segment 0', f1(big.first_frame.p50), f1(big.first_frame.max), f1(anchor.first_frame.p50), f1(anchor.first_frame.max), fx(big.first_frame.p50 / anchor.first_frame.p50)],
        ['seek to 95 %, player opened there: meta + /index + segment', f1(big.seek_cold.p50), f1(big.seek_cold.max), f1(anchor.seek_cold.p50), f1(anchor.seek_cold.max), fx(big.seek_cold.p50 / anchor.seek_cold.p50)],
        ['seek to 95 % in a playing player: the segment', f1(big.seek.p50), f1(big.seek.max), f1(anchor.seek.p50), f1(anchor.seek.max), fx(big.seek.p50 / anchor.seek.p50)],
      ]),
    );
    lines.push(`  (seek segment ${bigSeg.seek_segment}: ${(bigSeg.segment_bytes / 1024).toFixed(0)} KiB of JSON)`);
    const label = `${(casts.big.size / 1048576).toFixed(0)} MiB`;
    const note = casts.big.size >= 1024 ** 3 * 0.99 ? undefined : `measured on ${label}; the bar is at 1 GB`;
    bars.push(bar(`replay of a ${label} recording: first frame (max of ${o.replayRuns})`, 'ms', '<=', 2000, 300, big.first_frame.max, note));
    bars.push(bar(`replay of a ${label} recording: seek to 95 % (player opened there, max of ${o.replayRuns})`, 'ms', '<=', 2000, 300, big.seek_cold.max, note));
    result.replay = { recordings: casts, big, anchor, samples };
  }

  // 6. What the gateway recorded (pty channels: a cast each).
  const rec = recordingsSummary(gw.dataDir, new Set([casts.big?.id, casts.anchor?.id].filter((x): x is string => !!x)));
  await procs.stop(gw.child, 30_000);
  if (o.profile) say(`cpu profile: ${gw.profileDir}`);

  say('');
  for (const l of lines) say(l);
  if (rec.count) say(`\ngateway recordings of this run's pty sessions: ${rec.count}, ${(rec.bytes / 1048576).toFixed(0)} MiB, lost events ${rec.lost_events}, lost bytes ${rec.lost_bytes}, keyframes ${rec.keyframes}`);
  say('');
  say('DESIGN.md bars:');
  say(formatBars(bars));

  const out = {
    suite: 'ssh',
    started: started.toISOString(),
    finished: new Date().toISOString(),
    options: { ...o, outDir: undefined },
    environment: {
      ...hostEnvironment(),
      openssh: versionOf('ssh', ['-V']),
      commit: versionOf('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
    },
    ...result,
    gateway_recordings: rec,
    bars,
  };
  saveResult(o.outDir, 'ssh', started, out, say);
  const failed = bars.some((b) => b.pass === false);
  if (failed) say('At least one first bar failed (see above).');
  return o.strict && failed ? 3 : 0;
}


/** Trailers of the casts the gateway wrote (the generated ones left out). */
function recordingsSummary(dataDir: string, skip: Set<string>): { count: number; bytes: number; lost_events: number; lost_bytes: number; keyframes: number } {
  const out = { count: 0, bytes: 0, lost_events: 0, lost_bytes: 0, keyframes: 0 };
  const r = spawnSync('find', [join(dataDir, 'recordings'), '-name', '*.cast.idx'], { encoding: 'utf8' });
  for (const f of (r.stdout || '').split('\n').filter(Boolean)) {
    const id = f.slice(f.lastIndexOf('/') + 1).replace(/\.cast\.idx$/, '');
    if (skip.has(id)) continue;
    const last = readFileSync(f, 'utf8').trimEnd().split('\n').at(-1) ?? '';
    try {
      const e = (JSON.parse(last) as { end?: { size: number; keyframes: number; lost_events?: number; lost_bytes?: number } }).end;
      if (!e) continue;
      out.count++;
      out.bytes += e.size;
      out.keyframes += e.keyframes;
      out.lost_events += e.lost_events ?? 0;
      out.lost_bytes += e.lost_bytes ?? 0;
    } catch {
      /* a torn line: not closed */
    }
  }
  return out;
}
