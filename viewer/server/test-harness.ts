// Test support for the viewer and its CLI commands (test/viewer-*.test.ts, test/cli-*.test.ts): a
// real viewer on 127.0.0.1:0 over a real Recorder and LMDB in a temp dir, a controllable clock, an
// undici client, and an in-process CLI runner. Not used by the product.
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { request, Agent } from 'undici';
import pino from 'pino';
import { configSchema, type Config } from '../../config/schema.js';
import { AccessControl, type KvDb } from '../../gateway/core/access.js';
import { Metrics } from '../../gateway/core/metrics.js';
import { SessionRegistry } from '../../gateway/core/registry.js';
import { UserStore, type ViewerRole } from '../../gateway/core/users.js';
import { Recorder } from '../../recorder/index.js';
import { LiveCasts } from '../../recorder/cast/index.js';
import type { ExportEncryptionMode } from '../../config/schema.js';
import type { ActivityEvent, SgEvent } from '../../recorder/events.js';
import { main } from '../../cli/main.js';
import type { CliIo } from '../../cli/io.js';
import { createViewer, type Viewer, type ViewerOptions } from './index.js';

export interface TestClock {
  t: number;
  now(): number;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test convenience
  json: any;
}

export interface SignedIn {
  cookie: string;
  csrf: string;
  setCookie: string;
}

export interface CallOptions {
  session?: SignedIn;
  /** Defaults to the session's token; `null` sends none. */
  csrf?: string | null;
  json?: unknown;
  body?: string | Buffer;
  headers?: Record<string, string | string[]>;
}

export interface Harness {
  base: string;
  port: number;
  dir: string;
  config: Config;
  clock: TestClock;
  recorder: Recorder;
  users: UserStore;
  registry: SessionRegistry;
  access: AccessControl;
  metrics: Metrics;
  health: { ok: boolean; details: Record<string, unknown> };
  viewer: Viewer;
  /** Recordings being written (what the SSH front end fills): add a CastWriter to watch it live. */
  liveCasts: LiveCasts;
  /** Every event committed so far, in commit order. */
  committed: SgEvent[];
  /** Flushes the recorder, then the committed activity events (optionally one action). */
  activity(action?: ActivityEvent['action']): Promise<ActivityEvent[]>;
  addUser(name: string, role?: ViewerRole, extra?: { email?: string; panel_identities?: string[] }): Promise<{ name: string; password: string }>;
  call(method: string, path: string, opts?: CallOptions): Promise<HttpResult>;
  login(name: string, password: string, headers?: Record<string, string>): Promise<SignedIn>;
  /** Stops the viewer and starts a new one over the same store (sessions db included). */
  restart(): Promise<void>;
}

export interface HarnessOptions {
  /** Raw (YAML-shaped) viewer config on top of `listen: 127.0.0.1:0`. */
  viewer?: Record<string, unknown>;
  audit?: Record<string, unknown>;
  idleMs?: number;
  /** `/api/stream` limits (viewer/server/stream.ts). */
  stream?: ViewerOptions['stream'];
  /** `/api/recordings/:id/live` limits (viewer/server/live-watch.ts). */
  liveWatch?: ViewerOptions['liveWatch'];
  /** `export.encryption` as the viewer is given it (default off). */
  exportEncryption?: ExportEncryptionMode;
  /** Do not give the viewer a sessions db. */
  noSessionsDb?: boolean;
  dir: string;
  teardown: (fn: () => unknown) => void;
}

export const TEST_PASSWORD_SUFFIX = '-long-enough-pw';

export async function startHarness(opts: HarnessOptions): Promise<Harness> {
  const clock: TestClock = { t: Date.now(), now: () => clock.t };
  const logger = pino({ level: process.env.SG_TEST_LOG ?? 'silent' });
  const config = configSchema.parse({
    data_dir: opts.dir,
    viewer: { listen: '127.0.0.1:0', ...opts.viewer },
    audit: { flush_interval: 5, ...opts.audit },
  });
  const recorder = await Recorder.open({ dataDir: opts.dir, audit: config.audit, clock, logger });
  const committed: SgEvent[] = [];
  recorder.subscribe((evs) => committed.push(...evs));
  const registry = new SessionRegistry({ clock, emitter: recorder });
  const access = new AccessControl({ clock, db: recorder.store.openDb('access') as unknown as KvDb });
  const users = new UserStore(recorder.store.openDb('users') as unknown as KvDb, { clock, logger, scrypt: { N: 2 ** 14, r: 8, p: 1 } });
  const metrics = new Metrics();
  const health = { ok: true, details: { recorder: 'ok' } as Record<string, unknown> };
  const sessionsDb = opts.noSessionsDb ? undefined : (recorder.store.openDb('viewer_sessions') as unknown as KvDb);
  const agent = new Agent({ connect: { rejectUnauthorized: false } });
  const liveCasts = new LiveCasts();

  const makeViewer = () =>
    createViewer(
      config.viewer,
      { clock, logger, store: recorder.store, emitter: recorder, users, registry, access, metrics, health: () => health, sessionsDb, commits: recorder, recordingsDir: join(opts.dir, 'recordings'), liveCasts, ...(opts.exportEncryption ? { exportEncryption: opts.exportEncryption } : {}) },
      { idleMs: opts.idleMs, stream: opts.stream, liveWatch: opts.liveWatch },
    );
  let viewer = makeViewer();
  await viewer.start();
  const scheme = config.viewer.tls ? 'https' : 'http';
  const h: Harness = {
    base: `${scheme}://127.0.0.1:${viewer.address().port}`,
    port: viewer.address().port,
    dir: opts.dir,
    config,
    clock,
    recorder,
    users,
    registry,
    access,
    metrics,
    health,
    viewer,
    liveCasts,
    committed,
    async activity(action) {
      await recorder.flush();
      return committed.filter((e): e is ActivityEvent => e.type === 'activity' && (action === undefined || e.action === action));
    },
    async addUser(name, role, extra = {}) {
      const password = `${name}${TEST_PASSWORD_SUFFIX}`;
      await users.add({ name, role, password, ...extra });
      return { name, password };
    },
    async call(method, path, o = {}) {
      const headers: Record<string, string | string[]> = { ...o.headers };
      if (o.session) {
        headers.cookie ??= o.session.cookie;
        const csrf = o.csrf === undefined ? o.session.csrf : o.csrf;
        if (csrf !== null) headers['x-csrf-token'] ??= csrf;
      }
      let body = o.body;
      if (o.json !== undefined) {
        body = JSON.stringify(o.json);
        headers['content-type'] ??= 'application/json';
      }
      const r = await request(`${h.base}${path}`, { method: method as 'GET', headers, body, dispatcher: agent });
      const text = await r.body.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: r.statusCode, headers: r.headers, text, json };
    },
    async login(name, password, headers = {}) {
      const r = await h.call('POST', '/api/login', { json: { name, password }, headers });
      if (r.status !== 200) throw new Error(`login ${name}: ${r.status} ${r.text}`);
      const setCookie = String(r.headers['set-cookie']);
      return { cookie: setCookie.split(';')[0]!, csrf: r.json.csrf_token as string, setCookie };
    },
    async restart() {
      await viewer.close();
      viewer = makeViewer();
      await viewer.start();
      h.viewer = viewer;
      h.port = viewer.address().port;
      h.base = `${scheme}://127.0.0.1:${h.port}`;
    },
  };
  opts.teardown(async () => {
    await h.viewer.close();
    await agent.close();
    await recorder.close();
  });
  return h;
}

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs `sessiongate ARGV` in-process with a fake CliIo (stdin text, captured stdout/stderr). */
export async function runCli(argv: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const io: CliIo = { stdout, stderr, stdin: Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]), env: { USER: 'tester', ...opts.env } };
  const code = await main(argv, io);
  await new Promise((r) => setImmediate(r));
  return { code, out, err };
}
