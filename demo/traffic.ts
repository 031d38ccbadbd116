// Demo only: a short scripted tour of the demo panel through the gateway at start, so that the
// viewer opens onto recorded traffic (Client and Admin Sessions, the Activity Log's panel changes,
// live panel sessions) instead of empty pages. The users and passwords are the demo panel's own
// (demo/README.md), never Sessiongate's.
import { Agent, fetch } from 'undici';
import { DEMO_USERS } from './panel/store.js';

interface Step {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  form?: Record<string, string>;
  json?: unknown;
  /** Send the bearer token of this actor's API sign-in instead of the cookie. */
  bearer?: boolean;
  /** Remember the token of a JSON sign-in answer. */
  takeToken?: boolean;
  ua?: string;
}

const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36 (sessiongate demo)';
const CLI = 'curl/8.5.0 (sessiongate demo)';

function password(login: string): string {
  const u = DEMO_USERS.find((x) => x.login === login);
  if (!u) throw new Error(`demo traffic: no demo panel user ${login}`);
  return u.password;
}

/** Each actor keeps its own cookie and token and comes from its own loopback address (all of
 * 127.0.0.0/8 is local), so the pages show several IPs; sessions left open show on Live Sessions. */
const TOUR: [actor: string, from: string, steps: Step[]][] = [
  [
    'puq',
    '127.0.0.1',
    [
      { method: 'GET', path: '/admin/login' },
      { method: 'POST', path: '/admin/login', form: { username: 'puq', password: password('puq') } },
      { method: 'GET', path: '/admin/' },
      { method: 'GET', path: '/admin/clients' },
      { method: 'POST', path: '/admin/clients', form: { name: 'Globex Corporation', email: 'it@globex.example' } },
      { method: 'GET', path: '/admin/services' },
      { method: 'GET', path: '/admin/invoices' },
    ],
  ],
  [
    'alice',
    '127.0.0.23',
    [
      { method: 'POST', path: '/admin/login', form: { username: 'alice', password: 'wrong-password' } },
      { method: 'POST', path: '/admin/login', form: { username: 'alice', password: password('alice') } },
      { method: 'GET', path: '/admin/clients' },
      { method: 'POST', path: '/admin/api/login', json: { username: 'alice', password: password('alice') }, takeToken: true, ua: CLI },
      { method: 'GET', path: '/admin/api/clients', bearer: true, ua: CLI },
      { method: 'GET', path: '/admin/api/services', bearer: true, ua: CLI },
    ],
  ],
  [
    'demo-client',
    '127.0.0.42',
    [
      { method: 'GET', path: '/login' },
      { method: 'POST', path: '/login', form: { username: 'demo-client', password: password('demo-client') } },
      { method: 'GET', path: '/client/' },
      { method: 'GET', path: '/client/services' },
      { method: 'POST', path: '/client/services', form: { product: 'VPS S', domain: 'shop.demo-client.example' } },
      { method: 'GET', path: '/client/invoices' },
      { method: 'GET', path: '/client/profile' },
    ],
  ],
  [
    'bob',
    '127.0.0.77',
    [
      { method: 'POST', path: '/api/login', json: { username: 'bob', password: password('bob') }, takeToken: true, ua: CLI },
      { method: 'GET', path: '/api/me', bearer: true, ua: CLI },
      { method: 'GET', path: '/api/services', bearer: true, ua: CLI },
      { method: 'POST', path: '/api/services', json: { product: 'Email Pro', domain: 'mail.acme.example' }, bearer: true, ua: CLI },
      { method: 'GET', path: '/api/invoices', bearer: true, ua: CLI },
      { method: 'POST', path: '/api/logout', bearer: true, ua: CLI },
    ],
  ],
];

export interface DemoTrafficResult {
  requests: number;
  failed: number;
}

/** Runs the tour against the gateway's panel listener (`base` = http://host:port). Never throws. */
export async function runDemoTraffic(base: string): Promise<DemoTrafficResult> {
  const result: DemoTrafficResult = { requests: 0, failed: 0 };
  for (const [, from, steps] of TOUR) {
    // The puq admin shares the viewer's address (127.0.0.1), so Hide Me has something to hide.
    const dispatcher = new Agent({ localAddress: from });
    let cookie: string | undefined;
    let token: string | undefined;
    for (const s of steps) {
      const headers: Record<string, string> = { 'user-agent': s.ua ?? BROWSER, accept: s.json !== undefined || s.bearer ? 'application/json' : 'text/html' };
      let body: string | undefined;
      if (s.form) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams(s.form).toString();
      } else if (s.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(s.json);
      }
      if (s.bearer && token) headers.authorization = `Bearer ${token}`;
      else if (cookie) headers.cookie = cookie;
      result.requests++;
      try {
        const res = await fetch(base + s.path, { method: s.method, headers, body, redirect: 'manual', dispatcher });
        const set = res.headers.get('set-cookie');
        const sid = set && /panel_sid=([^;]*)/.exec(set)?.[1];
        if (sid !== undefined && sid !== null) cookie = sid ? `panel_sid=${sid}` : undefined;
        const text = await res.text();
        if (s.takeToken && res.ok) token = (JSON.parse(text) as { token?: string }).token;
        if (res.status >= 500) result.failed++;
      } catch {
        result.failed++;
      }
    }
    await dispatcher.close();
  }
  return result;
}
