// The hot-path shortcuts keep the exact behaviour of the plain code they replaced: response field
// names found from their bytes, Content-Length read from bytes, `Connection` values recognised
// without a string, and metrics kept locally but exposed exactly like prom-client's own.
import t from 'tap';
import fc from 'fast-check';
import { LocalCounts, Metrics } from '../core/metrics.js';
import { connectionListed, filterResponseHeaders, parseLength } from './headers.js';

const buf = (s: string) => Buffer.from(s, 'latin1');

t.test('parseLength: trimmed digits, 1 to 15 of them', async (t) => {
  for (const [v, want] of [
    ['10', 10],
    [' 10 ', 10],
    ['\t5\r', 5],
    ['\xa07\xa0', 7],
    ['0', 0],
    ['0010', 10],
    ['123456789012345', 123456789012345],
    ['1234567890123456', -1],
    ['', -1],
    ['  ', -1],
    ['1e3', -1],
    ['-1', -1],
    ['+1', -1],
    ['1 2', -1],
    ['١', -1],
  ] as const) {
    t.equal(parseLength(buf(v)), want, JSON.stringify(v));
    t.equal(parseLength(v), want, `${JSON.stringify(v)} as string`);
  }
  // The reference: what the proxy did before (String.prototype.trim, then /^\d{1,15}$/).
  const latin1 = fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c));
  fc.assert(
    fc.property(fc.string({ unit: fc.oneof(latin1, fc.constantFrom('0', '7', ' ', '\t')), maxLength: 20 }), (s) => {
      const v = s.trim();
      const ref = /^\d{1,15}$/.test(v) ? Number(v) : -1;
      return parseLength(buf(s)) === ref;
    }),
    { numRuns: 5000 },
  );
});

t.test('filterResponseHeaders: names found from bytes, in every spelling', async (t) => {
  const raw = ['Content-Type', 'a', 'content-type', 'b', 'CONTENT-LENGTH', ' 12 ', 'Date', 'd', 'DATE', 'd2', 'Set-Cookie', 'x=1', 'X-User', 'u', 'Connection', 'KEEP-ALIVE'].map(buf);
  for (let round = 0; round < 3; round++) {
    // Repeated: the second and third rounds come from the cache.
    const f = filterResponseHeaders(raw, new Set(['x-user']), true);
    t.same(
      f.headers.map((h) => h.toString()),
      ['Content-Type', 'a', 'content-type', 'b', 'Set-Cookie', 'x=1'],
      `round ${round}`,
    );
    t.equal(typeof f.headers[0], 'string', 'names are handed on as strings');
    t.equal(f.contentLength, 12);
    t.same(f.setCookies, ['x=1']);
    t.equal(f.watched?.get('x-user'), 'u');
  }
  // More spellings than the cache keeps: still right.
  const many: Buffer[] = [];
  for (let i = 0; i < 1500; i++) many.push(buf(`X-Field-${i}`), buf(String(i)));
  many.push(buf('Content-Length'), buf('7'));
  const f = filterResponseHeaders(many, new Set(), true);
  t.equal(f.headers.length, 3000);
  t.equal(f.headers[2998]!.toString(), 'X-Field-1499');
  t.equal(f.contentLength, 7);
});

t.test('filterResponseHeaders: Connection values, with and without listed fields', async (t) => {
  const run = (conn: string) =>
    filterResponseHeaders([buf('Connection'), buf(conn), buf('X-A'), buf('1'), buf('keep\ralive'), buf('2')], new Set(), true).headers.map((h) => h.toString());
  for (const plain of ['keep-alive', 'Keep-Alive', 'CLOSE', 'upgrade']) t.same(run(plain), ['X-A', '1', 'keep\ralive', '2'], plain);
  t.same(run('close, X-A'), ['keep\ralive', '2'], 'a listed field is removed');
  // `\r` | 0x20 is '-': the byte check must not take this for keep-alive; the slow path lists it.
  t.same(run('keep\ralive'), ['X-A', '1'], 'an odd value goes through connectionListed');
  t.same([...(connectionListed('keep\ralive') ?? [])], ['keep\ralive']);
});

t.test('metrics: local counts and histogram read like prom-client metrics', async (t) => {
  const m = new Metrics();
  const cell = m.httpRequestCell('web', '200');
  cell.n += 2;
  m.httpRequests.inc({ listener: 'web', status: '200' });
  const text = await m.registry.getSingleMetricAsString('sessiongate_http_requests_total');
  t.match(text, /sessiongate_http_requests_total\{listener="web",status="200"\} 3/);
  t.equal(cell.n, 0, 'flushed into the counter at scrape time');
  cell.n++;
  t.match(await m.registry.getSingleMetricAsString('sessiongate_http_requests_total'), /status="200"\} 4/, 'later counts add up');

  const h = m.upstreamLatency.cell({ listener: 'web', route: 'r' });
  t.equal(m.upstreamLatency.cell({ route: 'r', listener: 'web' }), h, 'one cell per label set');
  for (const v of [0.0005, 0.001, 0.003, 50]) h.observe(v);
  const lat = await m.registry.getSingleMetricAsString('sessiongate_upstream_latency_seconds');
  t.match(lat, /# TYPE sessiongate_upstream_latency_seconds histogram/);
  t.match(lat, /_bucket\{listener="web",route="r",le="0\.001"\} 2\n/, 'a value on a bound counts in that bucket');
  t.match(lat, /_bucket\{listener="web",route="r",le="0\.005"\} 3\n/, 'buckets are cumulative');
  t.match(lat, /_bucket\{listener="web",route="r",le="30"\} 3\n/);
  t.match(lat, /_bucket\{listener="web",route="r",le="\+Inf"\} 4\n/);
  t.match(lat, /_sum\{listener="web",route="r"\} 50\.0045/);
  t.match(lat, /_count\{listener="web",route="r"\} 4/);
  const json = await m.registry.getMetricsAsJSON();
  t.ok(json.find((x) => x.name === 'sessiongate_upstream_latency_seconds'), 'listed in JSON too');
  m.registry.resetMetrics();
  t.match(await m.registry.getSingleMetricAsString('sessiongate_upstream_latency_seconds'), /_count\{listener="web",route="r"\} 0/);

  const counts = new LocalCounts<'reason'>();
  const c = counts.cell({ reason: 'x' });
  c.n = 5;
  let added = 0;
  counts.flush({ inc: (_l: unknown, n: number) => (added += n) } as never);
  t.equal(added, 5);
  t.equal(c.n, 0);
});
