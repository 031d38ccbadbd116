// Hostile HTTP over raw sockets, on both engines. "Refused" means a 4xx answer or a closed
// connection, and in every case the upstream never sees the request (nor a request smuggled
// inside it), while a well-behaved keep-alive client keeps working throughout.
import t from 'tap';
import { Client } from 'undici';
import { ENGINES, listenerConfig, parseResponses, raw, sleep, startGateway, startUpstream, type RawResult } from './helpers/http-harness.js';

interface Case {
  name: string;
  parts: (string | Buffer)[];
  /** Markers that must never reach the upstream. */
  never: string[];
  /** Acceptable statuses; a closed connection without an answer is always acceptable. */
  statuses: number[];
  gapMs?: number;
}

const H = 'Host: h.test\r\n';

const CASES: Case[] = [
  {
    name: 'Content-Length with Transfer-Encoding',
    parts: [`POST /hx-clte HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled-clte HTTP/1.1\r\n${H}\r\n`],
    never: ['/hx-clte', '/smuggled-clte'],
    statuses: [400],
  },
  {
    name: 'two equal Content-Length headers',
    parts: [`POST /hx-cl2 HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhelloGET /smuggled-cl2 HTTP/1.1\r\n${H}\r\n`],
    never: ['/hx-cl2', '/smuggled-cl2'],
    statuses: [400],
  },
  {
    name: 'two equal Content-Length headers, nothing after',
    parts: [`POST /hx-cl2only HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`],
    never: ['/hx-cl2only'],
    statuses: [400],
  },
  {
    name: 'two different Content-Length headers',
    parts: [`POST /hx-cl2d HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 44\r\n\r\nhelloGET /smuggled-cl2d HTTP/1.1\r\n${H}\r\n`],
    never: ['/hx-cl2d', '/smuggled-cl2d'],
    statuses: [400],
  },
  {
    name: 'Content-Length list "5, 5"',
    parts: [`POST /hx-cllist HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`],
    never: ['/hx-cllist'],
    statuses: [400],
  },
  {
    name: 'Transfer-Encoding other than chunked',
    parts: [`POST /hx-tegzip HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`],
    never: ['/hx-tegzip'],
    statuses: [400, 501],
  },
  {
    name: 'bad chunk size',
    parts: [`POST /hx-badchunk HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`],
    never: ['/hx-badchunk'],
    statuses: [400],
  },
  {
    name: 'overflowing chunk size',
    parts: [`POST /hx-hugechunk HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n`],
    never: ['/hx-hugechunk'],
    statuses: [400],
  },
  {
    name: 'obs-fold header',
    parts: [`GET /hx-fold HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`],
    never: ['/hx-fold'],
    statuses: [400],
  },
  {
    name: 'NUL in a header value',
    parts: [`GET /hx-nul HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`],
    never: ['/hx-nul'],
    statuses: [400],
  },
  {
    name: 'CR in a header value',
    parts: [`GET /hx-cr HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`],
    never: ['/hx-cr'],
    statuses: [400],
  },
  {
    name: 'oversized header (20 KB, limit 16 KB)',
    parts: [`GET /hx-bighdr HTTP/1.1\r\n${H}X-A: ${'a'.repeat(20 * 1024)}\r\n\r\n`],
    never: ['/hx-bighdr'],
    statuses: [431],
  },
  {
    name: 'huge header (100 KB)',
    parts: [`GET /hx-hugehdr HTTP/1.1\r\n${H}X-A: ${'a'.repeat(100 * 1024)}\r\n\r\n`],
    never: ['/hx-hugehdr'],
    statuses: [431],
  },
  {
    name: 'oversized URL (9 KB, limit 8 KB)',
    parts: [`GET /hx-longurl/${'u'.repeat(9 * 1024)} HTTP/1.1\r\n${H}\r\n`],
    never: ['/hx-longurl'],
    statuses: [414, 431],
  },
  {
    name: 'too many headers (30, limit 20)',
    parts: [`GET /hx-many30 HTTP/1.1\r\n${H}${Array.from({ length: 30 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`],
    never: ['/hx-many30'],
    statuses: [431],
  },
  {
    name: 'too many headers (200)',
    parts: [`GET /hx-many200 HTTP/1.1\r\n${H}${Array.from({ length: 200 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`],
    never: ['/hx-many200'],
    statuses: [431],
  },
  {
    name: 'method not a token',
    parts: [`G@T /hx-badmethod HTTP/1.1\r\n${H}\r\n`],
    never: ['/hx-badmethod'],
    statuses: [400, 405, 501],
  },
  {
    name: 'method of 40 chars',
    parts: [`${'A'.repeat(40)} /hx-longmethod HTTP/1.1\r\n${H}\r\n`],
    never: ['/hx-longmethod'],
    statuses: [400, 405, 501],
  },
  {
    name: 'request target not origin-form',
    parts: [`GET http://evil.test/hx-absform HTTP/1.1\r\n${H}\r\n`],
    never: ['/hx-absform'],
    statuses: [400],
  },
  {
    name: 'two Host headers',
    parts: [`GET /hx-twohosts HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n`],
    never: ['/hx-twohosts'],
    statuses: [400],
  },
  {
    name: 'declared body over max_body_bytes',
    parts: [`POST /hx-bigbody HTTP/1.1\r\n${H}Content-Length: ${2 * 1024 * 1024}\r\n\r\n${'x'.repeat(1000)}`],
    never: ['/hx-bigbody'],
    statuses: [413],
  },
  {
    name: 'HTTP/2 preface on an HTTP/1 port',
    parts: ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    never: ['PRI'],
    statuses: [400, 505],
  },
];

/** The first status line in what came back, or undefined when the connection closed silently. */
function firstStatus(r: RawResult): number | undefined {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(r.text);
  return m ? Number(m[1]) : undefined;
}

for (const engine of ENGINES) {
  t.test(`engine ${engine}`, async (t) => {
    const up = await startUpstream(t, (req, res) => {
      req.resume();
      req.on('end', () => res.end(`ok ${req.url}`));
    });
    const gw = await startGateway(
      t,
      listenerConfig({
        engine,
        limits: { max_headers: 20, max_body_bytes: '1MB', ...(engine === 'node' ? { header_timeout: '1s' } : {}) },
        routes: [{ name: 'main', upstream: up.url }],
      }),
    );

    // A well-behaved keep-alive client that keeps working while the hostile ones are refused.
    const good = new Client(gw.url, { pipelining: 1 });
    t.teardown(() => good.close());
    let goodOk = 0;
    const goodErrors: string[] = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        try {
          const r = await good.request({ path: '/good', method: 'GET' });
          const b = await r.body.text();
          if (r.statusCode === 200 && b === 'ok /good') goodOk++;
          else goodErrors.push(`${r.statusCode} ${b}`);
        } catch (e) {
          goodErrors.push(String(e));
        }
        await sleep(25);
      }
    })();

    const table: string[] = [];
    // All at once: uWS holds some malformed heads without answering until its own timeout
    // (~12 s) closes them, so the wait is generous and the cases overlap.
    const results = await Promise.all(
      CASES.map(async (c) => {
        const start = Date.now();
        const r = await raw(gw.port, c.parts, { waitMs: 20_000, gapMs: c.gapMs });
        return { c, r, secs: (Date.now() - start) / 1000 };
      }),
    );
    for (const { c, r, secs } of results) {
      const status = firstStatus(r);
      const outcome = status === undefined ? (r.closed ? 'closed, no answer' : 'no answer, left open') : `${status}${r.closed ? ' + closed' : ''}`;
      table.push(`${c.name}: ${outcome}${secs >= 1 ? ` (after ${secs.toFixed(1)} s)` : ''}`);
      t.ok(status === undefined ? r.closed : c.statuses.includes(status), `${c.name}: refused (${outcome})`);
      if (status !== undefined) t.ok(r.closed, `${c.name}: connection closed after the refusal`);
      for (const m of c.never) t.equal(up.seen.filter((s) => s.url.includes(m)).length, 0, `${c.name}: upstream never saw ${m}`);
    }

    await t.test('chunked body over max_body_bytes is cut with 413', async (t) => {
      const chunk = 'x'.repeat(256 * 1024);
      const body = Array.from({ length: 6 }, () => `${(chunk.length).toString(16)}\r\n${chunk}\r\n`);
      const r = await raw(gw.port, [`POST /hx-chunkbig HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`, ...body], { waitMs: 2_000, gapMs: 20 });
      const status = firstStatus(r);
      table.push(`chunked body over the limit: ${status ?? 'closed'}${r.closed ? ' + closed' : ''}`);
      t.ok(status === 413 || (status === undefined && r.closed), `refused (${status ?? 'closed'})`);
      const rec = await gw.emitter.waitFor((e) => e.url.includes('/hx-chunkbig'));
      t.equal(rec.error, 'body_too_large');
    });

    await t.test('slowloris: a head that never completes is cut', async (t) => {
      const start = Date.now();
      const drip = Array.from({ length: 80 }, (_, i) => `X-Drip-${i}: v\r\n`);
      const r = await raw(gw.port, [`GET /hx-slowloris HTTP/1.1\r\n${H}`, ...drip], { gapMs: 250, waitMs: 5_000 });
      const secs = ((Date.now() - start) / 1000).toFixed(1);
      const status = firstStatus(r);
      table.push(`slowloris: ${status ?? 'closed'} after ${secs} s`);
      t.ok(r.closed, `the connection was cut (after ${secs} s)`);
      if (engine === 'node') t.equal(status, 408, 'node engine answers 408 (header_timeout 1 s)');
      t.equal(up.seen.filter((s) => s.url.includes('/hx-slowloris')).length, 0, 'never forwarded');
    });

    await t.test('smuggling record and the parallel client', async (t) => {
      if (engine === 'uws') {
        const rec = gw.emitter.requests().find((e) => e.url.includes('/hx-cl2d'));
        t.equal(rec?.error, 'smuggling', 'uWS: the ambiguous request is recorded as refused');
      }
      stop = true;
      await loop;
      t.same(goodErrors, [], 'the well-behaved connection never failed');
      t.ok(goodOk > 10, `it kept working throughout (${goodOk} answers)`);
      const after = await good.request({ path: '/good', method: 'GET' });
      t.equal(await after.body.text(), 'ok /good', 'the process is still up');
    });

    t.comment(`measured behaviour (${engine}):\n  ${table.join('\n  ')}`);
  });
}
