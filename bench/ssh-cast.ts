// A realistic terminal recording of any size for the replay part of `bench -- ssh`, written by the
// real CastWriter (recorder/cast) so the .cast, its keyframe index and snapshots are exactly what
// the gateway produces. Deterministic (seeded PRNG) and on a simulated clock: a shell session of
// prompts typed a key at a time, colour log tails, `ls --color`, a build with a progress bar,
// full-screen redraws on the alternate screen (a `top`), UTF-8 text, idle gaps and resizes.
//
// The writer is driven as fast as its keyframe thread allows: before each chunk the generator
// waits while the writer has keyframes pending (so no keyframe is skipped, as on a gateway whose
// keyframe thread keeps up) or more than 2 MiB unwritten (so no line is dropped).
import pino from 'pino';
import { CastWriter, type CastRecording } from '../recorder/cast/index.js';
import { newId } from '../gateway/core/ids.js';
import { prng } from './lib/store-data.js';

// The same deterministic generator as the store bench's synthetic data (tests import it from here).
export { prng };

export interface GeneratedCast extends CastRecording {
  /** Wall-clock seconds the generation took. */
  generate_s: number;
  /** Simulated session length, seconds. */
  duration_s: number;
}

const ESC = '\x1b';
const PATHS = ['/api/v1/orders', '/api/v1/customers', '/admin/invoices', '/api/v2/tickets', '/static/app.js', '/healthz', '/api/v1/search'];
const USERS = ['alice@example.com', 'bob@example.org', 'carol@example.net', 'dmitri@example.com', 'éloïse@example.fr'];
const WORDS = ['config', 'deploy', 'backup', 'nginx', 'postgres', 'redis', 'worker', 'scheduler', 'cache', 'assets', 'logs', 'node_modules', 'README.md', 'Makefile', 'docker-compose.yml'];
const COMMANDS = ['tail -f /var/log/app/app.log', 'ls --color=auto -la', 'make build', 'top', 'cat /etc/nginx/nginx.conf', 'git log --oneline | head -50', 'journalctl -u app -n 500', 'df -h', 'vim config.yml'];

export async function generateCast(opts: { dir: string; bytes: number; seed?: number; startMs?: number; sessionId?: string }): Promise<GeneratedCast> {
  const rnd = prng(opts.seed ?? 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const startMs = opts.startMs ?? Date.UTC(2026, 10, 22, 8, 0, 0);
  let now = startMs;
  const clock = { now: () => now };
  const sessionId = opts.sessionId ?? newId(startMs);
  const w = new CastWriter({
    dir: opts.dir,
    sessionId,
    width: 120,
    height: 40,
    title: 'bench on root@web1',
    env: { TERM: 'xterm-256color', SHELL: '/bin/bash' },
    recordInput: false,
    clock,
    logger: pino({ level: 'silent' }),
    closeTimeoutMs: 60_000,
  });
  await w.ready();
  const t0 = performance.now();
  let cols = 120;
  let rows = 40;
  let chunks = 0;
  const out = async (s: string, dtMs: number) => {
    now += dtMs;
    // Keep up with the writer: no keyframe skipped, no line dropped.
    if (++chunks % 8 === 0 || w.stats().keyframes_pending > 0) {
      for (let st = w.stats(); st.keyframes_pending >= 2 || st.bytes_buffered > 2 * 1024 * 1024; st = w.stats()) {
        await w.flush();
        if (w.stats().keyframes_pending >= 2) await new Promise((r) => setTimeout(r, 1));
      }
    }
    w.output(Buffer.from(s, 'utf8'));
  };
  const ts = () => new Date(now).toISOString();
  const prompt = async () => {
    await out(`${ESC}[01;32mroot@web1${ESC}[00m:${ESC}[01;34m~/app${ESC}[00m$ `, int(5, 40));
    const cmd = pick(COMMANDS);
    // Typed a key at a time, echoed back one event per key.
    for (const ch of cmd) await out(ch, int(60, 250));
    await out('\r\n', int(100, 400));
    return cmd;
  };
  const logTail = async () => {
    const lines = int(200, 20_000);
    let buf = '';
    for (let i = 0; i < lines; i++) {
      const level = rnd() < 0.8 ? `${ESC}[32mINFO ${ESC}[0m` : rnd() < 0.7 ? `${ESC}[33mWARN ${ESC}[0m` : `${ESC}[1;31mERROR${ESC}[0m`;
      const status = rnd() < 0.9 ? 200 : pick([201, 204, 301, 404, 500, 502]);
      buf += `${ts()} ${level} [worker-${int(1, 8)}] ${pick(['GET', 'POST', 'PUT', 'DELETE'])} ${pick(PATHS)}/${int(1, 99999)}?page=${int(1, 20)} ${status} ${int(1, 900)}ms user=${pick(USERS)}\r\n`;
      if (buf.length > int(1024, 16384)) {
        await out(buf, int(2, 60));
        buf = '';
      }
    }
    if (buf) await out(buf, int(2, 60));
  };
  const ls = async () => {
    let buf = `total ${int(8, 4000)}\r\n`;
    for (let i = int(10, 200); i > 0; i--) {
      const dir = rnd() < 0.3;
      const name = `${pick(WORDS)}${rnd() < 0.5 ? `-${int(1, 99)}` : ''}`;
      buf += `${dir ? 'd' : '-'}rw-r--r-- 1 root root ${String(int(0, 999999)).padStart(7)} Nov ${int(1, 22)} ${String(int(0, 23)).padStart(2, '0')}:${String(int(0, 59)).padStart(2, '0')} ${dir ? `${ESC}[01;34m${name}${ESC}[0m` : name}\r\n`;
    }
    await out(buf, int(5, 30));
  };
  const build = async () => {
    for (let f = int(20, 200); f > 0; f--) await out(`${ESC}[36mCC${ESC}[0m src/${pick(WORDS)}/${pick(WORDS)}.o\r\n`, int(10, 300));
    for (let p = 0; p <= 100; p += int(1, 7)) {
      const n = Math.round((p / 100) * 50);
      await out(`\r[${'='.repeat(n)}>${' '.repeat(50 - n)}] ${Math.min(p, 100)}% ✓ ${pick(['linking', 'bundling', 'minifying', 'tösting'])}`, int(20, 300));
    }
    await out(`\r\n${ESC}[1;32mBuild finished${ESC}[0m in ${int(2, 90)}.${int(0, 9)}s\r\n`, 50);
  };
  const top = async () => {
    await out(`${ESC}[?1049h${ESC}[H${ESC}[2J`, 30);
    for (let f = int(5, 60); f > 0; f--) {
      let s = `${ESC}[H${ESC}[7m top - ${ts().slice(11, 19)} up ${int(1, 300)} days, load average: ${rnd().toFixed(2)}, ${rnd().toFixed(2)} ${ESC}[0m${ESC}[K\r\n`;
      s += `Tasks: ${int(100, 300)} total ┃ Cpu(s): ${(rnd() * 100).toFixed(1)} us ┃ Mem: ${int(1000, 16000)} MiB${ESC}[K\r\n${ESC}[K\r\n`;
      for (let r = 4; r < rows; r++) s += `${ESC}[${r};1H${String(int(1, 99999)).padStart(7)} root      20   0 ${String(int(1000, 999999)).padStart(8)} ${(rnd() * 100).toFixed(1).padStart(5)} ${pick(WORDS).padEnd(20)}${ESC}[K`;
      await out(s, int(900, 3100));
    }
    await out(`${ESC}[?1049l`, int(50, 500));
  };
  const text = async () => {
    let s = '';
    for (let i = int(5, 60); i > 0; i--) s += `${pick(['┌──', '│  ', '└──', '  '])} ${pick(WORDS)}: ${pick(['naïve', 'größe', 'déjà vu', 'привет', '日本語', 'ok'])} ${'#'.repeat(int(0, 40))}\r\n`;
    await out(s, int(5, 50));
  };
  while (w.stats().bytes_written + w.stats().bytes_buffered < opts.bytes) {
    const cmd = await prompt();
    if (cmd.startsWith('tail') || cmd.startsWith('journalctl') || cmd.startsWith('git')) await logTail();
    else if (cmd.startsWith('ls') || cmd.startsWith('df')) await ls();
    else if (cmd.startsWith('make')) await build();
    else if (cmd === 'top' || cmd.startsWith('vim')) await top();
    else await text();
    if (rnd() < 0.01) {
      cols = pick([80, 120, 160, 200]);
      rows = pick([24, 40, 50]);
      now += int(100, 2000);
      w.resize(cols, rows);
    }
    now += rnd() < 0.1 ? int(10_000, 120_000) : int(500, 8000);
  }
  const rec = await w.close('client_exit');
  return { ...rec, generate_s: (performance.now() - t0) / 1000, duration_s: (now - startMs) / 1000 };
}
