// kill -9 under load: a child process emits events and reports what the recorder told it was
// committed; after SIGKILL the store reopens cleanly, holds at least everything reported
// committed, and what it holds is an exact prefix of what was emitted (batches commit whole,
// in order). What is missing is only what had not yet been committed.
// The child imports the compiled recorder: dist/ when it is up to date (npm test builds it
// first), otherwise the recorder is compiled for this run into the test's own directory.
import t, { type Test } from 'tap';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Store } from '../recorder/store/store.js';
import { mintId } from '../recorder/event-id.js';
import type { HttpRequestEvent } from '../recorder/events.js';
import { silentLogger } from './fixtures/recorder-helpers.js';

const ROOT = process.cwd();
const SOURCE_DIRS = ['recorder', 'gateway/core', 'config'];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((d) => {
    const rel = join(dir, d.name);
    if (d.isDirectory()) return sources(rel);
    return d.name.endsWith('.ts') && !d.name.endsWith('.test.ts') && !d.name.endsWith('.d.ts') ? [rel] : [];
  });
}

function distIsFresh(): boolean {
  return SOURCE_DIRS.flatMap(sources).every((src) => {
    const out = join(ROOT, 'dist', src.replace(/\.ts$/, '.js'));
    return existsSync(out) && statSync(out).mtimeMs >= statSync(join(ROOT, src)).mtimeMs;
  });
}

/** The compiled recorder entry point for the child. */
function recorderModule(t: Test, workDir: string): string {
  if (distIsFresh()) return join(ROOT, 'dist/recorder/index.js');
  const out = join(workDir, 'build');
  t.comment(`dist/ is missing or older than the sources: compiling the recorder into ${relative(ROOT, out)}`);
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const flags = ['--outDir', out, '--rootDir', ROOT, '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--strict', '--skipLibCheck', '--esModuleInterop', '--types', 'node', '--resolveJsonModule'];
  execFileSync(process.execPath, [tsc, ...flags, join(ROOT, 'recorder/index.ts')], { cwd: ROOT, stdio: 'inherit' });
  return join(out, 'recorder/index.js');
}

t.test('kill -9 under load loses only uncommitted events, never a committed one', async (t) => {
  const workDir = t.testdir();
  const mod = recorderModule(t, workDir);
  const dataDir = join(workDir, 'data');
  const child = spawn(process.execPath, [join(ROOT, 'test/fixtures/recorder-crash-child.mjs'), pathToFileURL(mod).href, dataDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let maxC = 0;
  let maxE = 0;
  let burst = 0;
  let backlogMax = 0;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    out += d;
    const lines = out.split('\n');
    out = lines.pop()!;
    for (const l of lines) {
      const [k, v] = l.split(' ');
      const n = Number(v);
      if (k === 'C') maxC = Math.max(maxC, n);
      else if (k === 'E') maxE = Math.max(maxE, n);
      else if (k === 'READY') {
        burst = n;
        backlogMax = Number(l.split(' ')[2]);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const streamEnded = new Promise<void>((resolve) => child.stdout.on('end', () => resolve()));

  // Let it run until a good number of commits happened (generous deadline, no timing assert).
  const deadline = Date.now() + 60_000;
  while (maxC < 30_000 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  t.ok(maxC >= 30_000, `child committed ${maxC} events before the kill`);
  child.kill('SIGKILL');
  const { signal } = await exited;
  await streamEnded;
  t.equal(signal, 'SIGKILL', 'killed with SIGKILL');

  // Reopen writable, as a restarted gateway would (stale reader slots and lock are recovered).
  const s = Store.open({ dir: join(dataDir, 'store'), logger: silentLogger() });
  t.teardown(() => s.close());
  const stored = [...s.iterateAll()] as HttpRequestEvent[];
  t.equal(s.countByType()['http.request'], stored.length, 'per-type count consistent with the data');
  t.ok(stored.length >= maxC, `stored ${stored.length} >= last reported committed ${maxC}`);
  t.ok(stored.length <= maxE + burst, 'no phantom events');
  let prefix = true;
  for (let i = 0; i < stored.length; i++) if (stored[i]!.bytes_in !== i) prefix = false;
  t.ok(prefix, 'stored events are exactly the first N emitted, in order: no hole');
  const missing = Math.max(0, maxE - stored.length);
  t.comment(`emitted >= ${maxE}, reported committed ${maxC}, stored ${stored.length}, missing ~${missing} (uncommitted at the kill)`);
  t.ok(backlogMax > 0 && missing <= backlogMax + burst, `missing (${missing}) is at most the uncommitted backlog (<= ${backlogMax + burst})`);
  // The store still takes writes after the crash.
  const now = Date.now();
  const res = await s.writeBatch([{ ...stored[0]!, id: mintId(now, now), ts: now, bytes_in: -1 }]);
  t.equal(res.stored, 1, 'writable after recovery');
});
