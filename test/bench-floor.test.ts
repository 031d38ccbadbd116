// The `floor` bench target must be a correct proxy, or its req/s would flatter the stack: it
// forwards method, target, headers and body, drops hop-by-hop headers both ways, adds
// X-Forwarded-*, streams a large answer, keeps HEAD bodiless and answers 502 for a dead upstream.
import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { serve } from '../bench/floor-proxy.js';

const BIG = 8 * 1024 * 1024;

async function origin(t: Test) {
  const server = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-length': String(BIG) });
        const chunk = Buffer.alloc(1 << 16, 0x61);
        let sent = 0;
        const pump = () => {
          while (sent < BIG) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      res.writeHead(201, { 'content-type': 'application/json', connection: 'keep-alive, x-hop', 'x-hop': 'hidden', 'x-end': 'kept' });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bytes: n }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  server.keepAliveTimeout = 1000;
  t.teardown(() => server.closeAllConnections());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('floor proxy forwards correctly', async (t) => {
  const up = await origin(t);
  const p = await serve({ port: 0, target: up });
  t.teardown(() => p.close());
  const base = `http://127.0.0.1:${p.port}`;

  // node:http sends the Connection header as given (undici's client would not).
  const r = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request(`${base}/a/b?x=1&y=%20`, { method: 'PUT', agent: false, headers: { 'x-forwarded-for': '203.0.113.9', connection: 'keep-alive, x-secret', 'x-secret': 'no', 'x-keep': 'yes' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end('hello world');
  });
  t.equal(r.status, 201);
  t.equal(r.headers['x-end'], 'kept');
  t.equal(r.headers['x-hop'], undefined, 'a response header the Connection header names is dropped');
  const seen = JSON.parse(r.body) as { method: string; url: string; headers: Record<string, string>; bytes: number };
  t.equal(seen.method, 'PUT');
  t.equal(seen.url, '/a/b?x=1&y=%20', 'path and query as sent');
  t.equal(seen.bytes, 11, 'body forwarded');
  t.equal(seen.headers['x-keep'], 'yes');
  t.equal(seen.headers['x-secret'], undefined, 'a request header the Connection header names is dropped');
  t.equal(seen.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1', 'X-Forwarded-For appended');
  t.equal(seen.headers['x-forwarded-proto'], 'http');
  t.equal(seen.headers['x-forwarded-host'], `127.0.0.1:${p.port}`);

  const h = await request(`${base}/h`, { method: 'HEAD' });
  t.equal(h.statusCode, 201);
  t.equal((await h.body.arrayBuffer()).byteLength, 0, 'HEAD has no body');

  const big = await request(`${base}/big`);
  t.equal(big.headers['content-length'], String(BIG));
  let got = 0;
  for await (const c of big.body) got += (c as Buffer).length;
  t.equal(got, BIG, 'a large answer streams through whole');

  const dead = await serve({ port: 0, target: 'http://127.0.0.1:1' });
  t.teardown(() => dead.close());
  const d = await request(`http://127.0.0.1:${dead.port}/x`);
  t.equal(d.statusCode, 502);
  await d.body.text();
});
