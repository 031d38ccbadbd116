// The demo FTP server (demo/ftp-server.ts, what `npm start` puts behind the FTP listener) through
// the gateway with curl: list, download, upload, resume, rename and delete, a wrong password; and
// config/demo.yaml's FTP part loads.
import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestGateway, tempDir } from './helpers/gateway.js';
import { RawFtp } from './helpers/vsftpd.js';
import { requireTool } from './helpers/interop.js';
import { startDemoFtpServer } from '../demo/ftp-server.js';
import { loadConfig } from '../config/loader.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- recorded rows are checked field by field */

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const curl = (args: string[]) => new Promise<{ code: number; out: string; err: string }>((r) => execFile('curl', ['-sS', ...args], (e, out, err) => r({ code: e ? Number((e as { code?: number }).code) : 0, out, err })));

t.test('config/demo.yaml has an FTP listener in front of the demo FTP server', async (t) => {
  const { config } = await loadConfig(join(import.meta.dirname, '..', 'config', 'demo.yaml'));
  t.match(config.demo?.ftp_listen, { host: '127.0.0.1', port: 2100 });
  t.match(config.ftp?.listeners[0], { listen: { host: '127.0.0.1', port: 2121 }, passive_ports: { from: 2130, to: 2149 } });
  t.match(config.ftp?.servers[0], { host: '127.0.0.1', port: 2100 });
});

t.test('the demo FTP server through the gateway', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const demo = await startDemoFtpServer({ host: '127.0.0.1', port: 0 });
  t.teardown(() => demo.close());
  const { gw } = await startTestGateway(
    t,
    `data_dir: \${DATA}
viewer: { enabled: false }
ftp:
  listeners:
    - { name: ftp, listen: 127.0.0.1:0 }
  servers:
    - { name: demo-files, host: 127.0.0.1, port: ${demo.port}, domain: files.demo.example }
`,
  );
  const port = gw.frontends.find((f) => f.protocol === 'ftp')!.addresses()[0]!.port;
  const url = (p: string) => `ftp://127.0.0.1:${port}/${p}`;
  const u = ['--user', 'demo:demo-ftp-pass'];
  const list = await curl([...u, url('pub/')]);
  t.equal(list.code, 0, list.err);
  t.match(list.out, 'price-list.csv');
  const work = tempDir('sg-ftp-demo-');
  const got = join(work, 'b.bin');
  t.equal((await curl([...u, '-o', got, url('pub/backup-4MB.bin')])).code, 0);
  t.equal(sha(readFileSync(got)), sha(readFileSync(join(demo.root, 'pub', 'backup-4MB.bin'))), 'download byte for byte');
  const data = randomBytes(300_000);
  writeFileSync(join(work, 'up.bin'), data);
  t.equal((await curl([...u, '--disable-epsv', '-T', join(work, 'up.bin'), url('incoming/up.bin')])).code, 0);
  t.equal(sha(readFileSync(join(demo.root, 'incoming', 'up.bin'))), sha(data), 'upload byte for byte (PASV)');
  writeFileSync(join(work, 'part.bin'), data.subarray(0, 1000));
  t.equal((await curl([...u, '-C', '-', '-o', join(work, 'part.bin'), url('incoming/up.bin')])).code, 0);
  t.equal(sha(readFileSync(join(work, 'part.bin'))), sha(data), 'resumed download');
  const q = await curl([...u, '-Q', '-RNFR incoming/up.bin', '-Q', '-RNTO incoming/moved.bin', '-Q', '-DELE incoming/moved.bin', url('')]);
  t.equal(q.code, 0, q.err);
  t.equal((await curl(['--user', 'anonymous:x@example.com', url('README.txt')])).out.includes('Sessiongate demo FTP server'), true, 'anonymous works');
  t.equal((await curl(['--user', 'demo:wrong', url('')])).code, 67, 'a wrong password is refused');
  await gw.recorder.flush();
  const rows = gw.recorder.store.query('transfers', { limit: 500 }).items as any[];
  t.ok(rows.find((e) => e.direction === 'upload' && e.path === '/incoming/up.bin' && e.bytes === data.length && e.result === 'ok'), 'upload recorded');
  t.ok(rows.find((e) => e.direction === 'rename' && e.path === '/incoming/up.bin' && e.to_path === '/incoming/moved.bin'), 'rename recorded');
  t.ok(rows.find((e) => e.direction === 'remove' && e.path === '/incoming/moved.bin'), 'delete recorded');
  t.ok(rows.find((e) => e.direction === 'download' && e.path === '/pub/backup-4MB.bin' && e.bytes === 4 * 1024 * 1024 && e.result === 'ok'), 'download recorded');

  // Shutdown: an open session is told why (421) and recorded as ended by the gateway's shutdown.
  const c = await RawFtp.connect(port);
  t.teardown(() => c.close());
  t.equal((await c.login('demo', 'demo-ftp-pass')).code, 230, 'a session open at shutdown');
  const started = Date.now();
  await gw.frontends.find((f) => f.protocol === 'ftp')!.close(5_000);
  t.ok(Date.now() - started < 4_000, `the front end closed within its 2 s grace and the end (${Date.now() - started} ms)`);
  t.match((await c.reply(2_000)).lines[0], /^421 /, 'the client is told (421)');
  await gw.recorder.flush();
  const ends = (gw.recorder.store.query('sessions', { limit: 50 }).items as any[]).filter((r) => r.end?.reason === 'gateway_shutdown');
  t.equal(ends.length, 1, 'session.end: gateway_shutdown');
});
