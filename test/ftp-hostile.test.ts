// Hostile FTP clients against the gateway (in front of a real vsftpd): CR/LF/NUL smuggled into
// arguments, FTP bounce through PORT/EPRT, overlong lines, commands before login, a data
// connection from a foreign address, a client that never opens its data connection, garbage bytes.
// Each is refused the way FTP says (500/501/530/425...), recorded where it matters, nothing wrong
// is recorded, and the gateway goes on serving the next session.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { startTestGateway } from './helpers/gateway.js';
import { freePortRange, RawFtp, startVsftpd } from './helpers/vsftpd.js';
import { parseEpsv, parsePasv } from '../gateway/ftp/replies.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- recorded rows are checked field by field */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads a whole data connection (until the server closes it). */
function readAll(s: net.Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('error', () => undefined);
    s.on('close', () => resolve(Buffer.concat(parts)));
  });
}

t.test('hostile FTP clients', async (t) => {
  const vs = await startVsftpd(t);
  if (!vs) return;
  const PW = vs.password;
  const range = await freePortRange(10);
  const { gw } = await startTestGateway(
    t,
    `data_dir: \${DATA}
viewer: { enabled: false }
ftp:
  listeners:
    - { name: ftp, listen: 127.0.0.1:0, passive_ports: ${range.from}-${range.to}, data_timeout: 1s, login_timeout: 3s }
    - { name: passive-only, listen: 127.0.0.1:0, active_mode: deny }
  servers:
    - { name: files, host: 127.0.0.1, port: ${vs.port} }
`,
  );
  const port = gw.frontends.find((f) => f.name === 'ftp')!.addresses()[0]!.port;
  const passiveOnly = gw.frontends.find((f) => f.name === 'passive-only')!.addresses()[0]!.port;
  const pub = join(vs.root, 'pub');
  writeFileSync(join(pub, 'victim.txt'), 'keep me\n');
  writeFileSync(join(pub, 'file.bin'), randomBytes(64 * 1024));

  const loggedIn = async (p = port) => {
    const c = await RawFtp.connect(p);
    t.teardown(() => c.close());
    const r = await c.login('anonymous', PW);
    if (r.code !== 230) throw new Error(`login: ${r.lines[0]}`);
    return c;
  };
  const transfers = async () => {
    await gw.recorder.flush();
    return gw.recorder.store.query('transfers', { limit: 500 }).items as any[];
  };
  /** A normal session still works: log in, list pub over EPSV. */
  const stillServing = async () => {
    const c = await loggedIn();
    const e = await c.cmd('EPSV');
    const data = net.connect(parseEpsv(e)!, '127.0.0.1');
    const body = readAll(data);
    const r1 = await c.cmd('NLST pub');
    const r2 = await c.reply();
    const names = (await body).toString();
    c.close();
    return r1.code === 150 && r2.code === 226 && names.includes('victim.txt');
  };

  await t.test('NUL and bare CR inside a line: refused, nothing smuggled, recorded as refused', async (t) => {
    const c = await loggedIn();
    let r = await c.cmd(Buffer.from('DELE pub/file.bin\0DELE pub/victim.txt\r\n'));
    t.equal(r.code, 500, 'NUL refused');
    r = await c.cmd(Buffer.from('CWD pub\rDELE victim.txt\r\n'));
    t.equal(r.code, 500, 'bare CR refused');
    r = await c.cmd(Buffer.from('RNFR pub/victim.txt\nRNTO pub/gone.txt\r\n'.replace('\n', '\0')));
    t.equal(r.code, 500);
    t.equal((await c.cmd('NOOP')).code, 200, 'the session goes on');
    t.equal((await c.cmd('PWD')).lines[0], '257 "/" is the current directory', 'the CWD never reached the server');
    c.close();
    t.ok(existsSync(join(pub, 'victim.txt')) && existsSync(join(pub, 'file.bin')), 'nothing was deleted or renamed');
    const rows = await transfers();
    t.notOk(rows.find((e) => e.type === 'file.transfer' && (e.direction === 'remove' || e.direction === 'rename')), 'no delete or rename recorded');
    const refused = rows.filter((e) => e.type === 'ftp.command' && e.reply_code === 500 && /NUL|CR/.test(e.detail ?? ''));
    t.equal(refused.length, 3, 'the three refusals are recorded');
    t.ok(refused.every((e) => !/[\0\r\n]/.test(e.args ?? '')), 'recorded arguments carry no control characters');
    t.ok(refused.find((e) => e.command === 'DELE' && e.args === 'pub/file.bin\\x00DELE pub/victim.txt'), 'shown escaped');
  });

  await t.test('FTP bounce: PORT/EPRT to another host or a low port refused (500) and recorded', async (t) => {
    const c = await loggedIn();
    for (const cmd of ['PORT 10,0,0,1,4,1', 'EPRT |1|127.0.0.2|5000|', 'PORT 127,0,0,1,0,25', 'EPRT |2|::1|5000|']) {
      const r = await c.cmd(cmd);
      t.equal(r.code, 500, `${cmd}: ${r.lines[0]}`);
    }
    t.equal((await c.cmd('PORT 1,2,3')).code, 501, 'bad syntax: 501');
    // After a refused PORT there is no data channel: a transfer gets 425, not a connection elsewhere.
    t.equal((await c.cmd('RETR pub/file.bin')).code, 425);
    c.close();
    const deny = await loggedIn(passiveOnly);
    t.equal((await deny.cmd('PORT 127,0,0,1,200,1')).code, 502, 'active_mode: deny');
    deny.close();
    const rows = (await transfers()).filter((e) => e.type === 'ftp.command' && /^(PORT|EPRT)$/.test(e.command));
    t.ok(rows.find((e) => e.args === '10,0,0,1,4,1' && e.reply_code === 500 && /bounce to 10\.0\.0\.1:1025/.test(e.detail)), 'PORT to 10.0.0.1 recorded as a bounce');
    t.ok(rows.find((e) => e.args === '|1|127.0.0.2|5000|' && /bounce/.test(e.detail)), 'EPRT to 127.0.0.2 recorded');
    t.ok(rows.find((e) => e.args === '127,0,0,1,0,25' && /bounce to 127\.0\.0\.1:25/.test(e.detail)), 'low port recorded');
    t.ok(rows.find((e) => e.reply_code === 502 && /active mode denied/.test(e.detail)), 'denied active mode recorded');
    t.notOk((await transfers()).find((e) => e.type === 'file.transfer' && e.path === '/pub/file.bin' && e.result === 'ok'), 'no transfer happened');
  });

  await t.test('overlong lines: 500, the rest of the line dropped; repeated, the connection is closed', async (t) => {
    const c = await loggedIn();
    let r = await c.cmd(`STOR ${'a'.repeat(5000)}`);
    t.equal(r.code, 500);
    t.match(r.lines[0], /too long/);
    t.equal((await c.cmd('NOOP')).code, 200, 'the next line is read normally');
    // A megabyte without a line end: answered once, not held in memory.
    c.sock.write(Buffer.alloc(1024 * 1024, 0x41));
    r = await c.reply();
    t.equal(r.code, 500);
    c.sock.write('NOOP\r\n'); // the end of the long line: still part of it, dropped without a reply
    t.equal((await c.cmd('NOOP')).code, 200, 'the next line is read normally');
    for (let i = 0; i < 3; i++) await c.cmd('X'.repeat(5000)).catch(() => undefined);
    t.ok(await c.closedWithin(2000), 'closed after five strikes');
    t.ok(await stillServing(), 'another session goes on');
  });

  await t.test('commands before login: 530, nothing reaches the server; login timeout', async (t) => {
    const c = await RawFtp.connect(port);
    t.teardown(() => c.close());
    for (const cmd of ['LIST', 'RETR pub/file.bin', 'DELE pub/victim.txt', 'CWD pub', 'PASV', 'PORT 127,0,0,1,200,1', 'STOR x']) t.equal((await c.cmd(cmd)).code, 530, cmd);
    t.equal((await c.cmd('PASS anything')).code, 503, 'PASS before USER');
    t.equal((await c.cmd('AUTH TLS')).code, 502, 'AUTH TLS refused');
    const feat = await c.cmd('FEAT');
    t.notMatch(feat.lines.join('\n'), /AUTH/, 'FEAT offers no AUTH');
    t.ok(existsSync(join(pub, 'victim.txt')));
    const r = await c.reply(5000);
    t.equal(r.code, 421, 'login_timeout: 421');
    t.ok(await c.closedWithin(2000));
    await gw.recorder.flush();
    const f = (gw.recorder.store.query('activity', { action: 'login_failed', limit: 100 }).items as any[]).find((e) => e.details?.reason === 'login_timeout');
    t.ok(f, 'login timeout recorded');
  });

  await t.test('CLNT: answered by the gateway, empty refused, control bytes escaped and length bounded in the record', async (t) => {
    const c = await RawFtp.connect(port);
    t.teardown(() => c.close());
    t.match((await c.cmd('FEAT')).lines.join('\n'), /\n ?CLNT\n/, 'FEAT offers CLNT before login');
    t.equal((await c.cmd('CLNT')).code, 501, 'no name: 501');
    t.equal((await c.cmd(`CLNT evil\x1b[31m ${'x'.repeat(400)}`)).code, 200, 'noted');
    t.equal((await c.login('anonymous', PW)).code, 230);
    await gw.recorder.flush();
    const starts = gw.recorder.store.query('sessions', { limit: 20 }).items as any[];
    const name = String(starts.find((r) => String(r.start.client_name ?? '').startsWith('evil'))?.start.client_name);
    t.match(name, /^evil\\x1b\[31m x+…$/, 'the escape byte is shown escaped');
    t.ok(name.length <= 257, `bounded (${name.length} characters)`);
    t.match((await c.cmd('FEAT')).lines.join('\n'), /\n ?CLNT\n/, 'FEAT after login offers CLNT too');
    t.equal((await c.cmd('CLNT later/1.0')).code, 200, 'CLNT after login: noted (the live state only)');
    t.match(gw.registry.list({ protocol: 'ftp' }).find((s) => s.details?.client_name === 'later/1.0'), { protocol: 'ftp' }, 'the live state has it');
  });

  await t.test('a data connection from a foreign address is cut; the client then connects', async (t) => {
    const c = await loggedIn();
    const r = await c.cmd('PASV');
    t.equal(r.code, 227);
    t.match(r.lines[0], /\(127,0,0,1,/, 'the gateway announces its own address');
    const dport = parsePasv(r)!;
    t.ok(dport >= range.from && dport <= range.to, `passive port ${dport} from the configured range`);
    const foreign = net.connect({ port: dport, host: '127.0.0.1', localAddress: '127.0.0.2' });
    const foreignGot = readAll(foreign);
    const got = await foreignGot;
    t.equal(got.length, 0, 'the foreign connection was closed without data');
    await gw.recorder.flush();
    const refusedRows = gw.recorder.store.query('activity', { action: 'connection_refused', limit: 50 }).items as any[];
    t.match(refusedRows.find((e) => e.details?.port === dport), { ip: '127.0.0.2', initiator: 'system', details: { protocol: 'ftp', client_ip: '127.0.0.1' }, targets: [{ kind: 'session' }] }, 'recorded for the security team: the intruder, the client, the session');
    const data = net.connect(dport, '127.0.0.1');
    const body = readAll(data);
    t.equal((await c.cmd('RETR pub/file.bin')).code, 150);
    t.equal((await c.reply()).code, 226);
    t.equal((await body).length, 64 * 1024, 'the client got the file');
    c.close();
  });

  await t.test('a client that never opens its data connection: 425 after data_timeout, the session goes on', async (t) => {
    const c = await loggedIn();
    t.equal((await c.cmd('EPSV')).code, 229);
    const start = Date.now();
    const first = await c.cmd('RETR pub/file.bin');
    const final = first.code === 150 ? await c.reply(10_000) : first;
    t.equal(final.code, 425, `425 (${final.lines[0]})`);
    t.ok(Date.now() - start < 8000, 'within about data_timeout');
    t.equal((await c.cmd('NOOP')).code, 200, 'the session goes on');
    c.close();
    const tr = (await transfers()).find((e) => e.type === 'file.transfer' && e.path === '/pub/file.bin' && e.result === 'failed');
    t.ok(tr, 'recorded as failed');
  });

  await t.test('garbage bytes: refused and closed; the gateway keeps serving', async (t) => {
    for (let i = 0; i < 5; i++) {
      const c = await RawFtp.connect(port);
      c.sock.write(randomBytes(64 * 1024));
      t.ok(await c.closedWithin(5000), `garbage connection ${i} closed`);
    }
    const c = await loggedIn();
    c.sock.write(Buffer.concat([randomBytes(8192), Buffer.from('\r\n')]));
    await sleep(200);
    c.close();
    t.ok(await stillServing(), 'a normal session works');
    t.ok(existsSync(join(pub, 'victim.txt')), 'nothing deleted');
  });
});
