import t from 'tap';
import { request } from 'undici';
import { ENGINES, listenerConfig, startGateway, startUpstream } from './helpers/http-harness.js';

for (const engine of ENGINES) {
  t.test(engine, async (t) => {
    const up = await startUpstream(t, (req, res) => {
      req.resume();
      req.on('end', () => { res.setHeader('content-type', 'text/plain'); res.end(`ok ${req.method} ${req.url}`); });
    });
    const gw = await startGateway(t, listenerConfig({ engine, routes: [{ name: 'main', upstream: up.url }] }));
    const r = await request(`${gw.url}/hello?x=1`);
    t.equal(r.statusCode, 200);
    t.equal(await r.body.text(), 'ok GET /hello?x=1');
    const ev = await gw.emitter.waitFor(() => true);
    t.equal(ev.status, 200);
    t.comment(JSON.stringify(ev));
    const r2 = await request(`${gw.url}/post`, { method: 'POST', body: 'abc' });
    t.equal(await r2.body.text(), 'ok POST /post');
  });
}
