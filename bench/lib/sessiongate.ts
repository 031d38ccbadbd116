// Sessiongate as a bench target: the real CLI (`node dist/cli/sessiongate.js start`) with a
// generated config, exactly as an operator runs it. One listener, one route to the origin.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
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
http:
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

/**
 * Stored `http.request` events, read back through the CLI (`sessiongate search --json`) after
 * the gateway has stopped and flushed: what an auditor would see, not an internal counter.
 */
export function countStoredRequests(cli: string, configFile: string, timeoutMs = 120_000): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cli, 'search', '--config', configFile, '--json', '--limit', '1'], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`sessiongate search failed: ${stderr.trim() || err.message}`));
      try {
        resolve(totalFromSearch(stdout));
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

/** The match count in `sessiongate search --json` output. */
export function totalFromSearch(stdout: string): number {
  const v = JSON.parse(stdout) as { total?: unknown; total_estimated?: unknown };
  if (typeof v.total !== 'number') throw new Error('sessiongate search --json gave no total');
  if (v.total_estimated === true) throw new Error('sessiongate search --json gave only an estimated total');
  return v.total;
}
