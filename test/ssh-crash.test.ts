// kill -9 of the gateway in the middle of an SSH shell, then a restart: the session is closed as
// `interrupted` and its recording, repaired, is readable up to what was flushed. Through the real
// CLI process, a real sshd and the real OpenSSH client under node-pty.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import * as pty from 'node-pty';
import { Store } from '../recorder/store/store.js';
import { CastReader } from '../recorder/cast/index.js';
import { tempDir } from './helpers/gateway.js';
import { freePort, keygen, sshArgs, startSshd, targetYaml } from './helpers/sshd.js';
import { runCli } from '../viewer/server/test-harness.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'sessiongate.js');

function startGateway(config: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'start', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the gateway did not start: ${out}`)), 20_000);
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Sessiongate is running.')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr!.on('data', (d) => (out += d));
    child.on('exit', (code) => reject(new Error(`the gateway exited (${code}): ${out}`)));
  });
}

t.test('kill -9 mid-session, restart: the session ends as interrupted, the cast is readable', async (t) => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" (npm test does it first)`);
  const sshd = await startSshd(t);
  if (!sshd) return;
  const dir = tempDir('sg-ssh-crash-');
  const key = keygen(dir, 'alice_key');
  const port = await freePort();
  const config = join(dir, 'sessiongate.yaml');
  writeFileSync(
    config,
    `data_dir: ${join(dir, 'data')}
log: { level: warn }
viewer: { enabled: false }
ssh:
  listeners:
    - { name: ssh, listen: 127.0.0.1:${port} }
  targets:
${targetYaml(sshd, 'web1')}`,
  );
  t.equal((await runCli(['users', 'add', 'alice', '--role', 'none', '--config', config])).code, 0);
  t.equal((await runCli(['users', 'ssh', 'alice', '--key', key.pub, '--target', 'web1:root', '--config', config])).code, 0);

  const first = await startGateway(config);
  t.teardown(() => {
    if (first.exitCode === null) first.kill('SIGKILL');
  });
  const term = pty.spawn('ssh', [...sshArgs(port, key.file, ['-tt']), 'alice@127.0.0.1'], { cols: 80, rows: 24 });
  let shown = '';
  term.onData((d) => (shown += d));
  const exited = new Promise<void>((r) => term.onExit(() => r()));
  term.write('echo before-the-crash-$((6*7))\r');
  for (let i = 0; i < 100 && !shown.includes('before-the-crash-42'); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(shown, 'before-the-crash-42', 'the shell answered through the gateway');
  // Past the recorder's flush (100 ms) and the cast's periodic flush (1 s).
  await new Promise((r) => setTimeout(r, 1600));
  first.kill('SIGKILL');
  await new Promise((r) => first.on('exit', r));
  await exited;

  const second = await startGateway(config);
  second.kill('SIGTERM');
  await new Promise((r) => second.on('exit', r));

  const store = Store.open({ dir: join(dir, 'data', 'store'), logger: pino({ level: 'silent' }), readOnly: true });
  t.teardown(() => store.close());
  const rows = store.query('sessions', { limit: 10 }).items as { start: { user?: { login?: string } }; end?: { reason: string; recording?: { path: string; size: number } } }[];
  t.equal(rows.length, 1);
  t.equal(rows[0]!.end?.reason, 'interrupted', 'closed as interrupted at the restart');
  const rec = rows[0]!.end?.recording;
  t.ok(rec, 'with its repaired recording');
  const reader = await CastReader.open(join(dir, 'data', 'recordings', rec!.path));
  t.teardown(() => reader.close());
  let out = '';
  for await (const e of reader.events()) if (e.code === 'o') out += e.data;
  t.match(out, 'before-the-crash-42', 'the cast holds what was flushed before the crash');
});
