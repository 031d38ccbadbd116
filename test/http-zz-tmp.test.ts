import t from 'tap';
import { listenerConfig, raw, startGateway, startUpstream } from './helpers/http-harness.js';
t.test('x', async (t) => {
  const up = await startUpstream(t, (req, res) => { req.resume(); req.on('end', () => res.end('ok ' + JSON.stringify(req.headers))); });
  const gw = await startGateway(t, listenerConfig({ engine: 'uws', routes: [{ name: 'main', upstream: up.url }] }), { logLevel: 'debug' });
  const hs = ['Connection: keep-alive, X-Custom-Hop', 'X-Custom-Hop: 1', 'Keep-Alive: timeout=5', 'TE: trailers', 'Proxy-Authorization: Basic abc', 'Proxy-Connection: keep-alive', 'Trailer: X-T', 'X-Kept: yes', 'Cookie: a=1; sg_viewer=secret; b=2', 'X-Forwarded-Proto: gopher', 'X-Forwarded-Host: evil.test'];
  for (let n = 2; n <= hs.length; n++) {
    const r = await raw(gw.port, [`GET /e HTTP/1.1\r\nHost: h.test\r\n${hs.slice(0, n).join('\r\n')}\r\n\r\n`], { waitMs: 1000 });
    t.comment(n, hs[n-1], '=>', JSON.stringify(r.text.slice(0, 30)), r.closed);
  }
});
