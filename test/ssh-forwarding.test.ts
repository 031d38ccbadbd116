// Port forwarding through the SSH gateway with the real OpenSSH client and a real sshd (which
// allows TCP forwarding): `-L` (direct-tcpip) and `-R` (tcpip-forward, forwarded-tcpip back to the
// client) work when the target has `allow.port_forwarding: true`, and are refused otherwise; every
// attempt is an `ssh.forward` event with `allowed`. Cancelling a remote forward closes the
// target's listener (driven with an ssh2 Client, which can send cancel-tcpip-forward).
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import { startTestGateway, tempDir } from './helpers/gateway.js';
import { freePort, keygen, sshArgs, startSshd, targetYaml } from './helpers/sshd.js';
import type { SgEvent } from '../recorder/events.js';

/** A TCP server that answers every line with `echo:<line>`. */
async function echoServer(t: Test): Promise<number> {
  const server = net.createServer((c) => {
    c.setEncoding('utf8');
    let buf = '';
    c.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        c.write(`echo:${buf.slice(0, i)}\n`);
        buf = buf.slice(i + 1);
      }
    });
    c.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

/** Connects, sends one line, resolves with what came back before `ms` or the close (never rejects). */
function talk(port: number, line: string, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let got = '';
    const done = () => {
      clearTimeout(timer);
      c.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, ms);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(`${line}\n`));
    c.on('data', (d: string) => {
      got += d;
      if (got.includes('\n')) done();
    });
    c.on('error', done);
    c.on('close', done);
  });
}

/** Retries `talk` until it answers (a forward takes a moment to be set up). */
async function talkUntil(port: number, line: string, ms = 10_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const got = await talk(port, line, 1000);
    if (got || Date.now() > end) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function ssh(t: Test, args: string[]): { proc: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const proc = spawn('ssh', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => proc.on('close', (code) => r(code)));
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill();
  });
  return { proc, stderr: () => err, exited };
}

t.test('port forwarding through the gateway', async (t) => {
  const sshd = await startSshd(t);
  if (!sshd) return;
  const dir = tempDir('sg-fwd-');
  const alice = keygen(dir, 'alice_key');
  const bob = keygen(dir, 'bob_key');
  // The same sshd twice: `open` allows forwarding, `closed` keeps the default (denied).
  const { gw } = await startTestGateway(
    t,
    `data_dir: \${DATA}
viewer: { enabled: false }
ssh:
  listeners:
    - { name: ssh, listen: 127.0.0.1:0 }
  targets:
${targetYaml(sshd, 'open')}      allow: { port_forwarding: true }
${targetYaml(sshd, 'closed')}`,
  );
  const port = gw.frontends.find((f) => f.protocol === 'ssh')!.addresses()[0]!.port;
  await gw.users.add({ name: 'alice', password: 'alice-fwd-password-1' });
  await gw.users.setSshAccess('alice', { ssh_keys: [alice.pub], targets: [{ server: 'open', account: 'root' }] });
  await gw.users.add({ name: 'bob', password: 'bob-fwd-password-12' });
  await gw.users.setSshAccess('bob', { ssh_keys: [bob.pub], targets: [{ server: 'closed', account: 'root' }] });
  const echo = await echoServer(t);

  const forwards = async (login: string): Promise<(SgEvent & Record<string, unknown>)[]> => {
    await gw.recorder.flush();
    return (gw.recorder.store.timeline({ login, limit: 500 }).items as (SgEvent & Record<string, unknown>)[]).filter((e) => e.type === 'ssh.forward');
  };

  await t.test('-L to a port the target reaches: bytes both ways, recorded as allowed', async (t) => {
    const local = await freePort();
    const c = ssh(t, [...sshArgs(port, alice.file, ['-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${local}:127.0.0.1:${echo}`]), 'alice@127.0.0.1']);
    t.equal(await talkUntil(local, 'hello through -L'), 'echo:hello through -L\n');
    // A second connection through the same tunnel is a second channel.
    t.equal(await talk(local, 'again'), 'echo:again\n');
    c.proc.kill();
    await c.exited;
    const f = (await forwards('alice')).filter((e) => e.kind === 'direct-tcpip');
    t.equal(f.length, 2, 'one event per channel');
    t.match(f[0], { kind: 'direct-tcpip', allowed: true, dest_host: '127.0.0.1', dest_port: echo });
  });

  await t.test('-R: the target listens, its connections come back through the client, recorded as allowed', async (t) => {
    const remote = await freePort();
    const c = ssh(t, [...sshArgs(port, alice.file, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${remote}:127.0.0.1:${echo}`]), 'alice@127.0.0.1']);
    // sshd (the target) listens on `remote`; a connection there reaches the echo server via the client.
    t.equal(await talkUntil(remote, 'hello through -R'), 'echo:hello through -R\n');
    t.equal(await talk(remote, 'twice'), 'echo:twice\n');
    c.proc.kill();
    await c.exited;
    const f = (await forwards('alice')).filter((e) => e.kind === 'tcpip');
    t.match(f.at(-1), { kind: 'tcpip', allowed: true, dest_host: '127.0.0.1', dest_port: remote });
    // The client gone, the target stops listening.
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      gone = (await talk(remote, 'x', 300)) === '';
      if (!gone) await new Promise((r) => setTimeout(r, 100));
    }
    t.ok(gone, 'the listener on the target is closed with the session');
  });

  await t.test('-R with port 0: the target picks the port and the client is told', async (t) => {
    // OpenSSH says "Allocated port N" at log level INFO (sshArgs asks for ERROR).
    const args = sshArgs(port, alice.file, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:0:127.0.0.1:${echo}`]).map((a) => (a === 'LogLevel=ERROR' ? 'LogLevel=INFO' : a));
    const c = ssh(t, [...args, 'alice@127.0.0.1']);
    let allocated = 0;
    for (let i = 0; i < 100 && !allocated; i++) {
      allocated = Number(/Allocated port (\d+)/.exec(c.stderr())?.[1] ?? 0);
      if (!allocated) await new Promise((r) => setTimeout(r, 100));
    }
    t.ok(allocated > 0, `the client printed the allocated port (${c.stderr().trim()})`);
    t.equal(await talkUntil(allocated, 'dynamic'), 'echo:dynamic\n');
    c.proc.kill();
    await c.exited;
  });

  await t.test('cancel-tcpip-forward closes the listener on the target', async (t) => {
    const conn = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      conn.once('ready', () => resolve());
      conn.once('error', reject);
      conn.connect({ host: '127.0.0.1', port, username: 'alice', privateKey: readFileSync(alice.file), hostVerifier: () => true });
    });
    t.teardown(() => conn.end());
    conn.on('tcp connection', (_info, accept) => {
      const ch = accept();
      ch.on('data', (d: Buffer) => ch.write(`ssh2:${d.toString()}`));
    });
    const remote = await new Promise<number>((resolve, reject) => conn.forwardIn('127.0.0.1', 0, (err, p) => (err ? reject(err) : resolve(p))));
    t.ok(remote > 0, `bound on the target at ${remote}`);
    t.equal(await talkUntil(remote, 'via ssh2'), 'ssh2:via ssh2\n');
    await new Promise<void>((resolve, reject) => conn.unforwardIn('127.0.0.1', remote, (err) => (err ? reject(err) : resolve())));
    t.equal(await talk(remote, 'after cancel', 1000), '', 'nothing listens after the cancel');
    // Cancelling a forward that does not exist is refused.
    const refused = await new Promise<Error | undefined>((resolve) => conn.unforwardIn('127.0.0.1', remote, (err) => resolve(err ?? undefined)));
    t.ok(refused, 'a second cancel is refused');
  });

  await t.test('a target without port_forwarding: -L and -R refused, both recorded as denied', async (t) => {
    const local = await freePort();
    const l = ssh(t, [...sshArgs(port, bob.file, ['-N', '-L', `127.0.0.1:${local}:127.0.0.1:${echo}`]), 'bob@127.0.0.1']);
    let got = '';
    for (let i = 0; i < 20; i++) {
      // The client listens on `local` once logged in; the gateway refuses the channel.
      got = await talk(local, 'blocked', 500);
      if ((await forwards('bob')).some((e) => e.kind === 'direct-tcpip')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    t.equal(got, '', 'nothing comes back through a refused -L');
    l.proc.kill();
    await l.exited;
    const remote = await freePort();
    const r = ssh(t, [...sshArgs(port, bob.file, ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${remote}:127.0.0.1:${echo}`]), 'bob@127.0.0.1']);
    const code = await Promise.race([r.exited, new Promise<'running'>((res) => setTimeout(() => res('running'), 10_000))]);
    t.not(code, 0, 'with ExitOnForwardFailure the client gives up');
    t.not(code, 'running', 'and exits');
    t.match(r.stderr(), /remote port forwarding failed/i);
    t.equal(await talk(remote, 'x', 500), '', 'the target does not listen');
    const f = await forwards('bob');
    t.match(f.find((e) => e.kind === 'direct-tcpip'), { allowed: false, dest_host: '127.0.0.1', dest_port: echo });
    t.match(f.find((e) => e.kind === 'tcpip'), { allowed: false, dest_host: '127.0.0.1', dest_port: remote });
  });
});
