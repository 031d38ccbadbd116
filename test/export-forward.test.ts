// Live forwarding to SIEMs with real servers on 127.0.0.1:0: a TCP syslog collector parsing
// octet-counted frames, killed and restarted mid-stream; an HTTP collector answering 500s then
// 200; a forwarder restarted after an outage; late (backdated) events; bounded memory.
// Delivery is at-least-once: syslog over TCP has no acknowledgement, so what was in flight on a
// broken connection is sent again; receivers drop duplicates by event id. HTTP is acknowledged:
// exactly once in these tests.
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import pino from 'pino';
import { configSchema, forwardSchema, type ForwardConfig } from '../config/schema.js';
import { ExportServices } from '../recorder/export/service.js';
import { Recorder } from '../recorder/index.js';
import type { SgEvent } from '../recorder/events.js';
import { Forwarder, stateKey } from '../recorder/export/forward/forwarder.js';
import { parseFrames } from '../recorder/export/forward/syslog-format.js';
import { CommitFeed } from '../recorder/export/feed.js';
import { STATE_DB } from '../recorder/export/state.js';
import { audit, httpInput } from './fixtures/recorder-helpers.js';

const execFileP = promisify(execFile);
const logger = pino({ level: process.env.SG_TEST_LOG ?? 'silent' });
const clock = { now: () => Date.now() };

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function openRecorder(t: Test, dir = t.testdir()): Promise<Recorder> {
  const rec = await Recorder.open({ dataDir: dir, audit: audit({ flush_interval: 5 }), clock, logger });
  t.teardown(() => rec.close());
  return rec;
}

function fwdConfig(over: Record<string, unknown>): ForwardConfig {
  return forwardSchema.parse({ name: 'siem', protocol: 'syslog', url: 'tcp://127.0.0.1:1', retry_max: '2s', ...over });
}

/** A syslog collector: octet-counted frames per connection; `kill()` drops everything at once. */
class SyslogCollector {
  ids: string[] = [];
  frames = 0;
  private server: net.Server | undefined;
  private sockets = new Set<net.Socket>();
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = net.createServer((sock) => {
      this.sockets.add(sock);
      let buf = Buffer.alloc(0);
      sock.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        const { messages, rest } = parseFrames(buf);
        buf = Buffer.from(rest);
        for (const m of messages) {
          this.frames++;
          const id = /\[sessiongate@32473 id="([0-9A-Z]{18})"/.exec(m)?.[1];
          if (!id) throw new Error(`frame without an id: ${m.slice(0, 200)}`);
          this.ids.push(id);
        }
      });
      sock.on('error', () => {});
      sock.on('close', () => this.sockets.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** A crash: the listener and every connection gone, unparsed bytes lost. */
  async kill(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }

  unique(): string[] {
    const seen = new Set<string>();
    return this.ids.filter((id) => !seen.has(id) && (seen.add(id), true));
  }
}

function storedIds(rec: Recorder): string[] {
  return [...rec.store.iterateAll()].map((e) => e.id);
}

t.test('syslog: collector killed and restarted mid-stream -> every event arrives, in order', async (t) => {
  const rec = await openRecorder(t);
  const col = new SyslogCollector();
  await col.start();
  t.teardown(() => col.kill().catch(() => undefined));
  const failures: unknown[] = [];
  let delivered = 0;
  const fwd = new Forwarder(fwdConfig({ url: `tcp://127.0.0.1:${col.port}`, batch_max: 50 }), {
    store: rec.store,
    subscribe: rec.subscribe.bind(rec),
    clock,
    logger,
    observer: { failed: (_n, e) => failures.push(e), delivered: (_n, k) => (delivered += k) },
  });
  fwd.start();
  t.teardown(() => fwd.close());

  let i = 0;
  const burst = async (n: number) => {
    for (let k = 0; k < n; k++) rec.emit(httpInput(i++));
    await rec.flush();
  };
  await burst(300);
  await until('first events', () => col.ids.length >= 100);
  // Mid-stream: more is being written while the collector dies.
  const more = burst(300);
  await col.kill();
  await more;
  const seenAtKill = col.unique().length;
  t.ok(seenAtKill < 600, `killed before everything arrived (${seenAtKill} of 600)`);
  await until('the forwarder notices', () => failures.length > 0);
  await burst(200);
  await col.start(col.port);
  await burst(200);

  const all = storedIds(rec);
  t.equal(all.length, 1000);
  await until('every event at the collector', () => col.unique().length >= all.length);
  t.same(col.unique(), all, 'every stored event, in order (first arrivals, duplicates dropped by id)');
  const dups = col.ids.length - col.unique().length;
  t.comment(`${dups} duplicates after the reconnect (in flight when the collector died)`);
  t.ok(dups <= 600, 'duplicates only from what was in flight');

  await until('everything confirmed', () => fwd.stats().position === all[all.length - 1]);
  t.equal(fwd.stats().delivered, delivered);
  t.ok(fwd.stats().failures >= 1);
  await fwd.close();
  t.equal((rec.store.openDb(STATE_DB).get(stateKey('siem')) as { after: string }).after, all[all.length - 1], 'position saved after acknowledgement');

  // A restart resumes after the saved position: nothing repeated, new events forwarded.
  const before = col.ids.length;
  const fwd2 = new Forwarder(fwdConfig({ url: `tcp://127.0.0.1:${col.port}` }), { store: rec.store, subscribe: rec.subscribe.bind(rec), clock, logger });
  fwd2.start();
  t.teardown(() => fwd2.close());
  await burst(10);
  await until('the new events', () => col.ids.length >= before + 10);
  await new Promise((r) => setTimeout(r, 300));
  t.same(col.ids.slice(before), storedIds(rec).slice(-10), 'only the new events: nothing repeated after the restart');
});

class HttpCollector {
  server: HttpServer;
  port = 0;
  batches: SgEvent[][] = [];
  requests: IncomingMessage[] = [];
  /** Answer 500 to this many requests first. */
  failNext = 0;
  down = false;
  /** Never answer (a stuck collector). */
  hang = false;

  constructor() {
    this.server = createHttpServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        this.requests.push(req);
        if (this.hang) return;
        if (this.down || this.failNext > 0) {
          this.failNext = Math.max(0, this.failNext - 1);
          res.writeHead(500, { 'content-type': 'text/plain' }).end('collector\x1b[31m broken');
          return;
        }
        this.batches.push(body.trim().split('\n').map((l) => JSON.parse(l) as SgEvent));
        res.writeHead(200).end('ok');
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  ids(): string[] {
    return this.batches.flat().map((e) => e.id);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

t.test('http: 500s then 200 -> every event exactly once, in order, with the token; bounded queue', async (t) => {
  const dir = t.testdir({ token: 's3cret-token\n' });
  const rec = await openRecorder(t, join(dir, 'data'));
  const col = new HttpCollector();
  await col.start();
  t.teardown(() => col.close());
  col.failNext = 3;
  const failures: unknown[] = [];
  const fwd = new Forwarder(fwdConfig({ name: 'collector', protocol: 'http', url: `http://127.0.0.1:${col.port}/ingest?src=gw`, token_file: join(dir, 'token'), batch_max: 100, queue_max: 100 }), {
    store: rec.store,
    subscribe: rec.subscribe.bind(rec),
    clock,
    logger,
    observer: { failed: (_n, e) => failures.push(e) },
  });
  fwd.start();
  t.teardown(() => fwd.close());
  for (let i = 0; i < 2000; i++) rec.emit(httpInput(i));
  await rec.flush();
  const all = storedIds(rec);
  await until('every event', () => col.ids().length >= all.length);
  await new Promise((r) => setTimeout(r, 200));
  t.same(col.ids(), all, 'exactly once, in order');
  t.equal(failures.length, 3, 'three 500s, each retried');
  t.match(String((failures[0] as Error).message), /answered 500: collector \[31m broken/, 'the answer is in the error');
  t.notOk(String((failures[0] as Error).message).includes('\x1b'), 'control characters removed');
  const r = col.requests[0]!;
  t.equal(r.url, '/ingest?src=gw');
  t.equal(r.method, 'POST');
  t.equal(r.headers.authorization, 'Bearer s3cret-token');
  t.match(r.headers['content-type'], /^application\/x-ndjson/);
  t.ok(col.batches.every((b) => b.length <= 100), 'batch_max');
  t.same(col.batches.flat()[0], JSON.parse(JSON.stringify(rec.store.getEvent(all[0]!))), 'each line is the stored event');
  t.ok((fwd.stats().feed?.live ?? 0) <= 100, 'the live queue never held more than queue_max');
  t.ok((fwd.stats().feed?.fallbacks ?? 0) >= 1, `it overflowed and read the store instead (${fwd.stats().feed?.fallbacks} times)`);
  await until('saved', () => fwd.stats().position === all[all.length - 1]);
});

t.test('http: an outage across a restart resumes with the first unacknowledged event', async (t) => {
  const rec = await openRecorder(t);
  const col = new HttpCollector();
  await col.start();
  t.teardown(() => col.close());
  const cfg = fwdConfig({ name: 'c2', protocol: 'http', url: `http://127.0.0.1:${col.port}/`, batch_max: 20, kinds: ['requests', 'activity'] });
  const deps = { store: rec.store, subscribe: rec.subscribe.bind(rec), clock, logger };
  const fwd = new Forwarder(cfg, deps);
  fwd.start();
  for (let i = 0; i < 50; i++) rec.emit(httpInput(i));
  await rec.flush();
  await until('first 50', () => col.ids().length === 50);
  col.down = true;
  for (let i = 50; i < 120; i++) rec.emit(httpInput(i));
  rec.emit({ type: 'session.start', session_id: 's1', protocol: 'ssh', connected_from: 'proxy' });
  rec.emit({ type: 'activity', initiator: 'alice', action: 'lock', description: 'locked' });
  await rec.flush();
  await until('a failed attempt', () => fwd.stats().failures > 0);
  await fwd.close(); // the gateway stops during the outage
  col.down = false;
  for (let i = 120; i < 150; i++) rec.emit(httpInput(i));
  await rec.flush();

  const fwd2 = new Forwarder(cfg, deps);
  fwd2.start();
  t.teardown(() => fwd2.close());
  const want = [...rec.store.iterateAll()].filter((e) => e.type !== 'session.start').map((e) => e.id);
  await until('everything', () => col.ids().length >= want.length);
  await new Promise((r) => setTimeout(r, 200));
  t.same(col.ids(), want, 'every request and activity event exactly once, in order; sessions not forwarded (kinds)');
});

t.test('a backdated event committed during an outage survives a forwarder restart', async (t) => {
  const rec = await openRecorder(t);
  const col = new HttpCollector();
  await col.start();
  t.teardown(() => col.close());
  const cfg = fwdConfig({ name: 'c4', protocol: 'http', url: `http://127.0.0.1:${col.port}/`, batch_max: 10 });
  const deps = { store: rec.store, subscribe: rec.subscribe.bind(rec), clock, logger };
  const fwd = new Forwarder(cfg, deps);
  fwd.start();
  for (let i = 0; i < 20; i++) rec.emit(httpInput(i));
  await rec.flush();
  await until('first 20', () => col.ids().length === 20);
  col.down = true;
  for (let i = 20; i < 40; i++) rec.emit(httpInput(i));
  await rec.flush();
  await until('a failed attempt', () => fwd.stats().failures > 0);
  // Stamped before everything above (a long panel request), committed now, behind the position.
  const late = rec.emit(httpInput(999, { ts: Date.now() - 120_000 } as never))!;
  await rec.flush();
  await fwd.close();
  col.down = false;
  const fwd2 = new Forwarder(cfg, deps);
  fwd2.start();
  t.teardown(() => fwd2.close());
  await until('everything', () => col.ids().length >= 41);
  await new Promise((r) => setTimeout(r, 200));
  t.ok(col.ids().includes(late.id), 'the backdated event arrived after the restart');
  t.equal(col.ids().length, 41, 'each event once');
  t.same(new Set(col.ids()), new Set(storedIds(rec)));
});

t.test('close() does not wait for a stuck collector; the cut-off batch is sent after a restart', async (t) => {
  const rec = await openRecorder(t);
  const col = new HttpCollector();
  await col.start();
  t.teardown(() => col.close());
  col.hang = true;
  const cfg = fwdConfig({ name: 'c5', protocol: 'http', url: `http://127.0.0.1:${col.port}/`, timeout: '1h' });
  const deps = { store: rec.store, subscribe: rec.subscribe.bind(rec), clock, logger };
  const fwd = new Forwarder(cfg, deps);
  fwd.start();
  for (let i = 0; i < 5; i++) rec.emit(httpInput(i));
  await rec.flush();
  await until('the request is in flight', () => col.requests.length > 0);
  await fwd.close(); // resolves after the grace period, not after the 1h timeout
  t.equal(fwd.stats().position, undefined, 'nothing acknowledged');
  col.hang = false;
  const fwd2 = new Forwarder(cfg, deps);
  fwd2.start();
  t.teardown(() => fwd2.close());
  await until('delivered', () => col.ids().length >= 5);
  t.same(col.ids(), storedIds(rec));
});

t.test('start_from now skips history; config validation', async (t) => {
  const rec = await openRecorder(t);
  for (let i = 0; i < 5; i++) rec.emit(httpInput(i));
  await rec.flush();
  const col = new HttpCollector();
  await col.start();
  t.teardown(() => col.close());
  await new Promise((r) => setTimeout(r, 5));
  const fwd = new Forwarder(fwdConfig({ name: 'c3', protocol: 'http', url: `http://127.0.0.1:${col.port}/`, start_from: 'now' }), { store: rec.store, subscribe: rec.subscribe.bind(rec), clock, logger });
  fwd.start();
  t.teardown(() => fwd.close());
  const ev = rec.emit(httpInput(99))!;
  await rec.flush();
  await until('the new event', () => col.ids().length >= 1);
  t.same(col.ids(), [ev.id]);

  const bad = (over: Record<string, unknown>) => forwardSchema.safeParse({ name: 'x', protocol: 'syslog', url: 'tcp://h:514', ...over });
  t.ok(bad({}).success);
  t.notOk(bad({ url: 'udp://h:514' }).success, 'syslog needs tcp:// or tls://');
  t.notOk(bad({ url: 'tcp://h' }).success, 'and a port');
  t.notOk(bad({ url: 'tcp://user:pw@h:514' }).success, 'no credentials');
  t.notOk(bad({ protocol: 'http' }).success, 'http needs http(s)://');
  t.notOk(bad({ token_file: 't' }).success, 'token_file is for http');
  t.notOk(bad({ ca_file: 'ca.pem' }).success, 'ca_file needs tls');
  t.ok(bad({ url: 'tls://h:6514', ca_file: 'ca.pem' }).success);
  t.notOk(bad({ kinds: ['requests', 'requests'] }).success);
  t.throws(() => new Forwarder({ name: 'x' } as never, { store: rec.store, clock, logger }), { code: 'SG_ERR_CONFIG_INVALID' });
  t.throws(() => new Forwarder(fwdConfig({}), { store: {} as never, clock, logger }), { code: 'SG_ERR_CONFIG_INVALID' });
});

t.test('commit feed: an event committed behind the reading point (backdated) is not skipped', async (t) => {
  const rec = await openRecorder(t);
  const now = Date.now();
  for (let i = 0; i < 30; i++) rec.emit(httpInput(i));
  await rec.flush();
  const feed = new CommitFeed({ store: rec.store, subscribe: rec.subscribe.bind(rec), logger, readMax: 10, liveMax: 0 });
  t.teardown(() => feed.close());
  const first = feed.take(10);
  t.equal(first.length, 10);
  // A long panel request: stamped when it started (before everything above), stored now.
  const late = rec.emit(httpInput(1000, { ts: now - 60_000 } as never))!;
  await rec.flush();
  t.ok(late.id < first[9]!.id, 'its id sorts before the reading point');
  const rest: SgEvent[] = [];
  for (let got = feed.take(10); got.length; got = feed.take(10)) rest.push(...got);
  const ids = [...first, ...rest].map((e) => e.id);
  t.equal(new Set(ids).size, ids.length, 'no duplicates');
  t.same(new Set(ids), new Set(storedIds(rec)), 'every stored event, the late one included');
  t.equal(feed.state.lost_late, 0);
});

t.test('ExportServices: the export section as the gateway starts it', async (t) => {
  const root = t.testdir();
  const rec = await openRecorder(t, join(root, 'data'));
  const col = new HttpCollector();
  await col.start();
  t.teardown(() => col.close());
  const cfg = configSchema.parse({ data_dir: join(root, 'data'), export: { schedule: { dir: join(root, 'exports'), interval: '1s' }, forward: [{ name: 'h', protocol: 'http', url: `http://127.0.0.1:${col.port}/` }] } }).export;
  const delivered: number[] = [];
  const svc = new ExportServices(cfg, { store: rec.store, subscribe: rec.subscribe.bind(rec), clock, logger, emitter: rec, observer: { delivered: (_n, k) => delivered.push(k) } });
  svc.start();
  t.teardown(() => svc.close());
  const ev = rec.emit(httpInput(5))!;
  await rec.flush();
  await until('forwarded', () => col.ids().includes(ev.id));
  await until('a scheduled file', () => existsSync(join(root, 'exports')) && readdirSync(join(root, 'exports')).some((f) => f.startsWith('requests-')));
  t.ok(delivered.length > 0, 'metrics hook called');
  t.equal(svc.stats()[0]!.name, 'h');
  await svc.close();
  t.throws(() => new ExportServices(configSchema.parse({ export: { forward: [{ name: 'x', protocol: 'http', url: 'http://h/' }] } }).export, { store: {} as never, subscribe: () => () => {}, clock, logger }), { code: 'SG_ERR_CONFIG_INVALID' });
});

t.test('syslog over TLS: the CA is checked, frames arrive', async (t) => {
  const dir = t.testdir();
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  try {
    await execFileP('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1']);
  } catch (e) {
    t.comment(`skipped: openssl unavailable (${(e as Error).message})`);
    return;
  }
  const ids: string[] = [];
  const server = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const { messages, rest } = parseFrames(buf);
      buf = Buffer.from(rest);
      for (const m of messages) ids.push(/ id="([0-9A-Z]{18})"/.exec(m)![1]!);
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as net.AddressInfo).port;
  const rec = await openRecorder(t, join(dir, 'data'));

  // Without the CA the certificate is refused: nothing is sent, the forwarder retries.
  const failures: unknown[] = [];
  const untrusted = new Forwarder(fwdConfig({ name: 'tls-bad', url: `tls://127.0.0.1:${port}` }), { store: rec.store, subscribe: rec.subscribe.bind(rec), clock, logger, observer: { failed: (_n, e) => failures.push(e) } });
  untrusted.start();
  rec.emit(httpInput(1));
  await rec.flush();
  await until('a refused certificate', () => failures.length > 0);
  await untrusted.close();
  t.match(String((failures[0] as Error).message), /self.signed|certificate/i);
  t.same(ids, []);

  const fwd = new Forwarder(fwdConfig({ name: 'tls', url: `tls://127.0.0.1:${port}`, ca_file: cert, format: 'structured' }), { store: rec.store, subscribe: rec.subscribe.bind(rec), clock, logger });
  fwd.start();
  t.teardown(() => fwd.close());
  rec.emit(httpInput(2));
  await rec.flush();
  const all = storedIds(rec);
  await until('both events over TLS', () => ids.length >= all.length);
  t.same(ids, all);
});
