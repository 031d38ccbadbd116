// Runs wrk and parses its text report (wrk 4.x has no machine-readable output without a Lua
// script; the text format has been stable for a decade).
import { readFileSync } from 'node:fs';
import type { ProcessSet } from './procs.js';
import { tail, waitExit } from './procs.js';

export interface WrkResult {
  /** Completed requests (wrk's "N requests in Xs"). */
  requests: number;
  duration_s: number;
  rps: number;
  latency_ms: { avg: number; p50: number; p75: number; p90: number; p99: number; max: number };
  errors: { connect: number; read: number; write: number; timeout: number };
  /** Responses with a status outside 2xx/3xx. */
  non2xx: number;
}

const TIME_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `386.00us`, `1.20ms`, `2.00s`, `1.00m` -> ms. */
export function parseTimeMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`wrk: cannot read time "${text}"`);
  return Number(m[1]) * TIME_MS[m[2]!]!;
}

export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp, what: string): string => {
    const m = re.exec(out);
    if (!m) throw new Error(`wrk output has no ${what}:\n${out}`);
    return m[1]!;
  };
  const pct = (p: string) => parseTimeMs(num(new RegExp(`^\\s*${p}%\\s+(\\S+)\\s*$`, 'm'), `${p}% latency (run with --latency)`));
  const lat = /^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)/m.exec(out);
  if (!lat) throw new Error(`wrk output has no latency line:\n${out}`);
  const done = /^\s*(\d+) requests in ([\d.]+(?:us|ms|s|m|h))/m.exec(out);
  if (!done) throw new Error(`wrk output has no request count:\n${out}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    requests: Number(done[1]),
    duration_s: parseTimeMs(done[2]!) / 1000,
    rps: Number(num(/^Requests\/sec:\s+([\d.]+)/m, 'Requests/sec')),
    latency_ms: { avg: parseTimeMs(lat[1]!), p50: pct('50'), p75: pct('75'), p90: pct('90'), p99: pct('99'), max: parseTimeMs(lat[3]!) },
    errors: sock ? { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) } : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx: non ? Number(non[1]) : 0,
  };
}

export function errorCount(r: WrkResult): number {
  return r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout + r.non2xx;
}

export interface WrkRun {
  url: string;
  connections: number;
  duration_s: number;
  threads?: number;
}

/** Runs wrk to completion (killed by PID if it overruns by 30 s) and parses its report. */
export async function runWrk(procs: ProcessSet, name: string, run: WrkRun): Promise<WrkResult> {
  const args = [`-t${run.threads ?? 1}`, `-c${run.connections}`, `-d${run.duration_s}s`, '--latency', '--timeout', '5s', run.url];
  const child = procs.spawn(`wrk-${name}`, 'wrk', args);
  const exit = await waitExit(procs, child, (run.duration_s + 30) * 1000);
  if (exit.timedOut) throw new Error(`wrk against ${name} did not finish in time`);
  if (exit.code !== 0) throw new Error(`wrk against ${name} failed (code ${exit.code}): ${tail(child.stderrFile) || tail(child.stdoutFile)}`);
  return parseWrk(readFileSync(child.stdoutFile, 'utf8'));
}
