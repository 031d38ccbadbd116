// The SSH gateway against a real sshd (own config and keys on a loopback port) with the real
// OpenSSH client, non-interactively and through node-pty: exec with and without stdin, exit codes,
// stderr, an interactive shell with resize and UTF-8, password and key logins, a wrong host key,
// denied forwarding, terminate, idle timeout, locks, and hostile bytes before the banner.
import t from 'tap';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import * as pty from 'node-pty';
import { startTestGateway, tempDir } from './helpers/gateway.js';
import { freePort, keygen, sshArgs, startSshd, targetYaml, ptyUntil as until } from './helpers/sshd.js';
import type { SgEvent } from '../recorder/events.js';
import { CastReader } from '../recorder/cast/index.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- recorded rows are checked field by field */

const ALICE_PW = 'alice-ssh-password-1';

function run(args: string[], input?: Buffer | string): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    if (input !== undefined) p.stdin.end(input);
    else p.stdin.end();
  });
}


t.test('SSH gateway in front of a real sshd', async (t) => {
  const sshd = await startSshd(t);
  if (!sshd) return;
  const dir = tempDir('sg-ssh-');
  const alice = keygen(dir, 'alice_key');
  const wrongHost = keygen(dir, 'other_host');
  const { gw, dataDir } = await startTestGateway(
    t,
    `data_dir: \${DATA}
viewer: { enabled: false }
ssh:
  listeners:
    - { name: ssh, listen: 127.0.0.1:0, idle_timeout: 2s, login_timeout: 5s }
  targets:
${targetYaml(sshd, 'web1', { os: 'Debian 12' })}    - name: box
      type: local
      command: [/bin/bash, --noprofile, --norc]
      os: Gateway host
      accounts:
        - { name: local }
    - name: web2
      host: 127.0.0.1
      port: ${sshd.port}
      host_key: ${wrongHost.pub.split(' ').slice(0, 2).join(' ')}
      accounts:
        - { name: root, key_file: ${sshd.accountKey.file} }
`,
  );
  const ssh = gw.frontends.find((f) => f.protocol === 'ssh')!;
  const port = ssh.addresses()[0]!.port;
  await gw.users.add({ name: 'alice', role: 'auditor', email: 'alice@example.com', password: ALICE_PW });
  await gw.users.setSshAccess('alice', { ssh_keys: [alice.pub], targets: [{ server: 'web1', account: 'root' }] });
  await gw.users.add({ name: 'carol', password: 'carol-ssh-password-1' });
  await gw.users.setSshAccess('carol', { ssh_keys: [alice.pub], targets: [{ server: 'box', account: 'local' }] });
  await gw.users.add({ name: 'bob', password: 'bob-ssh-password-12' });
  await gw.users.setSshAccess('bob', { ssh_keys: [], targets: [{ server: 'web1', account: 'root' }, { server: 'web2', account: 'root' }] });

  /** Everything recorded so far for one gateway user, across kinds (the store's timeline). */
  const recordedFor = async (login: string): Promise<SgEvent[]> => {
    await gw.recorder.flush();
    return gw.recorder.store.timeline({ login, limit: 500 }).items as SgEvent[];
  };
  const sessions = async () => {
    await gw.recorder.flush();
    return gw.recorder.store.query('sessions', { limit: 500 }).items as { seq: number; session_id: string; start: SgEvent & Record<string, any>; end?: SgEvent & Record<string, any> }[];
  };
  const refusals = async () => {
    await gw.recorder.flush();
    return (gw.recorder.store.query('activity', { action: 'login_failed', limit: 500 }).items as (SgEvent & { details?: Record<string, unknown> })[]).filter((e) => e.details?.protocol === 'ssh');
  };

  await t.test('exec: stdout, stderr and the exit code come through', async (t) => {
    const r = await run([...sshArgs(port, alice.file), 'alice@127.0.0.1', 'echo hello; echo oops >&2; exit 3']);
    t.equal(r.stdout.toString(), 'hello\n');
    t.match(r.stderr, 'oops');
    t.equal(r.code, 3);
    // The client exits on exit-status; the gateway records the end when the connection closes.
    let mine: Awaited<ReturnType<typeof sessions>>[number] | undefined;
    for (let i = 0; i < 50 && !mine; i++) {
      mine = (await sessions()).find((x) => x.end && x.start.user?.login === 'alice');
      if (!mine) await new Promise((r) => setTimeout(r, 100));
    }
    t.ok(mine, 'the session is recorded, start and end');
    t.match(mine!.start, { protocol: 'ssh', account: 'root', server: { name: 'web1', os: 'Debian 12', host: '127.0.0.1', port: sshd.port }, connected_from: 'proxy', ip: '127.0.0.1' });
    t.match(mine!.start.client_name, /^SSH-2\.0-OpenSSH_/, 'client name is the client version string');
    t.equal(mine!.end!.reason, 'upstream_exit', 'the command ended on the target (whichever side closed first)');
    const exec = (await recordedFor('alice')).find((e) => e.type === 'ssh.exec') as Record<string, unknown> | undefined;
    t.match(exec, { command: 'echo hello; echo oops >&2; exit 3', exit_code: 3, pty: false }, 'ssh.exec with command and exit code');
  });

  await t.test('exec with stdin: 1 MB intact; with empty stdin it still runs', async (t) => {
    const data = randomBytes(1 << 20);
    const r = await run([...sshArgs(port, alice.file), 'alice:root@web1@127.0.0.1', 'sha256sum'], data);
    t.equal(r.stdout.toString().split(' ')[0], createHash('sha256').update(data).digest('hex'), 'the bytes the target saw');
    const empty = await run([...sshArgs(port, alice.file, ['-n']), 'alice@web1@127.0.0.1', 'cat; echo done']);
    t.equal(empty.stdout.toString(), 'done\n');
    t.equal(empty.code, 0);
  });

  await t.test('a remote killed by a signal: same client result as direct', async (t) => {
    const via = await run([...sshArgs(port, alice.file), 'alice@127.0.0.1', 'kill -TERM $$']);
    const direct = await run([...sshArgs(sshd.port, sshd.accountKey.file), 'root@127.0.0.1', 'kill -TERM $$']);
    t.equal(via.code, direct.code, `exit code ${direct.code} both ways`);
  });

  await t.test('interactive shell through node-pty: stty size follows resizes, UTF-8 round trips, exit code', async (t) => {
    const term = pty.spawn('ssh', [...sshArgs(port, alice.file, ['-tt']), 'alice@127.0.0.1'], { cols: 100, rows: 30, env: { ...process.env, LANG: 'C.UTF-8' } as Record<string, string> });
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    term.write('PS1="$ "; stty size\r');
    await until(term, (s) => s.includes('30 100'));
    term.resize(120, 40);
    await new Promise((r) => setTimeout(r, 200));
    term.write('stty size\r');
    await until(term, (s) => s.includes('40 120'));
    term.write("printf 'h\\303\\251llo \\342\\234\\223\\n'\r");
    await until(term, (s) => s.includes('héllo ✓'));
    term.write('exit 7\r');
    t.equal(await exited, 7, 'the shell exit code');

    // The recording: asciicast v2 with the output, the resize, its size and SHA-256 in session.end.
    let ended: Awaited<ReturnType<typeof sessions>>[number] | undefined;
    for (let i = 0; i < 50 && !ended; i++) {
      ended = (await sessions()).find((x) => x.end?.exit_code === 7);
      if (!ended) await new Promise((r) => setTimeout(r, 100));
    }
    const rec = ended?.end?.recording as { id: string; path: string; size: number; sha256: string } | undefined;
    t.ok(rec, 'session.end names the recording');
    const file = join(dataDir, 'recordings', rec!.path);
    const bytes = readFileSync(file);
    t.equal(bytes.length, rec!.size, 'its size');
    t.equal(createHash('sha256').update(bytes).digest('hex'), rec!.sha256, 'its SHA-256');
    const reader = await CastReader.open(file);
    t.teardown(() => reader.close());
    t.match(reader.header(), { version: 2, width: 100, height: 30 });
    const evs: [number, string, string][] = [];
    for await (const e of reader.events()) evs.push([e.t, e.code, e.data]);
    const out = evs.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    t.match(out, '30 100', 'the output');
    t.match(out, 'héllo ✓', 'UTF-8 whole');
    t.ok(evs.some((e) => e[1] === 'r' && e[2] === '120x40'), 'the resize');
    t.notOk(evs.some((e) => e[1] === 'i'), 'no input recorded (record_input is off)');
  });

  await t.test('password login: a wrong password is refused, the right one works', async (t) => {
    const term = pty.spawn('ssh', [...sshArgs(port, undefined), 'alice@127.0.0.1', 'echo in'], { cols: 80, rows: 24 });
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    await until(term, (s) => /password: $/i.test(s));
    term.write('not-the-password\r');
    // The prompt again (a fresh one, after the refusal).
    await until(term, (s) => /password: $/i.test(s));
    term.write(`${ALICE_PW}\r`);
    await until(term, (s) => s.includes('in'));
    t.equal(await exited, 0);
  });

  await t.test('a target whose host key is not the pinned one is refused and recorded', async (t) => {
    const term = pty.spawn('ssh', [...sshArgs(port, undefined), 'bob@web2@127.0.0.1', 'true'], { cols: 80, rows: 24 });
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    await until(term, (s) => /password:/i.test(s));
    term.write('bob-ssh-password-12\r');
    await until(term, (s) => /password:.*password:/is.test(s) || /denied/i.test(s));
    term.kill();
    await exited;
    const refused = (await refusals()).find((e) => e.details?.reason === 'target_host_key_mismatch');
    t.ok(refused, 'recorded as login_failed, target_host_key_mismatch');
    t.match(refused!.details, { target: 'web2', presented_host_key: /^SHA256:/ }, 'with the fingerprint the target presented');
    const ok = await run([...sshArgs(sshd.port, sshd.accountKey.file), 'root@127.0.0.1', 'true']);
    t.equal(ok.code, 0, 'the same sshd is fine directly: only the pin differs');
  });

  await t.test('a session ends when terminated and is recorded with who and why', async (t) => {
    const term = pty.spawn('ssh', [...sshArgs(port, alice.file, ['-tt']), 'alice@127.0.0.1'], { cols: 80, rows: 24 });
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    // A computed marker: the local pty echoes typed text before ssh takes the terminal.
    term.write('echo $((6*7))x\r');
    await until(term, (s) => s.includes('42x'));
    const live = gw.registry.list().filter((s) => s.protocol === 'ssh');
    t.equal(live.length, 1, 'the session is live');
    t.equal(live[0]!.login, 'alice');
    const seen = until(term, (s) => s.includes('terminated by sec'));
    await gw.registry.terminate(live[0]!.id, { name: 'sec' }, 'test terminate');
    await seen;
    await exited;
    t.equal(gw.registry.list().filter((s) => s.protocol === 'ssh').length, 0, 'gone from the live list');
    await new Promise((r) => setTimeout(r, 200));
    const ended = (await sessions()).find((x) => x.end?.reason === 'terminated');
    t.match(ended?.end, { terminated_by: 'sec', terminate_reason: 'test terminate' }, 'session.end says who and why');
  });

  await t.test('idle timeout ends a quiet session', async (t) => {
    const term = pty.spawn('ssh', [...sshArgs(port, alice.file, ['-tt']), 'alice@127.0.0.1'], { cols: 80, rows: 24 });
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    // A computed marker: the local pty echoes typed text before ssh takes the terminal.
    term.write('echo $((6*7))x\r');
    await until(term, (s) => s.includes('42x'));
    await until(term, (s) => s.includes('idle'), 8000);
    await exited;
    await new Promise((r) => setTimeout(r, 200));
    t.ok((await sessions()).some((x) => x.end?.reason === 'idle_timeout'), 'recorded as idle_timeout');
  });

  await t.test('a lock on the user refuses a new login', async (t) => {
    const lock = gw.access.lock({ kind: 'user', value: 'alice', actor: 'sec', reason: 'test' });
    const r = await run([...sshArgs(port, alice.file), 'alice@127.0.0.1', 'true']);
    t.not(r.code, 0, 'refused while locked');
    t.ok((await refusals()).some((e) => e.details?.reason === 'locked'), 'recorded as login_failed, locked');
    gw.access.unlock(lock.id);
    const ok = await run([...sshArgs(port, alice.file), 'alice@127.0.0.1', 'true']);
    t.equal(ok.code, 0, 'lifted: allowed again');
  });

  await t.test('port forwarding is denied and the attempt recorded', async (t) => {
    const local = await freePort();
    const p = spawn('ssh', [...sshArgs(port, alice.file, ['-N', '-L', `127.0.0.1:${local}:127.0.0.1:${sshd.port}`]), 'alice@127.0.0.1'], { stdio: 'ignore' });
    t.teardown(() => p.kill());
    await new Promise((r) => setTimeout(r, 800));
    const got = await new Promise<string>((resolve) => {
      const c = net.connect(local, '127.0.0.1');
      let data = '';
      c.on('data', (d) => (data += d));
      c.on('close', () => resolve(data));
      c.on('error', () => resolve(data));
      setTimeout(() => c.destroy(), 2000);
    });
    t.notMatch(got, /SSH-2.0/, 'no banner of the target through the tunnel');
    const fwd = (await recordedFor('alice')).find((e) => e.type === 'ssh.forward') as Record<string, unknown> | undefined;
    t.match(fwd, { kind: 'direct-tcpip', allowed: false, dest_host: '127.0.0.1', dest_port: sshd.port }, 'the attempt is recorded');
  });

  await t.test('sftp batch: put, get, rename, mkdir, rmdir, rm; files intact; every operation a file.transfer', async (t) => {
    const local = tempDir('sg-sftp-local-');
    const remote = tempDir('sg-sftp-remote-');
    const data = randomBytes(5 * 1024 * 1024 + 123);
    writeFileSync(join(local, 'up.bin'), data);
    const batch = join(local, 'batch');
    writeFileSync(
      batch,
      [`cd ${remote}`, `put ${join(local, 'up.bin')} up.bin`, `get up.bin ${join(local, 'down.bin')}`, 'rename up.bin moved.bin', 'mkdir newdir', 'ls', 'rmdir newdir', 'rm moved.bin', ''].join('\n'),
    );
    const sftp = spawn(
      'sftp',
      ['-b', batch, '-P', String(port), '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'IdentityAgent=none', '-i', alice.file, '-o', 'IdentitiesOnly=yes', 'alice@127.0.0.1'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    sftp.stderr.on('data', (d) => (err += d));
    sftp.stdout.resume();
    const code = await new Promise<number | null>((r) => sftp.on('close', r));
    t.equal(code, 0, `sftp batch ran (${err.trim()})`);
    t.ok(readFileSync(join(local, 'down.bin')).equals(data), 'the file came back byte for byte');
    let ops: Record<string, unknown>[] = [];
    for (let i = 0; i < 50; i++) {
      ops = (await recordedFor('alice')).filter((e) => e.type === 'file.transfer' && String((e as { path?: string }).path ?? '').startsWith(remote)) as unknown as Record<string, unknown>[];
      if (ops.length >= 7) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const by = (direction: string) => ops.filter((o) => o.direction === direction);
    t.match(by('upload'), [{ path: `${remote}/up.bin`, bytes: data.length, result: 'ok', protocol: 'sftp', server: { name: 'web1' } }], 'the upload, with its size');
    t.match(by('download'), [{ path: `${remote}/up.bin`, bytes: data.length, result: 'ok' }], 'the download');
    t.match(by('rename'), [{ path: `${remote}/up.bin`, to_path: `${remote}/moved.bin`, result: 'ok' }]);
    t.match(by('mkdir'), [{ path: `${remote}/newdir`, result: 'ok' }]);
    t.match(by('rmdir'), [{ path: `${remote}/newdir`, result: 'ok' }]);
    t.match(by('remove'), [{ path: `${remote}/moved.bin`, result: 'ok' }]);
    t.ok(by('list').length >= 1, 'the listing');
  });

  await t.test('a local target runs its command on the gateway host: exec and an interactive pty', async (t) => {
    const r = await run([...sshArgs(port, alice.file), 'carol@127.0.0.1', 'echo "$SESSIONGATE_USER"; echo e >&2; exit 4']);
    t.equal(r.stdout.toString(), 'carol\n', 'exec without a pty, as the gateway user, told who');
    t.match(r.stderr, 'e');
    t.equal(r.code, 4);
    const term = pty.spawn('ssh', [...sshArgs(port, alice.file, ['-tt']), 'carol@box@127.0.0.1'], { cols: 90, rows: 33 });
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    term.write('stty size\r');
    await until(term, (s) => s.includes('33 90'));
    term.write('exit 5\r');
    t.equal(await exited, 5);
    let local: Awaited<ReturnType<typeof sessions>>[number] | undefined;
    for (let i = 0; i < 50 && !local; i++) {
      local = (await sessions()).find((x) => x.end && x.start.protocol === 'local');
      if (!local) await new Promise((r) => setTimeout(r, 100));
    }
    t.match(local?.start, { protocol: 'local', account: 'local', server: { name: 'box', os: 'Gateway host' } }, 'recorded as a local session');
  });

  await t.test('garbage before the banner closes that connection; others go on', async (t) => {
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.on('connect', r));
    s.write(Buffer.concat([randomBytes(4096), Buffer.from('\r\nGET / HTTP/1.1\r\n\r\n')]));
    await new Promise((r) => {
      s.on('close', r);
      s.on('error', r);
      setTimeout(() => {
        s.destroy();
        r(undefined);
      }, 5000);
    });
    const r = await run([...sshArgs(port, alice.file), 'alice@127.0.0.1', 'echo still']);
    t.equal(r.stdout.toString(), 'still\n');
  });

  // Last: it closes the SSH front end.
  await t.test('shutdown: an open session is told why, ended, and recorded as gateway_shutdown', async (t) => {
    const term = pty.spawn('ssh', [...sshArgs(port, alice.file, ['-tt']), 'alice@127.0.0.1'], { cols: 80, rows: 24 });
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    term.write('echo $((6*7))y\r');
    await until(term, (s) => s.includes('42y'));
    const seen = until(term, (s) => s.includes('shutting down'));
    const started = Date.now();
    await gw.frontends.find((f) => f.protocol === 'ssh')!.close(5_000);
    t.ok(Date.now() - started < 6_000, `the front end closed within its grace and the end (${Date.now() - started} ms)`);
    await seen;
    await exited;
    await new Promise((r) => setTimeout(r, 200));
    t.ok((await sessions()).some((x) => x.end?.reason === 'gateway_shutdown'), 'recorded as gateway_shutdown');
  });
});
