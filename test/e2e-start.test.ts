// `sessiongate start` with a broken config: clear error naming the key and line, exit 1, and
// nothing half-started (the listener the valid part names never binds).
import t from 'tap';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../cli/main.js';
import { tempDir } from './helpers/gateway.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

t.test('a broken config never starts a half-configured gateway', async (t) => {
  const port = await freePort();
  const dir = tempDir();
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    `data_dir: ${join(dir, 'data')}
viewer: { enabled: false }
http:
  - name: edge
    listen: 127.0.0.1:${port}
    routes:
      - name: app
        upstream: http://127.0.0.1:9
        realm: admin
        tursted_proxies: [10.0.0.0/8]
`,
  );
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  const code = await main(['start', '--config', file], { stdout: out, stderr: out, stdin: new PassThrough(), env: {} });
  t.equal(code, 1, 'start exits 1');
  t.match(text, 'SG_ERR_CONFIG_INVALID', 'stable error code');
  t.match(text, `${file}:10:`, 'names the file and the line');
  t.match(text, 'tursted_proxies', 'names the key');
  const probe = net.connect(port, '127.0.0.1');
  const refused = await new Promise<boolean>((r) => {
    probe.once('connect', () => r(false));
    probe.once('error', () => r(true));
  });
  probe.destroy();
  t.ok(refused, 'the listener from the valid part of the file was never opened');
});
