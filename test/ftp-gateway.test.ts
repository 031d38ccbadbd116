// The FTP gateway in front of a real vsftpd (own config, anonymous logins with a password list and
// writes in a temp root, rate-limited) with real clients: curl in EPSV, PASV and active mode, lftp
// scripted, basic-ftp from Node, and a raw control connection where exact replies matter. Files
// are compared byte for byte (SHA-256); the records (sessions, ftp.command, file.transfer,
// login_failed) and the live state (registry details) are checked; no password reaches the store.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { Client } from 'basic-ftp';
import { startTestGateway, tempDir } from './helpers/gateway.js';
import { requireTool } from './helpers/interop.js';
import { freePortRange, RawFtp, startVsftpd } from './helpers/vsftpd.js';
import { sleep, until } from './helpers/poll.js';
import { parseEpsv } from '../gateway/ftp/replies.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- recorded rows are checked field by field */

const RATE = 2 * 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function run(cmd: string, args: string[]): { proc: ChildProcess; done: Promise<{ code: number | null; out: string; err: string }> } {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (err += d));
  return { proc, done: new Promise((r) => proc.on('close', (code) => r({ code, out, err }))) };
}

t.test('FTP gateway in front of a real vsftpd', async (t) => {
  const vs = await startVsftpd(t, { maxRate: RATE });
  if (!vs) return;
  const curl = requireTool(t, 'curl');
  const lftp = requireTool(t, 'lftp');
  if (!curl || !lftp) return;
  const PW = vs.password;
  const range = await freePortRange(20);
  const { gw, dataDir } = await startTestGateway(
    t,
    `data_dir: \${DATA}
viewer: { enabled: false }
directory:
  - { login: ftp, realm: ftp, name: Web Owner, email: owner@example.com, client: Acme Ltd, type: domain-admin }
ftp:
  listeners:
    - { name: ftp, listen: 127.0.0.1:0, passive_ports: ${range.from}-${range.to}, data_timeout: 5s }
    - { name: short, listen: 127.0.0.1:0, idle_timeout: 1500ms, servers: [mirror] }
  servers:
    - { name: files, host: 127.0.0.1, port: ${vs.port} }
    - { name: mirror, host: 127.0.0.1, port: ${vs.port}, domain: mirror.example.com }
`,
  );
  const ftp = gw.frontends.find((f) => f.name === 'ftp')!;
  const short = gw.frontends.find((f) => f.name === 'short')!;
  const port = ftp.addresses()[0]!.port;
  const shortPort = short.addresses()[0]!.port;
  const url = (p: string) => `ftp://127.0.0.1:${port}/${p}`;
  const auth = ['-sS', '--user', `anonymous:${PW}`];
  const work = tempDir('sg-ftp-client-');
  const pub = join(vs.root, 'pub');
  const big = randomBytes(6 * 1024 * 1024);
  writeFileSync(join(pub, 'big.bin'), big);

  const transfers = async () => {
    await gw.recorder.flush();
    return gw.recorder.store.query('transfers', { limit: 500 }).items as any[];
  };
  const sessions = async () => {
    await gw.recorder.flush();
    return gw.recorder.store.query('sessions', { limit: 500 }).items as { session_id: string; start: any; end?: any }[];
  };
  const refusals = async () => {
    await gw.recorder.flush();
    return (gw.recorder.store.query('activity', { action: 'login_failed', limit: 500 }).items as any[]).filter((e) => e.details?.protocol === 'ftp');
  };
  const live = () => gw.registry.list({ protocol: 'ftp' });

  await t.test('curl: list, upload and download in EPSV, PASV and active mode, byte for byte', async (t) => {
    for (const [mode, extra] of [
      ['epsv', []],
      ['pasv', ['--disable-epsv']],
      ['active', ['-P', '127.0.0.1']],
    ] as const) {
      const data = randomBytes(200_000 + Math.floor(Math.random() * 1000));
      const local = join(work, `up-${mode}.bin`);
      writeFileSync(local, data);
      const up = await run(curl, [...auth, ...extra, '-T', local, url(`pub/up-${mode}.bin`)]).done;
      t.equal(up.code, 0, `${mode}: upload exits 0 ${up.err}`);
      t.equal(sha(readFileSync(join(pub, `up-${mode}.bin`))), sha(data), `${mode}: the server has the same bytes`);
      const got = join(work, `down-${mode}.bin`);
      const down = await run(curl, [...auth, ...extra, '-o', got, url(`pub/up-${mode}.bin`)]).done;
      t.equal(down.code, 0, `${mode}: download exits 0 ${down.err}`);
      t.equal(sha(readFileSync(got)), sha(data), `${mode}: the client got the same bytes`);
      const list = await run(curl, [...auth, ...extra, url('pub/')]).done;
      t.match(list.out, `up-${mode}.bin`, `${mode}: the listing names the file`);
    }
    const rows = await transfers();
    for (const mode of ['epsv', 'pasv', 'active']) {
      const path = `/pub/up-${mode}.bin`;
      const size = statSync(join(pub, `up-${mode}.bin`)).size;
      t.ok(rows.find((e) => e.type === 'file.transfer' && e.direction === 'upload' && e.path === path && e.result === 'ok' && e.bytes === size), `${mode}: upload recorded with its bytes`);
      t.ok(rows.find((e) => e.type === 'file.transfer' && e.direction === 'download' && e.path === path && e.result === 'ok' && e.bytes === size), `${mode}: download recorded`);
    }
    t.ok(rows.find((e) => e.type === 'file.transfer' && e.direction === 'list' && e.path === '/pub' && e.result === 'ok'), 'listing recorded');
    t.ok(rows.find((e) => e.type === 'ftp.command' && e.command === 'STOR' && e.args === 'up-epsv.bin' && e.reply_code === 226 && e.cwd === '/pub'), 'STOR with args, reply and cwd');
    t.ok(rows.find((e) => e.type === 'ftp.command' && e.command === 'EPRT' && e.reply_code === 200), 'EPRT (active) recorded');
    const pass = rows.filter((e) => e.command === 'PASS');
    t.ok(pass.length >= 3 && pass.every((e) => e.args === undefined), 'PASS recorded without its argument');
    t.ok(rows.find((e) => e.command === 'USER' && e.args === 'anonymous'), 'USER recorded with the login');
    const s = (await sessions()).find((x) => x.end && x.start.protocol === 'ftp');
    t.match(s?.start, { protocol: 'ftp', account: 'anonymous', user: { login: 'anonymous' }, server: { name: 'files', host: '127.0.0.1', port: vs.port }, ip: '127.0.0.1', listener: 'ftp', connected_from: 'proxy' }, 'session.start');
    t.match(s?.end, { protocol: 'ftp', reason: 'client_exit' }, 'session.end');
  });

  await t.test('lftp: mkdir, cd, put, rename, get, delete, rmdir; paths resolved against the current directory', async (t) => {
    const data = randomBytes(150_000);
    const local = join(work, 'lftp-up.bin');
    const back = join(work, 'lftp-back.bin');
    writeFileSync(local, data);
    const script = [
      'set ftp:ssl-allow no',
      'set net:max-retries 1',
      'set net:timeout 10',
      'set cmd:fail-exit yes',
      `open -u anonymous,${PW} -p ${port} 127.0.0.1`,
      'cd pub',
      'mkdir d1',
      'cd d1',
      `put ${local} -o a.bin`,
      'mv a.bin b.bin',
      `get b.bin -o ${back}`,
      'rm b.bin',
      'cd ..',
      'rmdir d1',
      'ls',
      'bye',
    ].join('; ');
    const r = await run(lftp, ['-c', script]).done;
    t.equal(r.code, 0, `lftp exits 0 ${r.err}`);
    t.equal(sha(readFileSync(back)), sha(data), 'lftp got back what it put');
    const rows = await until('the lftp session to end', async () => {
      const s = (await sessions()).find((x) => x.end && /^lftp\//.test(String(x.start.client_name)) && x.start.user?.login === 'anonymous' && x.end.duration_ms !== undefined);
      const all = await transfers();
      return s && all.find((e) => e.direction === 'rmdir') ? all : undefined;
    });
    t.pass('the session is recorded with the client name lftp gave in CLNT (the gateway offers CLNT in FEAT and answers it)');
    t.ok(rows.find((e) => e.direction === 'mkdir' && e.path === '/pub/d1' && e.result === 'ok'), 'mkdir /pub/d1');
    t.ok(rows.find((e) => e.direction === 'upload' && e.path === '/pub/d1/a.bin' && e.bytes === data.length && e.result === 'ok'), 'upload /pub/d1/a.bin');
    t.ok(rows.find((e) => e.direction === 'rename' && e.path === '/pub/d1/a.bin' && e.to_path === '/pub/d1/b.bin' && e.result === 'ok'), 'rename a.bin -> b.bin');
    t.ok(rows.find((e) => e.direction === 'download' && e.path === '/pub/d1/b.bin' && e.bytes === data.length), 'download /pub/d1/b.bin');
    t.ok(rows.find((e) => e.direction === 'remove' && e.path === '/pub/d1/b.bin' && e.result === 'ok'), 'delete /pub/d1/b.bin');
    t.ok(rows.find((e) => e.direction === 'rmdir' && e.path === '/pub/d1' && e.result === 'ok'), 'rmdir /pub/d1');
    const cwds = rows.filter((e) => e.type === 'ftp.command' && e.command === 'CWD' && /d1$/.test(e.args));
    t.ok(cwds.length && cwds.every((e) => e.cwd === '/pub'), `CWD recorded with the directory it was sent from ${JSON.stringify(cwds.map((e) => [e.args, e.cwd]))}`);
  });

  await t.test('basic-ftp: USER login@server picks the server; directory type, name and live state', async (t) => {
    const client = new Client(10_000);
    t.teardown(() => client.close());
    await client.access({ host: '127.0.0.1', port, user: 'ftp@mirror', password: PW });
    await client.ensureDir('/pub/bf');
    const data = randomBytes(120_000);
    await client.uploadFrom(Readable.from([data]), 'c.bin');
    await client.rename('c.bin', 'd.bin');
    const parts: Buffer[] = [];
    await client.downloadTo(
      new Writable({
        write(chunk, _e, cb) {
          parts.push(chunk);
          cb();
        },
      }),
      'd.bin',
    );
    t.equal(sha(Buffer.concat(parts)), sha(data), 'basic-ftp got back what it uploaded');
    const names = (await client.list()).map((f) => f.name);
    t.ok(names.includes('d.bin'), 'listed');
    const me = live().find((s) => s.login === 'ftp');
    t.match(me, { protocol: 'ftp', kind: 'domain-admin', listener: 'ftp', ip: '127.0.0.1', user: { name: 'Web Owner', email: 'owner@example.com' }, client: 'Acme Ltd' }, 'live session: type, name, organisation');
    t.match(me?.details, { user_type: 'domain-admin', status: 'idle', server: 'mirror', domain: 'mirror.example.com', cwd: '/pub/bf', file: 'd.bin' }, 'live details: server, domain, current location, last file');
    await client.remove('d.bin');
    await client.removeDir('/pub/bf');
    client.close();
    const s = await until('the session end', async () => (await sessions()).find((x) => x.end && x.start.user?.login === 'ftp'));
    t.match(s.start, { server: { name: 'mirror' }, account: 'ftp', user: { name: 'Web Owner' }, client: 'Acme Ltd' }, 'recorded against the chosen server');
  });

  await t.test('resume: curl -C - sends REST and the file is whole', async (t) => {
    const full = randomBytes(300_000);
    writeFileSync(join(pub, 'res.bin'), full);
    const local = join(work, 'res.bin');
    writeFileSync(local, full.subarray(0, 100_000));
    const r = await run(curl, [...auth, '-C', '-', '-o', local, url('pub/res.bin')]).done;
    t.equal(r.code, 0, `curl exits 0 ${r.err}`);
    t.equal(sha(readFileSync(local)), sha(full), 'the resumed file is whole');
    const rows = await transfers();
    t.ok(rows.find((e) => e.type === 'ftp.command' && e.command === 'REST' && e.args === '100000' && e.reply_code === 350), 'REST recorded');
    t.ok(rows.find((e) => e.type === 'file.transfer' && e.path === '/pub/res.bin' && e.bytes === 200_000 && e.result === 'ok' && /resumed at byte 100000/.test(e.detail)), 'the transfer counts the bytes moved and says where it resumed');
  });

  await t.test('progress and speed rise in the live state during a rate-limited download', async (t) => {
    const c = run(curl, [...auth, '-o', '/dev/null', url('pub/big.bin')]);
    t.teardown(() => void c.proc.kill('SIGKILL'));
    const seen: { progress: number; speed: number; status: string; file: string }[] = [];
    const done = c.done.then(() => true);
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished) {
      const s = live().find((x) => x.details?.status === 'downloading');
      if (s && typeof s.details?.progress === 'number') seen.push(s.details as any);
      await sleep(400);
    }
    t.equal((await c.done).code, 0, 'curl finished');
    t.ok(seen.length >= 3, `polled the transfer ${seen.length} times`);
    t.ok(seen.every((d) => d.file === 'big.bin'), 'file name shown');
    t.ok(seen[seen.length - 1]!.progress > seen[0]!.progress, `progress rose (${seen.map((d) => d.progress).join(', ')})`);
    t.ok(seen.some((d) => d.speed > 0), 'speed shown in bytes/s');
  });

  await t.test('a client killed mid-download: the transfer is recorded as aborted', async (t) => {
    const c = run(curl, [...auth, '-o', '/dev/null', url('pub/big.bin')]);
    await until('the download to start', () => live().find((x) => x.details?.status === 'downloading' && (x.details?.bytes as number) > 0));
    c.proc.kill('SIGKILL');
    await c.done;
    const rows = await until('an aborted transfer', async () => {
      const r = (await transfers()).filter((e) => e.type === 'file.transfer' && e.path === '/pub/big.bin' && e.result === 'aborted');
      return r.length ? r : undefined;
    });
    t.ok(rows[0].bytes > 0 && rows[0].bytes < big.length, `aborted after ${rows[0].bytes} bytes`);
  });

  await t.test('terminate mid-transfer: 421 with who and why, connections closed, session.end says so', async (t) => {
    const c = await RawFtp.connect(port);
    t.teardown(() => c.close());
    t.equal((await c.login('anonymous', PW)).code, 230);
    t.equal((await c.cmd('TYPE I')).code, 200);
    const epsv = await c.cmd('EPSV');
    const data = net.connect(parseEpsv(epsv)!, '127.0.0.1');
    let received = 0;
    data.on('data', (d: Buffer) => (received += d.length));
    data.on('error', () => undefined);
    const dataClosed = new Promise((r) => data.on('close', r));
    t.equal((await c.cmd('RETR pub/big.bin')).code, 150);
    const s = await until('bytes moving', () => live().find((x) => x.details?.status === 'downloading' && (x.details?.bytes as number) > 0));
    await gw.registry.terminate(s.id, { name: 'sec-alice' }, 'policy check');
    const r = await c.reply();
    t.equal(r.code, 421);
    t.match(r.lines[0], 'Session terminated by sec-alice: policy check');
    t.ok(await c.closedWithin(3000), 'control connection closed');
    await dataClosed;
    t.ok(received < big.length, 'data connection cut before the end');
    const end = await until('session.end', async () => (await sessions()).find((x) => x.end?.reason === 'terminated'));
    t.match(end.end, { terminated_by: 'sec-alice', terminate_reason: 'policy check' });
    const tr = (await transfers()).find((e) => e.session_id === end.session_id && e.type === 'file.transfer');
    t.equal(tr?.result, 'aborted', 'the cut transfer is aborted');
    t.match(tr?.detail, /session ended \(terminated\)/, 'and says the gateway ended it, not the server');
  });

  await t.test('idle timeout: 421, closed, recorded', async (t) => {
    const c = await RawFtp.connect(shortPort);
    t.teardown(() => c.close());
    t.equal((await c.login('anonymous', PW)).code, 230);
    const r = await c.reply(5000);
    t.equal(r.code, 421);
    t.match(r.lines[0], /idle/i);
    t.ok(await c.closedWithin(2000), 'closed');
    const s = await until('session.end', async () => (await sessions()).find((x) => x.end?.reason === 'idle_timeout'));
    t.match(s.start, { listener: 'short', server: { name: 'mirror' } });
  });

  await t.test('a wrong password: the 530 is relayed and login_failed recorded', async (t) => {
    const r = await run(curl, ['-sS', '--user', 'anonymous:wrong-guess@example.com', url('')]).done;
    t.equal(r.code, 67, 'curl: login denied');
    const c = await RawFtp.connect(port);
    t.teardown(() => c.close());
    const reply = await c.login('anonymous', 'wrong-guess@example.com');
    t.equal(reply.code, 530);
    const f = await until('login_failed', async () => (await refusals()).filter((e) => e.details.reason === 'bad_credentials'));
    t.ok(f.length >= 2, 'both refusals recorded');
    t.match(f[0], { ip: '127.0.0.1', initiator: 'anonymous', details: { protocol: 'ftp', listener: 'ftp', server: 'files', reply_code: 530 } });
  });

  await t.test('a lock on the login refuses it with 530, recorded', async (t) => {
    const lock = gw.access.lock({ kind: 'login', value: 'ftp', actor: 'sec-alice', reason: 'test' });
    t.teardown(() => void gw.access.unlock(lock.id));
    const c = await RawFtp.connect(port);
    t.teardown(() => c.close());
    const r = await c.cmd('USER ftp');
    t.equal(r.code, 530);
    t.equal((await c.cmd('LIST')).code, 530, 'still not logged in');
    const f = await until('login_failed locked', async () => (await refusals()).find((e) => e.details.reason === 'locked'));
    t.match(f, { initiator: 'ftp', details: { protocol: 'ftp', login: 'ftp' } });
    // Another login goes on.
    const other = await RawFtp.connect(port);
    t.teardown(() => other.close());
    t.equal((await other.login('anonymous', PW)).code, 230, 'anonymous is not locked');
    other.close();
  });

  await t.test('no password anywhere in the store', async (t) => {
    await gw.recorder.flush();
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else files.push(join(d, e.name));
      }
    };
    walk(dataDir);
    t.ok(files.length > 0, `${files.length} files in data_dir`);
    for (const f of files) {
      const b = readFileSync(f);
      t.notOk(b.includes(PW), `${f}: no accepted password`);
      t.notOk(b.includes('wrong-guess@example.com'), `${f}: no refused password`);
    }
  });
});
