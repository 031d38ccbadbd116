// `npm run bench -- viewer`: time to the first rendered page of the viewer app in real Chromium
// with a large store behind it (the product requirement: "time to first rendered page of Admin
// Sessions with 10M stored events (first bar 1 s), and the bundle size").
//
// The store is generated and ingested exactly as `bench -- store` does it (`ingest` in
// bench/store.ts, generator in bench/lib/store-data.ts), or an existing one is reused (--store).
// The real gateway code (`startGateway`, config through config/loader.ts) serves it, with no
// HTTP listener, only the viewer on 127.0.0.1:0. An anchor gateway on an empty store runs in the
// same process at the same time, and every run measures both, interleaved, so the figures can be
// read as a ratio against the anchor (a busy shared machine moves both).
//
// Per run and page: a new browser tab, `page.goto`, and the time from the navigation's start to
// the first row of `table.data tbody` being visible and drawn (see PROBE for how). The empty
// store has no rows: there the page is done when its "nothing found" state is drawn.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { stringify } from 'yaml';
import { parseArgs } from '../cli/io.js';
import { startGateway, type Gateway } from '../cli/app.js';
import { loadConfig } from '../config/loader.js';
import { UsageError, intFlag, parseOrUsage, withInterrupt, type BenchIo } from './lib/cli.js';
import { bar, findRoot, table } from './lib/report.js';
import { freeBytes, hostEnvironment, saveResult } from './lib/run.js';
import { RARE_TERMS, population } from './lib/store-data.js';
import { STORE_DISK_PER_EVENT, formatStoreBars, ingest, percentile, type Ingest, type StoreBar } from './store.js';

export interface ViewerBenchOptions {
  events: number;
  /** An existing store (or data dir holding `store/`) to reuse instead of generating. */
  store?: string;
  keep: boolean;
  runs: number;
  strict: boolean;
  outDir: string;
}

const ROOT = findRoot();
const UI_DIR = join(ROOT, 'dist', 'viewer', 'web');
/** Debian's Chromium; the bench never downloads a browser. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
/** The generator's settings: those of `bench -- store` (seed 1, Recorder-sized batches). */
const SEED = 1;
const BATCH = 2_000;
/** The first bar (ms, p95 of Admin Sessions at 10M events). */
const BAR_MS = 1_000;
const BAR_EVENTS = 10_000_000;
/** How long one page may take before the run is declared failed. */
const PAGE_TIMEOUT_MS = 120_000;

const USAGE = `usage: npm run bench -- viewer [options]

  --events N   generated panel requests (default 10000000, at least 10000; the store bench's
               generator and ingest; about ${STORE_DISK_PER_EVENT} B/event of free disk is checked first)
  --store DIR  reuse an existing store instead of generating one (--events is then ignored): a data
               dir holding store/ (what --keep prints) or a store dir itself (holding data.mdb).
               The gateway writes to it as it runs (a temporary viewer user, sign-ins, searches)
  --keep       keep the temp dir (generated store, configs, gateway logs) and print the --store to reuse
  --runs N     measured runs of each page (default 10), after one first visit that is reported
               apart and not counted in p50/p95
  --strict     exit 3 when the first bar fails
  --out DIR    where the JSON result goes (default bench/results)
`;

export function parseOptions(argv: string[]): ViewerBenchOptions {
  const { flags, positionals } = parseArgs(argv, ['keep', 'strict', 'help']);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const known = new Set(['events', 'store', 'keep', 'runs', 'strict', 'out', 'help']);
  for (const k of Object.keys(flags)) if (!known.has(k)) throw new UsageError(`unknown option --${k}`);
  if (flags.help) throw new UsageError('');
  if (flags.store === true || flags.store === '') throw new UsageError('--store needs a directory');
  if (flags.out === true) throw new UsageError('--out needs a directory');
  const o: ViewerBenchOptions = {
    events: intFlag(flags.events, 'events', 10_000_000, 10_000, 100_000_000),
    keep: flags.keep === true,
    runs: intFlag(flags.runs, 'runs', 10, 1, 1000),
    strict: flags.strict === true,
    outDir: typeof flags.out === 'string' ? flags.out : join(ROOT, 'bench', 'results'),
  };
  if (typeof flags.store === 'string') o.store = flags.store;
  return o;
}

// ---------- the pages and the in-page probe ----------

export interface PageSpec {
  /** Short id used in the JSON. */
  id: 'admin' | 'admin-search' | 'client';
  label: string;
  path: string;
}

export function pageSpecs(term: string): PageSpec[] {
  return [
    { id: 'admin', label: 'Admin Sessions', path: '/admin-sessions' },
    { id: 'admin-search', label: 'Admin Sessions, keyword search', path: `/admin-sessions?q=${encodeURIComponent(term)}` },
    { id: 'client', label: 'Client Sessions', path: '/client-sessions' },
  ];
}

/**
 * Runs in every new tab before the app's own scripts (context.addInitScript). A MutationObserver
 * notices the first `table.data tbody tr` (or, for an empty result, the page's empty/error state)
 * once it has a box on screen; the probe then waits for the next requestAnimationFrame (the frame
 * that lays out and paints it) and, in a task queued from that callback (so after the frame's
 * rendering steps have run), records `performance.now()`. A page's performance.now() counts from
 * its time origin, the start of the navigation (Navigation Timing startTime 0): that value is the
 * time to first rendered page. Milestones from Navigation and Resource Timing are kept to show
 * where the time went (HTML received, DOMContentLoaded = app script run, /api/requests answered).
 */
const PROBE = `(() => {
  if (window.top !== window) return;
  const ROW = 'table.data tbody tr';
  const STATE = '.state-empty, .state-error';
  let seen = false;
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && (typeof el.checkVisibility !== 'function' || el.checkVisibility());
  };
  const check = () => {
    if (seen) return;
    const row = document.querySelector(ROW);
    const el = row || document.querySelector(STATE);
    if (!el || !visible(el)) return;
    seen = true;
    observer.disconnect();
    const dom_ms = performance.now();
    requestAnimationFrame(() => {
      const frame_ms = performance.now();
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        const rendered_ms = performance.now();
        const nav = performance.getEntriesByType('navigation')[0];
        const api = performance.getEntriesByType('resource').find((e) => e.name.includes('/api/requests'));
        window.__sgFirstRender = {
          what: row ? 'row' : el.classList.contains('state-error') ? 'error' : 'empty',
          text: row ? '' : String(el.textContent || '').slice(0, 200),
          rows: document.querySelectorAll(ROW).length,
          rendered_ms,
          frame_ms,
          dom_ms,
          html_ms: nav ? nav.responseEnd : undefined,
          dcl_ms: nav ? nav.domContentLoadedEventEnd : undefined,
          api_start_ms: api ? api.startTime : undefined,
          api_end_ms: api ? api.responseEnd : undefined,
        };
      };
      ch.port2.postMessage(0);
    });
  };
  const observer = new MutationObserver(check);
  observer.observe(document, { childList: true, subtree: true });
})();`;

interface Probe {
  what: 'row' | 'empty' | 'error';
  text: string;
  rows: number;
  rendered_ms: number;
  frame_ms: number;
  dom_ms: number;
  html_ms?: number;
  dcl_ms?: number;
  api_start_ms?: number;
  api_end_ms?: number;
}

export interface Sample extends Probe {
  target: 'store' | 'empty';
  page: PageSpec['id'];
  /** 0 = the first visit after the gateway started (reported apart, not in p50/p95). */
  run: number;
  /** Node's own clock around goto + wait (includes Playwright's polling): a cross-check only. */
  wall_ms: number;
}

async function measurePage(ctx: BrowserContext, url: string): Promise<Probe & { wall_ms: number }> {
  const page = await ctx.newPage();
  try {
    const t0 = performance.now();
    await page.goto(url, { waitUntil: 'commit', timeout: PAGE_TIMEOUT_MS });
    // Functions, not strings: the viewer's CSP forbids eval, and Playwright evaluates string predicates with it.
    await page.waitForFunction(() => (globalThis as { __sgFirstRender?: Probe }).__sgFirstRender !== undefined, undefined, { timeout: PAGE_TIMEOUT_MS, polling: 20 });
    const wall_ms = performance.now() - t0;
    const probe = await page.evaluate(() => (globalThis as { __sgFirstRender?: Probe }).__sgFirstRender!);
    return { ...probe, wall_ms };
  } finally {
    await page.close();
  }
}

// ---------- statistics and formatting ----------

export interface Stats {
  p50: number;
  p95: number;
  max: number;
  n: number;
}

function stats(ms: number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), max: s.at(-1) ?? NaN, n: s.length };
}

/** 10,000 -> "10k", 10,000,000 -> "10M", 1,234,567 -> "1.23M". */
export function countLabel(n: number): string {
  const trim = (v: number) => String(Number(v.toFixed(2)));
  if (n >= 1e6) return `${trim(n / 1e6)}M`;
  if (n >= 1e3) return `${trim(n / 1e3)}k`;
  return String(n);
}

const fmtMs = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '-' : n < 100 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US'));
const fmtBytes = (n: number) => `${(n / 1024).toFixed(1)} KiB`;


// ---------- bundle size ----------

export interface BundleFile {
  file: string;
  bytes: number;
  gzip: number;
}

/** dist/viewer/web/assets/*.js and *.css (source maps left out): raw and gzip (zlib defaults). */
export function bundleSize(dir = join(UI_DIR, 'assets')): { files: BundleFile[]; total: { bytes: number; gzip: number } } {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.js') || f.endsWith('.css'))
    .sort()
    .map((file) => {
      const body = readFileSync(join(dir, file));
      return { file, bytes: body.length, gzip: gzipSync(body).length };
    });
  return { files, total: { bytes: files.reduce((a, f) => a + f.bytes, 0), gzip: files.reduce((a, f) => a + f.gzip, 0) } };
}

// ---------- gateways ----------

interface Target {
  name: 'store' | 'empty';
  gateway: Gateway;
  viewer: string;
  context?: BrowserContext;
}

/** The real gateway on `dataDir` (its store is `dataDir/store`), viewer only, config through the loader. */
async function startViewerGateway(work: string, name: string, dataDir: string): Promise<{ gateway: Gateway; viewer: string }> {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, stringify({ data_dir: dataDir, log: { level: 'warn', file: join(work, `${name}.log`) }, viewer: { listen: '127.0.0.1:0' } }));
  const { config } = await loadConfig(file);
  const gateway = await startGateway(config);
  const viewer = gateway.urls().viewer;
  if (!viewer) {
    await gateway.close();
    throw new Error(`the ${name} gateway started without a viewer`);
  }
  return { gateway, viewer };
}

/** Where the reused store's data dir is: DIR itself when it holds store/, else a temp data dir whose store/ links to DIR. */
function reuseDataDir(dir: string, work: string): string {
  const abs = resolve(dir);
  if (existsSync(join(abs, 'store', 'data.mdb'))) return abs;
  if (existsSync(join(abs, 'data.mdb'))) {
    const data = join(work, 'data');
    mkdirSync(data, { recursive: true, mode: 0o700 });
    symlinkSync(abs, join(data, 'store'), 'dir');
    return data;
  }
  throw new Error(`--store ${dir}: no Sessiongate store there (expected ${join(dir, 'store', 'data.mdb')} or ${join(dir, 'data.mdb')})`);
}

// ---------- running ----------


export async function run(argv: string[], io: BenchIo = process): Promise<number> {
  const parsed = parseOrUsage('viewer', USAGE, io, () => parseOptions(argv));
  if ('exit' in parsed) return parsed.exit;
  const o = parsed.options;
  const say = (line: string) => void io.stdout.write(line + '\n');
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (Debian: apt-get install chromium); this bench never downloads a browser`);
  if (!existsSync(join(UI_DIR, 'index.html')) || !existsSync(join(UI_DIR, 'assets'))) throw new Error(`the viewer app is not built (${UI_DIR}): run node scripts/build-if-needed.mjs (npm run bench does)`);
  const base = tmpdir();
  const free = freeBytes(base);
  if (!o.store) {
    const need = o.events * STORE_DISK_PER_EVENT;
    if (free < need) throw new Error(`not enough free disk in ${base}: ${(free / 1e9).toFixed(1)} GB free, ${(need / 1e9).toFixed(1)} GB needed for ${o.events.toLocaleString('en-US')} events (TMPDIR=... picks another disk, or --store reuses a kept one)`);
  }
  const work = mkdtempSync(join(base, 'sg-bench-viewer-'));
  const res: Resources = { work, targets: [], user: `bench-viewer-${randomBytes(4).toString('hex')}` };
  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    (stopping ??= (async () => {
      await res.browser?.close().catch(() => undefined);
      for (const t of res.targets) {
        // A reused store keeps no stray bench user behind.
        await t.gateway.users.remove(res.user).catch(() => undefined);
        await t.gateway.close().catch((e: unknown) => io.stderr.write(`bench: closing the ${t.name} gateway: ${(e as Error).message}\n`));
      }
      if (o.keep) say(`kept ${work}${res.generated ? `; reuse its store with --store ${res.dataDir}` : ''}`);
      else rmSync(work, { recursive: true, force: true });
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    io.stderr.write(`\nbench: ${sig}: stopping the gateways and the browser${o.keep ? '' : `, removing ${work}`}\n`);
    setTimeout(() => process.exit(130), 15_000).unref();
    void shutdown().finally(() => process.exit(130));
  };
  try {
    return await withInterrupt(onSignal, () => benchmark(o, res, say, free));
  } finally {
    await shutdown();
  }
}

interface Resources {
  work: string;
  targets: Target[];
  browser?: Browser;
  /** The temporary admin viewer user (the same on both gateways). */
  user: string;
  dataDir?: string;
  generated?: boolean;
}

/** A term found on the Admin Sessions page: a rare keyword if the data has one in the admin realm, else rarer-to-commoner fallbacks. */
async function pickSearchTerm(t: Target): Promise<{ term: string; candidates_tried: number }> {
  const pop = population(SEED);
  const candidates = [...RARE_TERMS, pop.heavy[4]!.email, 'tickets', 'invoice'];
  for (let i = 0; i < candidates.length; i++) {
    const r = await t.context!.request.get(`${t.viewer}/api/requests?${new URLSearchParams({ realm: 'admin', q: candidates[i]!, limit: '1' })}`);
    if (!r.ok()) throw new Error(`GET /api/requests answered ${r.status()}: ${(await r.text()).slice(0, 200)}`);
    const page = (await r.json()) as { items: unknown[] };
    if (page.items.length) return { term: candidates[i]!, candidates_tried: i + 1 };
  }
  throw new Error(`none of ${candidates.join(', ')} is found in the admin realm of this store: the keyword search page would test nothing`);
}

async function benchmark(o: ViewerBenchOptions, res: Resources, say: (l: string) => void, free: number): Promise<number> {
  const started = new Date();
  const load = loadavg()[0]!;
  if (load > 0.5) say(`note: load average is ${load.toFixed(2)} before the bench starts: other work on this machine makes the figures noisy (read the ratios to the empty store)`);
  say(`Sessiongate viewer bench: time to first rendered page in Chromium, ${o.runs} run(s) per page after a first visit`);

  // 1. The store.
  let ing: Ingest | undefined;
  if (o.store) {
    res.dataDir = reuseDataDir(o.store, res.work);
    say(`store: reusing ${o.store}`);
  } else {
    res.dataDir = join(res.work, 'data');
    res.generated = true;
    say(`store: generating ${o.events.toLocaleString('en-US')} panel requests (bench/lib/store-data.ts, seed ${SEED}, about 30% realm admin) into ${res.dataDir}/store (${(free / 1e9).toFixed(0)} GB free)`);
    ing = await ingest({ events: o.events, batch: BATCH, seed: SEED }, population(SEED), join(res.dataDir, 'store'), undefined, say);
    say(`store: ${Math.round(ing.events_per_s).toLocaleString('en-US')} events/s, ${Math.round(ing.bytes_per_event)} B/event (${(ing.bytes / 1048576).toFixed(0)} MiB)`);
  }

  // 2. The gateways: the store under test and the empty-store anchor, same admin user on both.
  const password = randomBytes(18).toString('base64url');
  const g0 = performance.now();
  for (const [name, dir] of [['store', res.dataDir], ['empty', join(res.work, 'empty')]] as const) {
    const { gateway, viewer } = await startViewerGateway(res.work, name, dir);
    res.targets.push({ name, gateway, viewer });
    await gateway.users.add({ name: res.user, password, role: 'admin' });
  }
  const [mine, anchor] = res.targets as [Target, Target];
  const events = mine.gateway.recorder.store.countByType()['http.request'];
  if (!events) throw new Error('the store holds no http.request events');
  const label = countLabel(events);
  say(`gateways: ${label} stored requests at ${mine.viewer}, empty store at ${anchor.viewer} (both started in ${((performance.now() - g0) / 1000).toFixed(1)} s)`);

  // 3. The browser: one context (cookie jar) per gateway, signed in once through the API.
  res.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false });
  for (const t of res.targets) {
    t.context = await res.browser.newContext({ viewport: { width: 1366, height: 900 } });
    await t.context.addInitScript(PROBE);
    const r = await t.context.request.post(`${t.viewer}/api/login`, { data: { name: res.user, password }, headers: { origin: t.viewer } });
    if (!r.ok()) throw new Error(`sign-in on the ${t.name} gateway answered ${r.status()}: ${(await r.text()).slice(0, 200)}`);
  }
  const { term, candidates_tried } = await pickSearchTerm(mine);
  const pages = pageSpecs(term);
  say(`browser: Chromium ${res.browser.version()}; keyword search term "${term}"${candidates_tried > 1 ? ` (the rarer candidates before it are not in the admin realm of this store)` : ''}`);

  // 4. The runs: run 0 is the first visit; every run measures each page on both gateways, interleaved.
  const samples: Sample[] = [];
  for (let run = 0; run <= o.runs; run++) {
    for (const p of pages) {
      for (const t of res.targets) {
        const m = await measurePage(t.context!, t.viewer + p.path);
        if (m.what === 'error') throw new Error(`${p.label} on the ${t.name} gateway showed an error: ${m.text}`);
        if (t.name === 'store' && m.what !== 'row') throw new Error(`${p.label} on the ${label}-event store showed no rows: ${m.text}`);
        samples.push({ target: t.name, page: p.id, run, ...m });
      }
    }
    say(`  run ${run === 0 ? 'first visit' : `${run}/${o.runs}`}: ${pages.map((p) => `${p.id} ${fmtMs(samples.find((s) => s.run === run && s.page === p.id && s.target === 'store')!.rendered_ms)} ms`).join(', ')}`);
  }

  // 5. Figures.
  const pick = (target: Sample['target'], page: PageSpec['id']) => samples.filter((s) => s.target === target && s.page === page);
  const measured = (xs: Sample[]) => xs.filter((s) => s.run > 0);
  const median = (xs: (number | undefined)[]) => {
    const ok = xs.filter((x): x is number => x !== undefined && !Number.isNaN(x));
    return ok.length ? percentile(ok.sort((a, b) => a - b), 50) : NaN;
  };
  const breakdown = (xs: Sample[]) => ({
    html_received: median(xs.map((s) => s.html_ms)),
    app_script_run: median(xs.map((s) => s.dcl_ms)),
    api_requests_sent: median(xs.map((s) => s.api_start_ms)),
    api_requests_answered: median(xs.map((s) => s.api_end_ms)),
    first_row_in_dom: median(xs.map((s) => s.dom_ms)),
    first_row_drawn: median(xs.map((s) => s.rendered_ms)),
  });
  const perPage = pages.map((p) => {
    const a = pick('store', p.id);
    const b = pick('empty', p.id);
    const sa = stats(measured(a).map((s) => s.rendered_ms));
    const sb = stats(measured(b).map((s) => s.rendered_ms));
    return {
      page: p.id,
      label: p.label,
      path: p.path,
      store: sa,
      empty: sb,
      /** store p95 / empty-store p95 (1.00 = the data costs nothing). */
      ratio_p95: sa.p95 / sb.p95,
      ratio_p50: sa.p50 / sb.p50,
      first_visit_ms: { store: a.find((s) => s.run === 0)!.rendered_ms, empty: b.find((s) => s.run === 0)!.rendered_ms },
      /** Medians over the measured runs, ms from navigation start: where the time went. */
      breakdown_p50_ms: { store: breakdown(measured(a)), empty: breakdown(measured(b)) },
      rows_on_first_page: a[0]!.rows,
    };
  });
  const admin = perPage.find((p) => p.page === 'admin')!;
  const note = events >= BAR_EVENTS ? undefined : `measured at ${label} events; the bar is at ${countLabel(BAR_EVENTS)}`;
  const bars: StoreBar[] = [bar(`time to first rendered page, Admin Sessions, ${label} events, p95`, 'ms', '<=', BAR_MS, BAR_MS, admin.store.p95, note)];
  const bundle = bundleSize();

  say('');
  say(`time to first rendered page (ms from navigation start to the first row drawn; empty store: to its empty state drawn), ${o.runs} run(s), first visit apart:`);
  const rows = [['page', `${label} p50`, 'p95', 'max', 'first visit', 'empty p50', 'p95', 'max', 'first visit', 'p95 vs empty', 'p50 vs empty']];
  for (const p of perPage) {
    rows.push([p.label, fmtMs(p.store.p50), fmtMs(p.store.p95), fmtMs(p.store.max), fmtMs(p.first_visit_ms.store), fmtMs(p.empty.p50), fmtMs(p.empty.p95), fmtMs(p.empty.max), fmtMs(p.first_visit_ms.empty), `${p.ratio_p95.toFixed(2)}x`, `${p.ratio_p50.toFixed(2)}x`]);
  }
  say(table(rows));
  say('');
  say(`where the time went (medians, ms from navigation start; empty store: its empty state instead of the first row):`);
  const br = [['page', 'store', 'HTML received', 'app script run', '/api/requests sent', 'answered', 'first row in DOM', 'drawn', 'rows']];
  for (const p of perPage) {
    for (const [name, b] of [[label, p.breakdown_p50_ms.store], ['empty', p.breakdown_p50_ms.empty]] as const) {
      br.push([name === label ? p.label : '', name, fmtMs(b.html_received), fmtMs(b.app_script_run), fmtMs(b.api_requests_sent), fmtMs(b.api_requests_answered), fmtMs(b.first_row_in_dom), fmtMs(b.first_row_drawn), name === label ? String(p.rows_on_first_page) : '0']);
    }
  }
  say(table(br, 2));
  say('');
  say('bundle (dist/viewer/web/assets, .js and .css, source maps left out; gzip: zlib defaults):');
  const bt = [['file', 'bytes', 'raw', 'gzip']];
  for (const f of bundle.files) bt.push([f.file, f.bytes.toLocaleString('en-US'), fmtBytes(f.bytes), fmtBytes(f.gzip)]);
  bt.push(['total', bundle.total.bytes.toLocaleString('en-US'), fmtBytes(bundle.total.bytes), fmtBytes(bundle.total.gzip)]);
  say(table(bt));
  say('');
  say('bars (viewer):');
  say(formatStoreBars(bars));
  say(`Admin Sessions p95: ${fmtMs(admin.store.p95)} ms on ${label} events = ${admin.ratio_p95.toFixed(2)}x the empty store's ${fmtMs(admin.empty.p95)} ms (same run)`);

  const result = {
    suite: 'viewer',
    started: started.toISOString(),
    finished: new Date().toISOString(),
    options: { events: o.store ? undefined : o.events, store: o.store, runs: o.runs, seed: SEED, batch: BATCH },
    environment: { ...hostEnvironment(), chromium: res.browser.version(), chromium_args: CHROMIUM_ARGS, viewport: '1366x900' },
    method:
      'per run and page a new tab in one signed-in context per gateway; time = performance.now() in the page (origin: navigation start) in a task queued from the first requestAnimationFrame after the first `table.data tbody tr` (empty store: its empty state) is in the DOM with a box; run 0 (first visit) is not in p50/p95',
    events,
    generated: res.generated === true,
    ingest: ing,
    search_term: term,
    pages: perPage,
    bars,
    bundle,
    samples,
  };
  saveResult(o.outDir, 'viewer', started, result, say);
  const failed = bars.some((b) => b.pass === false);
  if (failed) say('The first bar failed (see above).');
  return o.strict && failed ? 3 : 0;
}
