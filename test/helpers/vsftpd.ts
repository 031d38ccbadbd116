// A real vsftpd for tests: its own config file in a temp dir, in the foreground (listen=YES,
// background=NO) on a free loopback port with its own passive port range, stopped by its PID at
// teardown. Anonymous logins only, with writes (upload, mkdir, rename, delete) in a temp root, and
// a password check: secure_email_list_enable accepts only the "e-mail" passwords listed in its
// file, so a wrong password gets a real 530 at PASS while no system account or PAM service has to
// be created on the machine. Logins `anonymous` and `ftp` are both vsftpd's anonymous user.
// vsftpd refuses a chroot root the anonymous user can write to: the root stays root-owned, and
// `pub/` (owned by the `ftp` system user) is where writes go. anon_max_rate slows transfers down
// so that progress can be watched. With `tls` (a PEM certificate and key) vsftpd offers explicit
// FTPS (AUTH TLS) to anonymous logins and requires it for logins and data (force_anon_*_ssl), with
// its default require_ssl_reuse=YES: a data connection must resume the control connection's TLS
// session.
import type { ChildProcess } from 'node:child_process';
import { spawnTied } from './tied-process.js';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { tempDir } from './gateway.js';
import { requireTool } from './interop.js';
import { ReplyParser, type Reply } from '../../gateway/ftp/replies.js';

export interface Vsftpd {
  port: number;
  /** The anonymous root (root-owned); `pub/` inside is writable. */
  root: string;
  /** The one password vsftpd accepts (for `anonymous` and `ftp`). */
  password: string;
  proc: ChildProcess;
  /** What vsftpd wrote to stderr so far. */
  stderr(): string;
}

/** `count` consecutive loopback ports that are free now, in 20000-59999. */
export async function freePortRange(count: number): Promise<{ from: number; to: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const from = 20000 + Math.floor(Math.random() * 40000);
    let ok = true;
    for (let p = from; p < from + count && ok; p++) ok = await canBind(p);
    if (ok) return { from, to: from + count - 1 };
  }
  throw new Error('no free port range found');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function waitForBanner(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('data', (d) => {
        c.destroy();
        r(d.toString().startsWith('220'));
      });
      c.on('error', () => r(false));
      c.setTimeout(1000, () => (c.destroy(), r(false)));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`vsftpd did not answer on ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts vsftpd, or returns undefined after skipping (failing under SESSIONGATE_REQUIRE_INTEROP=1). */
export async function startVsftpd(t: Test, opts: { maxRate?: number; password?: string; tls?: { cert: string; key: string } } = {}): Promise<Vsftpd | undefined> {
  const bin = requireTool(t, 'vsftpd');
  if (!bin) return undefined;
  if (userInfo().uid !== 0) {
    // vsftpd needs root to chroot and switch to the `ftp` user.
    const msg = 'vsftpd tests need root (vsftpd chroots and switches to the ftp user)';
    if (process.env.SESSIONGATE_REQUIRE_INTEROP === '1') t.fail(`SESSIONGATE_REQUIRE_INTEROP=1 and ${msg}`);
    else t.comment(`SKIP: ${msg}`);
    return undefined;
  }
  const dir = tempDir('sg-vsftpd-');
  const root = join(dir, 'root');
  mkdirSync(join(root, 'pub'), { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(root, 0o755);
  const ftpUser = await ftpIds();
  chownSync(join(root, 'pub'), ftpUser.uid, ftpUser.gid);
  chmodSync(join(root, 'pub'), 0o755);
  const emptyDir = '/var/run/vsftpd/empty';
  if (!existsSync(emptyDir)) mkdirSync(emptyDir, { recursive: true, mode: 0o755 });
  const password = opts.password ?? 'vsftpd-test-pass@example.com';
  writeFileSync(join(dir, 'email_passwords'), `${password}\n`, { mode: 0o644 });
  const port = await freePort();
  const pasv = await freePortRange(20);
  const cfg = join(dir, 'vsftpd.conf');
  writeFileSync(
    cfg,
    [
      'listen=YES',
      'listen_ipv6=NO',
      'background=NO',
      'listen_address=127.0.0.1',
      `listen_port=${port}`,
      'anonymous_enable=YES',
      'local_enable=NO',
      'write_enable=YES',
      'anon_upload_enable=YES',
      'anon_mkdir_write_enable=YES',
      'anon_other_write_enable=YES',
      `anon_root=${root}`,
      'anon_umask=022',
      'no_anon_password=NO',
      'secure_email_list_enable=YES',
      `email_password_file=${join(dir, 'email_passwords')}`,
      'pasv_enable=YES',
      `pasv_min_port=${pasv.from}`,
      `pasv_max_port=${pasv.to}`,
      'port_enable=YES',
      'connect_from_port_20=NO',
      'seccomp_sandbox=NO',
      `secure_chroot_dir=${emptyDir}`,
      'xferlog_enable=NO',
      'dirmessage_enable=NO',
      'use_localtime=NO',
      'max_clients=50',
      'max_per_ip=50',
      ...(opts.maxRate ? [`anon_max_rate=${opts.maxRate}`] : []),
      ...(opts.tls
        ? ['ssl_enable=YES', `rsa_cert_file=${opts.tls.cert}`, `rsa_private_key_file=${opts.tls.key}`, 'allow_anon_ssl=YES', 'force_anon_logins_ssl=YES', 'force_anon_data_ssl=YES', 'require_ssl_reuse=YES']
        : []),
      'idle_session_timeout=120',
      'data_connection_timeout=60',
      'accept_timeout=30',
      'connect_timeout=30',
      '',
    ].join('\n'),
  );
  const { proc } = spawnTied(t, bin, [cfg]);
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  try {
    await waitForBanner(port, 10_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}; vsftpd said: ${stderr}`);
  }
  return { port, root, password, proc, stderr: () => stderr };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function ftpIds(): Promise<{ uid: number; gid: number }> {
  const { readFileSync } = await import('node:fs');
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ftp:'));
  if (!line) throw new Error('vsftpd needs the `ftp` system user (created by the vsftpd package)');
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/**
 * A raw FTP control connection for exact checks (hostile input, timeouts): replies as parsed by the
 * gateway's own reply parser; send() writes bytes as given.
 */
export class RawFtp {
  private readonly parser = new ReplyParser();
  private readonly replies: Reply[] = [];
  private waiting: (() => void) | undefined;
  closed = false;
  readonly sock: net.Socket;

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.on('data', (d: Buffer) => {
      try {
        this.replies.push(...this.parser.push(d));
      } catch {
        /* not a reply: ignored */
      }
      this.waiting?.();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
  }

  static async connect(port: number, opts: { localAddress?: string } = {}): Promise<RawFtp> {
    const sock = net.connect({ port, host: '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    await new Promise<void>((r, j) => {
      sock.once('connect', () => r());
      sock.once('error', j);
    });
    const c = new RawFtp(sock);
    const greeting = await c.reply();
    if (greeting.code !== 220) throw new Error(`greeting ${greeting.lines[0]}`);
    return c;
  }

  /** The next reply (final or preliminary); rejects on close or after ms. */
  async reply(ms = 10_000): Promise<Reply> {
    const end = Date.now() + ms;
    while (!this.replies.length) {
      if (this.closed) throw new Error('connection closed');
      const left = end - Date.now();
      if (left <= 0) throw new Error('no reply in time');
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        this.waiting = () => {
          clearTimeout(timer);
          r();
        };
      });
      this.waiting = undefined;
    }
    return this.replies.shift()!;
  }

  /** Sends `line` + CRLF (a Buffer is sent as is) and returns the next reply. */
  async cmd(line: string | Buffer, ms?: number): Promise<Reply> {
    this.sock.write(typeof line === 'string' ? `${line}\r\n` : line);
    return this.reply(ms);
  }

  async login(user: string, pass: string): Promise<Reply> {
    const u = await this.cmd(`USER ${user}`);
    if (u.code !== 331) return u;
    return this.cmd(`PASS ${pass}`);
  }

  /** Resolves once the gateway has closed the connection. */
  async closedWithin(ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (!this.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close(): void {
    this.sock.destroy();
  }
}
