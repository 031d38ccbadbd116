// The viewer bench at a tiny size: a generated store, the real gateway, real Chromium; it finishes,
// writes its JSON with a figure for every page on both stores, the bar and the bundle size.
import t from 'tap';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { countLabel, parseOptions, run } from '../bench/viewer.js';
import { requireTool } from './helpers/interop.js';
import { runSuite } from './helpers/bench.js';

t.test('options', async (t) => {
  t.equal(parseOptions([]).events, 10_000_000);
  t.equal(parseOptions([]).runs, 10);
  t.throws(() => parseOptions(['--events', '5000']), /--events/);
  t.throws(() => parseOptions(['--store']), /--store needs a directory/);
  t.throws(() => parseOptions(['--nope']), /unknown option/);
  t.equal(parseOptions(['--store', '/x', '--keep']).store, '/x');
  t.equal(countLabel(10_000_000), '10M');
  t.equal(countLabel(200_000), '200k');
});

t.test('a small run end to end in Chromium', async (t) => {
  if (!requireTool(t, 'chromium')) return;
  const out = t.testdir();
  mkdirSync(out, { recursive: true });
  const { code, text, file } = await runSuite(run, ['--events', '10000', '--runs', '2'], out, 'viewer');
  t.equal(code, 0, 'exit 0 (no --strict)');
  t.ok(file, 'JSON result written');
  const r = JSON.parse(readFileSync(join(out, file!), 'utf8')) as {
    suite: string;
    events: number;
    search_term: string;
    pages: { page: string; store: { p50: number; p95: number; max: number; n: number }; empty: { p50: number; p95: number; max: number; n: number }; ratio_p95: number; rows_on_first_page: number }[];
    bars: { what: string; value: number; pass: boolean }[];
    bundle: { files: { file: string; bytes: number; gzip: number }[]; total: { bytes: number; gzip: number } };
    samples: { target: string; what: string }[];
  };
  t.equal(r.suite, 'viewer');
  t.equal(r.events, 10_000);
  t.ok(r.search_term.length > 0, `search term "${r.search_term}"`);
  t.same(r.pages.map((p) => p.page), ['admin', 'admin-search', 'client']);
  for (const p of r.pages) {
    for (const k of ['p50', 'p95', 'max'] as const) {
      t.ok(p.store[k] > 0, `${p.page}: store ${k} ${p.store[k]} ms`);
      t.ok(p.empty[k] > 0, `${p.page}: empty ${k} ${p.empty[k]} ms`);
    }
    t.equal(p.store.n, 2);
    t.ok(p.ratio_p95 > 0);
    t.ok(p.rows_on_first_page > 0, `${p.page}: rows on the first page`);
  }
  t.ok(r.samples.filter((s) => s.target === 'store').every((s) => s.what === 'row'), 'the store pages showed rows');
  t.ok(r.samples.filter((s) => s.target === 'empty').every((s) => s.what === 'empty'), 'the empty store showed its empty state');
  t.equal(r.bars.length, 1);
  t.match(r.bars[0]!.what, /Admin Sessions, 10k events, p95/);
  t.ok(r.bars[0]!.value > 0);
  t.ok(r.bundle.files.some((f) => f.file.endsWith('.js')) && r.bundle.files.some((f) => f.file.endsWith('.css')), 'JS and CSS counted');
  t.ok(r.bundle.files.every((f) => !f.file.endsWith('.map')), 'no source maps');
  t.ok(r.bundle.total.bytes > r.bundle.total.gzip && r.bundle.total.gzip > 0);
  t.match(text, /\[(PASS|FAIL)\]\s+time to first rendered page, Admin Sessions, 10k events, p95/);
  t.match(text, /total\s+[\d,]+/);
});
