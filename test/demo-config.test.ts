// config/demo.yaml: valid, loopback only, pointed at the bundled panel, realms right for the
// panel's paths, and its directory in step with the demo panel's users.
import t, { type Test } from 'tap';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { loadConfig } from '../config/loader.js';
import type { Config } from '../config/schema.js';
import { requestAction, requestSource } from '../gateway/http/analysis/classify.js';
import { Directory } from '../gateway/http/analysis/directory.js';
import { RouteTable } from '../gateway/http/routes.js';
import { systemClock } from '../gateway/core/runtime.js';
import { DEMO_USERS } from '../demo/panel/index.js';

const FILE = fileURLToPath(new URL('../config/demo.yaml', import.meta.url));

/** Through the real loader: schema, semantic checks, relative paths resolved. */
async function load(): Promise<Config> {
  const { config, warnings } = await loadConfig(FILE);
  if (warnings.length) throw new Error(`config/demo.yaml has warnings: ${JSON.stringify(warnings)}`);
  return config;
}

/** The gateway's own route matching for the demo listener (closed by the caller's teardown). */
function router(t: Test, cfg: Config) {
  const table = new RouteTable(cfg.http[0]!.routes, { clock: systemClock, directory: new Directory(cfg.directory) });
  t.teardown(() => table.close(false));
  return (path: string) => {
    const r = table.match('127.0.0.1:8081', path);
    if (!r) throw new Error(`no route for ${path}`);
    return r.cfg;
  };
}

const loopback = (host: string) => host === 'localhost' || ipaddr.parse(host).range() === 'loopback';

t.test('config/demo.yaml is valid and loopback-only', async (t) => {
  const cfg = await load();
  t.ok(cfg.demo, 'demo section present');
  t.match(cfg.demo!.panel_listen, { host: '127.0.0.1', port: 18090 });
  t.match(cfg.viewer.listen, { host: '127.0.0.1', port: 8080 });
  t.equal(cfg.data_dir, resolve(FILE, '../../data/demo'), 'data dir relative to the config file: <repo>/data/demo');
  t.equal(cfg.http.length, 1);
  const l = cfg.http[0]!;
  t.match(l, { name: 'panel', engine: 'uws', listen: { host: '127.0.0.1', port: 8081 } });
  for (const [what, host] of [
    ['viewer', cfg.viewer.listen.host],
    ['demo panel', cfg.demo!.panel_listen.host],
    ...cfg.http.map((h) => [`listener ${h.name}`, h.listen.host]),
    ...(cfg.ssh?.listeners ?? []).map((l) => [`ssh listener ${l.name}`, l.listen.host]),
  ] as const) {
    t.ok(loopback(host), `${what} binds to loopback (${host})`);
  }
  const panelUrl = `http://${cfg.demo!.panel_listen.host}:${cfg.demo!.panel_listen.port}`;
  for (const r of l.routes) {
    t.equal(r.upstream, panelUrl, `route ${r.name} goes to the bundled panel`);
    t.equal(r.session.cookie, 'panel_sid', `route ${r.name} knows the panel's session cookie`);
    t.equal(r.identity.header?.login, 'x-sessiongate-user', `route ${r.name} reads the identity header`);
  }
  t.equal(l.routes.at(-1)!.match.path_prefix, '/', 'the catch-all comes last');
  t.match(cfg.ssh?.listeners, [{ name: 'ssh', listen: { host: '127.0.0.1', port: 2222 } }], 'the demo SSH listener');
  t.match(cfg.ssh?.targets, [{ name: 'demo', type: 'local' }], 'in front of a local target: no server to set up');
});

t.test('realms, WEB/API and actions come out right for the panel paths', async (t) => {
  const cfg = await load();
  const routeFor = router(t, cfg);
  const cases: [method: string, path: string, realm: string, source: 'WEB' | 'API', action: string][] = [
    ['GET', '/admin/', 'admin', 'WEB', 'view'],
    ['GET', '/admin/clients', 'admin', 'WEB', 'view'],
    ['POST', '/admin/clients', 'admin', 'WEB', 'create'],
    ['POST', '/admin/clients/4/delete', 'admin', 'WEB', 'create'],
    ['GET', '/admin/login', 'admin', 'WEB', 'view'],
    ['POST', '/admin/login', 'admin', 'WEB', 'login'],
    ['POST', '/admin/logout', 'admin', 'WEB', 'logout'],
    ['POST', '/admin/api/login', 'admin', 'API', 'login'],
    ['GET', '/admin/api/clients', 'admin', 'API', 'view'],
    ['DELETE', '/admin/api/clients/3', 'admin', 'API', 'delete'],
    ['POST', '/admin/api/logout', 'admin', 'API', 'logout'],
    ['GET', '/client/services', 'client', 'WEB', 'view'],
    ['POST', '/client/profile', 'client', 'WEB', 'create'],
    ['GET', '/api/services', 'client', 'API', 'view'],
    ['POST', '/api/login', 'client', 'API', 'login'],
    ['DELETE', '/api/services/101', 'client', 'API', 'delete'],
    ['POST', '/api/logout', 'client', 'API', 'logout'],
    ['GET', '/login', 'client', 'WEB', 'view'],
    ['POST', '/login', 'client', 'WEB', 'login'],
    ['GET', '/logout', 'client', 'WEB', 'logout'],
  ];
  for (const [method, path, realm, source, action] of cases) {
    const r = routeFor(path);
    t.equal(r.realm, realm, `${method} ${path}: realm ${realm} (route ${r.name})`);
    t.equal(requestSource(r, path, undefined, 'text/html'), source, `${method} ${path}: ${source}`);
    t.equal(requestAction(r, method, path), action, `${method} ${path}: ${action}`);
  }
  // Every login form path is read for the attempted username, on the route that serves it.
  for (const path of ['/login', '/admin/login', '/api/login', '/admin/api/login']) {
    t.equal(routeFor(path).identity.form?.path, path, `${path}: form identity configured`);
  }
});

t.test('the directory matches the demo panel users', async (t) => {
  const cfg = await load();
  t.equal(cfg.directory.length, DEMO_USERS.length);
  for (const u of DEMO_USERS) {
    const d = cfg.directory.find((e) => e.login === u.login);
    t.ok(d, `${u.login} is in the directory`);
    t.match(d, { name: u.name, email: u.email, type: u.type }, `${u.login}: name, email, type`);
    t.equal(d?.client, u.client, `${u.login}: client`);
  }
});
