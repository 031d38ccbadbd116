// A real vsftpd for tests (the set-up shared with the FTP bench: bench/lib/vsftpd.ts), started in
// the foreground and tied to the test process (tied-process.ts). Logins `anonymous` and `ftp` are
// both vsftpd's anonymous user; a wrong password gets a real 530. anon_max_rate slows transfers
// down so that progress can be watched. With `tls` vsftpd requires explicit FTPS for logins and
// data, with session reuse on data connections (require_ssl_reuse=YES).
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { userInfo } from 'node:os';
import type { Test } from 'tap';
import { freePortRange, prepareVsftpd, waitForBanner } from '../../bench/lib/vsftpd.js';
import { ReplyParser, type Reply } from '../../gateway/ftp/replies.js';
import { tempDir } from './gateway.js';
import { requireTool } from './interop.js';
import { spawnTied } from './tied-process.js';

export { freePortRange };

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
  const password = opts.password ?? 'vsftpd-test-pass@example.com';
  const v = await prepareVsftpd(tempDir('sg-vsftpd-'), { password, active: true, ...(opts.maxRate ? { maxRate: opts.maxRate } : {}), ...(opts.tls ? { tls: opts.tls } : {}) });
  const { proc } = spawnTied(t, bin, [v.cfg]);
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  try {
    await waitForBanner(v.port, 10_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}; vsftpd said: ${stderr}`);
  }
  return { port: v.port, root: v.root, password, proc, stderr: () => stderr };
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
