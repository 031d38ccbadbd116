// Shared bits for the recorder/cast tests: a temp recordings dir, a writer with test defaults,
// reading a cast back, and an independent replay into @xterm/headless to compare screens.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import xterm from '@xterm/headless';
import serializeAddon from '@xterm/addon-serialize';
import { CastWriter, type CastWriterOptions } from '../recorder/cast/index.js';
import { manualClock, silentLogger, type ManualClock } from './fixtures/recorder-helpers.js';

export const START_MS = Date.UTC(2026, 10, 22, 12, 0, 0);

interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function castDir(t: Teardown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sg-cast-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

let n = 0;
export function newWriter(dir: string, over: Partial<CastWriterOptions> = {}): { w: CastWriter; clock: ManualClock } {
  const clock = manualClock(START_MS);
  const w = new CastWriter({
    dir,
    sessionId: `S${process.pid}-${++n}`,
    width: 80,
    height: 24,
    recordInput: false,
    clock,
    logger: silentLogger(),
    ...over,
  });
  return { w, clock: (over.clock as ManualClock | undefined) ?? clock };
}

export interface ReadBack {
  text: string;
  lines: string[];
  header: Record<string, unknown>;
  events: [number, string, string][];
}

export async function readCast(file: string): Promise<ReadBack> {
  const text = await readFile(file, 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const header = JSON.parse(lines[0]!) as Record<string, unknown>;
  const events = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
  return { text, lines, header, events };
}

const { Terminal } = xterm;
const { SerializeAddon } = serializeAddon;

/** A fresh headless terminal; feed() applies `o` data and `r` resizes in order. */
export function screen(cols: number, rows: number) {
  const term = new Terminal({ cols, rows, scrollback: 0, allowProposedApi: true });
  const ser = new SerializeAddon();
  term.loadAddon(ser);
  const write = (d: string) => new Promise<void>((resolve) => term.write(d, resolve));
  return {
    term,
    write,
    async feed(events: Iterable<[number, string, string]>) {
      // One write per run of output: a write callback per event would cost a timer turn each.
      let pending = '';
      for (const [, code, data] of events) {
        if (code === 'o') pending += data;
        else if (code === 'r') {
          if (pending) await write(pending);
          pending = '';
          const [c, r] = data.split('x').map(Number);
          term.resize(c!, r!);
        }
      }
      if (pending) await write(pending);
    },
    /** The screen as escape sequences plus the cursor: what a viewer would show. */
    state: () => `${ser.serialize()}|cursor=${term.buffer.active.cursorX},${term.buffer.active.cursorY}|${term.buffer.active.type}`,
    dispose: () => term.dispose(),
  };
}

export async function waitFor(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Times each call: a blocked caller would show in the total and the p99; the max is GC noise. */
export function callTimes() {
  const ms: number[] = [];
  return {
    time<T>(fn: () => T): T {
      const s = performance.now();
      try {
        return fn();
      } finally {
        ms.push(performance.now() - s);
      }
    },
    summary() {
      const sorted = [...ms].sort((a, b) => a - b);
      const total = ms.reduce((a, b) => a + b, 0);
      return { total, p99: sorted[Math.floor(sorted.length * 0.99)] ?? 0, max: sorted[sorted.length - 1] ?? 0, text: `${ms.length} calls, ${total.toFixed(0)} ms in all, p99 ${(sorted[Math.floor(sorted.length * 0.99)] ?? 0).toFixed(3)} ms, max ${(sorted[sorted.length - 1] ?? 0).toFixed(1)} ms` };
    },
  };
}
