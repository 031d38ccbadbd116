// End-to-end harness: a real gateway (startGateway, the same code `sessiongate start` runs)
// built from YAML through the real config loader, with its data in a temp dir.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { Test } from 'tap';
import { loadConfig } from '../../config/loader.js';
import { startGateway, type Gateway } from '../../cli/app.js';
import type { Clock } from '../../gateway/core/runtime.js';

export function tempDir(prefix = 'sg-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes `yaml` (with `${DATA}` replaced by a temp data dir) to a file, loads it, starts a gateway. */
export async function startTestGateway(t: Test, yaml: string, opts: { dataDir?: string; clock?: Clock } = {}): Promise<{ gw: Gateway; dataDir: string; file: string }> {
  const dir = tempDir();
  const dataDir = opts.dataDir ?? join(dir, 'data');
  const file = join(dir, 'sessiongate.yaml');
  writeFileSync(file, yaml.replaceAll('${DATA}', dataDir));
  const { config } = await loadConfig(file);
  const gw = await startGateway(config, { logger: pino({ level: process.env.SG_TEST_LOG ?? 'silent' }), ...(opts.clock ? { clock: opts.clock } : {}) });
  t.teardown(async () => {
    await gw.close(0);
    if (!opts.dataDir) rmSync(dir, { recursive: true, force: true });
  });
  return { gw, dataDir, file };
}

export interface TestUpstream {
  url: string;
  port: number;
  /** Requests the upstream saw: method, url, headers. */
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/** A real node:http upstream on 127.0.0.1:0. The handler may be replaced per test. */
export async function startUpstream(t: Test, handler?: http.RequestListener): Promise<TestUpstream> {
  const seen: TestUpstream['seen'] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (handler) return handler(req, res);
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      res.end(`ok ${req.method} ${req.url}`);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const up: TestUpstream = {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  t.teardown(() => up.close());
  return up;
}
