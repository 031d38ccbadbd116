// The gateway's control connection to one FTP server: commands go out one line at a time and
// each waits for its final reply (1xx replies are preliminary and handed to the caller); replies
// match commands in order (RFC 959), so pipelined and hidden commands (the gateway's own PASV,
// PWD) stay paired. A reply nobody waits for (e.g. `421 Timeout` from the server) goes to
// onUnsolicited. Any protocol error or close rejects every waiter.
import net from 'node:net';
import type tls from 'node:tls';
import { ReplyError, ReplyParser, type Reply } from './replies.js';
import { clientTls, type UpstreamTls } from './tls.js';

interface Waiter {
  prelim: ((r: Reply) => void) | undefined;
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
}

export class UpstreamClosed extends Error {}

export class UpstreamControl {
  private parser = new ReplyParser();
  private readonly waiters: Waiter[] = [];
  private closedWith: Error | undefined;
  private address: string;
  /** The TLS session to resume on data connections (the newest ticket the server gave). */
  tlsSession: Buffer | undefined;
  /** The control connection is TLS (after a 234 to AUTH TLS and a handshake that passed). */
  secure = false;
  onUnsolicited: (r: Reply) => void = () => undefined;
  onClose: (e: Error) => void = () => undefined;

  private readonly onData = (chunk: Buffer) => {
    let replies: Reply[];
    try {
      replies = this.parser.push(chunk);
    } catch (e) {
      this.fail(e instanceof ReplyError ? e : new ReplyError(String(e)));
      this.socket.destroy();
      return;
    }
    for (const r of replies) this.dispatch(r);
  };

  private constructor(public socket: net.Socket) {
    this.address = socket.remoteAddress ?? '';
    socket.once('connect', () => (this.address = socket.remoteAddress ?? ''));
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new UpstreamClosed('the FTP server closed the control connection')));
  }

  /** Connects and reads the greeting (a final 2xx; 120 "ready in n minutes" is waited out). */
  static connect(host: string, port: number, timeoutMs: number): Promise<{ ctl: UpstreamControl; greeting: Reply }> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const ctl = new UpstreamControl(socket);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no greeting from ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      ctl.waiters.push({
        prelim: undefined,
        resolve: (greeting) => {
          clearTimeout(timer);
          if (greeting.code >= 200 && greeting.code < 300) resolve({ ctl, greeting });
          else {
            socket.destroy();
            reject(new Error(`the server refused the connection: ${greeting.lines[0]}`));
          }
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  get remoteAddress(): string {
    return this.address;
  }

  /**
   * AUTH TLS toward the server. Resolves false when the server refuses it (any reply but 234: the
   * connection stays clear); true once the handshake passed the policy. Rejects (and the
   * connection is closed) when the handshake or the certificate check fails, or after timeoutMs.
   */
  async startTls(policy: UpstreamTls, timeoutMs: number): Promise<boolean> {
    const r = await this.send('AUTH TLS');
    if (r.code !== 234) return false;
    if (this.waiters.length) throw new Error('commands pending during AUTH TLS');
    const raw = this.socket;
    raw.off('data', this.onData);
    const { socket, ready } = clientTls(raw, policy, undefined);
    this.socket = socket;
    this.parser = new ReplyParser();
    socket.on('data', this.onData);
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new UpstreamClosed('the FTP server closed the control connection')));
    socket.on('session', (s: Buffer) => (this.tlsSession = s));
    const timer = setTimeout(() => socket.destroy(new Error(`TLS handshake with the server not done within ${timeoutMs} ms`)), timeoutMs);
    try {
      await ready;
    } catch (e) {
      this.fail(e as Error);
      socket.destroy();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    this.secure = true;
    return true;
  }

  /** Wraps one of the server's data connections in TLS, resuming the control connection's session. */
  dataTls(sock: net.Socket, policy: UpstreamTls): tls.TLSSocket {
    const { socket } = clientTls(sock, policy, this.tlsSession);
    // Servers that keep single-use tickets hand out a new one on each connection.
    socket.on('session', (s: Buffer) => (this.tlsSession = s));
    return socket;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Sends one command line (no line end) and resolves with its final reply. */
  send(line: Buffer | string, prelim?: (r: Reply) => void): Promise<Reply> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.waiters.push({ prelim, resolve, reject });
      this.socket.write(typeof line === 'string' ? Buffer.from(`${line}\r\n`, 'utf8') : Buffer.concat([line, CRLF]));
    });
  }

  /** QUIT without waiting, then close. */
  quit(): void {
    if (this.closedWith) return;
    this.socket.end('QUIT\r\n');
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private dispatch(r: Reply): void {
    const w = this.waiters[0];
    if (!w) return this.onUnsolicited(r);
    if (r.code < 200) {
      w.prelim?.(r);
      return;
    }
    this.waiters.shift();
    w.resolve(r);
  }

  private fail(e: Error): void {
    if (this.closedWith) return;
    this.closedWith = e;
    for (const w of this.waiters.splice(0)) w.reject(e);
    this.onClose(e);
  }
}

const CRLF = Buffer.from('\r\n');
