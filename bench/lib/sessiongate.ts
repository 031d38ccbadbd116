// Sessiongate as a bench target: the real CLI (`node dist/cli/sessiongate.js start`) with a
// generated config, exactly as an operator runs it. One listener, one route to the origin.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { Store } from '../../recorder/store/store.js';
import type { HttpRequestEvent } from '../../recorder/events.js';
import type { Child, ProcessSet } from './procs.js';
import { HOST } from './net.js';

export interface GatewayBenchConfig {
  /** Where config, data and logs go. */
  dir: string;
  port: number;
  originPort: number;
  engine: 'uws' | 'node';
  /** false = `audit.enabled: false` (no request recording: the overhead baseline). */
  recording: boolean;
  /** audit.writer; absent = the config default. */
  writer?: 'worker' | 'inline' | undefined;
}

export function gatewayYaml(c: GatewayBenchConfig): string {
  return `# Sessiongate bench target (generated).
data_dir: ${JSON.stringify(join(c.dir, 'data'))}
log:
  level: warn
  file: ${JSON.stringify(join(c.dir, 'sessiongate.log'))}
viewer:
  listen: ${HOST}:0
audit:
  enabled: ${c.recording}
${c.writer ? `  writer: ${c.writer}\n` : ''}http:
  - name: bench
    listen: ${HOST}:${c.port}
    engine: ${c.engine}
    routes:
      - name: origin
        upstream: http://${HOST}:${c.originPort}
`;
}

export interface GatewayTarget {
  child: Child;
  configFile: string;
  dataDir: string;
}

export function startGateway(procs: ProcessSet, name: string, cli: string, c: GatewayBenchConfig): GatewayTarget {
  mkdirSync(c.dir, { recursive: true });
  const configFile = join(c.dir, 'sessiongate.yaml');
  writeFileSync(configFile, gatewayYaml(c));
  const child = procs.spawn(name, process.execPath, [cli, 'start', '--config', configFile]);
  return { child, configFile, dataDir: join(c.dir, 'data') };
}

/** Peak and current resident set size of a live process, in bytes (Linux /proc). */
export async function memoryOf(pid: number): Promise<{ peak_rss: number; rss: number }> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`/proc/${pid}/status has no ${key}`);
    return Number(m[1]) * 1024;
  };
  return { peak_rss: kb('VmHWM'), rss: kb('VmRSS') };
}

export interface StoredCount {
  /** `http.request` rows read back from the store, page by page (what the API would list). */
  rows: number;
  /** The store's own per-type counter (what the API reports as `total`). */
  counter: number;
  /** The newest stored request, as evidence of what a record holds. */
  newest?: HttpRequestEvent;
}

/**
 * Opens a stopped gateway's store read-only (the same store `sessiongate search` reads) and
 * counts the stored `http.request` events by reading them back, not by trusting a counter.
 */
export async function countStoredRequests(dataDir: string): Promise<StoredCount> {
  const store = Store.open({ dir: join(dataDir, 'store'), logger: pino({ level: 'silent' }), readOnly: true, scanBudget: Number.MAX_SAFE_INTEGER });
  try {
    const first = store.queryRequests({ limit: 500 });
    const out: StoredCount = { rows: first.items.length, counter: first.total ?? NaN, newest: first.items[0] };
    for (let page = first; page.next_cursor; ) {
      page = store.queryRequests({ limit: 500, cursor: page.next_cursor });
      out.rows += page.items.length;
    }
    return out;
  } finally {
    await store.close();
  }
}
