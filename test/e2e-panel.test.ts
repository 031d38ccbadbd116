// The whole product path, end to end: the bundled demo panel as a real upstream, the gateway
// (startGateway, as `sessiongate start` runs it) with the real LMDB recorder, the viewer API
// on uWS, and the CLI. A panel user signs in through the gateway; an auditor finds the requests;
// security staff end the panel session and the gateway refuses the cookie from then on.
import t from 'tap';
import { request } from 'undici';
import pino from 'pino';
import { startDemoPanel } from '../demo/panel/index.js';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { startTestGateway } from './helpers/gateway.js';

async function viewerLogin(base: string, name: string, password: string) {
  const res = await request(`${base}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: base },
    body: JSON.stringify({ name, password }),
  });
  const body = (await res.body.json()) as { csrf_token: string };
  t.equal(res.statusCode, 200, `${name} signs in to the viewer`);
  const setCookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const cookie = setCookie[0]!.split(';')[0]!;
  const call = async (method: 'GET' | 'POST' | 'DELETE', path: string, json?: unknown) => {
    const r = await request(`${base}${path}`, {
      method,
      headers: { cookie, origin: base, 'x-csrf-token': body.csrf_token, ...(json ? { 'content-type': 'application/json' } : {}) },
      body: json ? JSON.stringify(json) : undefined,
    });
    const text = await r.body.text();
    return { status: r.statusCode, json: text ? (JSON.parse(text) as any) : undefined };
  };
  return call;
}

t.test('panel traffic is recorded, searchable, and a panel session can be ended', async (t) => {
  const panel = await startDemoPanel({ host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) });
  t.teardown(() => panel.close());
  const up = `http://127.0.0.1:${panel.port}`;
  const { gw, file } = await startTestGateway(
    t,
    `data_dir: \${DATA}
viewer: { listen: 127.0.0.1:0 }
http:
  - name: panel
    listen: 127.0.0.1:0
    routes:
      - name: client-api
        match: { path_prefix: /api/ }
        upstream: ${up}
        realm: client
        session: { cookie: panel_sid }
        identity: { header: { login: x-sessiongate-user } }
      - name: site
        upstream: ${up}
        realm: client
        session: { cookie: panel_sid }
        identity:
          header: { login: x-sessiongate-user }
          form: { path: /login, field: username }
directory:
  - { login: demo-client, name: Demo Client, email: demo-client@example.com, client: Demo Client, type: client }
`,
  );
  const urls = gw.urls();
  const gwBase = urls.http.panel!;
  const viewerBase = urls.viewer!;
  await gw.users.add({ name: 'sec', role: 'security', password: 'security-pass-123' });
  await gw.users.add({ name: 'aud', role: 'auditor', password: 'auditor-pass-1234' });

  // A panel user signs in through the gateway (login form), then browses and calls the API.
  const login = await request(`${gwBase}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'username=demo-client&password=client-demo-pass',
  });
  await login.body.dump();
  t.ok([302, 303].includes(login.statusCode), `panel login accepted (redirect ${login.statusCode})`);
  t.notOk(login.headers['x-sessiongate-user'], 'identity header stripped from the response');
  const panelCookie = ([] as string[]).concat(login.headers['set-cookie'] ?? []).find((c) => c.startsWith('panel_sid='))!.split(';')[0]!;
  const sid = panelCookie.split('=')[1]!;
  const page = await request(`${gwBase}/client/services?access_token=s3cr3t-value`, { headers: { cookie: `${panelCookie}; sg_viewer=viewer-secret` } });
  await page.body.dump();
  t.equal(page.statusCode, 200, 'client page through the gateway');
  const api = await request(`${gwBase}/api/services`, { headers: { cookie: panelCookie, accept: 'application/json' } });
  await api.body.dump();
  t.equal(api.statusCode, 200, 'client API through the gateway');
  await gw.recorder.flush();

  // An auditor finds the page by a URL fragment and by part of the email.
  const aud = await viewerLogin(viewerBase, 'aud', 'auditor-pass-1234');
  const byUrl = await aud('GET', '/api/requests?q=client%2Fserv');
  t.equal(byUrl.status, 200);
  const rec = byUrl.json.items[0];
  t.ok(rec, 'found by URL fragment');
  t.equal(rec.url, `${gwBase}/client/services?access_token=[REDACTED]`, 'secret query value redacted');
  t.same(
    { name: rec.user?.name, email: rec.user?.email, client: rec.client, source: rec.source, method: rec.method, realm: rec.realm, verified: rec.identity_verified },
    { name: 'Demo Client', email: 'demo-client@example.com', client: 'Demo Client', source: 'WEB', method: 'GET', realm: 'client', verified: true },
    'identity learnt at login, completed from the directory',
  );
  const raw = JSON.stringify(byUrl.json);
  t.notOk(raw.includes(sid), 'the panel session cookie is never stored (only its hash)');
  t.notOk(raw.includes('s3cr3t-value'), 'the secret query value is never stored');
  t.ok(rec.panel_session && !rec.panel_session.includes(sid), 'panel session stored as a hash');
  const byEmail = await aud('GET', '/api/requests?q=mo-client%40exam&source=API');
  t.equal(byEmail.json.items.length, 1, 'found by part of the email, API only');
  t.equal(byEmail.json.items[0].url, `${gwBase}/api/services`);
  const bad = await aud('GET', '/api/requests?from=yesterday-ish');
  t.equal(bad.status, 400);
  t.equal(bad.json.error.code, 'SG_ERR_BAD_PARAM', 'bad date refused with a stable code');

  // The same results in the terminal.
  // (a separate process, as an auditor runs it while the gateway is up)
  const cli = join(import.meta.dirname, '..', 'dist', 'cli', 'sessiongate.js');
  const printed = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [cli, 'search', '--config', file, '-q', 'client/serv'], (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
  );
  t.match(printed, 'Demo Client <demo-client@example.com>', 'search prints the user');
  t.match(printed, '/client/services?access_token=[REDACTED]', 'search prints the URL');

  // Live panel sessions, and who may end them.
  const live = await aud('GET', '/api/live');
  const mine = live.json.items.find((s: any) => s.login === 'demo-client');
  t.ok(mine, 'the panel session is live, with its login');
  t.type(mine.idle_ms, 'number', 'idle time shown');
  const liveMetrics = await (await request(`${viewerBase}/metrics`)).body.text();
  t.match(liveMetrics, /sessiongate_live_sessions\{protocol="http"\} 1/, 'the live panel session is counted in /metrics');
  const denied = await aud('POST', `/api/live/${encodeURIComponent(mine.id)}/terminate`, { reason: 'test' });
  t.equal(denied.status, 403, 'an auditor may not end sessions');
  t.equal(denied.json.error.code, 'SG_ERR_FORBIDDEN');
  const sec = await viewerLogin(viewerBase, 'sec', 'security-pass-123');
  const ended = await sec('POST', `/api/live/${encodeURIComponent(mine.id)}/terminate`, { reason: 'suspicious' });
  t.equal(ended.status, 200, 'security ends the panel session');

  // From now on the gateway refuses that cookie: 403 page for WEB, 401 JSON for API.
  const web = await request(`${gwBase}/client/invoices`, { headers: { cookie: panelCookie } });
  t.equal(web.statusCode, 403, 'WEB request with the revoked cookie refused');
  t.match(String(web.headers['content-type']), /text\/html/);
  await web.body.dump();
  const api2 = await request(`${gwBase}/api/services`, { headers: { cookie: panelCookie, accept: 'application/json' } });
  t.equal(api2.statusCode, 401, 'API request with the revoked cookie refused');
  t.equal(((await api2.body.json()) as any).error.code, 'SG_ERR_SESSION_REVOKED');
  await gw.recorder.flush();
  const refused = await aud("GET", "/api/requests?q=client%2Finvoices");
  t.equal(refused.json.items[0]?.error, 'revoked', 'the refused request is recorded as revoked');

  // Metrics count what happened.
  const metrics = await request(`${viewerBase}/metrics`);
  const text = await metrics.body.text();
  t.match(text, /sessiongate_http_requests_total\{listener="panel",status="200"\} \d+/);
  t.match(text, /sessiongate_events_stored_total\{type="http.request"\} \d+/);
  t.notMatch(text, /sessiongate_live_sessions\{protocol="http"\} [1-9]/, "the ended session is no longer counted");
});
