// The demo end to end: the bundled panel behind a real gateway built from config/demo.yaml (ports
// moved to free ones, data in a temp dir). Records must name the people the demo promises, in
// the right realms, while the identity header never reaches the browser.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startDemoPanel, DEMO_USERS } from '../demo/panel/index.js';
import { startTestGateway } from './helpers/gateway.js';
import type { HttpRequestEvent } from '../recorder/events.js';
import { panelRequestInit, type PanelRequestOpts } from './helpers/demo-client.js';

const DEMO_YAML = fileURLToPath(new URL('../config/demo.yaml', import.meta.url));
const pw = (login: string) => DEMO_USERS.find((u) => u.login === login)!.password;

/** config/demo.yaml with its fixed ports and data dir swapped; each swap must hit. */
function demoYamlFor(panelPort: number): string {
  let text = readFileSync(DEMO_YAML, 'utf8');
  const swap = (from: RegExp, to: string) => {
    if (!from.test(text)) throw new Error(`config/demo.yaml no longer contains ${from}`);
    text = text.replace(from, to);
  };
  swap(/127\.0\.0\.1:18090/g, `127.0.0.1:${panelPort}`);
  swap(/listen: 127\.0\.0\.1:8081/, 'listen: 127.0.0.1:0');
  swap(/listen: 127\.0\.0\.1:8080/, 'listen: 127.0.0.1:0');
  swap(/listen: 127\.0\.0\.1:2222/, 'listen: 127.0.0.1:0');
  swap(/listen: 127\.0\.0\.1:2121/, 'listen: 127.0.0.1:0');
  swap(/\n *passive_ports: 2130-2149/, '');
  swap(/^data_dir: .*$/m, 'data_dir: ${DATA}');
  return text;
}

t.test('demo panel behind the gateway: who, where, what', async (t) => {
  const panel = await startDemoPanel({ host: '127.0.0.1', port: 0 });
  t.teardown(() => panel.close());
  const { gw } = await startTestGateway(t, demoYamlFor(panel.port));
  const base = gw.urls().http.panel!;
  t.ok(base, 'panel listener up');

  const call = async (method: string, path: string, o: PanelRequestOpts = {}) => {
    const { headers, body } = panelRequestInit(o, { 'user-agent': 'demo-e2e' });
    const r = await request(base + path, { method: method as 'GET', headers, body });
    const text = await r.body.text();
    t.notOk(r.headers['x-sessiongate-user'], `${method} ${path}: the identity header is stripped`);
    return { status: r.statusCode, headers: r.headers, text };
  };
  const sid = (r: { headers: Record<string, string | string[] | undefined> }) => /panel_sid=([^;]*)/.exec(String(r.headers['set-cookie']))?.[1] ?? '';

  const puqLogin = await call('POST', '/admin/login', { form: { username: 'puq', password: pw('puq') } });
  t.equal(puqLogin.status, 303);
  const puq = sid(puqLogin);
  t.ok(puq, 'the panel cookie reaches the browser');
  t.equal((await call('GET', '/admin/clients', { cookie: puq })).status, 200);
  t.equal((await call('POST', '/admin/clients', { cookie: puq, form: { name: 'Globex', email: 'ops@globex.example' } })).status, 303);
  t.equal((await call('POST', '/admin/login', { form: { username: 'alice', password: 'wrong' } })).status, 401);

  const bobLogin = await call('POST', '/api/login', { json: { username: 'bob', password: pw('bob') } });
  t.equal(bobLogin.status, 200);
  const token = JSON.parse(bobLogin.text).token as string;
  t.equal((await call('GET', '/api/services', { bearer: token })).status, 200);

  const dcLogin = await call('POST', '/login', { form: { username: 'demo-client', password: pw('demo-client') } });
  const dc = sid(dcLogin);
  t.equal((await call('GET', '/client/services', { cookie: dc })).status, 200);
  t.equal((await call('GET', '/logout', { cookie: dc })).status, 303);
  const sent = 9;

  // Records are written within a flush interval of each answer; wait for all of them.
  let items: HttpRequestEvent[] = [];
  for (let i = 0; i < 100 && items.length < sent; i++) {
    await gw.recorder.flush();
    items = gw.recorder.store.queryRequests({ limit: 100 }).items;
    if (items.length < sent) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(items.length, sent, 'every request recorded');
  const find = (method: string, path: string, status?: number) => {
    const e = items.find((x) => x.method === method && new URL(x.url).pathname === path && (status === undefined || x.status === status));
    t.ok(e, `record for ${method} ${path}`);
    return e ?? ({} as HttpRequestEvent);
  };

  const l = find('POST', '/admin/login', 303);
  t.match(l, { realm: 'admin', route: 'admin', source: 'WEB', action: 'login', identity_verified: true });
  t.match(l.user, { login: 'puq', name: 'PUQ Admin', email: 'demo-admin@example.com' });
  t.ok(l.panel_session && !l.panel_session.includes(puq), 'the panel session is stored as a hash, never the cookie');

  t.match(find('GET', '/admin/clients'), { realm: 'admin', source: 'WEB', action: 'view', user: { name: 'PUQ Admin' } });
  t.match(find('POST', '/admin/clients'), { realm: 'admin', action: 'create', user: { login: 'puq' } });

  const failed = find('POST', '/admin/login', 401);
  t.match(failed, { realm: 'admin', action: 'login', status: 401, identity_verified: false, user: { login: 'alice' } });

  t.match(find('POST', '/api/login'), { realm: 'client', route: 'client-api', source: 'API', action: 'login', client: 'Acme Ltd', user: { login: 'bob', email: 'bob@acme.example' } });
  t.match(find('GET', '/api/services'), { realm: 'client', source: 'API', action: 'view', client: 'Acme Ltd', user: { name: 'Bob Stone' } });

  t.match(find('GET', '/client/services'), { realm: 'client', route: 'client', source: 'WEB', client: 'Demo Client', user: { email: 'demo-client@example.com' } });
  t.match(find('GET', '/logout'), { realm: 'client', route: 'login', action: 'logout', user: { login: 'demo-client' } });
  t.ok(items.every((e) => e.ip === '127.0.0.1' && e.user_agent === 'demo-e2e'), 'IP and user agent on every record');
  t.ok(items.every((e) => !JSON.stringify(e).includes(pw('puq')) && !JSON.stringify(e).includes(token)), 'no password or token in any record');
});
