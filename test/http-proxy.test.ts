// The HTTP front end end to end, on both engines: real node:http upstreams, real clients
// (undici, ws, raw sockets, curl), records captured in memory. One gateway per engine serves
// every case; records are found by their unique URLs.
import t, { type Test } from 'tap';
import http from 'node:http';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { Agent, Client, request } from 'undici';
import { requireTool } from './helpers/interop.js';
import {
  ENGINES,
  deadPort,
  directoryEntries,
  listenerConfig,
  nextMessage,
  openWs,
  parseResponses,
  raw,
  startGateway,
  startUpstream,
  until,
  WsServer,
  type TestGateway,
  type TestUpstream,
  type WsLike,
} from './helpers/http-harness.js';

const execFileP = promisify(execFile);

// ---------- fixtures shared by both engines ----------

const BIG = randomBytes(1024 * 1024);
const BIG_SHA = sha(BIG);
const JWT_SECRET = 'jwt-test-secret-0123456789abcdef';

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function b64url(x: Buffer | string): string {
  return Buffer.from(x).toString('base64url');
}

function hs256(payload: Record<string, unknown>, secret = JWT_SECRET): string {
  const h = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const p = b64url(JSON.stringify(payload));
  const s = createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url');
  return `${h}.${p}.${s}`;
}

const DIRECTORY = directoryEntries([
  { login: 'alice', name: 'Alice Admin', client: 'Acme', type: 'admin' },
  { login: 'bob', name: 'Bob B', email: 'bob@corp.test', client: 'Beta' },
  { login: 'carol', name: 'Carol C', email: 'carol@corp.test', client: 'Acme', type: 'client' },
  { login: 'dave', client: 'Delta', email: 'dave@corp.test' },
]);

/** Held responses of /stream*, released by the test. */
const releases = new Map<string, () => void>();
/** Upstream requests/responses the client abandoned. */
const upstreamAborts: string[] = [];
/** Close codes the upstream WebSocket server received. */
const wsCloses: { code: number; reason: string }[] = [];
const wsUpgradeHeaders: http.IncomingHttpHeaders[] = [];

function appHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const u = new URL(req.url ?? '/', 'http://x');
  const p = u.pathname;
  const body: Buffer[] = [];
  req.on('data', (c: Buffer) => body.push(c));
  req.on('aborted', () => upstreamAborts.push(`req ${p}`));
  const done = (f: () => void): void => void req.on('end', f);
  if (p.endsWith('/echo')) {
    return done(() => {
      const b = Buffer.concat(body);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, len: b.length, sha: sha(b), headers: req.headers, raw: req.rawHeaders }));
    });
  }
  if (p === '/big') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG.length, 'x-sha256': BIG_SHA });
    return void res.end(BIG);
  }
  if (p === '/big-chunked') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-sha256': BIG_SHA });
    let off = 0;
    const pump = () => {
      while (off < BIG.length) {
        const c = BIG.subarray(off, off + 100_000);
        off += c.length;
        if (!res.write(c)) return void res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  if (p === '/stream' || p === '/stream-fixed') {
    const id = u.searchParams.get('id') ?? '';
    if (p === '/stream') res.writeHead(200, { 'content-type': 'text/plain' });
    else res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '17' });
    res.write('first-chunk');
    releases.set(id, () => res.end('second'));
    return;
  }
  if (p === '/head') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1234' });
    return void res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(1234));
  }
  if (p === '/small') return void res.end('small');
  if (p === '/204') {
    res.writeHead(204, { 'x-r': '204' });
    return void res.end();
  }
  if (p === '/304') {
    res.writeHead(304, { etag: '"v1"' });
    return void res.end();
  }
  if (p === '/cookies') {
    res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/; HttpOnly', 'c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT']);
    return void res.end('cookies');
  }
  if (p === '/hop') {
    res.writeHead(200, [
      ['Connection', 'X-Resp-Hop'],
      ['X-Resp-Hop', 'secret'],
      ['Keep-Alive', 'timeout=99, max=7'],
      ['Proxy-Authenticate', 'Basic realm="x"'],
      ['Trailer', 'X-T'],
      ['X-Kept', 'yes'],
      ['Date', 'Tue, 01 Jan 2030 00:00:00 GMT'],
    ].flat());
    res.write('hop');
    res.addTrailers({ 'X-T': 'trailer-value' });
    return void res.end();
  }
  if (p === '/login') {
    return done(() => {
      const f = new URLSearchParams(Buffer.concat(body).toString());
      if (f.get('password') === 'right') {
        res.writeHead(302, { location: '/dashboard', 'set-cookie': `sid=${randomBytes(12).toString('hex')}; Path=/; HttpOnly` });
        return void res.end();
      }
      res.writeHead(401, { 'content-type': 'text/html' });
      res.end('<form>try again</form>');
    });
  }
  if (p === '/logout') {
    res.writeHead(302, { location: '/', 'set-cookie': 'sid=; Path=/; Max-Age=0' });
    return void res.end();
  }
  if (p.startsWith('/hdr/')) {
    res.writeHead(200, { 'x-panel-user': 'alice', 'x-panel-email': 'alice@corp.test', 'content-type': 'text/plain' });
    return void res.end('hdr');
  }
  if (p === '/basic/ok') return void res.end('basic ok');
  if (p === '/basic/deny') {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="p"' });
    return void res.end('no');
  }
  if (p === '/slow-body') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first-part');
    res.on('close', () => {
      if (!res.writableFinished) upstreamAborts.push(`res ${p}`);
    });
    return;
  }
  if (p === '/slow-upload') {
    return done(() => res.end(`got ${Buffer.concat(body).length}`));
  }
  done(() => {
    res.setHeader('content-type', 'text/plain');
    res.end(`ok ${req.method} ${req.url}`);
  });
}

/** Upstream WebSocket server: echo, `close-me` closes with 4001, /ws/deny refuses with 403. */
function attachWs(up: TestUpstream): void {
  const wss = new WsServer({ noServer: true, perMessageDeflate: false });
  up.server.on('upgrade', (req: http.IncomingMessage, socket, head) => {
    if (req.url?.startsWith('/ws/deny')) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: close\r\n\r\ndenied');
      return;
    }
    wsUpgradeHeaders.push(req.headers);
    wss.handleUpgrade(req, socket, head, (ws: WsLike) => {
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary && data.toString() === 'close-me') ws.close(4001, 'bye');
        else ws.send(data, { binary: isBinary });
      });
      ws.on('close', (code: number, reason: Buffer) => wsCloses.push({ code, reason: reason.toString() }));
    });
  });
}

interface Env {
  app: TestUpstream;
  slow: TestUpstream;
  hang: TestUpstream;
  slowHeld: http.ServerResponse[];
  dead: number;
  secretFile: string;
}

async function env(t: Test): Promise<Env> {
  const app = await startUpstream(t, appHandler);
  attachWs(app);
  const slowHeld: http.ServerResponse[] = [];
  const slow = await startUpstream(t, (_req, res) => void slowHeld.push(res));
  const hang = await startUpstream(t, () => undefined);
  const dir = t.testdir({});
  const secretFile = join(dir, 'jwt.key');
  writeFileSync(secretFile, JWT_SECRET);
  return { app, slow, hang, slowHeld, dead: await deadPort(), secretFile };
}

function mainConfig(engine: string, e: Env, extra: Record<string, unknown> = {}) {
  return listenerConfig({
    engine,
    trusted_proxies: ['127.0.0.2'],
    routes: [
      { name: 'api-host', match: { host: 'api.example.test' }, upstream: `${e.app.url}/r-api` },
      { name: 'wild', match: { host: '*.wild.test' }, upstream: `${e.app.url}/r-wild` },
      { name: 'app-prefix', match: { path_prefix: '/app' }, upstream: `${e.app.url}/r-app` },
      { name: 'ph', match: { path_prefix: '/ph' }, upstream: e.app.url, preserve_host: true },
      { name: 'slow', match: { path_prefix: '/slow' }, upstream: e.slow.url, connections: 2 },
      { name: 'down', match: { path_prefix: '/down' }, upstream: `http://127.0.0.1:${e.dead}` },
      { name: 'timeout', match: { path_prefix: '/timeout' }, upstream: e.hang.url, timeouts: { headers: '500ms' } },
      { name: 'hdr', match: { path_prefix: '/hdr' }, upstream: e.app.url, identity: { header: { login: 'x-panel-user', email: 'x-panel-email' } } },
      { name: 'jwt', match: { path_prefix: '/jwt' }, upstream: e.app.url, realm: 'api', identity: { jwt: { secret_file: e.secretFile, algorithms: ['HS256'] } } },
      { name: 'basic', match: { path_prefix: '/basic' }, upstream: e.app.url, identity: { basic: true } },
      { name: 'main', upstream: e.app.url, realm: 'admin', session: { cookie: 'sid' }, identity: { form: { path: '/login', field: 'username' } } },
    ],
    ...extra,
  });
}

async function text(url: string, opts: Parameters<typeof request>[1] = {}) {
  const r = await request(url, opts);
  return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
}

/** Sends requests one after another on one connection, each after the previous answer is complete. */
async function sequence(port: number, reqs: string[], noBody: boolean[]): Promise<ReturnType<typeof parseResponses>> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let i = 0;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`sequence timed out after ${i} answers: ${JSON.stringify(buf.toString('latin1'))}`));
    }, 10_000);
    const tryNext = () => {
      let parsed: ReturnType<typeof parseResponses> = [];
      try {
        parsed = parseResponses(buf, noBody);
      } catch {
        return; // incomplete yet
      }
      if (parsed.length < i) return;
      if (i === reqs.length) {
        clearTimeout(timer);
        s.destroy();
        resolve(parsed);
        return;
      }
      s.write(reqs[i++]!);
    };
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      tryNext();
    });
    s.on('error', reject);
    s.on('connect', tryNext);
  });
}

for (const engine of ENGINES) {
  t.test(`engine ${engine}`, async (t) => {
    const e = await env(t);
    const gw: TestGateway = await startGateway(t, mainConfig(engine, e), { directory: DIRECTORY });
    const base = gw.url;
    const hostOf = `127.0.0.1:${gw.port}`;
    const recordFor = (path: string) => gw.emitter.waitFor((ev) => ev.url === `http://${hostOf}${path}`);

    t.test('1 MB request and response bodies arrive intact (SHA-256)', async (t) => {
      const up = await text(`${base}/data/echo`, { method: 'POST', body: BIG, headers: { 'content-type': 'application/octet-stream' } });
      const j = JSON.parse(up.body);
      t.equal(j.len, BIG.length, 'upstream got every byte (content-length)');
      t.equal(j.sha, BIG_SHA);
      const chunked = await text(`${base}/data/chunked/echo`, { method: 'PUT', body: Readable.from([BIG.subarray(0, 300_000), BIG.subarray(300_000)]) });
      const jc = JSON.parse(chunked.body);
      t.equal(jc.sha, BIG_SHA, 'chunked upload intact');
      t.equal(jc.headers['transfer-encoding'], 'chunked');
      for (const p of ['/big', '/big-chunked']) {
        const r = await request(`${base}${p}`);
        const b = Buffer.from(await r.body.arrayBuffer());
        t.equal(r.statusCode, 200);
        t.equal(b.length, BIG.length, `${p} length`);
        t.equal(sha(b), r.headers['x-sha256'], `${p} sha`);
      }
      const rec = await recordFor('/data/echo');
      t.equal(rec.bytes_in, BIG.length, 'bytes_in counted');
      t.equal(rec.action, 'create');
      const big = await recordFor('/big');
      t.equal(big.bytes_out, BIG.length, 'bytes_out counted');
    });

    t.test('streamed responses reach the client before the upstream ends them', async (t) => {
      for (const [p, id] of [
        ['/stream', `c-${engine}`],
        ['/stream-fixed', `f-${engine}`],
      ] as const) {
        const r = await request(`${base}${p}?id=${id}`);
        const it = r.body[Symbol.asyncIterator]();
        const first = await it.next();
        t.equal(Buffer.from(first.value as Buffer).toString(), 'first-chunk', `${p}: first chunk before the end`);
        t.ok(releases.has(id), 'the upstream has not ended yet');
        releases.get(id)!();
        let rest = '';
        for (let n = await it.next(); !n.done; n = await it.next()) rest += Buffer.from(n.value as Buffer).toString();
        t.equal(rest, 'second');
        if (p === '/stream-fixed') t.equal(r.headers['content-length'], '17', 'fixed length kept');
        else t.equal(r.headers['content-length'], undefined, 'unknown length streams chunked');
      }
    });

    t.test('HEAD, 204 and 304 never carry a body (connection stays usable)', async (t) => {
      const rs = await sequence(
        gw.port,
        [
          'HEAD /head HTTP/1.1\r\nHost: h.test\r\n\r\n',
          'GET /small HTTP/1.1\r\nHost: h.test\r\n\r\n',
          'GET /204 HTTP/1.1\r\nHost: h.test\r\n\r\n',
          'GET /304 HTTP/1.1\r\nHost: h.test\r\nIf-None-Match: "v1"\r\n\r\n',
          'GET /small HTTP/1.1\r\nHost: h.test\r\n\r\n',
        ],
        [true, false, false, false, false],
      );
      t.equal(rs.length, 5);
      t.equal(rs[0]!.status, 200);
      t.equal(rs[0]!.header('content-length'), '1234', 'HEAD keeps the length');
      t.equal(rs[0]!.body.length, 0);
      t.equal(rs[1]!.body.toString(), 'small');
      t.equal(rs[2]!.status, 204);
      t.equal(rs[2]!.header('content-length'), undefined);
      t.equal(rs[2]!.header('transfer-encoding'), undefined);
      t.equal(rs[2]!.header('x-r'), '204');
      t.equal(rs[3]!.status, 304);
      t.equal(rs[3]!.header('etag'), '"v1"');
      t.equal(rs[4]!.body.toString(), 'small', 'the next answer parses: no stray body bytes');
    });

    t.test('several Set-Cookie headers reach the client separately', async (t) => {
      const r = await request(`${base}/cookies`);
      await r.body.text();
      t.same(r.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/; HttpOnly', 'c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT']);
      const [res] = await sequence(gw.port, ['GET /cookies HTTP/1.1\r\nHost: h\r\n\r\n'], []);
      t.equal(res!.all('set-cookie').length, 3, 'three separate header lines');
    });

    t.test('hop-by-hop headers removed both ways, X-Forwarded-* set, viewer cookie stripped', async (t) => {
      const [res] = await sequence(
        gw.port,
        [
          'GET /hopreq/echo HTTP/1.1\r\nHost: h.test\r\nConnection: keep-alive, X-Custom-Hop\r\nX-Custom-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n' +
            'Proxy-Authorization: Basic abc\r\nProxy-Connection: keep-alive\r\nTrailer: X-T\r\nX-Kept: yes\r\nCookie: a=1; sg_viewer=secret; b=2\r\n' +
            'X-Forwarded-Proto: gopher\r\nX-Forwarded-Host: evil.test\r\n\r\n',
        ],
        [],
      );
      const seen = JSON.parse(res!.body.toString()).headers as Record<string, string>;
      for (const h of ['x-custom-hop', 'keep-alive', 'te', 'proxy-authorization', 'proxy-connection', 'trailer', 'upgrade']) t.notOk(h in seen, `upstream does not get ${h}`);
      t.equal(seen.connection, 'keep-alive', "only undici's own Connection");
      t.equal(seen['x-kept'], 'yes');
      t.equal(seen.cookie, 'a=1; b=2', 'viewer cookie removed, the rest untouched');
      t.equal(seen['x-forwarded-for'], '127.0.0.1');
      t.equal(seen['x-forwarded-proto'], 'http', 'an untrusted client cannot set the proto');
      t.equal(seen['x-forwarded-host'], 'h.test');
      t.equal(seen.host, `127.0.0.1:${e.app.port}`, 'upstream host by default');

      const [ph] = await sequence(gw.port, ['GET /ph/echo HTTP/1.1\r\nHost: panel.test:8443\r\n\r\n'], []);
      t.equal(JSON.parse(ph!.body.toString()).headers.host, 'panel.test:8443', 'preserve_host');

      const [hop] = await sequence(gw.port, ['GET /hop HTTP/1.1\r\nHost: h.test\r\n\r\n'], []);
      t.equal(hop!.body.toString(), 'hop');
      t.equal(hop!.header('x-kept'), 'yes');
      for (const h of ['x-resp-hop', 'proxy-authenticate', 'trailer', 'uwebsockets']) t.equal(hop!.header(h), undefined, `client does not get ${h}`);
      t.not(hop!.header('keep-alive'), 'timeout=99, max=7', "the upstream's Keep-Alive is not passed on");
      t.equal(hop!.all('date').length, 1, 'exactly one Date header');
      t.notMatch(hop!.body.toString(), /trailer-value/, 'trailers are not passed on');

      const [h2c] = await sequence(gw.port, ['GET /h2c/echo HTTP/1.1\r\nHost: h.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n'], []);
      t.equal(h2c!.status, 200, 'an h2c upgrade request is answered as plain HTTP/1.1');
      const s2 = JSON.parse(h2c!.body.toString()).headers;
      t.notOk('upgrade' in s2);
      t.notOk('http2-settings' in s2);
    });

    t.test('routing by host (exact, wildcard, case, port) and longest path prefix', async (t) => {
      const via = async (host: string, path: string) => (await text(`${base}${path}`, { headers: { host } })).body.replace(/^ok GET /, '');
      t.equal(await via('api.example.test', '/x'), '/r-api/x');
      t.equal(await via('API.Example.TEST.:9999', '/x'), '/r-api/x', 'case, trailing dot and port ignored');
      t.equal(await via('a.wild.test', '/x'), '/r-wild/x');
      t.equal(await via('deep.a.wild.test', '/x'), '/r-wild/x');
      t.equal(await via('wild.test', '/x'), '/x', '*.wild.test does not match wild.test');
      t.equal(await via('h.test', '/app/page'), '/r-app/app/page');
      t.equal(await via('h.test', '/app?x=1'), '/r-app/app?x=1');
      t.equal(await via('h.test', '/application'), '/application', 'prefixes match whole segments');
      t.equal(await via('api.example.test', '/app/page'), '/r-api/app/page', 'an exact host beats a path prefix');
      const rec = await gw.emitter.waitFor((ev) => ev.url === 'http://a.wild.test/x');
      t.equal(rec.route, 'wild');
    });

    t.test('client IP: X-Forwarded-For only from a trusted proxy', async (t) => {
      const req = (tag: string) => `GET /xff-${tag}/echo HTTP/1.1\r\nHost: h.test\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n`;
      const trusted = await raw(gw.port, [req('trusted')], { localAddress: '127.0.0.2', waitMs: 3000 });
      const tr = parseResponses(trusted.data)[0]!;
      t.equal(JSON.parse(tr.body.toString()).headers['x-forwarded-for'], '203.0.113.9, 127.0.0.2', 'the peer is appended');
      const rt = await gw.emitter.waitFor((ev) => ev.url.includes('/xff-trusted/'));
      t.equal(rt.ip, '203.0.113.9', 'trusted proxy: the client from X-Forwarded-For');
      await raw(gw.port, [req('untrusted')], { waitMs: 3000 });
      const ru = await gw.emitter.waitFor((ev) => ev.url.includes('/xff-untrusted/'));
      t.equal(ru.ip, '127.0.0.1', 'untrusted peer: X-Forwarded-For ignored');
    });

    t.test('secret query parameters are redacted in the record only', async (t) => {
      await text(`${base}/q/echo?token=abc123&page=2&Password=hunter2&api_key=k`);
      const seen = e.app.seenWith('/q/echo').at(-1)!;
      t.equal(seen.url, '/q/echo?token=abc123&page=2&Password=hunter2&api_key=k', 'the upstream gets the real URL');
      const rec = await gw.emitter.waitFor((ev) => ev.url.includes('/q/echo'));
      t.equal(rec.url, `http://${hostOf}/q/echo?token=[REDACTED]&page=2&Password=[REDACTED]&api_key=[REDACTED]`);
      t.notMatch(rec.url, /abc123|hunter2/);
    });

    t.test('identity from an upstream header, stripped from the answer, completed from the directory', async (t) => {
      const r = await text(`${base}/hdr/whoami`);
      t.equal(r.body, 'hdr');
      t.equal(r.headers['x-panel-user'], undefined, 'identity header stripped');
      t.equal(r.headers['x-panel-email'], undefined);
      const rec = await recordFor('/hdr/whoami');
      t.same(rec.user, { name: 'Alice Admin', email: 'alice@corp.test', role: 'admin', login: 'alice' });
      t.equal(rec.client, 'Acme');
      t.equal(rec.identity_source, 'header');
      t.equal(rec.identity_verified, true);
    });

    t.test('identity from a JWT: verified, bad signature, expired', async (t) => {
      const now = Math.floor(Date.now() / 1000);
      const good = hs256({ sub: 'dave', name: 'Dave D', exp: now + 3600 });
      const badSig = hs256({ sub: 'dave', exp: now + 3600 }, 'another-secret-entirely-xxxxxxxx');
      const expired = hs256({ sub: 'dave', exp: now - 3600 });
      for (const [tag, tok] of [
        ['good', good],
        ['badsig', badSig],
        ['expired', expired],
      ]) {
        const r = await text(`${base}/jwt/${tag}`, { headers: { authorization: `Bearer ${tok}` } });
        t.equal(r.status, 200, `${tag}: forwarded (the panel decides on access)`);
      }
      const g = await recordFor('/jwt/good');
      t.same(g.user, { name: 'Dave D', email: 'dave@corp.test', login: 'dave' });
      t.equal(g.client, 'Delta', 'completed from the directory');
      t.equal(g.identity_verified, true);
      t.equal(g.identity_source, 'jwt');
      t.equal(g.source, 'API', 'a bearer token makes it an API request');
      t.equal(g.realm, 'api');
      for (const tag of ['badsig', 'expired']) {
        const rec = await recordFor(`/jwt/${tag}`);
        t.equal(rec.user, undefined, `${tag}: no identity`);
        t.equal(rec.identity_verified, false);
      }
      const s = gw.registry.list().find((x) => x.user?.login === 'dave');
      t.ok(s, 'the bearer token is a panel session carrying the JWT identity');
    });

    t.test('identity from Basic auth: verified only when the upstream accepts it', async (t) => {
      const auth = `Basic ${Buffer.from('bob:secret-pw').toString('base64')}`;
      await text(`${base}/basic/ok`, { headers: { authorization: auth } });
      await text(`${base}/basic/deny`, { headers: { authorization: auth } });
      const ok = await recordFor('/basic/ok');
      t.same(ok.user, { name: 'Bob B', email: 'bob@corp.test', login: 'bob' });
      t.equal(ok.client, 'Beta');
      t.equal(ok.identity_verified, true);
      t.equal(ok.identity_source, 'basic');
      const deny = await recordFor('/basic/deny');
      t.equal(deny.status, 401);
      t.equal(deny.identity_verified, false);
      t.equal(deny.user?.login, 'bob', 'who tried is still recorded');
      t.notMatch(JSON.stringify(gw.emitter.events), /secret-pw/, 'the password is nowhere in the records');
    });

    t.test('login form: identity bound to the session cookie it yields, carried by later requests', async (t) => {
      const bad = await request(`${base}/login`, { method: 'POST', body: 'username=carol&password=wrong', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      await bad.body.text();
      t.equal(bad.statusCode, 401);
      const badRec = await gw.emitter.waitFor((ev) => ev.url.endsWith('/login') && ev.status === 401);
      t.equal(badRec.user?.login, 'carol', 'a refused login is recorded');
      t.equal(badRec.identity_verified, false);

      const r = await request(`${base}/login`, { method: 'POST', body: 'username=carol&password=right', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      await r.body.text();
      t.equal(r.statusCode, 302);
      const cookie = String(r.headers['set-cookie']).split(';')[0]!;
      t.match(cookie, /^sid=[0-9a-f]{24}$/);
      const login = await gw.emitter.waitFor((ev) => ev.url.endsWith('/login') && ev.status === 302);
      t.equal(login.action, 'login');
      t.same(login.user, { name: 'Carol C', email: 'carol@corp.test', role: 'client', login: 'carol' });
      t.equal(login.identity_source, 'form');
      t.equal(login.identity_verified, true);
      t.equal(login.realm, 'admin');
      t.ok(login.panel_session, 'the login request belongs to the new panel session');
      t.notMatch(JSON.stringify(login), /password|right/, 'the form body is not recorded');

      await text(`${base}/dashboard/form-later`, { headers: { cookie } });
      const later = await recordFor('/dashboard/form-later');
      t.equal(later.user?.login, 'carol', 'later requests carry the identity');
      t.equal(later.client, 'Acme');
      t.equal(later.identity_source, 'session');
      t.equal(later.identity_verified, true);
      t.equal(later.panel_session, login.panel_session);
      t.notMatch(JSON.stringify(gw.emitter.events), new RegExp(cookie.slice(4)), 'the session key itself is never recorded');

      const live = gw.registry.get(`http:${login.panel_session}`);
      t.ok(live, 'the panel session is in the registry');
      t.equal(live!.protocol, 'http');
      t.equal(live!.listener, 'web');
      t.equal(live!.login, 'carol');
      t.equal(live!.user?.name, 'Carol C');
      t.equal(live!.kind, 'client');
      t.equal(live!.client, 'Acme');
      t.equal(live!.ip, '127.0.0.1');
      t.ok(live!.idle_ms >= 0, 'idle time is reported');
      t.same(live!.details, { realm: 'admin', route: 'main' });

      // Logout: the upstream deletes the cookie; the session leaves the live list.
      await text(`${base}/logout`, { headers: { cookie } });
      t.notOk(gw.registry.get(`http:${login.panel_session}`), 'logout removes the session');
    });

    t.test('terminate: the next request with that cookie is refused at the gateway', async (t) => {
      const r = await request(`${base}/login`, { method: 'POST', body: 'username=carol&password=right', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      await r.body.text();
      const cookie = String(r.headers['set-cookie']).split(';')[0]!;
      await text(`${base}/before-term/x`, { headers: { cookie } });
      const rec = await recordFor('/before-term/x');
      const id = `http:${rec.panel_session}`;
      t.ok(gw.registry.get(id));
      await gw.registry.terminate(id, { name: 'secops' }, 'suspicious');
      t.notOk(gw.registry.get(id), 'gone from the live list');
      const seenBefore = e.app.seen.length;

      const web = await text(`${base}/after-term/web`, { headers: { cookie, accept: 'text/html' } });
      t.equal(web.status, 403, 'WEB: 403 page');
      t.match(web.headers['content-type'], /text\/html/);
      t.match(web.body, /SG_ERR_SESSION_REVOKED/);
      t.match(String(web.headers['set-cookie']), /^sid=; Path=\/; Max-Age=0/, 'the dead cookie is cleared');
      const api = await text(`${base}/api/after-term`, { headers: { cookie, accept: 'application/json' } });
      t.equal(api.status, 401, 'API: 401 JSON');
      t.equal(JSON.parse(api.body).error.code, 'SG_ERR_SESSION_REVOKED');
      t.equal(e.app.seen.length, seenBefore, 'the upstream never saw them');
      const refused = await recordFor('/after-term/web');
      t.equal(refused.error, 'revoked');
      t.equal(refused.status, 403);
      t.equal(refused.panel_session, rec.panel_session);
      const act = gw.emitter.events.find((ev) => ev.type === 'activity' && ev.action === 'terminate');
      t.ok(act, 'the registry recorded who terminated it');
    });

    t.test('locks: a locked IP and a locked login are refused before forwarding', async (t) => {
      const lock = gw.access.lock({ kind: 'ip', value: '127.0.0.3', actor: 'secops' });
      t.teardown(() => void gw.access.unlock(lock.id));
      const seenBefore = e.app.seen.length;
      const res = await raw(gw.port, ['GET /locked-ip/x HTTP/1.1\r\nHost: h.test\r\nAccept: text/html\r\n\r\n'], { localAddress: '127.0.0.3', waitMs: 3000 });
      const p = parseResponses(res.data)[0]!;
      t.equal(p.status, 403);
      t.match(p.body.toString(), /SG_ERR_LOCKED/);
      t.equal(e.app.seen.length, seenBefore, 'never forwarded');
      const rec = await gw.emitter.waitFor((ev) => ev.url.includes('/locked-ip/'));
      t.equal(rec.error, 'locked');
      t.equal(rec.ip, '127.0.0.3');

      const l2 = gw.access.lock({ kind: 'login', value: 'carol', actor: 'secops' });
      t.teardown(() => void gw.access.unlock(l2.id));
      const r = await request(`${base}/login`, { method: 'POST', body: 'username=carol&password=right', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' } });
      t.equal(r.statusCode, 401, 'a locked login cannot even log in (API form: 401)');
      t.equal(((await r.body.json()) as { error: { code: string } }).error.code, 'SG_ERR_LOCKED');
      t.equal(e.app.seen.length, seenBefore, 'never forwarded');
    });

    t.test('a slow upstream route does not block another route', async (t) => {
      const pending = [1, 2, 3, 4].map((i) => request(`${base}/slow/${i}`).then(async (r) => ({ status: r.statusCode, body: await r.body.text() })));
      await until(() => e.slowHeld.length === 2, 10_000, 'two slow requests upstream');
      const fast = await text(`${base}/while-slow/echo`);
      t.equal(fast.status, 200, 'another route answers while the slow one is saturated');
      // Release the slow ones as they reach the upstream (two at a time: the route's pool size).
      let settled = false;
      const all = Promise.all(pending).finally(() => (settled = true));
      while (!settled) {
        e.slowHeld.shift()?.end('late');
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const p of await all) t.same(p, { status: 200, body: 'late' });
    });

    t.test('502 and 504 pages and their records', async (t) => {
      const down = await text(`${base}/down/x`, { headers: { accept: 'text/html' } });
      t.equal(down.status, 502);
      t.match(down.headers['content-type'], /text\/html/);
      t.match(down.body, /SG_ERR_UPSTREAM_UNAVAILABLE/);
      const downApi = await text(`${base}/down/api-x`, { headers: { accept: 'application/json' } });
      t.equal(downApi.status, 502);
      t.same(JSON.parse(downApi.body).error.code, 'SG_ERR_UPSTREAM_UNAVAILABLE');
      const rd = await recordFor('/down/x');
      t.equal(rd.error, 'upstream_unavailable');
      t.equal(rd.status, 502);
      t.equal(rd.upstream_ms, undefined);

      const slow = await text(`${base}/timeout/x`, { headers: { accept: 'text/html' } });
      t.equal(slow.status, 504);
      t.match(slow.body, /SG_ERR_UPSTREAM_TIMEOUT/);
      const rt = await recordFor('/timeout/x');
      t.equal(rt.error, 'upstream_timeout');
      t.equal(rt.status, 504);
    });

    t.test('client abort mid-response and mid-upload', async (t) => {
      const before = upstreamAborts.length;
      const r1 = await raw(gw.port, ['GET /slow-body HTTP/1.1\r\nHost: h.test\r\n\r\n'], { waitMs: 1500 });
      t.match(r1.text, /first-part/, 'the client got the start');
      await until(() => upstreamAborts.slice(before).includes('res /slow-body'), 10_000, 'upstream sees the abort');
      const rec = await gw.emitter.waitFor((ev) => ev.url.endsWith('/slow-body'));
      t.equal(rec.error, 'client_aborted');
      t.equal(rec.status, 200, 'the upstream status is kept');

      await raw(gw.port, ['POST /slow-upload HTTP/1.1\r\nHost: h.test\r\nContent-Length: 100000\r\n\r\n' + 'x'.repeat(1000)], { waitMs: 800 });
      await until(() => upstreamAborts.slice(before).includes('req /slow-upload'), 10_000, 'upstream sees the aborted upload');
      const up = await gw.emitter.waitFor((ev) => ev.url.endsWith('/slow-upload'));
      t.equal(up.error, 'client_aborted');
      t.equal(up.status, 499);
      t.equal(up.bytes_in, 1000);
      const after = await text(`${base}/after-abort/echo`);
      t.equal(after.status, 200, 'the gateway stays up');
    });

    t.test('WebSocket relay: text, binary, close codes both ways; 101 recorded', async (t) => {
      const wsBase = base.replace('http', 'ws');
      const ws = await openWs(`${wsBase}/ws/echo?room=1`, ['chat'], { cookie: 'a=1; sg_viewer=v' });
      t.equal(ws.protocol, 'chat', 'subprotocol negotiated by the upstream');
      const m1 = nextMessage(ws);
      ws.send('hello');
      const r1 = await m1;
      t.equal(r1.data.toString(), 'hello');
      t.equal(r1.isBinary, false, 'text stays text');
      const bin = Buffer.from([0, 1, 2, 255, 254]);
      const m2 = nextMessage(ws);
      ws.send(bin, { binary: true });
      const r2 = await m2;
      t.equal(r2.isBinary, true, 'binary stays binary');
      t.same([...r2.data], [...bin]);
      const big = randomBytes(3 * 1024 * 1024);
      const m3 = nextMessage(ws);
      ws.send(big, { binary: true });
      t.equal(sha((await m3).data), sha(big), 'a 3 MB message intact');
      const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code: number, reason: Buffer) => r({ code, reason: reason.toString() })));
      ws.send('close-me');
      t.same(await closed, { code: 4001, reason: 'bye' }, 'upstream close code reaches the client');

      const ws2 = await openWs(`${wsBase}/ws/echo2`);
      const before = wsCloses.length;
      ws2.close(4002, 'client-bye');
      await until(() => wsCloses.length > before, 10_000, 'upstream close');
      t.same(wsCloses.at(-1), { code: 4002, reason: 'client-bye' }, 'client close code reaches the upstream');

      const hdrs = wsUpgradeHeaders.filter((h) => h.cookie !== undefined).at(-1)!;
      t.equal(hdrs.cookie, 'a=1', 'viewer cookie stripped on upgrades too');
      t.equal(hdrs['x-forwarded-for'], '127.0.0.1');
      const rec = await gw.emitter.waitFor((ev) => ev.url.includes('/ws/echo?room=1'));
      t.equal(rec.status, 101);
      t.equal(rec.method, 'GET');

      await t.rejects(openWs(`${wsBase}/ws/deny`), { message: 'unexpected response 403' }, 'an upstream refusal reaches the client');
      const deny = await gw.emitter.waitFor((ev) => ev.url.includes('/ws/deny'));
      t.equal(deny.status, 403);
    });

    t.test('metrics count requests by listener and status', async (t) => {
      const m = await gw.metrics.registry.getSingleMetricAsString('sessiongate_http_requests_total');
      t.match(m, /listener="web",status="200"\} \d+/);
      t.match(m, /status="502"/);
      const refused = await gw.metrics.registry.getSingleMetricAsString('sessiongate_http_refused_total');
      t.match(refused, /reason="revoked"/);
    });
  });

  t.test(`engine ${engine}: no route, idle panel sessions leave the registry`, async (t) => {
    const up = await startUpstream(t, (req, res) => {
      res.setHeader('set-cookie', 'sid=idle-1; Path=/');
      res.end('ok');
    });
    const gw = await startGateway(
      t,
      listenerConfig({ engine, idle_timeout: '2s', routes: [{ name: 'only', match: { host: 'only.test' }, upstream: up.url, session: { cookie: 'sid' } }] }),
    );
    const miss = await text(`${gw.url}/nowhere?<script>`, { headers: { host: '<b>evil</b>.test', accept: 'text/html' } });
    t.equal(miss.status, 404);
    t.notMatch(miss.body, /<b>evil/, 'nothing from the request is echoed unescaped');
    const rec = await gw.emitter.waitFor((ev) => ev.status === 404);
    t.equal(rec.error, 'no_route');
    t.equal(rec.route, '');
    t.equal(up.seen.length, 0);

    const r = await text(`${gw.url}/page`, { headers: { host: 'only.test' } });
    t.equal(r.status, 200);
    t.equal(gw.registry.list().length, 1, 'the cookie the panel set is a live session');
    await until(() => gw.registry.list().length === 0, 15_000, 'idle session swept');
    t.pass('an idle session leaves the registry');
  });

  t.test(`engine ${engine}: TLS listener`, async (t) => {
    const openssl = requireTool(t, 'openssl');
    if (!openssl) return;
    const dir = t.testdir({});
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    await execFileP(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1']);
    const up = await startUpstream(t, (req, res) => res.end(JSON.stringify({ proto: req.headers['x-forwarded-proto'] })));
    const gw = await startGateway(t, listenerConfig({ engine, tls: { cert, key }, routes: [{ name: 'r', upstream: up.url }] }));
    t.equal(gw.front.addresses()[0]!.tls, true);
    const agent = new Agent({ connect: { rejectUnauthorized: false } });
    t.teardown(() => agent.close());
    const r = await request(`${gw.url}/secure?q=1`, { dispatcher: agent });
    t.equal(r.statusCode, 200);
    t.same(await r.body.json(), { proto: 'https' });
    const rec = await gw.emitter.waitFor(() => true);
    t.equal(rec.url, `https://127.0.0.1:${gw.port}/secure?q=1`);
    const c = new Client(gw.url, { connect: { rejectUnauthorized: true } });
    t.teardown(() => c.close());
    await t.rejects(c.request({ path: '/', method: 'GET' }), 'the self-signed certificate is really used');
  });
}
