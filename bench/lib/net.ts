// Loopback helpers: free ports for the generated configs, and readiness checks that also prove a
// target really serves the origin's body (a proxy answering 502 fast would otherwise look fast).
import { connect, createServer, type AddressInfo } from 'node:net';
import { request } from 'node:http';
import type { Child } from './procs.js';
import { tail } from './procs.js';

export const HOST = '127.0.0.1';

/** A port that was free a moment ago (bind to 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Fetched {
  status: number;
  body: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

/** One GET on a fresh connection, with a timeout. */
export function get(url: string, timeoutMs = 5_000): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `url` until it answers 200 with exactly `expectBody`. Fails early (with the log's tail)
 * when `child` exits, and after `timeoutMs`.
 */
export async function waitForBody(url: string, expectBody: Buffer, opts: { child?: Child; timeoutMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let last = 'no answer yet';
  for (;;) {
    if (opts.child?.exit) {
      const c = opts.child;
      throw new Error(`${c.name} exited (code ${c.exit!.code}, signal ${c.exit!.signal}) before serving ${url}\n${tail(c.stderrFile) || tail(c.stdoutFile)}`);
    }
    try {
      const r = await get(url, 2_000);
      if (r.status === 200 && r.body.equals(expectBody)) return;
      last = `status ${r.status}, ${r.body.length} bytes`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) {
      const logs = opts.child ? `\n${tail(opts.child.stderrFile) || tail(opts.child.stdoutFile)}` : '';
      throw new Error(`${url} did not serve the origin body in time (last: ${last})${logs}`);
    }
    await sleep(100);
  }
}

/** Waits until `port` accepts a connection; `dead()` names why to stop early (the process exited). */
export async function waitForPort(port: number, ms: number, what = 'the server', dead: () => string | undefined = () => undefined): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const why = dead();
    if (why) throw new Error(why);
    const ok = await new Promise<boolean>((r) => {
      const c = connect(port, HOST, () => {
        c.destroy();
        r(true);
      });
      c.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`${what} did not listen on ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Until `child` listens on `port`; fails at once with its last output if it exits first. */
export function waitForChildPort(port: number, child: Child, ms: number): Promise<void> {
  return waitForPort(port, ms, child.name, () => (child.exit ? `${child.name} exited (code ${child.exit.code}) before listening on ${port}\n${tail(child.stderrFile) || tail(child.stdoutFile)}` : undefined));
}
