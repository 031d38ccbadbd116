// The store bench itself: its generator is deterministic with the advertised keyword rates, and a
// small end-to-end run (real store, real SQLite through python3) finishes, writes its JSON, and
// finds both engines returning the same first page for every query.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMON_TERMS, RARE_TERMS, population, requests } from '../bench/lib/store-data.js';
import { parseOptions, percentile, querySet, run } from '../bench/store.js';
import { interopRequired, requireTool } from './helpers/interop.js';
import { runSuite } from './helpers/bench.js';

t.test('generator: same seed, same rows; keyword rates as documented', async (t) => {
  const pop = population(7);
  const gen = (n: number) => [...requests({ seed: 7, events: n, start: 0, end: 86_400_000 }, pop)].map(({ id: _id, ...rest }) => rest);
  t.same(gen(500), gen(500), 'deterministic (ids aside: they are minted like the Recorder does)');
  const rows = [...requests({ seed: 3, events: 200_000, start: Date.UTC(2025, 0, 1), end: Date.UTC(2025, 2, 1) }, pop)];
  for (let i = 1; i < rows.length; i++) if (rows[i]!.id <= rows[i - 1]!.id || rows[i]!.ts < rows[i - 1]!.ts) t.fail(`row ${i} out of order`);
  const share = (term: string) => rows.filter((r) => r.url.toLowerCase().includes(term)).length / rows.length;
  for (const [term, rate] of Object.entries(COMMON_TERMS)) t.ok(Math.abs(share(term) - rate) < 0.01, `${term} in ~${rate * 100}% of rows (${(share(term) * 100).toFixed(1)}%)`);
  const rare = RARE_TERMS.map((term) => rows.filter((r) => JSON.stringify(r).toLowerCase().includes(term)).length);
  t.ok(rare.every((n) => n > 0 && n < 15), `each rare term in a handful of rows (${rare.join(', ')})`);
  const qs = querySet(1, pop);
  t.same([...new Set(qs.map((q) => q.shape))], ['newest', 'rare keyword', 'common keyword', 'narrow range', 'wide range', 'user', 'combined']);
  t.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95), 10);
  t.equal(percentile([1, 2, 3, 4], 50), 2);
  t.throws(() => parseOptions(['--sqlite', 'maybe']), /on or off/);
  t.throws(() => parseOptions(['--events', '5']), /--events/);
});

t.test('a small run end to end agrees with SQLite on every first page', async (t) => {
  if (!requireTool(t, 'python3')) return;
  if (spawnSync('python3', ['-c', 'import sqlite3'], { stdio: 'ignore' }).status !== 0) {
    const msg = "python3's sqlite3 module is missing";
    if (interopRequired) t.fail(`SESSIONGATE_REQUIRE_INTEROP=1 and ${msg}`);
    else t.comment(`SKIP: ${msg}`);
    return;
  }
  const out = t.testdir();
  const { code, text, file } = await runSuite(run, ['--events', '20000', '--runs', '1', '--strict'], out, 'store');
  t.ok(file, 'JSON result written');
  const result = JSON.parse(readFileSync(join(out, file!), 'utf8')) as { ingest: { events: number; bytes_per_event: number }; shapes: { shape: string; agree: number; sets: number }[] };
  t.equal(result.ingest.events, 20_000);
  t.ok(result.ingest.bytes_per_event > 0);
  for (const s of result.shapes) t.equal(s.agree, s.sets, `${s.shape}: same first pages in both engines`);
  t.match(text, /DESIGN\.md bars \(store\)/);
  // --strict exits 3 only for failed bars or disagreement; at 20k events the ingest bars may fail on a busy machine.
  t.ok(code === 0 || code === 3, `exit ${code}`);
});
