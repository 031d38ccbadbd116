// The HTTP front end under pressure and at shutdown, on both engines: backpressure both ways
// (a slow side is never buffered whole in the gateway), graceful close with a grace period and
// the cut after it, and real curl as a client (Expect: 100-continue, HEAD, chunked upload).
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { request } from 'undici';
import { requireTool } from './helpers/interop.js';
import { createHttpFrontend } from '../gateway/http/index.js';
import { ENGINES, listenerConfig, sleep, startGateway, startUpstream, until } from './helpers/http-harness.js';

const execFileP = promisify(execFile);
const SIZE = 64 * 1024 * 1024;
/** What may sit in kernel socket buffers and the gateway's small stream buffers between two slow ends. */
const IN_FLIGHT_BOUND = 40 * 1024 * 1024;

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Resolves once `read()` stops growing for `quietMs` (the pipeline is full and stalled). */
async function stalled(read: () => number, quietMs = 1_000, maxMs = 30_000): Promise<number> {
  const end = Date.now() + maxMs;
  let last = -1;
  let since = Date.now();
  for (;;) {
    const v = read();
    if (v !== last) {
      last = v;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return v;
    if (Date.now() > end) return v;
    await sleep(50);
  }
}

for (const engine of ENGINES) {
  t.test(`engine ${engine}: backpressure both ways`, async (t) => {
    const payload = randomBytes(SIZE);
    const payloadSha = sha(payload);
    let releaseUpload: (() => void) | undefined;
    let upstreamSent = 0;
    let releaseDownload: (() => void) | undefined;
    const up = await startUpstream(t, (req, res) => {
      if (req.url === '/bp-upload') {
        // Do not read until released: the client must be held back, not buffered in the gateway.
        req.pause();
        releaseUpload = () => {
          const h = createHash('sha256');
          let n = 0;
          req.on('data', (c: Buffer) => {
            n += c.length;
            h.update(c);
          });
          req.on('end', () => res.end(JSON.stringify({ n, sha: h.digest('hex') })));
          req.resume();
        };
        return;
      }
      if (req.url === '/bp-download') {
        res.writeHead(200, { 'content-length': String(SIZE) });
        let off = 0;
        const pump = () => {
          while (off < SIZE) {
            const c = payload.subarray(off, off + 64 * 1024);
            off += c.length;
            upstreamSent = off;
            if (!res.write(c)) return void res.once('drain', pump);
          }
          res.end();
        };
        releaseDownload = pump;
        pump();
        return;
      }
      res.end('?');
    });
    const gw = await startGateway(t, listenerConfig({ engine, routes: [{ name: 'r', upstream: up.url }] }));

    t.test('a slow upstream holds the uploading client back', async (t) => {
      const s = net.connect(gw.port, '127.0.0.1');
      t.teardown(() => s.destroy());
      await new Promise((r) => s.once('connect', r));
      let answer = '';
      s.on('data', (d) => (answer += d.toString()));
      s.write(`POST /bp-upload HTTP/1.1\r\nHost: h\r\nContent-Length: ${SIZE}\r\n\r\n`);
      let off = 0;
      const pump = () => {
        while (off < SIZE) {
          const c = payload.subarray(off, off + 256 * 1024);
          off += c.length;
          if (!s.write(c)) return void s.once('drain', pump);
        }
      };
      pump();
      await until(() => releaseUpload !== undefined, 10_000, 'upstream got the head');
      const flushed = await stalled(() => s.bytesWritten);
      t.ok(flushed < IN_FLIGHT_BOUND, `the client was held back after ${(flushed / 1048576).toFixed(1)} MB of ${SIZE / 1048576} MB`);
      releaseUpload!();
      await until(() => answer.includes('"sha"'), 60_000, 'upload answer');
      const j = JSON.parse(answer.slice(answer.indexOf('{')));
      t.equal(j.n, SIZE);
      t.equal(j.sha, payloadSha, 'every byte arrived, in order');
    });

    t.test('a slow client holds the upstream back', async (t) => {
      const s = net.connect(gw.port, '127.0.0.1');
      t.teardown(() => s.destroy());
      await new Promise((r) => s.once('connect', r));
      const chunks: Buffer[] = [];
      let got = 0;
      let holding = true;
      s.on('data', (d: Buffer) => {
        chunks.push(d);
        got += d.length;
        // Read the head and a little, then stop reading until told otherwise.
        if (holding && got > 1024) s.pause();
      });
      s.write('GET /bp-download HTTP/1.1\r\nHost: h\r\n\r\n');
      await until(() => releaseDownload !== undefined, 10_000, 'upstream started');
      const sent = await stalled(() => upstreamSent);
      t.ok(sent < IN_FLIGHT_BOUND, `the upstream was held back after ${(sent / 1048576).toFixed(1)} MB of ${SIZE / 1048576} MB`);
      holding = false;
      s.resume();
      await until(() => got >= SIZE, 60_000, 'whole download');
      const all = Buffer.concat(chunks);
      const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
      t.equal(body.length, SIZE);
      t.equal(sha(body), payloadSha, 'every byte arrived, in order');
    });
  });

  t.test(`engine ${engine}: configuration and listen errors carry codes`, async (t) => {
    const up = await startUpstream(t, (_req, res) => res.end('ok'));
    const gw = await startGateway(t, listenerConfig({ engine, routes: [{ name: 'r', upstream: up.url }] }));
    const dir = t.testdir({ 'not-a-cert.pem': 'hello' });
    t.throws(
      () => createHttpFrontend(listenerConfig({ engine, tls: { cert: `${dir}/missing.pem`, key: `${dir}/missing.key` }, routes: [{ name: 'r', upstream: up.url }] }), gw.deps),
      { code: 'SG_ERR_CONFIG_INVALID' },
      'unreadable TLS files',
    );
    t.throws(
      () => createHttpFrontend(listenerConfig({ engine, tls: { cert: `${dir}/not-a-cert.pem`, key: `${dir}/not-a-cert.pem` }, routes: [{ name: 'r', upstream: up.url }] }), gw.deps),
      { code: 'SG_ERR_CONFIG_INVALID' },
      'not a certificate',
    );
    t.throws(() => createHttpFrontend(listenerConfig({ engine, routes: [{ name: 'r', upstream: up.url }] }), { ...gw.deps, sessionKeySecret: Buffer.from('short') }), { code: 'SG_ERR_CONFIG_INVALID' }, 'weak session key secret');
    const clash = createHttpFrontend(listenerConfig({ engine, listen: `127.0.0.1:${gw.port}`, routes: [{ name: 'r', upstream: up.url }] }), gw.deps);
    await t.rejects(clash.start(), { code: 'SG_ERR_LISTEN' }, 'port in use');
    await clash.close(0);
  });

  t.test(`engine ${engine}: an upstream answering before the upload ends leaves the connection usable`, async (t) => {
    const up = await startUpstream(t, (req, res) => {
      if (req.url === '/early') {
        res.writeHead(401, { 'content-type': 'text/plain' });
        return void res.end('no upload for you');
      }
      req.resume();
      req.on('end', () => res.end(`ok ${req.url}`));
    });
    const gw = await startGateway(t, listenerConfig({ engine, routes: [{ name: 'r', upstream: up.url }] }));
    const s = net.connect(gw.port, '127.0.0.1');
    t.teardown(() => s.destroy());
    await new Promise((r) => s.once('connect', r));
    s.on('error', () => undefined);
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    const size = 20 * 1024 * 1024;
    s.write(`POST /early HTTP/1.1\r\nHost: h\r\nContent-Length: ${size}\r\n\r\n`);
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    let off = 0;
    await new Promise<void>((resolve) => {
      const pump = () => {
        while (off < size) {
          off += chunk.length;
          if (!s.write(chunk)) return void s.once('drain', pump);
        }
        resolve();
      };
      pump();
    });
    await until(() => text.includes('no upload for you'), 30_000, 'early answer');
    t.match(text, /^HTTP\/1\.1 401/);
    s.write('GET /next HTTP/1.1\r\nHost: h\r\n\r\n');
    await until(() => text.includes('ok /next') || s.destroyed, 30_000, 'next answer or close');
    // Either the gateway drained the rest and served the next request, or it closed the
    // connection (also correct HTTP); it must not hang.
    t.ok(text.includes('ok /next') || s.destroyed, text.includes('ok /next') ? 'the next request on the connection was served' : 'the connection was closed');
  });

  t.test(`engine ${engine}: close() waits for in-flight requests, then cuts`, async (t) => {
    const held: http.ServerResponse[] = [];
    const up = await startUpstream(t, (req, res) => {
      if (req.url?.startsWith('/hold')) return void held.push(res);
      res.end('ok');
    });
    const gw = await startGateway(t, listenerConfig({ engine, routes: [{ name: 'r', upstream: up.url, session: { cookie: 'sid' } }] }));
    // A live panel session, to see it leave the registry on close.
    await (await request(`${gw.url}/x`, { headers: { cookie: 'sid=abc' } })).body.text();
    t.equal(gw.registry.list().length, 1);

    const a = request(`${gw.url}/hold/a`).then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
    await until(() => held.length === 1, 10_000, 'held request upstream');
    const closing = gw.front.close(20_000);
    t.equal(gw.front.close(1), closing, 'close() is idempotent: the same promise');
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect(gw.port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    t.equal(refused, 'ECONNREFUSED', 'no new connections once closing');
    held.shift()!.end('finished in grace');
    t.same(await a, { status: 200, body: 'finished in grace' }, 'the in-flight request completed');
    await closing;
    t.equal(gw.registry.list().length, 0, 'its panel sessions left the registry');
    const rec = await gw.emitter.waitFor((e) => e.url.endsWith('/hold/a'));
    t.equal(rec.status, 200);
  });

  t.test(`engine ${engine}: requests still running after the grace period are cut`, async (t) => {
    const held: http.ServerResponse[] = [];
    const up = await startUpstream(t, (req, res) => void held.push(res));
    const gw = await startGateway(t, listenerConfig({ engine, routes: [{ name: 'r', upstream: up.url }] }));
    const b = request(`${gw.url}/hold/b`).then(
      (r) => r.body.text().then(() => 'answered'),
      (e: Error) => `failed: ${e.message}`,
    );
    await until(() => held.length === 1, 10_000, 'held request upstream');
    await gw.front.close(300);
    t.match(await b, /^failed/, 'the client saw its request cut');
    const rec = await gw.emitter.waitFor((e) => e.url.endsWith('/hold/b'));
    t.equal(rec.error, 'gateway_shutdown');
    t.equal(rec.status, 499);
  });

  t.test(`engine ${engine}: curl as a client`, async (t) => {
    const curl = requireTool(t, 'curl');
    if (!curl) return;
    const up = await startUpstream(t, (req, res) => {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
        h.update(c);
      });
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ method: req.method, n, sha: h.digest('hex'), expect: req.headers.expect ?? null, te: req.headers['transfer-encoding'] ?? null }));
      });
    });
    const gw = await startGateway(t, listenerConfig({ engine, routes: [{ name: 'r', upstream: up.url }] }));
    const dir = t.testdir({});
    const file = `${dir}/upload.bin`;
    const data = randomBytes(300_000);
    (await import('node:fs')).writeFileSync(file, data);

    const expect = await execFileP(curl, ['-sS', '--http1.1', '-H', 'Expect: 100-continue', '--data-binary', `@${file}`, `${gw.url}/curl/expect`]);
    const j1 = JSON.parse(expect.stdout);
    t.same([j1.method, j1.n, j1.sha, j1.expect], ['POST', data.length, sha(data), null], 'Expect: 100-continue handled at the gateway, body intact');

    const chunked = await execFileP(curl, ['-sS', '--http1.1', '-H', 'Transfer-Encoding: chunked', '-T', file, `${gw.url}/curl/chunked`]);
    const j2 = JSON.parse(chunked.stdout);
    t.same([j2.method, j2.n, j2.sha, j2.te], ['PUT', data.length, sha(data), 'chunked'], 'chunked upload streamed through');

    const head = await execFileP(curl, ['-sS', '-I', `${gw.url}/curl/head`]);
    t.match(head.stdout, /^HTTP\/1\.1 200/);
    t.notMatch(head.stdout.toLowerCase(), /uwebsockets/, 'no server mark');
  });
}
