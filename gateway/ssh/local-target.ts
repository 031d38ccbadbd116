// `type: local` targets: the configured command on the gateway host, under a pty (node-pty) for
// shells and pty execs, as plain pipes for an exec without a pty. This is the part of ssh2's
// Client the relay uses (shell, exec, subsys, forwardOut, end and 'close'), so a local session
// is relayed, recorded and ended exactly like one to a server.
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { EventEmitter } from 'node:events';
import { Duplex, PassThrough } from 'node:stream';
import { constants } from 'node:os';
import * as pty from 'node-pty';
import type { SshTargetConfig } from '../../config/schema.js';

type Window = { rows: number; cols: number; height?: number; width?: number; term?: string } | false;
type Opened = (err: Error | undefined, channel: LocalChannel) => void;

/** `SIGTERM` -> `TERM`, as SSH names signals. */
function sshSignal(sig: string | number | null | undefined): string | undefined {
  if (typeof sig === 'number') sig = Object.entries(constants.signals).find(([, n]) => n === sig)?.[0];
  return typeof sig === 'string' && sig ? sig.replace(/^SIG/, '') : undefined;
}

/** One process as a channel: data both ways, `stderr`, `setWindow`, `signal`, 'exit' then 'close'. */
export class LocalChannel extends Duplex {
  readonly stderr = new PassThrough();
  private done = false;

  constructor(
    private readonly io: { write(d: Buffer): void; end(): void; resize?(cols: number, rows: number): void; kill(sig?: string): void },
  ) {
    super();
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (!this.done) this.io.write(chunk);
    cb();
  }

  override _final(cb: () => void): void {
    if (!this.done) this.io.end();
    cb();
  }

  setWindow(rows: number, cols: number): void {
    this.io.resize?.(cols, rows);
  }

  signal(name: string): void {
    if (!this.done) this.io.kill(`SIG${name}`);
  }

  close(): void {
    if (this.done) return;
    this.io.kill('SIGHUP');
  }

  /** The process ended: exit status or signal, then EOF and close (ssh2's order). */
  exited(code: number | null, signal: string | undefined): void {
    if (this.done) return;
    this.done = true;
    if (signal) this.emit('exit', null, signal, false, '');
    else this.emit('exit', code ?? 0);
    this.stderr.end();
    this.push(null);
    setImmediate(() => this.emit('close'));
  }
}

export class LocalUpstream extends EventEmitter {
  private readonly channels = new Set<LocalChannel>();
  private ended = false;

  constructor(
    private readonly target: SshTargetConfig,
    private readonly env: Record<string, string>,
  ) {
    super();
  }

  shell(window: Window, _opts: unknown, cb: Opened): void {
    this.ptyChannel(this.target.command!, window, cb);
  }

  exec(command: string, opts: { pty?: Window }, cb: Opened): void {
    const argv = [...this.target.command!, '-c', command];
    if (opts.pty) return this.ptyChannel(argv, opts.pty, cb);
    const child = spawn(argv[0]!, argv.slice(1), { cwd: this.target.cwd, env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const ch = this.track(
      new LocalChannel({
        write: (d) => child.stdin.write(d),
        end: () => child.stdin.end(),
        kill: (sig) => child.kill((sig ?? 'SIGTERM') as NodeJS.Signals),
      }),
    );
    child.stdin.on('error', () => {});
    child.stdout.on('data', (d: Buffer) => ch.push(d));
    child.stderr.on('data', (d: Buffer) => ch.stderr.write(d));
    child.on('error', (e) => {
      ch.stderr.write(`${e.message}\n`);
      ch.exited(127, undefined);
    });
    child.on('close', (code, sig) => ch.exited(code, sshSignal(sig)));
    cb(undefined, ch);
  }

  subsys(name: string, cb: Opened): void {
    cb(new Error(`the ${name} subsystem is not available on a local target`), undefined as unknown as LocalChannel);
  }

  forwardOut(_a: string, _b: number, _c: string, _d: number, cb: (err: Error | undefined) => void): void {
    cb(new Error('no forwarding on a local target'));
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const ch of this.channels) ch.close();
    if (!this.channels.size) setImmediate(() => this.emit('close'));
  }

  private ptyChannel(argv: readonly string[], window: Window, cb: Opened): void {
    let p: pty.IPty;
    try {
      p = pty.spawn(argv[0]!, argv.slice(1), {
        name: (window && window.term) || 'xterm-256color',
        cols: window ? window.cols : 80,
        rows: window ? window.rows : 24,
        cwd: this.target.cwd ?? process.cwd(),
        env: this.env,
      });
    } catch (e) {
      cb(e as Error, undefined as unknown as LocalChannel);
      return;
    }
    // node-pty takes strings: decode input incrementally so a character split across packets survives.
    const input = new StringDecoder('utf8');
    const ch = this.track(
      new LocalChannel({
        write: (d) => p.write(input.write(d)),
        end: () => {},
        resize: (cols, rows) => p.resize(cols, rows),
        kill: (sig) => p.kill(sig),
      }),
    );
    p.onData((d) => ch.push(Buffer.from(d, 'utf8')));
    p.onExit(({ exitCode, signal }) => ch.exited(exitCode, signal ? sshSignal(signal) : undefined));
    cb(undefined, ch);
  }

  private track(ch: LocalChannel): LocalChannel {
    this.channels.add(ch);
    ch.on('close', () => {
      this.channels.delete(ch);
      if (this.ended && !this.channels.size) this.emit('close');
    });
    return ch;
  }
}
