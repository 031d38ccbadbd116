// Explicit FTPS (AUTH TLS) through the gateway, terminated on both sides: the gateway's own
// self-signed certificate (openssl req -x509) toward clients, and toward a real vsftpd with
// ssl_enable=YES (its own certificate, TLS forced for anonymous logins and data, and
// require_ssl_reuse=YES so every data connection must resume the control connection's TLS
// session), checked against upstream_ca or a pinned fingerprint. Clients: curl --ssl-reqd -k
// (upload and download byte for byte, listing) and lftp with ftp:ssl-force; a second, plain
// vsftpd behind `upstream_tls: auto` (TLS toward the client only). Hostile and policy cases: AUTH
// TLS followed by garbage instead of a ClientHello, clear-text commands pipelined after AUTH TLS
// (never run), require_tls refusing a plain login, a server certificate that does not verify.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../config/loader.js';
import { startTestGateway, tempDir } from './helpers/gateway.js';
import { requireTool } from './helpers/interop.js';
import { freePortRange, RawFtp, startVsftpd } from './helpers/vsftpd.js';
import { until } from './helpers/poll.js';
import { ReplyParser, parseEpsv, type Reply } from '../gateway/ftp/replies.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- recorded rows are checked field by field */

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (err += d));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  return new Promise((r) =>
    proc.on('close', (code) => {
      clearTimeout(timer);
      r({ code, out, err });
    }),
  );
}

/** A self-signed certificate for 127.0.0.1 in `dir`. */
function selfSigned(openssl: string, dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  return { cert, key };
}

/** A control connection that can be switched to TLS after 234 (the reply parser survives the switch). */
class FtpsControl {
  private readonly parser = new ReplyParser();
  private readonly replies: Reply[] = [];
  private wake: (() => void) | undefined;
  closed = false;
  sock: net.Socket;

  constructor(sock: net.Socket) {
    this.sock = sock;
    this.listen(sock);
  }

  private listen(s: net.Socket) {
    s.on('data', (d: Buffer) => {
      this.replies.push(...this.parser.push(d));
      this.wake?.();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static async connect(port: number): Promise<FtpsControl> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r, j) => (sock.once('connect', r), sock.once('error', j)));
    const c = new FtpsControl(sock);
    const g = await c.reply();
    if (g.code !== 220) throw new Error(g.lines[0]);
    return c;
  }

  async reply(ms = 10_000): Promise<Reply> {
    const end = Date.now() + ms;
    while (!this.replies.length) {
      if (this.closed) throw new Error('connection closed');
      if (Date.now() > end) throw new Error('no reply in time');
      await new Promise<void>((r) => {
        const tm = setTimeout(r, 100);
        this.wake = () => {
          clearTimeout(tm);
          r();
        };
      });
    }
    return this.replies.shift()!;
  }

  async cmd(line: string): Promise<Reply> {
    this.sock.write(`${line}\r\n`);
    return this.reply();
  }

  /** TLS on the same connection (after a 234). */
  async startTls(): Promise<tls.TLSSocket> {
    const raw = this.sock;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    const s = tls.connect({ socket: raw, rejectUnauthorized: false });
    await new Promise((r, j) => (s.once('secureConnect', r), s.once('error', j)));
    this.sock = s;
    this.listen(s);
    return s;
  }

  close() {
    this.sock.destroy();
  }
}

t.test('explicit FTPS (AUTH TLS) through the gateway', async (t) => {
  const openssl = requireTool(t, 'openssl');
  const curl = requireTool(t, 'curl');
  const lftp = requireTool(t, 'lftp');
  if (!openssl || !curl || !lftp) return;
  const certs = tempDir('sg-ftps-certs-');
  const gwCert = selfSigned(openssl, certs, 'gateway');
  const vsCert = selfSigned(openssl, certs, 'vsftpd');
  const vs = await startVsftpd(t, { tls: vsCert });
  if (!vs) return;
  const plain = await startVsftpd(t);
  if (!plain) return;
  const PW = vs.password;
  const pin = new X509Certificate(readFileSync(vsCert.cert)).fingerprint256;
  const range = await freePortRange(20);
  const tlsKeys = `{ cert: ${gwCert.cert}, key: ${gwCert.key} }`;
  const { gw } = await startTestGateway(
    t,
    `data_dir: \${DATA}
viewer: { enabled: false }
ftp:
  listeners:
    - { name: ftps, listen: 127.0.0.1:0, passive_ports: ${range.from}-${range.to}, data_timeout: 5s, login_timeout: 5s, tls: ${tlsKeys}, servers: [files, pinned, wrong-ca, clear] }
    - { name: strict, listen: 127.0.0.1:0, tls: ${tlsKeys}, require_tls: true, servers: [files] }
  servers:
    - { name: files, host: 127.0.0.1, port: ${vs.port}, upstream_tls: required, upstream_ca: ${vsCert.cert} }
    - { name: pinned, host: 127.0.0.1, port: ${vs.port}, upstream_fingerprint: "${pin}" }
    - { name: wrong-ca, host: 127.0.0.1, port: ${vs.port}, upstream_ca: ${gwCert.cert} }
    - { name: clear, host: 127.0.0.1, port: ${plain.port} }
`,
  );
  const port = gw.frontends.find((f) => f.name === 'ftps')!.addresses()[0]!.port;
  const strictPort = gw.frontends.find((f) => f.name === 'strict')!.addresses()[0]!.port;
  const url = (p: string, to = port) => `ftp://127.0.0.1:${to}/${p}`;
  const ftps = ['-sS', '--ssl-reqd', '-k', '--user', `anonymous:${PW}`];
  const work = tempDir('sg-ftps-client-');
  const pub = join(vs.root, 'pub');

  const transfers = async () => {
    await gw.recorder.flush();
    return gw.recorder.store.query('transfers', { limit: 500 }).items as any[];
  };
  const refusals = async () => {
    await gw.recorder.flush();
    return (gw.recorder.store.query('activity', { action: 'login_failed', limit: 500 }).items as any[]).filter((e) => e.details?.protocol === 'ftp');
  };

  await t.test('FEAT before login offers AUTH TLS, PBSZ and PROT', async (t) => {
    const c = await RawFtp.connect(port);
    t.teardown(() => c.close());
    const feat = (await c.cmd('FEAT')).lines.join('\n');
    for (const f of ['AUTH TLS', 'PBSZ', 'PROT']) t.match(feat, new RegExp(`^ ${f}$`, 'm'), f);
    t.equal((await c.cmd('PBSZ 0')).code, 503, 'PBSZ before AUTH TLS: 503');
    t.equal((await c.cmd('AUTH KERBEROS')).code, 504, 'an unknown mechanism: 504');
    t.equal((await c.cmd('NOOP')).code, 200, 'and the connection goes on in clear');
  });

  await t.test('curl --ssl-reqd: upload, download byte for byte and list, TLS on both sides', async (t) => {
    const data = randomBytes(700_000 + Math.floor(Math.random() * 1000));
    const local = join(work, 'up.bin');
    writeFileSync(local, data);
    const up = await run(curl, [...ftps, '-T', local, url('pub/up.bin')]);
    t.equal(up.code, 0, `upload exits 0 ${up.err}`);
    t.equal(sha(readFileSync(join(pub, 'up.bin'))), sha(data), 'vsftpd has the same bytes');
    const got = join(work, 'down.bin');
    const down = await run(curl, [...ftps, '-v', '-o', got, url('pub/up.bin')]);
    t.equal(down.code, 0, `download exits 0 ${down.code ? down.err : ''}`);
    t.equal(sha(readFileSync(got)), sha(data), 'the client got the same bytes');
    t.ok((down.err.match(/SSL connection using/g) ?? []).length >= 2, 'curl: TLS on the control and the data connection');
    const list = await run(curl, [...ftps, url('pub/')]);
    t.equal(list.code, 0, `list exits 0 ${list.err}`);
    t.match(list.out, 'up.bin', 'the listing names the file');
    // vsftpd refuses clear logins and clear data connections (force_anon_*_ssl) and data
    // connections that do not resume its TLS session: the gateway did TLS toward it throughout.
    const rows = await transfers();
    t.ok(rows.find((e) => e.type === 'file.transfer' && e.direction === 'upload' && e.path === '/pub/up.bin' && e.bytes === data.length && e.result === 'ok'), 'upload recorded with its bytes');
    t.ok(rows.find((e) => e.type === 'file.transfer' && e.direction === 'download' && e.path === '/pub/up.bin' && e.bytes === data.length && e.result === 'ok'), 'download recorded with its bytes');
    t.ok(rows.find((e) => e.type === 'file.transfer' && e.direction === 'list' && e.path === '/pub' && e.result === 'ok'), 'listing recorded');
    t.ok(rows.find((e) => e.type === 'ftp.command' && e.command === 'AUTH' && e.reply_code === 234), 'AUTH recorded (234)');
    t.ok(rows.find((e) => e.type === 'ftp.command' && e.command === 'PROT' && e.args === 'P' && e.reply_code === 200), 'PROT P recorded');
  });

  await t.test('lftp with ftp:ssl-force: put, ls, get, then get in active mode, rm', async (t) => {
    const data = randomBytes(300_000);
    const local = join(work, 'lftp-up.bin');
    const back = join(work, 'lftp-back.bin');
    // Active mode (the gateway connects to lftp, lftp is still the TLS client there). curl 7.88
    // cannot do active FTPS at all (it never starts TLS on the accepted connection, direct to
    // vsftpd too), so lftp checks it.
    const backActive = join(work, 'lftp-back-active.bin');
    writeFileSync(local, data);
    const script = [
      'set ftp:ssl-force true',
      'set ftp:ssl-protect-data true',
      'set ssl:verify-certificate no',
      'set net:max-retries 1',
      'set net:timeout 10',
      'set cmd:fail-exit yes',
      `open -u anonymous,${PW} -p ${port} 127.0.0.1`,
      'cd pub',
      `put ${local} -o l.bin`,
      'ls',
      `get l.bin -o ${back}`,
      'set ftp:passive-mode off',
      `get l.bin -o ${backActive}`,
      'rm l.bin',
      'bye',
    ].join('; ');
    const r = await run(lftp, ['-c', script]);
    t.equal(r.code, 0, `lftp exits 0 ${r.err}`);
    t.equal(sha(readFileSync(back)), sha(data), 'lftp got back what it put');
    t.equal(sha(readFileSync(backActive)), sha(data), 'and again in active mode');
    t.match(r.out, 'l.bin', 'ls over TLS');
    const rows = await until('the lftp transfers', async () => {
      const all = await transfers();
      return all.find((e) => e.direction === 'remove' && e.path === '/pub/l.bin') ? all : undefined;
    });
    t.ok(rows.find((e) => e.direction === 'upload' && e.path === '/pub/l.bin' && e.bytes === data.length && e.result === 'ok'), 'upload recorded');
    t.equal(rows.filter((e) => e.direction === 'download' && e.path === '/pub/l.bin' && e.bytes === data.length && e.result === 'ok').length, 2, 'both downloads recorded');
    t.ok(rows.find((e) => e.type === 'ftp.command' && (e.command === 'EPRT' || e.command === 'PORT') && e.reply_code === 200), 'the active-mode command recorded');
  });

  await t.test('the live state says TLS on both sides', async (t) => {
    const c = await FtpsControl.connect(port);
    t.teardown(() => c.close());
    t.equal((await c.cmd('AUTH TLS')).code, 234);
    await c.startTls();
    t.equal((await c.cmd('PBSZ 0')).code, 200);
    t.equal((await c.cmd('PROT P')).code, 200);
    t.equal((await c.cmd('USER anonymous')).code, 331);
    t.equal((await c.cmd(`PASS ${PW}`)).code, 230);
    const me = await until('the live session', () => gw.registry.list({ protocol: 'ftp' }).find((s) => s.listener === 'ftps' && s.details?.client_tls));
    t.match(me.details, { client_tls: 'control+data', server_tls: 'control+data', server: 'files' });
    // A data connection the client opens without TLS under PROT P gets nothing in clear.
    t.equal((await c.cmd('CWD pub')).code, 250);
    const epsv = await c.cmd('EPSV');
    const d = net.connect(parseEpsv(epsv)!, '127.0.0.1');
    let clear = '';
    d.on('data', (b: Buffer) => (clear += b.toString('latin1')));
    d.on('error', () => undefined);
    const dClosed = new Promise((r) => d.once('close', r));
    await new Promise((r) => d.once('connect', r));
    d.write('this is not a TLS ClientHello\r\n');
    const r = await c.cmd('LIST');
    // The gateway cuts both data connections; vsftpd then may end the whole session (421).
    const final = r.code < 200 ? await c.reply().catch(() => undefined) : r;
    t.ok(!final || final.code >= 400, `LIST over a clear data connection fails (${final?.lines[0] ?? 'connection closed'})`);
    await dClosed;
    t.notMatch(clear, /up\.bin|drw|-rw/, 'no listing reached the clear data connection');
  });

  await t.test('a server that offers no TLS: the client side is still TLS (upstream_tls auto)', async (t) => {
    const data = randomBytes(50_000);
    writeFileSync(join(plain.root, 'pub', 'p.bin'), data);
    const got = join(work, 'p.bin');
    const r = await run(curl, ['-sS', '--ssl-reqd', '-k', '--user', `anonymous@clear:${plain.password}`, '-o', got, url('pub/p.bin')]);
    t.equal(r.code, 0, `curl exits 0 ${r.err}`);
    t.equal(sha(readFileSync(got)), sha(data), 'same bytes');
  });

  await t.test('the server certificate is checked: a pin passes, the wrong CA refuses the login', async (t) => {
    const ok = await run(curl, ['-sS', '--ssl-reqd', '-k', '--user', `anonymous@pinned:${PW}`, url('pub/')]);
    t.equal(ok.code, 0, `pinned fingerprint: curl exits 0 ${ok.err}`);
    const c = await FtpsControl.connect(port);
    t.teardown(() => c.close());
    t.equal((await c.cmd('AUTH TLS')).code, 234);
    await c.startTls();
    const r = await c.cmd('USER anonymous@wrong-ca');
    t.equal(r.code, 421, `refused: ${r.lines[0]}`);
    t.match(r.lines[0], /TLS/);
    const f = await until('login_failed server_tls_failed', async () => (await refusals()).find((e) => e.details.reason === 'server_tls_failed'));
    t.match(f.details, { server: 'wrong-ca', listener: 'ftps' });
  });

  await t.test('AUTH TLS then garbage instead of a ClientHello: dropped, the gateway stays up', async (t) => {
    for (const garbage of [Buffer.from('USER anonymous\r\nPASS x\r\n'), randomBytes(4096), Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0])]) {
      const c = await RawFtp.connect(port);
      t.teardown(() => c.close());
      t.equal((await c.cmd('AUTH TLS')).code, 234);
      c.sock.write(garbage);
      t.ok(await c.closedWithin(6000), `closed after ${garbage.length} bytes of garbage`);
    }
    const after = await run(curl, [...ftps, url('pub/')]);
    t.equal(after.code, 0, `a new FTPS session works ${after.err}`);
  });

  await t.test('clear-text commands pipelined after AUTH TLS are never run', async (t) => {
    const c = await FtpsControl.connect(port);
    t.teardown(() => c.close());
    // Sent in one write with AUTH: an attacker on the path could have added the USER line.
    c.sock.write('AUTH TLS\r\nUSER anonymous\r\n');
    t.equal((await c.reply()).code, 234);
    await c.startTls();
    const r = await c.cmd(`PASS ${PW}`);
    t.equal(r.code, 503, 'PASS: there was no USER (the clear one was dropped)');
    t.equal((await c.cmd('USER anonymous')).code, 331, 'USER over TLS works');
    t.equal((await c.cmd(`PASS ${PW}`)).code, 230);
  });

  await t.test('require_tls: a plain login is refused (530), an FTPS one works', async (t) => {
    const c = await RawFtp.connect(strictPort);
    t.teardown(() => c.close());
    const r = await c.cmd('USER anonymous');
    t.equal(r.code, 530, r.lines[0]);
    t.match(r.lines[0], /AUTH TLS/);
    const plainCurl = await run(curl, ['-sS', '--user', `anonymous:${PW}`, url('pub/', strictPort)]);
    t.not(plainCurl.code, 0, 'curl without TLS fails');
    const f = await until('login_failed tls_required', async () => (await refusals()).find((e) => e.details.reason === 'tls_required'));
    t.match(f, { initiator: 'anonymous', details: { listener: 'strict' } });
    const ok = await run(curl, [...ftps, url('pub/', strictPort)]);
    t.equal(ok.code, 0, `curl --ssl-reqd works ${ok.err}`);
    // PROT C is refused there, and a transfer without PROT P too.
    const s = await FtpsControl.connect(strictPort);
    t.teardown(() => s.close());
    t.equal((await s.cmd('AUTH TLS')).code, 234);
    await s.startTls();
    t.equal((await s.cmd('USER anonymous')).code, 331);
    t.equal((await s.cmd(`PASS ${PW}`)).code, 230);
    t.equal((await s.cmd('PBSZ 0')).code, 200);
    t.equal((await s.cmd('PROT C')).code, 534, 'PROT C refused');
    t.equal((await s.cmd('LIST')).code, 522, 'a transfer before PROT P: 522');
  });
});

t.test('config: ftp TLS keys are checked when the config is loaded', async (t) => {
  const openssl = requireTool(t, 'openssl');
  if (!openssl) return;
  const dir = tempDir('sg-ftps-config-');
  const c = selfSigned(openssl, dir, 'gw');
  chmodSync(c.key, 0o600);
  const load = async (listener: string, server = '') => {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, `data_dir: ${join(dir, 'data')}\nviewer: { enabled: false }\nftp:\n  listeners:\n    - { name: f, listen: 203.0.113.1:2121${listener} }\n  servers:\n    - { name: s, host: 127.0.0.1${server} }\n`);
    try {
      return { ok: await loadConfig(file) };
    } catch (e) {
      if (e instanceof ConfigError) return { err: e };
      throw e;
    }
  };
  const ok = await load(`, tls: { cert: ${c.cert}, key: ${c.key} }, require_tls: true`, ', upstream_tls: required, upstream_ca: ' + c.cert);
  t.ok(ok.ok, `a listener with tls and require_tls loads ${ok.err?.message ?? ''}`);
  t.same(ok.ok?.warnings, [], 'no warning');
  t.match(ok.ok?.config.ftp?.servers[0], { upstream_tls: 'required' });
  const missing = await load(`, tls: { cert: ${c.cert}, key: ${join(dir, 'nope.key')} }`);
  t.ok(missing.err?.issues.find((i) => i.key === 'ftp.listeners[0].tls.key' && /not found/.test(i.message)), `a missing key file is named: ${missing.err?.message}`);
  const noTls = await load(', require_tls: true');
  t.ok(noTls.err?.issues.find((i) => i.key === 'ftp.listeners[0].require_tls'), `require_tls without tls: ${noTls.err?.message}`);
  const two = await load('', `, upstream_ca: ${c.cert}, upstream_insecure: true`);
  t.ok(two.err?.issues.find((i) => i.key.startsWith('ftp.servers[0].upstream_') && /at most one/.test(i.message)), `two ways to check the certificate: ${two.err?.message}`);
  const badPin = await load('', ', upstream_fingerprint: "12:34"');
  t.ok(badPin.err?.issues.find((i) => i.key === 'ftp.servers[0].upstream_fingerprint'), `a bad fingerprint: ${badPin.err?.message}`);
  const warn = await load(`, tls: { cert: ${c.cert}, key: ${c.key} }`, ', upstream_insecure: true');
  t.ok(warn.ok?.warnings.find((w) => w.key === 'ftp.servers[0].upstream_insecure'), 'upstream_insecure is warned about');
  t.ok(warn.ok?.warnings.find((w) => w.key === 'ftp.listeners[0].require_tls'), 'tls without require_tls on a public address is warned about');
  const pin = new X509Certificate(readFileSync(c.cert)).fingerprint256.replaceAll(':', '').toLowerCase();
  const pinned = await load('', `, upstream_fingerprint: "sha256:${pin}"`);
  t.equal(pinned.ok?.config.ftp?.servers[0]?.upstream_fingerprint, new X509Certificate(readFileSync(c.cert)).fingerprint256, 'a fingerprint in any spelling is normalised');
});
