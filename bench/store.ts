// `npm run bench -- store`: the audit store alone, side by side with SQLite (FTS5 trigram) on the
// same generated panel requests and the same queries (DESIGN.md Targets, issue 3):
// ingest rate through Store.writeBatch in Recorder-sized batches with every index on and segments
// closed as in production, bytes per event (pages used / events), and p50/p95 of the first page
// (50 newest) for each search shape. Both engines' first pages are compared id by id, so a fast
// wrong answer cannot pass.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { parseArgs } from '../cli/io.js';
import type { HttpRequestEvent } from '../recorder/events.js';
import type { RequestQuery, Page } from '../recorder/store/types.js';
import { Store } from '../recorder/store/store.js';
import { UsageError, intFlag, parseOrUsage, withInterrupt, type BenchIo } from './lib/cli.js';
import { bar, findRoot, type Bar } from './lib/report.js';
import { freeBytes, hostEnvironment, saveResult } from './lib/run.js';
import { COMMON_TERMS, RARE_TERMS, csvLine, population, prng, requests, type Population } from './lib/store-data.js';

export interface StoreBenchOptions {
  events: number;
  batch: number;
  runs: number;
  seed: number;
  sqlite: boolean;
  keep: boolean;
  strict: boolean;
  outDir: string;
}

const ROOT = findRoot();
const SQLITE_SCRIPT = join(ROOT, 'bench', 'store-sqlite.py');
const DAY = 86_400_000;
/** The generated traffic spans 90 days ending at a fixed date (deterministic data). */
const SPAN_END = Date.UTC(2025, 5, 1);
const SPAN_START = SPAN_END - 90 * DAY;
/** Disk a run needs per event, with margin: store (<= ~1.1 KB), SQLite (~1 KB), CSV (~0.4 KB). */
const DISK_PER_EVENT = 3_200;
/** The same for the store alone (no SQLite, no CSV), with margin. */
export const STORE_DISK_PER_EVENT = 1_300;

const USAGE = `usage: npm run bench -- store [options]

  --events N      generated panel requests (default 1000000; 10000000 for the DESIGN.md bar,
                  after a free-disk check: about ${(DISK_PER_EVENT * 10_000_000 / 1e9).toFixed(0)} GB)
  --batch N       events per Store.writeBatch (default 2000: the Recorder's batch at ~40k/s and a 50 ms flush)
  --runs N        measured repetitions of each query after one warm-up run (default 3); each shape
                  has 5 different parameter sets
  --seed N        generator seed (default 1)
  --sqlite on|off the SQLite FTS5 trigram anchor (default on; needs python3)
  --keep          keep the temp dir (store, SQLite file, CSV)
  --strict        exit 3 when a first bar fails or the engines disagree
  --out DIR       where the JSON result goes (default bench/results)
`;


export function parseOptions(argv: string[]): StoreBenchOptions {
  const { flags, positionals } = parseArgs(argv, ['keep', 'strict', 'help']);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const known = new Set(['events', 'batch', 'runs', 'seed', 'sqlite', 'keep', 'strict', 'out', 'help']);
  for (const k of Object.keys(flags)) if (!known.has(k)) throw new UsageError(`unknown option --${k}`);
  if (flags.help) throw new UsageError('');
  if (flags.sqlite !== undefined && flags.sqlite !== 'on' && flags.sqlite !== 'off') throw new UsageError('--sqlite must be on or off');
  if (flags.out === true) throw new UsageError('--out needs a directory');
  return {
    events: intFlag(flags.events, 'events', 1_000_000, 10_000, 100_000_000),
    batch: intFlag(flags.batch, 'batch', 2_000, 1, 100_000),
    runs: intFlag(flags.runs, 'runs', 3, 1, 100),
    seed: intFlag(flags.seed, 'seed', 1, 0, 2 ** 31 - 1),
    sqlite: flags.sqlite !== 'off',
    keep: flags.keep === true,
    strict: flags.strict === true,
    outDir: typeof flags.out === 'string' ? flags.out : join(ROOT, 'bench', 'results'),
  };
}

// ---------- the query set ----------

export const SHAPES = ['newest', 'rare keyword', 'common keyword', 'narrow range', 'wide range', 'user', 'combined'] as const;
export type Shape = (typeof SHAPES)[number];

export interface BenchQuery {
  shape: Shape;
  /** Parameter set number within the shape. */
  i: number;
  query: RequestQuery;
}

/** Five parameter sets per shape (one for `newest`), the same for both engines. */
export function querySet(seed: number, pop: Population, start = SPAN_START, end = SPAN_END): BenchQuery[] {
  const r = prng(seed ^ 0x9e37);
  const span = end - start;
  const window = (len: number) => {
    const from = start + Math.floor(r() * (span - len));
    return { from, to: from + len - 1 };
  };
  const someone = () => pop.people[5 + Math.floor(r() * (pop.people.length - 5))]!;
  const commons = Object.keys(COMMON_TERMS);
  const out: BenchQuery[] = [{ shape: 'newest', i: 0, query: {} }];
  const add = (shape: Shape, qs: RequestQuery[]) => qs.forEach((query, i) => out.push({ shape, i, query: { limit: 50, ...query } }));
  add('rare keyword', RARE_TERMS.map((q) => ({ q })));
  // Upper case on purpose: keyword search is case-insensitive in both engines.
  add('common keyword', [...commons, 'INVOICE', 'panel.example'].map((q) => ({ q })));
  add('narrow range', Array.from({ length: 5 }, () => window(3_600_000)));
  add('wide range', Array.from({ length: 5 }, () => window(30 * DAY)));
  add('user', [pop.heavy[0]!.login, pop.heavy[1]!.login, pop.heavy[2]!.login, someone().login, someone().login].map((login) => ({ login })));
  add('combined', [
    { login: pop.heavy[0]!.login, q: 'invoice', ...window(30 * DAY) },
    { q: 'domains', method: 'POST', ...window(7 * DAY) },
    { login: pop.heavy[3]!.login, source: 'API', q: 'tickets' },
    { q: RARE_TERMS[0], ...window(45 * DAY) },
    { email: someone().email, q: 'invoice' },
  ]);
  return out;
}

// ---------- running ----------


interface QueryTiming {
  shape: Shape;
  i: number;
  run: number;
  ms: number;
  ids: string[];
  /** Pages the store returned `partial` before the first page was whole. */
  partial_pages: number;
}

/** The store's side of one query: the first page (50 newest), following `partial` pages until it is whole. One line to switch to another query API. */
function firstPage(store: Store, q: RequestQuery): { ids: string[]; partialPages: number } {
  const limit = q.limit ?? 50;
  const ids: string[] = [];
  let partialPages = 0;
  let page: Page<HttpRequestEvent> = store.query('requests', q);
  for (;;) {
    for (const e of page.items) if (ids.length < limit) ids.push(e.id);
    if (!page.partial || ids.length >= limit || !page.next_cursor) break;
    partialPages++;
    page = store.query('requests', { ...q, cursor: page.next_cursor });
  }
  return { ids, partialPages };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[k]!;
}

function stats(ms: number[]): { p50: number; p95: number; max: number; n: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), max: s.at(-1) ?? NaN, n: s.length };
}


function runPython(args: string[], onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [SQLITE_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (!onLine) return;
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`store-sqlite.py ${args[0]} failed (code ${code}): ${err.trim().split('\n').slice(-5).join('\n')}`))));
  });
}

export async function run(argv: string[], io: BenchIo = process): Promise<number> {
  const parsed = parseOrUsage('store', USAGE, io, () => parseOptions(argv));
  if ('exit' in parsed) return parsed.exit;
  const o: StoreBenchOptions = parsed.options;
  const say = (line: string) => void io.stdout.write(line + '\n');
  if (o.sqlite && spawnSync('python3', ['-c', 'import sqlite3'], { stdio: 'ignore' }).status !== 0) throw new Error('python3 with sqlite3 not found: install python3 or run with --sqlite off');
  const base = tmpdir();
  const need = o.events * (o.sqlite ? DISK_PER_EVENT : STORE_DISK_PER_EVENT);
  const free = freeBytes(base);
  if (free < need) throw new Error(`not enough free disk in ${base}: ${(free / 1e9).toFixed(1)} GB free, ${(need / 1e9).toFixed(1)} GB needed for ${o.events.toLocaleString('en-US')} events (TMPDIR=... picks another disk)`);
  const tmp = mkdtempSync(join(base, 'sg-bench-store-'));
  const cleanup = () => {
    if (o.keep) say(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals) => {
    io.stderr.write(`\nbench: ${sig}: removing ${tmp}\n`);
    cleanup();
    process.exit(130);
  };
  try {
    return await withInterrupt(onSignal, () => benchmark(o, tmp, say, free));
  } finally {
    cleanup();
  }
}

export interface Ingest {
  events: number;
  seconds: number;
  events_per_s: number;
  bytes: number;
  bytes_per_event: number;
  generate_seconds: number;
}

/** Generates `o.events` requests and writes them into a new store at `dir` as production does (also used by the viewer bench). */
export async function ingest(o: Pick<StoreBenchOptions, 'events' | 'batch' | 'seed'>, pop: Population, dir: string, csvFile: string | undefined, say: (l: string) => void): Promise<Ingest> {
  const store = Store.open({ dir, logger: pino({ level: 'warn' }, process.stderr) });
  const fd = csvFile ? openSync(csvFile, 'w') : undefined;
  let gen = 0;
  let stored = 0;
  const t0 = performance.now();
  try {
    const it = requests({ seed: o.seed, events: o.events, start: SPAN_START, end: SPAN_END }, pop);
    let next = Math.ceil(o.events / 10);
    for (let done = 0; done < o.events; ) {
      const g0 = performance.now();
      const batch: HttpRequestEvent[] = [];
      let csv = '';
      for (let k = 0; k < o.batch && done + k < o.events; k++) {
        const e = it.next().value as HttpRequestEvent;
        batch.push(e);
        if (fd !== undefined) csv += csvLine(e);
      }
      if (fd !== undefined) writeSync(fd, csv);
      gen += performance.now() - g0;
      const r = await store.writeBatch(batch);
      if (r.rejected.length || r.duplicates.length) throw new Error(`the store refused ${r.rejected.length + r.duplicates.length} events: ${r.rejected[0]?.error ?? 'duplicate id'}`);
      stored += r.stored;
      done += batch.length;
      if (done >= next) {
        say(`  ingest ${Math.round((done / o.events) * 100)}%  ${done.toLocaleString('en-US')} events  ${Math.round(done / ((performance.now() - t0 - gen) / 1000)).toLocaleString('en-US')} events/s`);
        next += Math.ceil(o.events / 10);
      }
    }
    // Production closes segments in the background as rows arrive, and the rest on graceful close.
    await store.closeSegment();
    // ... and builds the keyword tiers in the background as their segments complete.
    await store.buildTiers();
    await store.flushed();
    const seconds = (performance.now() - t0 - gen) / 1000;
    if (stored !== o.events) throw new Error(`stored ${stored} of ${o.events} events`);
    const bytes = store.sizeBytes();
    return { events: stored, seconds, events_per_s: stored / seconds, bytes, bytes_per_event: bytes / stored, generate_seconds: gen / 1000 };
  } finally {
    if (fd !== undefined) closeSync(fd);
    await store.close();
  }
}

async function queryStore(dir: string, qs: BenchQuery[], runs: number): Promise<QueryTiming[]> {
  const store = Store.open({ dir, logger: pino({ level: 'warn' }, process.stderr), readOnly: true });
  const out: QueryTiming[] = [];
  try {
    // Run 0 is a warm-up (JIT, page cache), as in a long-running viewer: not counted.
    for (let run = 0; run <= runs; run++) {
      for (const b of qs) {
        const t0 = performance.now();
        const { ids, partialPages } = firstPage(store, b.query);
        out.push({ shape: b.shape, i: b.i, run, ms: performance.now() - t0, ids, partial_pages: partialPages });
      }
    }
  } finally {
    await store.close();
  }
  return out;
}

interface ShapeSummary {
  shape: Shape;
  store: { p50: number; p95: number; max: number; n: number };
  sqlite?: { p50: number; p95: number; max: number; n: number };
  /** SQLite p95 / store p95 (> 1: the store is faster). */
  speedup_p95?: number;
  /** Parameter sets where both engines returned the same first page. */
  agree?: number;
  sets: number;
  partial_pages: number;
  /** Rows on the first pages (store), summed over parameter sets: 0 would mean a shape tests nothing. */
  rows: number;
}

export type StoreBar = Bar<string>;

export function judgeStoreBars(events: number, ing: Ingest, shapes: ShapeSummary[]): StoreBar[] {
  const at = events >= 10_000_000 ? undefined : `measured at ${(events / 1e6).toFixed(events < 1e6 ? 2 : 0)}M events; the bar is at 10M`;
  const worst = Math.max(...shapes.map((s) => s.store.p95));
  const slowest = shapes.find((s) => s.store.p95 === worst)?.shape;
  const bars: StoreBar[] = [
    bar('events ingested per second, all indexes on (store alone)', 'events/s', '>=', 50_000, 300_000, ing.events_per_s),
    bar('bytes per stored request event, indexes included', 'B', '<=', 1024, 300, ing.bytes_per_event),
    bar(`first page p95, worst shape (${slowest})`, 'ms', '<=', 100, 20, worst, at),
  ];
  const withSqlite = shapes.filter((s) => s.speedup_p95 !== undefined);
  if (withSqlite.length) {
    const min = Math.min(...withSqlite.map((s) => s.speedup_p95!));
    const which = withSqlite.find((s) => s.speedup_p95 === min)?.shape;
    bars.push(bar(`faster than SQLite FTS5 on every shape (p95 ratio, worst: ${which})`, 'x', '>=', 1, 1, min));
  }
  return bars;
}

function fmtMs(n: number | undefined): string {
  if (n === undefined || Number.isNaN(n)) return '-';
  return n < 10 ? n.toFixed(2) : n < 1000 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US');
}

function pad(cells: string[][], left = 1): string {
  const widths = cells[0]!.map((_c, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function formatShapes(shapes: ShapeSummary[]): string {
  const rows = [['shape', 'store p50 ms', 'p95 ms', 'SQLite p50 ms', 'p95 ms', 'SQLite/store p95', 'same page', 'rows', 'partial']];
  for (const s of shapes) {
    rows.push([s.shape, fmtMs(s.store.p50), fmtMs(s.store.p95), fmtMs(s.sqlite?.p50), fmtMs(s.sqlite?.p95), s.speedup_p95 === undefined ? '-' : `${s.speedup_p95.toFixed(1)}x`, s.agree === undefined ? '-' : `${s.agree}/${s.sets}`, String(s.rows), String(s.partial_pages)]);
  }
  return pad(rows);
}

function formatValue(b: StoreBar, v: number): string {
  if (b.unit === 'x') return `${v.toFixed(2)}x`;
  if (b.unit === 'ms') return `${fmtMs(v)} ms`;
  if (b.unit === 'B') return `${Math.round(v)} B`;
  return `${Math.round(v).toLocaleString('en-US')} ${b.unit}`;
}

export function formatStoreBars(bars: StoreBar[]): string {
  const rows = [['', 'measure', 'value', 'first bar', 'goal']];
  for (const b of bars) {
    const mark = b.pass === undefined ? '[ n/a]' : b.pass ? '[PASS]' : '[FAIL]';
    rows.push([mark, b.what + (b.note ? ` (${b.note})` : ''), b.value === undefined ? 'not measured' : formatValue(b, b.value), `${b.op} ${formatValue(b, b.bar)}`, `${b.op} ${formatValue(b, b.goal)}${b.goal_met === undefined ? '' : b.goal_met ? ' (met)' : ' (not yet)'}`]);
  }
  return pad(rows, 2);
}

async function benchmark(o: StoreBenchOptions, tmp: string, say: (l: string) => void, free: number): Promise<number> {
  const started = new Date();
  const load = loadavg()[0]!;
  if (load > 0.5) say(`note: load average is ${load.toFixed(2)} before the bench starts: other work on this machine makes the figures noisy`);
  say(`Sessiongate store bench: ${o.events.toLocaleString('en-US')} generated panel requests over 90 days, batches of ${o.batch}, seed ${o.seed}${o.sqlite ? ', SQLite FTS5 trigram anchor' : ''}`);
  say(`temp dir: ${tmp} (${(free / 1e9).toFixed(0)} GB free)`);
  const pop = population(o.seed);
  const storeDir = join(tmp, 'store');
  const csvFile = o.sqlite ? join(tmp, 'requests.csv') : undefined;

  const ing = await ingest(o, pop, storeDir, csvFile, say);
  say(`store: ${Math.round(ing.events_per_s).toLocaleString('en-US')} events/s (${ing.seconds.toFixed(1)} s, generation excluded: ${ing.generate_seconds.toFixed(1)} s), ${Math.round(ing.bytes_per_event)} B/event (${(ing.bytes / 1048576).toFixed(0)} MiB)`);

  const qs = querySet(o.seed, pop);
  const mine = await queryStore(storeDir, qs, o.runs);

  let sqliteLoad: { rows: number; seconds: number; rows_per_s: number; bytes: number; bytes_per_row: number } | undefined;
  const theirs: QueryTiming[] = [];
  if (o.sqlite) {
    const db = join(tmp, 'requests.sqlite');
    say('SQLite: loading the same rows...');
    sqliteLoad = JSON.parse((await runPython(['load', db, csvFile!, String(o.batch)])).trim()) as NonNullable<typeof sqliteLoad>;
    say(`SQLite: ${Math.round(sqliteLoad.rows_per_s).toLocaleString('en-US')} rows/s (${sqliteLoad.seconds.toFixed(1)} s), ${Math.round(sqliteLoad.bytes_per_row)} B/row (${(sqliteLoad.bytes / 1048576).toFixed(0)} MiB)`);
    rmSync(csvFile!, { force: true });
    const qfile = join(tmp, 'queries.json');
    writeFileSync(qfile, JSON.stringify(Array.from({ length: o.runs + 1 }, () => qs).flat()));
    let n = 0;
    await runPython(['query', db, qfile], (line) => {
      const r = JSON.parse(line) as { shape: Shape; i: number; ms: number; ids: string[] };
      theirs.push({ ...r, run: Math.floor(n++ / qs.length), partial_pages: 0 });
    });
  }

  const shapes: ShapeSummary[] = SHAPES.map((shape) => {
    const m = mine.filter((x) => x.shape === shape && x.run > 0);
    const s = theirs.filter((x) => x.shape === shape && x.run > 0);
    const sets = new Set(m.map((x) => x.i)).size;
    const first = (xs: QueryTiming[], i: number) => xs.find((x) => x.i === i && x.run === 1);
    const sum: ShapeSummary = { shape, store: stats(m.map((x) => x.ms)), sets, partial_pages: m.reduce((a, x) => a + x.partial_pages, 0), rows: [...new Set(m.map((x) => x.i))].reduce((a, i) => a + (first(m, i)?.ids.length ?? 0), 0) };
    if (s.length) {
      sum.sqlite = stats(s.map((x) => x.ms));
      sum.speedup_p95 = sum.sqlite.p95 / sum.store.p95;
      let agree = 0;
      for (let i = 0; i < sets; i++) if (JSON.stringify(first(m, i)?.ids) === JSON.stringify(first(s, i)?.ids)) agree++;
      sum.agree = agree;
    }
    return sum;
  });
  const bars = judgeStoreBars(o.events, ing, shapes);
  say('');
  say(`first page (50 newest), ${o.runs} run(s) of each parameter set after a warm-up run:`);
  say(formatShapes(shapes));
  say('');
  say(`ingest: store ${Math.round(ing.events_per_s).toLocaleString('en-US')} events/s, ${Math.round(ing.bytes_per_event)} B/event` + (sqliteLoad ? `; SQLite ${Math.round(sqliteLoad.rows_per_s).toLocaleString('en-US')} rows/s, ${Math.round(sqliteLoad.bytes_per_row)} B/row (store/SQLite: ${(ing.events_per_s / sqliteLoad.rows_per_s).toFixed(2)}x the rate, ${(ing.bytes_per_event / sqliteLoad.bytes_per_row).toFixed(2)}x the bytes)` : ''));
  say('');
  say('DESIGN.md bars (store):');
  say(formatStoreBars(bars));
  const disagree = shapes.filter((s) => s.agree !== undefined && s.agree < s.sets);
  if (disagree.length) say(`\nThe engines returned different first pages for: ${disagree.map((s) => `${s.shape} (${s.sets - s.agree!} of ${s.sets})`).join(', ')}`);

  const result = {
    suite: 'store',
    started: started.toISOString(),
    finished: new Date().toISOString(),
    options: { events: o.events, batch: o.batch, runs: o.runs, seed: o.seed, sqlite: o.sqlite },
    environment: { ...hostEnvironment(), sqlite: o.sqlite ? spawnSync('python3', ['-c', 'import sqlite3; print(sqlite3.sqlite_version)'], { encoding: 'utf8' }).stdout.trim() : undefined },
    ingest: ing,
    sqlite_load: sqliteLoad,
    shapes,
    bars,
    queries: qs,
    timings: { store: mine.map(({ ids, ...x }) => ({ ...x, rows: ids.length })), sqlite: theirs.map(({ ids, ...x }) => ({ ...x, rows: ids.length })) },
  };
  saveResult(o.outDir, 'store', started, result, say);
  const failed = bars.some((b) => b.pass === false) || disagree.length > 0;
  if (failed) say('At least one first bar failed or the engines disagreed (see above).');
  return o.strict && failed ? 3 : 0;
}
