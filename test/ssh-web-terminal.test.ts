// The web terminal (`/api/terminal`, connected_from web) end to end: a real gateway in front of a
// real sshd, `ws` as the browser. A signed-in viewer user allowed on the target gets a recorded
// shell through the SSH front end (same checks, relay, recording, registry and terminate as
// `ssh`); handshakes pass the viewer's gates; users without the target, locked users and bad
// frames are refused without harm to the running session.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import type { SgEvent } from '../recorder/events.js';
import { openWs, wsHandshake, type WsLike } from './helpers/http-harness.js';
import { startTestGateway } from './helpers/gateway.js';
import { startSshd, viewerSshYaml } from './helpers/sshd.js';

const UA = 'Mozilla/5.0 (X11; Linux x86_64) SessiongateTest/1.0';

/** A browser-side terminal: output bytes and control frames, kept in order. */
class Term {
  out = '';
  readonly control: Record<string, unknown>[] = [];
  closeCode: number | undefined;
  constructor(readonly ws: WsLike) {
    ws.on('message', (d: Buffer, isBinary: boolean) => {
      if (isBinary) this.out += d.toString('utf8');
      else this.control.push(JSON.parse(d.toString('utf8')) as Record<string, unknown>);
    });
    ws.on('close', (code: number) => (this.closeCode = code));
  }
  type(s: string): void {
    this.ws.send(Buffer.from(s, 'utf8'), { binary: true });
  }
  async until<T>(fn: () => T | undefined | false, what: string, ms = 8000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; output so far: ${JSON.stringify(this.out.slice(-400))} control ${JSON.stringify(this.control)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  op(name: string, ms?: number): Promise<Record<string, unknown>> {
    return this.until(() => this.control.find((c) => c.op === name), `op ${name}`, ms);
  }
}

t.test('web terminal through the SSH front end', async (t) => {
  const sshd = await startSshd(t);
  if (!sshd) return;
  const { gw } = await startTestGateway(t, viewerSshYaml(sshd, ', idle_timeout: 30s, login_timeout: 5s'));
  const base = gw.urls().viewer!;
  const wsBase = base.replace(/^http/, 'ws');
  await gw.users.add({ name: 'alice', role: 'auditor', email: 'alice@example.com', password: 'alice-password-1234' });
  await gw.users.setSshAccess('alice', { targets: [{ server: 'web1', account: 'root' }] });
  await gw.users.add({ name: 'bob', role: 'auditor', password: 'bob-password-12345' });
  await gw.users.add({ name: 'sec', role: 'security', password: 'sec-password-12345' });

  const login = async (name: string, password: string) => {
    const r = await request(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: base }, body: JSON.stringify({ name, password }) });
    const body = (await r.body.json()) as { csrf_token: string };
    t.equal(r.statusCode, 200, `${name} signs in`);
    return { cookie: String(r.headers['set-cookie']).split(';')[0]!, csrf: body.csrf_token };
  };
  const alice = await login('alice', 'alice-password-1234');
  const bob = await login('bob', 'bob-password-12345');
  const sec = await login('sec', 'sec-password-12345');

  const open = async (cookie: string, query = '?server=web1&account=root&cols=100&rows=30'): Promise<Term> => {
    const ws = await openWs(`${wsBase}/api/terminal${query}`, [], { cookie, origin: base, 'user-agent': UA });
    t.teardown(() => ws.terminate());
    return new Term(ws);
  };
  /** A raw WebSocket handshake (undici refuses Upgrade headers): the refusal's status and code. */
  const refusal = async (headers: Record<string, string>, query = '?server=web1&account=root'): Promise<{ status: number | undefined; code: string | undefined }> => {
    const r = await wsHandshake<{ error?: { code?: string } }>(`${base}/api/terminal${query}`, headers);
    return { status: r.status, code: r.body?.error?.code };
  };
  const sessionEvents = (): SgEvent[] => gw.recorder.store.timeline({ login: 'alice', limit: 500 }).items as SgEvent[];
  const sessionOf = async (id: string) => {
    await gw.recorder.flush();
    const evs = sessionEvents().filter((e) => (e as { session_id?: string }).session_id === id);
    return { start: evs.find((e) => e.type === 'session.start') as Record<string, unknown> | undefined, end: evs.find((e) => e.type === 'session.end') as Record<string, unknown> | undefined };
  };
  /** session.start and session.end of `id`, once the end is recorded. */
  const recorded = async (id: string) => {
    let rec = await sessionOf(id);
    for (let i = 0; i < 100 && !rec.end; i++) {
      await new Promise((r) => setTimeout(r, 50));
      rec = await sessionOf(id);
    }
    return rec;
  };

  await t.test('targets: each user sees what they may open', async (t) => {
    const get = async (cookie: string) => (await (await request(`${base}/api/terminal/targets`, { headers: { cookie } })).body.json()) as { available: boolean; items: Record<string, unknown>[] };
    t.match(await get(alice.cookie), { available: true, items: [{ server: 'web1', account: 'root', host: '127.0.0.1', port: sshd.port, os: 'Debian 12' }] });
    t.same((await get(bob.cookie)).items, [], 'a user without SSH access sees none');
  });

  await t.test('handshakes are gated like the API', async (t) => {
    t.match(await refusal({ origin: base }), { status: 401, code: 'SG_ERR_AUTH_REQUIRED' }, 'no cookie');
    t.match(await refusal({ cookie: alice.cookie }), { status: 403, code: 'SG_ERR_CSRF' }, 'no Origin');
    t.match(await refusal({ cookie: alice.cookie, origin: 'https://evil.example' }), { status: 403, code: 'SG_ERR_CSRF' }, 'foreign Origin');
    t.match(await refusal({ cookie: bob.cookie, origin: base }), { status: 403, code: 'SG_ERR_FORBIDDEN' }, 'a user without the target');
    t.match(await refusal({ cookie: alice.cookie, origin: base }, '?server=web1&account=admin'), { status: 403, code: 'SG_ERR_FORBIDDEN' }, 'an account the user lacks');
    t.match(await refusal({ cookie: alice.cookie, origin: base }, '?server=web1&account=root&shell=zsh'), { status: 400, code: 'SG_ERR_BAD_PARAM' }, 'unknown parameter');
    t.match(await refusal({ cookie: alice.cookie, origin: base }, '?server=web1&account=root&cols=-4'), { status: 400, code: 'SG_ERR_BAD_PARAM' }, 'bad size');
    const plain = await request(`${base}/api/terminal`, { headers: { cookie: alice.cookie } });
    await plain.body.text();
    t.equal(plain.statusCode, 426, 'a plain GET is told it is a WebSocket');
  });

  await t.test('a shell: typed input, resize reaching stty size, UTF-8, exit code; recorded as web', async (t) => {
    const term = await open(alice.cookie);
    const ready = await term.op('ready');
    const id = String(ready.session_id);
    t.match(id, /^[0-9A-Za-z]{10,}$/, 'the recorded session id');
    const live = gw.registry.list().find((s) => s.id === `ssh:${id}`);
    t.match(live, { protocol: 'ssh', login: 'alice', ip: '127.0.0.1', details: { connected_from: 'web', server: 'web1', account: 'root' } }, 'listed live as a web session');
    term.type('stty size; echo "A$((6*7))B"\r');
    await term.until(() => term.out.includes('30 100') && term.out.includes('A42B'), 'stty size 30 100');
    term.ws.send(JSON.stringify({ op: 'resize', cols: 132, rows: 40 }));
    term.type('stty size\r');
    await term.until(() => term.out.includes('40 132'), 'resized to 40x132');
    term.type('echo "h\u00e9llo w\u00f6rld \u2713"\r');
    await term.until(() => (term.out.match(/h\u00e9llo w\u00f6rld \u2713/g) ?? []).length >= 2, 'UTF-8 echoed and printed');
    term.type('exit 3\r');
    const end = await term.op('end');
    t.equal(end.exit_code, 3, 'the exit code reaches the page');
    t.equal(await term.until(() => term.closeCode, 'close'), 1000, 'then the socket closes normally');
    const rec = await recorded(id);
    t.match(rec.start, { protocol: 'ssh', connected_from: 'web', client_name: UA, ip: '127.0.0.1', account: 'root', server: { name: 'web1', os: 'Debian 12' }, user: { name: 'alice', email: 'alice@example.com', role: 'auditor' } }, 'session.start: web, browser as client name');
    t.match(rec.end, { reason: 'upstream_exit', exit_code: 3, recording: { id } }, 'session.end with the recording');
    const recording = rec.end!.recording as { path: string; size: number };
    const cast = readFileSync(join(gw.config.data_dir, 'recordings', recording.path), 'utf8');
    t.equal(Buffer.byteLength(cast), recording.size, 'recorded size matches the file');
    t.match(JSON.parse(cast.split('\n')[0]!), { version: 2, width: 100, height: 30 }, 'cast header: the page size');
    t.match(cast, /h\u00e9llo w\u00f6rld \u2713/, 'output recorded, UTF-8 intact');
    t.match(cast, /"r","132x40"/, 'resize recorded');
  });

  await t.test('terminate from the Live API ends the web session with a message', async (t) => {
    const term = await open(alice.cookie);
    const id = String((await term.op('ready')).session_id);
    term.type('echo "A$((7*7))B"\r');
    await term.until(() => term.out.includes('A49B'), 'shell up');
    const r = await request(`${base}/api/live/${encodeURIComponent(`ssh:${id}`)}/terminate`, {
      method: 'POST',
      headers: { cookie: sec.cookie, origin: base, 'x-csrf-token': sec.csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'web terminate test' }),
    });
    await r.body.text();
    t.equal(r.statusCode, 200, 'security terminates it');
    await term.until(() => term.out.includes('terminated by sec'), 'the message in the terminal');
    await term.op('end');
    await term.until(() => term.closeCode !== undefined, 'closed');
    const rec = await recorded(id);
    t.match(rec.end, { reason: 'terminated', terminated_by: 'sec', terminate_reason: 'web terminate test' }, 'who and why');
  });

  await t.test('closing the page ends the session; a lock refuses a new one', async (t) => {
    const term = await open(alice.cookie);
    const id = String((await term.op('ready')).session_id);
    term.ws.close();
    const rec = await recorded(id);
    t.ok(rec.end, 'session.end recorded after the page closed');
    t.notOk(gw.registry.list().some((s) => s.id === `ssh:${id}`), 'no longer live');

    // A lock on the IP: the viewer gate refuses the handshake and ends the viewer session.
    const lock = gw.access.lock({ kind: 'ip', value: '127.0.0.1', actor: 'sec', reason: 'test' });
    t.match(await refusal({ cookie: alice.cookie, origin: base }), { status: 403, code: 'SG_ERR_LOCKED' }, 'locked at the handshake');
    gw.access.unlock(lock.id);
  });

  await t.test('bad frames are refused; the session goes on', async (t) => {
    const a = await login('alice', 'alice-password-1234');
    const term = await open(a.cookie);
    await term.op('ready');
    term.ws.send('not json');
    term.ws.send(JSON.stringify({ op: 'resize', cols: 'wide', rows: 2 }));
    term.ws.send(JSON.stringify({ op: 'exec', command: 'id' }));
    term.ws.send(JSON.stringify({ op: 'resize', cols: 100000, rows: 100000 }));
    await new Promise((r) => setTimeout(r, 300));
    await term.until(() => term.control.filter((c) => c.op === 'error').length >= 3, 'three error frames');
    t.same(
      term.control.filter((c) => c.op === 'error').map((c) => (c.error as { code: string }).code),
      ['SG_ERR_BAD_REQUEST', 'SG_ERR_BAD_PARAM', 'SG_ERR_BAD_PARAM'],
      'not JSON, bad size, unknown op',
    );
    term.type('stty size; echo "A$((8*8))B"\r');
    await term.until(() => term.out.includes('A64B'), 'still working');
    t.match(term.out, /1000 1000/, 'an absurd size is clamped');
    // Past the message bound uWS closes this socket; the gateway stays up.
    term.ws.send(Buffer.alloc(200 * 1024, 0x61), { binary: true });
    await term.until(() => term.closeCode !== undefined, 'closed for an oversized frame');
    const again = await open(a.cookie);
    await again.op('ready');
    again.type('exit\r');
    await again.op('end');
  });
});
