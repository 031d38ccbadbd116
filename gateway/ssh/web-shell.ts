// The viewer's side of a web terminal: an ssh2 Client talking to this gateway's own SSH server
// over an in-memory stream (socket-pair.ts), so a browser session goes through the very same
// login checks, relay, recording, registry, idle timeout and terminate as `ssh` from a terminal,
// and is recorded with `connected_from: web`. The browser's IP and user agent stand in for the
// SSH client's address and version string.
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { User } from '../core/users.js';
import { clampSize } from './relay.js';

export interface WebShellRequest {
  /** The signed-in viewer user (must have the target in their SSH access). */
  user: User;
  server: string;
  account: string;
  /** The browser's address and user agent (seed 003's client IP and client name). */
  ip: string;
  clientName: string;
  cols: number;
  rows: number;
}

/** A target a user may open from the browser. */
export interface WebTarget {
  server: string;
  account: string;
  host: string;
  port: number;
  os?: string;
}

export interface WebShellEnd {
  exit_code?: number;
  exit_signal?: string;
}

export class WebShell {
  /** The recorded session's id (session.start/end, the recording). */
  sessionId = '';
  private endListeners: ((end: WebShellEnd) => void)[] = [];
  private result: WebShellEnd = {};
  private ended = false;

  private constructor(
    private readonly client: ssh2.Client,
    private readonly channel: ssh2.ClientChannel,
  ) {
    channel.on('exit', (code: number | null, signal?: string) => {
      this.result = code !== null && code !== undefined ? { exit_code: code } : signal ? { exit_signal: signal } : {};
    });
    const done = () => {
      if (this.ended) return;
      this.ended = true;
      client.end();
      for (const fn of this.endListeners.splice(0)) fn(this.result);
    };
    channel.on('close', done);
    client.on('close', done);
    client.on('error', () => done());
  }

  /** Logs in over `sock` and opens a shell with a pty; rejects when the login is refused. */
  static open(sock: Duplex, o: { login: string; cols: number; rows: number; timeoutMs: number }): Promise<WebShell> {
    const client = new ssh2.Client();
    return new Promise((resolve, reject) => {
      const fail = (e: Error) => {
        client.end();
        sock.destroy();
        reject(e);
      };
      client.once('error', fail);
      client.once('ready', () => {
        client.shell({ term: 'xterm-256color', cols: clampSize(o.cols, 1000, 80), rows: clampSize(o.rows, 1000, 24) }, (err, channel) => {
          if (err) return fail(err);
          client.off('error', fail);
          resolve(new WebShell(client, channel));
        });
      });
      let tried = false;
      client.connect({
        sock: sock as never,
        username: o.login,
        // In-process: the server end is this gateway's own listener.
        hostVerifier: () => true,
        readyTimeout: o.timeoutMs,
        // Who the user is was settled at the viewer's sign-in; the server end knows the stream.
        authHandler: (_methods: unknown, _partial: unknown, next: (m: unknown) => void) => {
          next(tried ? false : 'none');
          tried = true;
        },
      } as ssh2.ConnectConfig);
    });
  }

  /** @internal */
  started(sessionId: string): WebShell {
    this.sessionId = sessionId;
    return this;
  }

  onData(fn: (chunk: Buffer) => void): void {
    this.channel.on('data', fn);
    this.channel.stderr.on('data', fn);
  }

  /** Called once, when the session has ended (exit, terminate, idle timeout, target gone). */
  onEnd(fn: (end: WebShellEnd) => void): void {
    if (this.ended) fn(this.result);
    else this.endListeners.push(fn);
  }

  write(data: Buffer): void {
    if (!this.ended) this.channel.write(data);
  }

  resize(cols: number, rows: number): void {
    if (!this.ended) this.channel.setWindow(clampSize(rows, 1000, 24), clampSize(cols, 1000, 80), 0, 0);
  }

  /** Backpressure from the browser: stops reading, so the SSH window stops the target. */
  pause(): void {
    this.channel.pause();
  }

  resume(): void {
    this.channel.resume();
  }

  close(): void {
    if (this.ended) return;
    this.channel.end();
    this.client.end();
  }
}
