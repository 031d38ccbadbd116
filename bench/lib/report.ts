// Turns measured runs into the comparison DESIGN.md asks for: ratios against nginx and
// http-proxy, the recording overhead, RSS at c200, and each first bar marked pass/fail.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WrkResult } from './wrk.js';
import { errorCount } from './wrk.js';

export interface Measured {
  target: string;
  round: number;
  result: WrkResult;
}

export interface TargetSummary {
  target: string;
  rps: number;
  p99_ms: number;
  errors: number;
  /** False when the kept run had errors or non-2xx answers: its figures prove nothing. */
  valid: boolean;
  vs_nginx?: number;
  vs_http_proxy?: number;
  p99_vs_nginx?: number;
}

/** A measured value judged against a DESIGN.md bar and goal (any bench suite; U = its units). */
export interface Bar<U extends string = 'x' | '%' | 'MB'> {
  what: string;
  value?: number;
  unit: U;
  op: '>=' | '<=';
  bar: number;
  goal: number;
  /** undefined: not measured in this run. */
  pass?: boolean;
  goal_met?: boolean;
  note?: string;
}

export interface RssMeasure {
  connections: number;
  peak_rss: number;
  rss: number;
  result: WrkResult;
}

/** The better (higher req/s) run of each target, in first-seen order. */
export function bestRuns(runs: readonly Measured[]): Map<string, Measured> {
  const best = new Map<string, Measured>();
  for (const r of runs) {
    const cur = best.get(r.target);
    if (!cur || r.result.rps > cur.result.rps) best.set(r.target, r);
  }
  return best;
}

export function summarize(runs: readonly Measured[]): TargetSummary[] {
  const best = bestRuns(runs);
  const nginx = best.get('nginx')?.result;
  const hp = best.get('http-proxy')?.result;
  return [...best.values()].map(({ target, result: r }) => {
    const errors = errorCount(r);
    const s: TargetSummary = { target, rps: r.rps, p99_ms: r.latency_ms.p99, errors, valid: errors === 0 && r.requests > 0 };
    if (nginx?.rps) s.vs_nginx = r.rps / nginx.rps;
    if (hp?.rps) s.vs_http_proxy = r.rps / hp.rps;
    if (nginx?.latency_ms.p99) s.p99_vs_nginx = r.latency_ms.p99 / nginx.latency_ms.p99;
    return s;
  });
}

/** Recording overhead: the share of throughput lost by turning recording on. */
export function overhead(on: number, off: number): number {
  return off > 0 ? 1 - on / off : NaN;
}

export function bar<U extends string>(what: string, unit: U, op: Bar['op'], barValue: number, goal: number, value: number | undefined, note?: string): Bar<U> {
  const b: Bar<U> = { what, unit, op, bar: barValue, goal };
  if (note) b.note = note;
  if (value === undefined || Number.isNaN(value)) return b;
  b.value = value;
  const ok = (limit: number) => (op === '>=' ? value >= limit : value <= limit);
  b.pass = ok(barValue);
  b.goal_met = ok(goal);
  return b;
}

/** The repository root, whether a bench runs compiled (dist/bench) or from source (bench/). */
export function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** DESIGN.md's HTTP bars, judged on sessiongate-on (recording on). */
export function judgeBars(summary: readonly TargetSummary[], rss?: RssMeasure): Bar[] {
  const by = new Map(summary.map((s) => [s.target, s]));
  const on = by.get('sessiongate-on');
  const off = by.get('sessiongate-off');
  const invalid = (...ss: (TargetSummary | undefined)[]) => (ss.some((s) => s && !s.valid) ? 'a run had errors' : undefined);
  const check = (b: Bar, ...ss: (TargetSummary | undefined)[]): Bar => {
    const why = invalid(...ss);
    return why && b.pass !== undefined ? { ...b, pass: false, goal_met: false, note: why } : b;
  };
  const rssMb = rss ? rss.peak_rss / (1024 * 1024) : undefined;
  const rssErrors = rss ? errorCount(rss.result) : 0;
  return [
    check(bar('HTTP req/s with recording on vs nginx', 'x', '>=', 0.5, 0.8, on?.vs_nginx), on, by.get('nginx')),
    check(bar('HTTP req/s vs http-proxy', 'x', '>=', 3, 4, on?.vs_http_proxy), on, by.get('http-proxy')),
    check(bar('recording overhead (on vs off)', '%', '<=', 10, 3, on && off ? overhead(on.rps, off.rps) * 100 : undefined), on, off),
    check(bar('HTTP p99 vs nginx at c50', 'x', '<=', 3, 1.5, on?.p99_vs_nginx), on, by.get('nginx')),
    (() => {
      const b = bar(`RSS at c${rss?.connections ?? 200} (peak, VmHWM)`, 'MB', '<=', 200, 120, rssMb);
      return rssErrors && b.pass !== undefined ? { ...b, pass: false, goal_met: false, note: 'the run had errors' } : b;
    })(),
  ];
}

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtX = (n: number | undefined) => (n === undefined ? '-' : `${n.toFixed(2)}x`);
const fmtMs = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));

/** A figure in its bar's unit: ratios with 2 decimals, % with 1, small ms with 2, the rest whole. */
function fmtValue(b: Bar<string>, v: number): string {
  if (b.unit === 'x') return `${v.toFixed(2)}x`;
  if (b.unit === '%') return `${v.toFixed(1)}%`;
  return `${v.toFixed(b.unit === 'ms' && v < 10 ? 2 : 0)} ${b.unit}`;
}

/** A figure with 1 decimal, or '-' when there is none. */
export const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
/** A ratio, or '-' when there is none. */
export const fx = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '-');

/** Aligned columns: text columns left, figures right. */
export function table(cells: string[][], leftColumns = 1): string {
  const widths = cells[0]!.map((_c, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function formatTable(summary: readonly TargetSummary[]): string {
  const rows = [['target', 'req/s', 'vs nginx', 'vs http-proxy', 'p99 ms', 'p99 vs nginx', 'errors']];
  for (const s of summary) {
    rows.push([s.target, fmtInt(s.rps), fmtX(s.vs_nginx), fmtX(s.vs_http_proxy), fmtMs(s.p99_ms), fmtX(s.p99_vs_nginx), s.errors ? `${fmtInt(s.errors)} !` : '0']);
  }
  return table(rows);
}

/** Every bar of a suite, marked PASS / FAIL / n/a, with its first bar and goal. */
export function formatBars(bars: readonly Bar<string>[]): string {
  const rows = [['', 'measure', 'value', 'first bar', 'goal']];
  for (const b of bars) {
    const mark = b.pass === undefined ? '[ n/a]' : b.pass ? '[PASS]' : '[FAIL]';
    const goal = b.goal_met === undefined ? `${b.op} ${fmtValue(b, b.goal)}` : `${b.op} ${fmtValue(b, b.goal)} ${b.goal_met ? '(met)' : '(not yet)'}`;
    rows.push([mark, b.what + (b.note ? ` (${b.note})` : ''), b.value === undefined ? 'not measured' : fmtValue(b, b.value), `${b.op} ${fmtValue(b, b.bar)}`, goal]);
  }
  return table(rows, 2);
}
