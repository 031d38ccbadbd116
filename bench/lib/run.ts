// What the bench suites do around their measurements: check the temp disk, make a temp dir with
// a ProcessSet whose children are stopped however the run ends (Ctrl-C included), remove the dir
// unless --keep, and write the result JSON. One copy here instead of one per suite.
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { withInterrupt, type BenchIo } from './cli.js';
import { ProcessSet } from './procs.js';

/** Free bytes on the disk that holds `dir`. */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/** Throws when the temp disk has less than `need` bytes free; returns what it has. */
export function needDisk(need: number, what = '', base = tmpdir()): number {
  const free = freeBytes(base);
  if (free < need) throw new Error(`not enough free disk in ${base}: ${(free / 1e9).toFixed(1)} GB free, about ${(need / 1e9).toFixed(1)} GB needed${what ? ` ${what}` : ''} (TMPDIR=... picks another disk)`);
  return free;
}

/** First line a tool prints about its version (nginx -v writes to stderr, wrk -v exits 1). */
export function versionOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return ((r.stdout || '') + (r.stderr || '')).trim().split('\n')[0] || 'unknown';
}

export interface TempRun {
  tmp: string;
  procs: ProcessSet;
  /** Something else to stop at the end (a server the suite started outside the ProcessSet). */
  atStop(stop: () => Promise<unknown> | void): void;
}

/**
 * Runs `work` in a new temp dir `<prefix>XXXXXX` with a ProcessSet logging under `logs/`. Every
 * process is stopped and the dir removed (unless `keep`) when work ends, fails or is interrupted.
 */
export async function inTempRun(o: { prefix: string; keep: boolean; io: BenchIo }, work: (r: TempRun) => Promise<number>): Promise<number> {
  const tmp = mkdtempSync(join(tmpdir(), o.prefix));
  mkdirSync(join(tmp, 'logs'));
  const procs = new ProcessSet(join(tmp, 'logs'));
  const extra: (() => Promise<unknown> | void)[] = [];
  const stopAll = (ms?: number) => Promise.allSettled([procs.stopAll(ms), ...extra.map((s) => s())]);
  const cleanup = () => {
    if (o.keep) o.io.stdout.write(`kept ${tmp}\n`);
    else rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals) => {
    o.io.stderr.write(`\nbench: ${sig}: stopping every process it started...\n`);
    void stopAll(3_000).finally(() => {
      cleanup();
      process.exit(130);
    });
  };
  try {
    return await withInterrupt(onSignal, async () => {
      try {
        return await work({ tmp, procs, atStop: (s) => void extra.push(s) });
      } finally {
        await stopAll();
      }
    });
  } finally {
    cleanup();
  }
}

/** Writes a suite's result as `<outDir>/<suite>-<start time>.json` and says where. */
export function saveResult(outDir: string, suite: string, started: Date, result: object, say: (line: string) => void): string {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${suite}-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  say('');
  say(`results: ${file}`);
  return file;
}

/** The machine a result was measured on (every suite's JSON carries it). */
export function hostEnvironment(): { node: string; cpus: number; cpu_model: string | undefined; loadavg_at_start: number[] } {
  return { node: process.version, cpus: cpus().length, cpu_model: cpus()[0]?.model, loadavg_at_start: loadavg() };
}
