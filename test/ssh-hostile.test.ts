// Hostile input against the SSH front end (issue 5 "Bad input"): one real gateway with an SSH
// listener in front of a real sshd, attacked with raw TCP sockets and with an ssh2 Client driven
// below its public API (bare channels with hostile window and packet sizes, hand-made channel
// requests, raw bytes on an SFTP channel). For every case: the bad connection or channel ends,
// or the request is refused; the gateway stays up (it runs in this process: a crash ends the
// test); and a good interactive session through the real OpenSSH client, opened before any
// attack, still answers afterwards (and a fresh login works).
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pty from 'node-pty';
import ssh2 from 'ssh2';
import { startTestGateway, tempDir } from './helpers/gateway.js';
import { keygen, sshArgs, startSshd, targetYaml, ptyUntil } from './helpers/sshd.js';
import { packet, pk } from './fixtures/sftp-packets.js';
import { FXP } from '../gateway/ssh/sftp/protocol.js';
import type { SgEvent } from '../recorder/events.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- ssh2 internals and recorded rows are read field by field */

const LOGIN_TIMEOUT_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------- raw SSH wire helpers ----------

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const sshString = (s: string | Buffer) => {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return Buffer.concat([u32(b.length), b]);
};

/** An unencrypted binary packet (RFC 4253 6) as sent before the first key exchange ends. */
function plainPacket(payload: Buffer): Buffer {
  let pad = 8 - ((4 + 1 + payload.length) % 8);
  if (pad < 4) pad += 8;
  return Buffer.concat([u32(1 + payload.length + pad), Buffer.from([pad]), payload, Buffer.alloc(pad)]);
}

function kexinit(): Buffer {
  const lists = ['curve25519-sha256', 'ssh-ed25519', 'aes128-ctr', 'aes128-ctr', 'hmac-sha2-256', 'hmac-sha2-256', 'none', 'none', '', ''];
  return plainPacket(Buffer.concat([Buffer.from([20]), randomBytes(16), ...lists.map((l) => sshString(l)), Buffer.from([0]), u32(0)]));
}

/** Sends one SSH message (payload: message number first) on an established ssh2 Client. */
function sendRaw(c: ssh2.Client, payload: Buffer): void {
  const proto = (c as any)._protocol;
  const rw = proto._packetRW.write;
  const at = rw.allocStart;
  const p = rw.alloc(payload.length);
  payload.copy(p, at);
  proto._cipher.encrypt(rw.finalize(p));
}

type Chan = ssh2.ClientChannel & { outgoing: { id: number; window: number; packetSize: number; state: string }; _callbacks: ((failed: boolean) => void)[] };

/** Opens a session channel without any request, declaring our own window and max packet. */
function openBare(c: ssh2.Client, window = 2 * 1024 * 1024, maxPacket = 32 * 1024): Promise<Chan> {
  return new Promise((resolve, reject) => {
    const cb = ((err: Error | undefined, ch: Chan) => (err ? reject(err) : resolve(ch))) as any;
    cb.type = 'session';
    const local = (c as any)._chanMgr.add(cb);
    (c as any)._protocol.session(local, window, maxPacket);
  });
}

/** A CHANNEL_REQUEST built by hand: 'success' / 'failure' when a reply was asked for, else 'sent'. */
function chanRequest(c: ssh2.Client, ch: Chan, type: string, wantReply: boolean, data: Buffer = Buffer.alloc(0)): Promise<'success' | 'failure' | 'sent' | 'gone'> {
  const payload = Buffer.concat([Buffer.from([98]), u32(ch.outgoing.id), sshString(type), Buffer.from([wantReply ? 1 : 0]), data]);
  if (!wantReply) {
    sendRaw(c, payload);
    return Promise.resolve('sent');
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply to the ${type.slice(0, 20)} request within 10 s`)), 10_000);
    ch._callbacks.push((failed) => {
      clearTimeout(timer);
      // ssh2 also fails pending callbacks when the channel or connection goes: tell those apart.
      resolve(failed ? (ch.outgoing.state === 'open' && (c as any)._sock?.writable ? 'failure' : 'gone') : 'success');
    });
    sendRaw(c, payload);
  });
}

interface Outcome {
  stdout: Buffer;
  stderr: string;
  code?: number | null;
  signal?: string;
}

/** Everything a channel sends until it closes. */
function collect(ch: ssh2.ClientChannel, ms = 20_000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let stderr = '';
    const o: Outcome = { stdout: Buffer.alloc(0), stderr: '' };
    const timer = setTimeout(() => reject(new Error(`channel still open after ${ms} ms; stderr so far: ${stderr}`)), ms);
    ch.on('data', (d: Buffer) => out.push(d));
    ch.stderr.on('data', (d: Buffer) => (stderr += d));
    ch.on('exit', (code: number | null, signal?: string) => {
      o.code = code;
      if (signal) o.signal = signal;
    });
    ch.on('close', () => {
      clearTimeout(timer);
      resolve({ ...o, stdout: Buffer.concat(out), stderr });
    });
  });
}

function connect(port: number, username: string, keyFile: string): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('error', (e) => reject(e));
    c.once('ready', () => resolve(c));
    c.connect({ host: '127.0.0.1', port, username, privateKey: readFileSync(keyFile), readyTimeout: 15_000 });
  });
}

/** Resolves when the connection is gone (close), with the error it saw, if any. */
function closed(c: ssh2.Client, ms = 15_000): Promise<Error | undefined> {
  return new Promise((resolve, reject) => {
    let err: Error | undefined;
    const timer = setTimeout(() => reject(new Error(`connection still open after ${ms} ms`)), ms);
    c.on('error', (e) => (err = e));
    c.on('close', () => {
      clearTimeout(timer);
      resolve(err);
    });
  });
}

/** A raw TCP client: what it received and when the gateway closed it. */
function rawSocket(port: number): Promise<{ s: net.Socket; got: () => Buffer; ended: Promise<number>; opened: number }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => undefined);
    const ended = new Promise<number>((r) => s.on('close', () => r(Date.now())));
    s.once('error', reject);
    s.on('connect', () => resolve({ s, got: () => Buffer.concat(chunks), ended, opened: Date.now() }));
  });
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))]);
}

function runSsh(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const until = (term: pty.IPty, pred: (s: string) => boolean, ms = 15_000) => ptyUntil(term, pred, ms);

t.test('hostile input against the SSH front end', async (t) => {
  const sshd = await startSshd(t);
  if (!sshd) return;
  const dir = tempDir('sg-ssh-hostile-');
  const alice = keygen(dir, 'alice_key');
  const mallory = keygen(dir, 'mallory_key');
  const { gw, dataDir } = await startTestGateway(
    t,
    `data_dir: \${DATA}
viewer: { enabled: false }
ssh:
  listeners:
    - { name: ssh, listen: 127.0.0.1:0, idle_timeout: 10m, login_timeout: ${LOGIN_TIMEOUT_MS}ms }
  targets:
${targetYaml(sshd, 'web1')}    - name: box
      type: local
      command: [/bin/sh]
      accounts:
        - { name: local }
`,
  );
  const port = gw.frontends.find((f) => f.protocol === 'ssh')!.addresses()[0]!.port;
  await gw.users.add({ name: 'alice', password: 'alice-ssh-password-1' });
  await gw.users.setSshAccess('alice', { ssh_keys: [alice.pub], targets: [{ server: 'web1', account: 'root' }] });
  await gw.users.add({ name: 'mallory', password: 'mallory-ssh-password-1' });
  await gw.users.setSshAccess('mallory', { ssh_keys: [mallory.pub], targets: [{ server: 'web1', account: 'root' }, { server: 'box', account: 'local' }] });

  const recorded = async (login: string): Promise<(SgEvent & Record<string, any>)[]> => {
    await gw.recorder.flush();
    return gw.recorder.store.timeline({ login, limit: 500 }).items as (SgEvent & Record<string, any>)[];
  };
  const timeouts = async () => {
    await gw.recorder.flush();
    return (gw.recorder.store.query('activity', { action: 'login_failed', limit: 500 }).items as (SgEvent & { details?: Record<string, unknown> })[]).filter((e) => e.details?.reason === 'login_timeout');
  };
  const transfers = async () => (await recorded('mallory')).filter((e) => e.type === 'file.transfer');

  // The good session: the real OpenSSH client, interactive, opened before any attack.
  const term = pty.spawn('ssh', [...sshArgs(port, alice.file, ['-tt']), 'alice@127.0.0.1'], { cols: 100, rows: 30 });
  const goodExit = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
  let goodDone = false;
  void goodExit.then(() => (goodDone = true));
  t.teardown(() => {
    if (!goodDone) term.kill();
  });
  let probes = 0;
  const goodStillWorks = async (t: Test) => {
    const n = 1000 + ++probes;
    // A computed answer: the local pty's echo of the typed line does not contain it.
    term.write(`echo $((${n}*7))ok\r`);
    await until(term, (s) => s.includes(`${n * 7}ok`));
    t.pass('the good interactive session opened before the attack still answers');
    const fresh = await runSsh([...sshArgs(port, alice.file), 'alice@127.0.0.1', 'echo fresh']);
    t.equal(fresh.stdout, 'fresh\n', 'and a fresh login works');
  };
  term.write('PS1="$ "; echo $((6*7))go\r');
  await until(term, (s) => s.includes('42go'));
  t.equal(gw.registry.list().filter((s) => s.protocol === 'ssh').length, 1, 'the good session is live');

  await t.test('garbage before the banner: random bytes, a huge line, an HTTP request are cut off', async (t) => {
    const cases: [string, Buffer][] = [
      ['random bytes', randomBytes(64 * 1024)],
      ['a 1 MB line without a newline', Buffer.alloc(1 << 20, 'A')],
      ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: gateway\r\nUser-Agent: curl/8\r\n\r\n')],
      ['an SSH-1 banner', Buffer.from('SSH-1.5-OldClient\r\n')],
    ];
    for (const [what, bytes] of cases) {
      const r = await rawSocket(port);
      r.s.write(bytes);
      const at = await within(r.ended, 5000, `${what}: the gateway closes the connection`);
      t.ok(at - r.opened < 5000, `${what}: closed after ${at - r.opened} ms`);
      t.match(r.got().toString('latin1'), /^SSH-2\.0-Sessiongate/, `${what}: only the gateway's own banner came back`);
    }
    await goodStillWorks(t);
  });

  await t.test('a client that stalls mid-handshake is cut off by login_timeout and recorded', async (t) => {
    const before = (await timeouts()).length;
    const stalls: [string, Buffer][] = [
      ['the banner, then nothing', Buffer.from('SSH-2.0-Staller_1.0\r\n')],
      ['the banner and KEXINIT, then nothing', Buffer.concat([Buffer.from('SSH-2.0-Staller_1.0\r\n'), kexinit()])],
    ];
    const runs = await Promise.all(
      stalls.map(async ([what, bytes]) => {
        const r = await rawSocket(port);
        r.s.write(bytes);
        const at = await within(r.ended, LOGIN_TIMEOUT_MS + 5000, `${what}: cut off`);
        return { what, ms: at - r.opened, got: r.got() };
      }),
    );
    for (const r of runs) {
      t.ok(r.ms >= LOGIN_TIMEOUT_MS - 100 && r.ms < LOGIN_TIMEOUT_MS + 4000, `${r.what}: cut off after ${r.ms} ms (login_timeout ${LOGIN_TIMEOUT_MS} ms)`);
    }
    t.match(runs[1]!.got.toString('latin1'), /^SSH-2\.0-Sessiongate/, 'the KEXINIT staller got the banner (and the gateway KEXINIT)');
    let after: Awaited<ReturnType<typeof timeouts>> = [];
    for (let i = 0; i < 50; i++) {
      after = await timeouts();
      if (after.length >= before + 2) break;
      await sleep(100);
    }
    t.equal(after.length - before, 2, 'one login_failed activity per staller');
    t.match(after.at(-1), { type: 'activity', action: 'login_failed', ip: '127.0.0.1', details: { protocol: 'ssh', listener: 'ssh', reason: 'login_timeout' } }, 'reason login_timeout');

    // A client that connects and never sends a byte is cut off the same way.
    const silent = await rawSocket(port);
    const at = await within(silent.ended, LOGIN_TIMEOUT_MS + 5000, 'a silent client: cut off');
    t.ok(at - silent.opened < LOGIN_TIMEOUT_MS + 4000, `a silent client: cut off after ${at - silent.opened} ms`);
    await goodStillWorks(t);
  });

  await t.test('huge window and packet sizes, window-adjust overflow', async (t) => {
    const c = await connect(port, 'mallory@web1', mallory.file);
    const gone = closed(c);
    // Window and max packet of 2^32-1: output comes through in packets the gateway chooses.
    const ch = await openBare(c, 0xffffffff, 0xffffffff);
    t.equal(await chanRequest(c, ch, 'exec', true, sshString('head -c 3000000 /dev/zero | od -An -v | wc -c')), 'success', 'exec accepted');
    // The overflow: two adjusts of 2^32-1 (the window would pass 2^33).
    sendRaw(c, Buffer.concat([Buffer.from([93]), u32(ch.outgoing.id), u32(0xffffffff)]));
    sendRaw(c, Buffer.concat([Buffer.from([93]), u32(ch.outgoing.id), u32(0xffffffff)]));
    const o = await collect(ch);
    t.equal(o.code, 0, 'the command ran to its end');
    t.ok(Number(o.stdout.toString().trim()) > 3_000_000, `its output arrived (${o.stdout.toString().trim()} bytes counted by the target)`);

    // Output through a huge window to a client that does not read: the gateway must not queue
    // it all in memory (it stops reading the target instead).
    const ch2 = await openBare(c, 0xffffffff, 0xffffffff);
    t.equal(await chanRequest(c, ch2, 'exec', true, sshString('head -c 300000000 /dev/zero')), 'success');
    const sock = (c as any)._sock as net.Socket;
    sock.pause();
    await sleep(3000);
    c.end();
    sock.destroy();
    await gone.catch(() => undefined);
    let exec: Record<string, any> | undefined;
    for (let i = 0; i < 100 && !exec; i++) {
      exec = (await recorded('mallory')).find((e) => e.type === 'ssh.exec' && e.command === 'head -c 300000000 /dev/zero');
      if (!exec) await sleep(100);
    }
    t.ok(exec, 'the exec is recorded');
    t.ok(exec!.bytes_out < 64 * 1024 * 1024, `the gateway read ${exec!.bytes_out} bytes from the target for a client that read nothing (bounded)`);

    // A declared max packet of 0 (ssh2 would loop forever splitting output into 0-byte packets).
    const c2 = await connect(port, 'mallory@web1', mallory.file);
    const gone2 = closed(c2);
    const ch3 = await openBare(c2, 1024 * 1024, 0);
    const r = await chanRequest(c2, ch3, 'exec', true, sshString('echo tiny'));
    t.ok(r === 'success' || r === 'failure', `exec answered (${r})`);
    await sleep(500);
    c2.end();
    await gone2.catch(() => undefined);
    await goodStillWorks(t);
  });

  await t.test('bogus channel requests are refused; the channel and the connection go on', async (t) => {
    const c = await connect(port, 'mallory@web1', mallory.file);
    const gone = closed(c, 60_000);

    // Unknown request types asking for a reply.
    const ch = await openBare(c);
    t.equal(await chanRequest(c, ch, 'evil@example.com', true, randomBytes(64)), 'failure', 'an unknown request type: failure');
    t.equal(await chanRequest(c, ch, '', true), 'failure', 'an empty request type: failure');
    t.equal(await chanRequest(c, ch, 'x'.repeat(5000), true), 'failure', 'a 5000-character request type: failure');
    // Requests that make no sense before a command.
    t.equal(await chanRequest(c, ch, 'signal', true, sshString('TERM')), 'failure', 'a signal before any command: failure');
    // env: a flood, a bad name, a huge value.
    const envReplies: string[] = [];
    for (let i = 0; i < 200; i++) envReplies.push(await chanRequest(c, ch, 'env', true, Buffer.concat([sshString(`SG_${i}`), sshString(`v${i}`)])));
    t.equal(envReplies.filter((r) => r === 'success').length, 64, 'the first 64 variables are taken');
    t.equal(envReplies.filter((r) => r === 'failure').length, 136, 'the rest of an env flood is refused');
    t.equal(await chanRequest(c, ch, 'env', true, Buffer.concat([sshString('BAD NAME;rm'), sshString('x')])), 'failure', 'a malformed variable name: failure');
    t.equal(await chanRequest(c, ch, 'env', true, Buffer.concat([sshString('SG_BIG'), sshString('x'.repeat(20_000))])), 'failure', 'a 20 KB value: failure');
    // The channel still takes a command, with only the variables the gateway accepted.
    t.equal(await chanRequest(c, ch, 'exec', true, sshString('env | grep -c "^SG_"; echo "$SG_0 $SG_63 [$SG_64]"')), 'success');
    const o = await collect(ch);
    t.equal(o.stdout.toString(), '64\nv0 v63 []\n', 'the target got the 64 accepted variables');
    t.equal(o.code, 0);

    // Signals with unknown names: refused, the command goes on; a real one still works (on a
    // local target: the test sshd does not deliver signals).
    const cl = await connect(port, 'mallory@box', mallory.file);
    const sig = await openBare(cl);
    t.equal(await chanRequest(cl, sig, 'exec', true, sshString('exec sleep 30')), 'success');
    const sigDone = collect(sig);
    await sleep(300);
    // (Once a command runs, ssh2 answers no channel request, so these go without want_reply.
    // Before the fix, ssh2 threw on FOO and the whole connection was cut.)
    for (const name of ['FOO', 'SIGTERM', 'term', 'X'.repeat(17), '', 'TERM\0']) await chanRequest(cl, sig, 'signal', false, sshString(name));
    await sleep(500);
    t.equal(gw.registry.list().filter((s) => s.login === 'mallory').length, 2, 'signals with unknown names: both connections are still there');
    t.equal(await chanRequest(cl, sig, 'signal', false, sshString('TERM')), 'sent', 'then a real TERM');
    const so = await sigDone;
    t.match(so.signal, /^(SIG)?TERM$/, 'the command died of SIGTERM, as the target reported');
    cl.end();

    // pty-req with absurd sizes, window-change with zeros and huge values: clamped.
    const sh = await openBare(c);
    const ptyReq = Buffer.concat([sshString('xterm'), u32(100_000), u32(100_000), u32(0xffffffff), u32(0xffffffff), sshString(Buffer.from([0]))]);
    t.equal(await chanRequest(c, sh, 'pty-req', true, ptyReq), 'success', 'pty-req 100000x100000: accepted (clamped)');
    t.equal(await chanRequest(c, sh, 'pty-req', true, ptyReq), 'success', 'a second pty-req before the shell: taken (the last one counts)');
    t.equal(await chanRequest(c, sh, 'shell', true), 'success');
    const shDone = collect(sh);
    let shText = '';
    sh.on('data', (d: Buffer) => (shText += d.toString()));
    sh.write('stty size; echo $((6*7))sized\n');
    for (let i = 0; i < 200 && !shText.includes('42sized'); i++) await sleep(50);
    for (const [cols, rows] of [[0, 0], [0xffffffff, 0xffffffff], [120, 40]] as const) {
      t.equal(await chanRequest(c, sh, 'window-change', false, Buffer.concat([u32(cols), u32(rows), u32(0), u32(0)])), 'sent');
    }
    await sleep(300);
    sh.write('stty size; exit\n');
    const shOut = await shDone;
    t.match(shOut.stdout.toString(), /1000 1000/, 'the target saw the clamped size 1000x1000');
    t.match(shOut.stdout.toString(), /40 120/, 'then the last sane window-change');

    // exec of a 1 MB command: more than an SSH packet may carry; the connection is cut.
    const big = await openBare(c);
    void chanRequest(c, big, 'exec', true, sshString('x'.repeat(1 << 20)));
    const err = await gone;
    t.ok(true, `the connection with the 1 MB exec was cut (${err?.message ?? 'closed'})`);

    // The cast of the pty channel: header and resizes clamped.
    let end: Record<string, any> | undefined;
    for (let i = 0; i < 100 && !end; i++) {
      // mallory's only channel with a pty so far: the only session.end with a recording.
      end = (await recorded('mallory')).find((e) => e.type === 'session.end' && e.recording);
      if (!end) await sleep(100);
    }
    t.ok(end?.recording, 'session.end names the recording');
    const cast = readFileSync(join(dataDir, 'recordings', end!.recording.path), 'utf8').split('\n');
    const header = JSON.parse(cast[0]!) as { width: number; height: number };
    t.same([header.width, header.height], [1000, 1000], 'the cast header size is clamped to 1000x1000');
    const resizes = cast.slice(1).filter(Boolean).map((l) => JSON.parse(l) as [number, string, string]).filter((e) => e[1] === 'r').map((e) => e[2]);
    t.ok(resizes.every((r) => /^(\d+)x(\d+)$/.test(r) && r.split('x').every((n) => Number(n) >= 1 && Number(n) <= 1000)), `every resize in bounds: ${resizes.join(', ')}`);
    t.equal(resizes.at(-1), '120x40', 'the last resize');

    // Requests cut short (fields missing): ssh2 calls the packet malformed and ends that
    // connection (a protocol error), before any handler of ours sees it.
    const truncated: [string, string, Buffer][] = [
      ['an env without its value', 'env', sshString('SG_ONLY_NAME')],
      ['a pty-req without sizes', 'pty-req', sshString('xterm')],
      ['a signal without a name', 'signal', Buffer.alloc(0)],
      ['a subsystem without a name', 'subsystem', Buffer.alloc(0)],
      ['an exec with a command length past the packet', 'exec', u32(1000)],
    ];
    for (const [what, type, data] of truncated) {
      const c2 = await connect(port, 'mallory@web1', mallory.file);
      const gone2 = closed(c2);
      const ch2 = await openBare(c2);
      const r = await chanRequest(c2, ch2, type, true, data).catch(() => 'no reply');
      t.not(r, 'success', `${what}: not taken (${r})`);
      await gone2;
      t.pass(`${what}: that connection is cut`);
    }
    await goodStillWorks(t);
  });

  await t.test('subsystems with unknown or malformed names; many channels at once', async (t) => {
    const c = await connect(port, 'mallory@web1', mallory.file);
    const gone = closed(c, 60_000);
    const unknown = await openBare(c);
    t.equal(await chanRequest(c, unknown, 'subsystem', true, sshString('nosuch')), 'success', 'an unknown subsystem name is passed to the target');
    const u = await collect(unknown);
    t.equal(u.code, 1, 'the target refused it: exit 1');
    t.match(u.stderr, /the target refused the subsystem/);
    for (const name of ['', 'a b', '../../bin/sh', 'x'.repeat(200), 'sftp\0evil']) {
      const ch = await openBare(c);
      t.equal(await chanRequest(c, ch, 'subsystem', true, sshString(name)), 'failure', `subsystem ${JSON.stringify(name.slice(0, 20))}: failure`);
      ch.close();
    }

    // 50 channels at once: each runs or is refused by the target (its MaxSessions), none hangs.
    const before = (await recorded('mallory')).filter((e) => e.type === 'ssh.exec').length;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        new Promise<Outcome>((resolve, reject) =>
          c.exec(`echo ch${i}`, (err, ch) => {
            if (err) return reject(err);
            collect(ch).then(resolve, reject);
          }),
        ),
      ),
    );
    const ran = results.filter((r, i) => r.code === 0 && r.stdout.toString() === `ch${i}\n`).length;
    const refused = results.filter((r) => r.code === 1 && /the target refused the exec/.test(r.stderr)).length;
    t.equal(ran + refused, 50, `every channel ran (${ran}) or was refused by the target (${refused})`);
    t.ok(ran >= 1, 'the target ran what its MaxSessions allowed');
    c.end();
    await gone;
    let execs = 0;
    for (let i = 0; i < 100; i++) {
      execs = (await recorded('mallory')).filter((e) => e.type === 'ssh.exec').length - before;
      if (execs >= 50) break;
      await sleep(100);
    }
    t.equal(execs, 50, 'one ssh.exec record per channel');
    await goodStillWorks(t);
  });

  await t.test('malformed SFTP packets end the SFTP channel, not the connection; no bogus transfers', async (t) => {
    const c = await connect(port, 'mallory@web1', mallory.file);
    const gone = closed(c, 60_000);
    const sftp = () => new Promise<ssh2.ClientChannel>((resolve, reject) => c.subsys('sftp', (err, ch) => (err ? reject(err) : resolve(ch))));
    const before = (await transfers()).length;
    const init = pk.init();
    const cases: [string, Buffer, boolean][] = [
      ['a length field of 0xFFFFFFFF', Buffer.concat([u32(0xffffffff), Buffer.from([FXP.INIT])]), true],
      ['0xFFFFFFFF after INIT', Buffer.concat([init, u32(0xffffffff), Buffer.from([FXP.OPEN]), randomBytes(64)]), true],
      ['a packet length of 0', Buffer.concat([init, u32(0), Buffer.from([FXP.OPEN])]), true],
      ['an OPEN cut short (its length covers only the id)', Buffer.concat([init, u32(5), Buffer.from([FXP.OPEN]), u32(7)]), true],
      ['a string length past the packet end', Buffer.concat([init, packet(FXP.OPEN, 9, { raw: u32(0xffff0000) }, { raw: Buffer.from('/etc/passwd') })]), true],
      ['a WRITE with a 100 KB handle', Buffer.concat([init, packet(FXP.WRITE, 3, Buffer.alloc(100_000, 1), { u64: 0 }, Buffer.from('x'))]), true],
      ['a WRITE whose data length is past the packet', Buffer.concat([init, packet(FXP.WRITE, 3, 'h', { u64: 0 }, { raw: u32(0x7fffffff) }, { raw: Buffer.from('data') })]), true],
      ['a packet before INIT', pk.open(1, '/etc/passwd', 1), true],
    ];
    for (const [what, bytes] of cases) {
      const ch = await sftp();
      const done = collect(ch).catch((e: Error) => {
        throw new Error(`${what}: ${e.message}`);
      });
      ch.write(bytes);
      const o = await done;
      t.ok(o.code !== 0, `${what}: the channel ended (exit ${o.code}${o.signal ? `, ${o.signal}` : ''})`);
      // The target may give up first on some of these; when the gateway did, it said why.
      if (/sessiongate/.test(o.stderr)) t.match(o.stderr, /malformed SFTP stream/, `${what}: the gateway's reason`);
    }
    // The same gateway check, proven for the case the target accepts: an unknown packet type is
    // skipped (the target answers it), a length of 0xFFFFFFFF after it ends the channel.
    const ch = await sftp();
    const done = collect(ch);
    const replies: Buffer[] = [];
    ch.on('data', (d: Buffer) => replies.push(d));
    // A REALPATH (16), which the audit does not track: relayed, answered by the target (NAME).
    ch.write(Buffer.concat([init, packet(16, 78, '/')]));
    const second = () => {
      const rep = Buffer.concat(replies);
      const at = rep.length >= 4 ? rep.readUInt32BE(0) + 4 : Infinity;
      return rep.length >= at + 9 ? { rep, at } : undefined;
    };
    for (let i = 0; i < 100 && !second(); i++) await sleep(50);
    const got = second();
    t.ok(got, 'two replies came');
    if (!got) t.comment(Buffer.concat(replies).toString('hex'));
    t.equal(got!.rep[4], FXP.VERSION, 'the target answered INIT');
    t.equal(got!.rep[got!.at + 4], FXP.NAME, 'after an unknown packet type the stream goes on: REALPATH answered');
    t.equal(got!.rep.readUInt32BE(got!.at + 5), 78, 'for its request id');
    // Type 250 is no SFTP packet: the audit skips it; what happens next is the target's call.
    let closedEarly = false;
    ch.on('close', () => (closedEarly = true));
    ch.write(packet(250, 77, 'whatever'));
    await sleep(700);
    t.comment(`after an unknown packet type the target ${closedEarly ? 'closed the channel' : 'kept the channel open'}`);
    ch.write(Buffer.concat([u32(0xffffffff), Buffer.from([1])]));
    const o = await done;
    t.equal(o.code, 255, 'then a hostile length: the gateway ends the channel (exit 255)');
    t.match(o.stderr, /sessiongate: malformed SFTP stream: the channel is closed/);

    // The connection's other channels go on.
    const ok = await new Promise<Outcome>((resolve, reject) => c.exec('echo still here', (err, e) => (err ? reject(err) : collect(e).then(resolve, reject))));
    t.equal(ok.stdout.toString(), 'still here\n', 'the same connection still runs commands');
    c.end();
    await gone;
    await sleep(300);
    t.equal((await transfers()).length - before, 0, 'no file.transfer records from malformed streams');
    await goodStillWorks(t);
  });

  await t.test('the good session ends normally; the gateway recorded it', async (t) => {
    term.write('exit 3\r');
    t.equal(await goodExit, 3, 'the good session\'s exit code');
    let end: Record<string, any> | undefined;
    for (let i = 0; i < 100 && !end; i++) {
      end = (await recorded('alice')).find((e) => e.type === 'session.end' && e.exit_code === 3);
      if (!end) await sleep(100);
    }
    t.match(end, { reason: /^(client_exit|upstream_exit)$/, recording: { size: Number, sha256: /^[0-9a-f]{64}$/ } });
  });
});
