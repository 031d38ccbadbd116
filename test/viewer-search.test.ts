// The other evidence searches end to end — /api/sessions (seed 003), /api/activity (seed 002),
// /api/transfers and /api/timeline — events written through the real Recorder into LMDB, read
// back through the viewer with their filters, sorts, paging, roles and bad parameters.
import t, { type Test } from 'tap';
import { newId } from '../gateway/core/ids.js';
import type { EventInput, SgEvent } from '../recorder/events.js';
import type { SessionRow } from '../recorder/store/types.js';
import { startHarness, type Harness } from '../viewer/server/test-harness.js';

const DAY = 86_400_000;
let nextBase = Math.ceil(Date.now() / DAY) * DAY + 400 * DAY;

const alice = { name: 'Alice Admin', email: 'alice@corp.example', login: 'alice' };
const bob = { name: 'Bob Ops', email: 'bob@acme.example', login: 'bob' };

function fixtures(T0: number): SgEvent[] {
  const at = (n: number) => T0 + n * 1000;
  const ev = (e: EventInput & { ts: number }): SgEvent => ({ ...e, id: newId(e.ts) }) as SgEvent;
  return [
    ev({ ts: at(0), type: 'session.start', session_id: 'S-ssh-1', protocol: 'ssh', account: 'root', server: { name: 'web1', os: 'Debian 12', host: '10.1.0.11', port: 22 }, client_name: 'SSH-2.0-OpenSSH_9.2p1', connected_from: 'proxy', ip: '203.0.113.7', user: alice }),
    ev({ ts: at(1), type: 'http.request', realm: 'admin', listener: 'panel', route: 'admin', source: 'WEB', method: 'POST', url: 'https://panel.example.com/admin/clients/9/delete', status: 303, bytes_in: 10, bytes_out: 0, duration_ms: 4, action: 'delete', identity_verified: true, ip: '203.0.113.7', user: alice }),
    ev({ ts: at(2), type: 'http.request', realm: 'admin', listener: 'panel', route: 'admin', source: 'WEB', method: 'GET', url: 'https://panel.example.com/admin/clients', status: 200, bytes_in: 0, bytes_out: 900, duration_ms: 3, action: 'view', identity_verified: true, ip: '203.0.113.7', user: alice }),
    ev({ ts: at(3), type: 'session.start', session_id: 'S-ftp-1', protocol: 'ftp', account: 'www', server: { name: 'files', os: 'Ubuntu 24.04', host: '10.1.0.20', port: 21 }, client_name: 'lftp/4.9.2', connected_from: 'proxy', ip: '198.51.100.4', user: bob }),
    ev({ ts: at(4), type: 'file.transfer', session_id: 'S-ftp-1', protocol: 'ftp', server: { name: 'files' }, path: '/var/www/html/index.php', direction: 'upload', bytes: 2048, duration_ms: 30, result: 'ok', ip: '198.51.100.4', user: bob }),
    ev({ ts: at(5), type: 'ftp.command', session_id: 'S-ftp-1', command: 'DELE', args: '/var/www/html/old.php', reply_code: 550, ip: '198.51.100.4', user: bob }),
    ev({ ts: at(6), type: 'file.transfer', session_id: 'S-ftp-1', protocol: 'ftp', server: { name: 'files' }, path: '/etc/shadow', direction: 'download', bytes: 0, duration_ms: 1, result: 'denied', ip: '198.51.100.4', user: bob }),
    ev({ ts: at(7), type: 'activity', initiator: 'sec-anna', action: 'terminate', description: 'terminated ssh session S-ssh-1 to web1', targets: [{ kind: 'session', id: 'S-ssh-1' }], ip: '192.0.2.50' }),
    ev({ ts: at(8), type: 'session.end', session_id: 'S-ssh-1', protocol: 'ssh', reason: 'terminated', terminated_by: 'sec-anna', terminate_reason: 'policy', duration_ms: 8000, ip: '203.0.113.7', user: alice }),
    ev({ ts: at(9), type: 'audit.gap', lost: 3, reason: 'queue_full', from_ts: at(8), to_ts: at(9) }),
  ];
}

async function setup(t: Test): Promise<{ h: Harness; s: Awaited<ReturnType<Harness['login']>>; events: SgEvent[] }> {
  const T0 = nextBase;
  nextBase += 10 * DAY;
  const h = await startHarness({ dir: t.testdir(), teardown: (fn) => t.teardown(fn) });
  const events = fixtures(T0);
  for (const e of events) h.recorder.emit(e);
  await h.recorder.flush();
  const u = await h.addUser('aud', 'auditor');
  return { h, s: await h.login(u.name, u.password), events };
}

t.test('sessions: one row per session, seed 003 filters and sorts', async (t) => {
  const { h, s } = await setup(t);
  const get = async (qs: string) => {
    const r = await h.call('GET', `/api/sessions${qs}`, { session: s });
    t.equal(r.status, 200, `${qs}: ${JSON.stringify(r.json?.error ?? '')}`);
    return r.json as { items: SessionRow[]; next_cursor?: string };
  };
  const all = await get('');
  t.same(all.items.map((r) => r.session_id), ['S-ftp-1', 'S-ssh-1'], 'newest first');
  const ssh = all.items[1]!;
  t.equal(ssh.end?.reason, 'terminated', 'start merged with its end');
  t.equal(ssh.end?.terminated_by, 'sec-anna');
  t.ok(ssh.seq >= 1 && all.items[0]!.seq === ssh.seq + 1, 'sequential numbers in start order');
  t.notOk(all.items[0]!.end, 'the ftp session is still open');
  t.same((await get('?q=OpenSSH')).items.map((r) => r.session_id), ['S-ssh-1'], 'client name');
  t.same((await get('?q=10.1.0.2')).items.map((r) => r.session_id), ['S-ftp-1'], 'server host fragment');
  t.same((await get('?q=acme')).items.map((r) => r.session_id), ['S-ftp-1'], 'email fragment');
  t.same((await get('?q=www')).items.map((r) => r.session_id), ['S-ftp-1'], 'account');
  t.same((await get('?protocol=ssh')).items.map((r) => r.session_id), ['S-ssh-1']);
  t.same((await get('?os=debian%2012')).items.map((r) => r.session_id), ['S-ssh-1'], 'os exact, any case');
  t.same((await get('?state=open')).items.map((r) => r.session_id), ['S-ftp-1']);
  t.same((await get('?state=ended')).items.map((r) => r.session_id), ['S-ssh-1']);
  t.same((await get('?ip=198.51.100.4')).items.map((r) => r.session_id), ['S-ftp-1']);
  t.same((await get('?session_id=S-ssh-1')).items.map((r) => r.session_id), ['S-ssh-1'], 'one session by its id (a transfer links to it)');
  t.equal((await get('?session_id=S-ssh-1')).items[0]!.end?.reason, 'terminated', 'with its end');
  t.same((await get('?session_id=S-none')).items, [], 'an unknown id: no row');
  t.same((await get('?sort=seq&order=asc')).items.map((r) => r.session_id), ['S-ssh-1', 'S-ftp-1']);
  t.same((await get('?sort=server&order=asc')).items.map((r) => r.session_id), ['S-ftp-1', 'S-ssh-1'], 'files < web1');
  const p1 = await get('?limit=1');
  t.ok(p1.next_cursor);
  t.same((await get(`?limit=1&cursor=${p1.next_cursor}`)).items.map((r) => r.session_id), ['S-ssh-1'], 'second page');
  const wrongCursor = await h.call('GET', `/api/sessions?limit=1&protocol=ftp&cursor=${p1.next_cursor}`, { session: s });
  t.equal(wrongCursor.status, 400, 'a cursor is bound to its filters');
  t.equal(wrongCursor.json.error.param, 'cursor');
});

t.test('activity: activity, gaps and non-view panel requests', async (t) => {
  const { h, s } = await setup(t);
  const get = async (qs: string) => {
    const r = await h.call('GET', `/api/activity${qs}`, { session: s });
    t.equal(r.status, 200, `${qs}: ${JSON.stringify(r.json?.error ?? '')}`);
    return (r.json as { items: SgEvent[] }).items;
  };
  // The harness's own sign-in is activity too: look only at this test's window.
  const mine = (items: SgEvent[]) => items.filter((e) => e.type !== 'activity' || e.initiator !== 'aud').map((e) => e.type + ':' + ('action' in e ? e.action : ''));
  t.same(mine(await get('')).slice(0, 3), ['audit.gap:', 'activity:terminate', 'http.request:delete'], 'view requests are not in the log');
  t.same(mine(await get('?action=terminate')), ['activity:terminate']);
  t.same(mine(await get('?initiator=SEC-ANNA')), ['activity:terminate'], 'initiator, any case');
  t.same(mine(await get('?types=http.request')), ['http.request:delete']);
  t.same(mine(await get('?q=web1')), ['activity:terminate'], 'keyword in the description');
});

t.test('transfers: by user, server, path, direction, result', async (t) => {
  const { h, s } = await setup(t);
  const get = async (qs: string) => {
    const r = await h.call('GET', `/api/transfers${qs}`, { session: s });
    t.equal(r.status, 200, `${qs}: ${JSON.stringify(r.json?.error ?? '')}`);
    return (r.json as { items: SgEvent[] }).items.map((e) => (e.type === 'file.transfer' ? `${e.direction}:${e.path}` : e.type === 'ftp.command' ? `ftp:${e.command}` : '?'));
  };
  t.same(await get(''), ['download:/etc/shadow', 'ftp:DELE', 'upload:/var/www/html/index.php']);
  t.same(await get('?types=file.transfer&result=denied'), ['download:/etc/shadow']);
  t.same(await get('?direction=upload'), ['upload:/var/www/html/index.php']);
  t.same(await get('?path=%2Fvar%2Fwww'), ['upload:/var/www/html/index.php'], 'path substring');
  t.same(await get('?server=FILES&types=file.transfer'), ['download:/etc/shadow', 'upload:/var/www/html/index.php']);
  t.same(await get('?login=bob&q=old.php'), ['ftp:DELE'], 'keyword over FTP arguments');
  t.same(await get('?sort=bytes&order=desc&types=file.transfer'), ['upload:/var/www/html/index.php', 'download:/etc/shadow']);
  t.same(await get('?login=alice'), []);
});

t.test('timeline: one identity across every kind', async (t) => {
  const { h, s, events } = await setup(t);
  const get = async (qs: string) => {
    const r = await h.call('GET', `/api/timeline${qs}`, { session: s });
    t.equal(r.status, 200, `${qs}: ${JSON.stringify(r.json?.error ?? '')}`);
    return r.json as { items: SgEvent[]; next_cursor?: string };
  };
  const aliceIds = events.filter((e) => e.user?.login === 'alice').map((e) => e.id).reverse();
  t.same((await get('?login=alice')).items.map((e) => e.id), aliceIds, 'requests and sessions of alice, newest first');
  t.same((await get('?email=BOB%40acme.example&order=asc')).items.map((e) => e.type), ['session.start', 'file.transfer', 'ftp.command', 'file.transfer']);
  const p1 = await get('?ip=203.0.113.7&limit=2');
  t.equal(p1.items.length, 2);
  const p2 = await get(`?ip=203.0.113.7&limit=2&cursor=${p1.next_cursor}`);
  t.same([...p1.items, ...p2.items].map((e) => e.id), events.filter((e) => e.ip === '203.0.113.7').map((e) => e.id).reverse(), 'pages join without repeats');
});

t.test('roles, trail and bad parameters', async (t) => {
  const { h, s } = await setup(t);
  const sec = await h.addUser('sec', 'security');
  const ss = await h.login(sec.name, sec.password);
  for (const p of ['sessions', 'activity', 'transfers', 'timeline?login=a']) {
    t.equal((await h.call('GET', `/api/${p}`, { session: ss })).status, 403, `security may not read /api/${p}`);
  }
  const bad: [string, string][] = [
    ['/api/sessions?protocol=telnet', 'protocol'],
    ['/api/sessions?realm=admin', 'realm'],
    ['/api/sessions?sort=password', 'sort'],
    ['/api/activity?types=activity,nope', 'types'],
    ['/api/transfers?direction=sideways', 'direction'],
    ['/api/transfers?path=a%00b', 'path'],
    ['/api/timeline', 'login'],
    ['/api/timeline?login=a&email=b', 'login'],
    ['/api/sessions?cursor=not-a-cursor', 'cursor'],
    ['/api/sessions?session_id=%3Cb%3E', 'session_id'],
    [`/api/activity?q=${'x'.repeat(300)}`, 'q'],
  ];
  for (const [path, param] of bad) {
    const r = await h.call('GET', path, { session: s });
    t.equal(r.status, 400, path);
    t.equal(r.json?.error?.code, 'SG_ERR_BAD_PARAM', `${path}: code`);
    t.equal(r.json?.error?.param, param, `${path}: names ${param}`);
  }
  await h.call('GET', '/api/sessions?q=web1', { session: s });
  const trail = (await h.activity('search')).find((e) => e.details?.kind === 'sessions');
  t.ok(trail, 'the search is itself recorded');
  t.match(trail?.description, /server sessions for "web1"/);
});
