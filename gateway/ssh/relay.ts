// One authenticated client connection relayed to its target connection: session channels with
// pty, env, shell, exec, subsystem, window-change, signals, EOF, exit status and exit signal.
// The client's channel request is accepted at once and its stream paused until the target's
// channel is open (a late accept breaks `exec` with empty stdin). Forwarding of any kind is
// refused unless the target allows it, and every attempt is recorded.
import { Writable, type Duplex } from 'node:stream';
import type ssh2 from 'ssh2';
import type { SshTargetConfig } from '../../config/schema.js';

type ServerChannel = ssh2.ServerChannel;
type ClientChannel = ssh2.ClientChannel;

export interface PtyInfo {
  cols: number;
  rows: number;
  width: number;
  height: number;
  term: string;
}

/** What the relay tells its owner (events, recording, idle time). */
export interface RelayObserver {
  /** Bytes moved, either way (idle time restarts). */
  activity(): void;
  /** `abort(message)` ends this channel (e.g. a malformed SFTP stream). */
  channelStart(kind: 'shell' | 'exec' | 'subsystem', info: { command?: string; subsystem?: string; pty?: PtyInfo }, abort: (message: string) => void): ChannelObserver;
  forwardAttempt(kind: 'tcpip' | 'direct-tcpip' | 'streamlocal' | 'agent' | 'x11', allowed: boolean, dest?: { host: string; port: number }): void;
}

export interface ChannelObserver {
  output?(chunk: Buffer): void;
  stderr?(chunk: Buffer): void;
  input?(chunk: Buffer): void;
  resize?(cols: number, rows: number): void;
  end(result: { exit_code?: number; exit_signal?: string; bytes_in: number; bytes_out: number; error?: string }): void;
}

/** Terminal sizes from clients are bounded: a hostile 2^32 x 2^32 never reaches a target or a recorder. */
export function clampSize(n: unknown, max: number, fallback: number): number {
  return typeof n === 'number' && Number.isFinite(n) && n >= 1 ? Math.min(Math.floor(n), max) : fallback;
}

function ptyOf(info: { cols?: number; rows?: number; width?: number; height?: number; term?: string }): PtyInfo {
  return {
    cols: clampSize(info.cols, 1000, 80),
    rows: clampSize(info.rows, 1000, 24),
    width: clampSize(info.width, 100_000, 0) || 0,
    height: clampSize(info.height, 100_000, 0) || 0,
    term: typeof info.term === 'string' && /^[A-Za-z0-9._+-]{1,64}$/.test(info.term) ? info.term : 'xterm',
  };
}

const MAX_ENV = 64;
/** Remote forwards (`ssh -R`) one connection may hold open on its target. */
const MAX_REMOTE_FORWARDS = 32;
/** Bytes queued on a client's socket above which the target is no longer read. */
const MAX_QUEUED = 8 * 1024 * 1024;
/** Below this a peer's declared max packet is raised: at 0, ssh2 loops forever cutting output into empty packets. */
const MIN_PACKET = 1024;

function floorPacket(out: { packetSize: number } | undefined): void {
  if (out && !(out.packetSize >= MIN_PACKET)) out.packetSize = MIN_PACKET;
}
/** The signal names RFC 4254 defines (and ssh2 sends). */
const SIGNALS: ReadonlySet<unknown> = new Set(['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2']);

/** The transport under an ssh2 Connection or Client (a LocalUpstream has none). */
function socketOf(conn: unknown): Writable | undefined {
  const s = (conn as { _sock?: unknown })._sock;
  return s instanceof Writable && typeof (s as Writable).cork === 'function' ? (s as Writable) : undefined;
}

/** Bytes a corked socket may hold before they are written out without waiting for the end of the turn. */
const BATCH_BYTES = 256 * 1024;

/**
 * ssh2 writes every SSH packet to its socket on its own: one syscall per 32 KiB packet, and one
 * more per window adjust. While either socket delivers data, both are corked, and uncorked at
 * the end of the event loop's turn (setImmediate): what a turn of reads produced leaves as one
 * writev per socket (profiled on a 200 MB transfer: the gateway's write cost fell by about a
 * third). A socket holding BATCH_BYTES or more is written out after the read that filled it
 * (process.nextTick), so a bulk transfer never holds more than that (held buffers outlive young
 * GCs and get promoted, and it bounds memory). An interactive byte waits only for the rest of
 * the current turn.
 */
function batchWrites(socks: (Writable | undefined)[]): void {
  const live = socks.filter((s): s is Writable => s !== undefined);
  if (!live.length) return;
  let corked = false;
  let checking = false;
  const uncork = () => {
    corked = false;
    for (const s of live) s.uncork();
  };
  const flushFull = () => {
    checking = false;
    if (!corked) return;
    for (const s of live)
      if (s.writableLength >= BATCH_BYTES) {
        s.uncork();
        s.cork();
      }
  };
  const onData = () => {
    if (!checking) {
      checking = true;
      process.nextTick(flushFull);
    }
    if (corked) return;
    corked = true;
    for (const s of live) s.cork();
    setImmediate(uncork);
  };
  for (const s of live) s.prependListener('data', onData);
}

export class Relay {
  private readonly channels = new Set<{ client: ServerChannel; up?: ClientChannel }>();
  /** `addr:port` of the client's remote forwards that the target listens on. */
  private readonly remoteForwards = new Set<string>();

  constructor(
    private readonly client: ssh2.Connection,
    private readonly upstream: ssh2.Client,
    private readonly target: SshTargetConfig,
    private readonly observer: RelayObserver,
  ) {
    client.on('session', (accept) => {
      const session = accept();
      floorPacket((session as unknown as { _chanInfo?: { outgoing?: { packetSize: number } } })._chanInfo?.outgoing);
      this.session(session);
    });
    client.on('tcpip', (accept, reject, info) => {
      // direct-tcpip (ssh -L): a channel to a host the target can reach.
      const allowed = target.allow.port_forwarding;
      observer.forwardAttempt('direct-tcpip', allowed, { host: String(info.destIP).slice(0, 253), port: info.destPort });
      if (!allowed) return reject();
      upstream.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, up) => {
        if (err) return reject();
        const ch = accept();
        floorPacket((ch as unknown as { outgoing?: { packetSize: number } }).outgoing);
        this.pipeRaw(ch, up);
      });
    });
    client.on('openssh.streamlocal', (_accept, reject) => {
      observer.forwardAttempt('streamlocal', false);
      reject();
    });
    client.on('request', (accept, reject, name, info) => {
      // tcpip-forward (ssh -R): the target listens (forwardIn) and its connections come back to
      // the client as forwarded-tcpip channels; refused (and recorded) unless the target allows it.
      if (name === 'tcpip-forward') this.remoteForward(accept, reject, info);
      else if (name === 'cancel-tcpip-forward') this.cancelRemoteForward(accept, reject, info);
      else reject?.();
    });
    upstream.on('tcp connection', (details: ssh2.TcpConnectionDetails, accept: () => ClientChannel, reject: () => void) => this.forwardedConnection(details, accept, reject));
    upstream.on('close', () => this.closeAll());
    // Keystrokes and echoes leave at once (ssh2 sets TCP_NODELAY on neither side; upstream.ts does it for the target's).
    (socketOf(client) as { setNoDelay?(on: boolean): void } | undefined)?.setNoDelay?.(true);
    batchWrites([socketOf(client), socketOf(upstream)]);
  }

  /**
   * Ends every channel with a last line on its stderr (terminate, idle timeout, shutdown), then
   * resolves once the client has closed them (or after `graceMs`), so that the caller's
   * disconnect never overtakes the message.
   */
  async endAll(message: string, graceMs = 1000): Promise<void> {
    const closed: Promise<unknown>[] = [];
    for (const ch of this.channels) {
      closed.push(new Promise((r) => ch.client.once('close', r)));
      try {
        ch.up?.unpipe?.(ch.client);
        ch.client.stderr.write(`\r\n${message}\r\n`);
        ch.client.exit(255);
        ch.client.end();
      } catch {
        /* the channel may be gone already */
      }
      ch.up?.close();
    }
    this.channels.clear();
    if (closed.length) await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, graceMs))]);
  }

  private closeAll(): void {
    for (const ch of this.channels) {
      ch.up?.close();
      ch.client.end();
    }
    this.channels.clear();
  }

  private session(session: ssh2.Session): void {
    let pty: PtyInfo | undefined;
    const env: Record<string, string> = {};
    let started = false;
    let live: { up?: ClientChannel; obs?: ChannelObserver } = {};
    session.on('pty', (accept, reject, info) => {
      if (started) return reject?.();
      pty = ptyOf(info);
      accept?.();
    });
    session.on('env', (accept, reject, info) => {
      // Only names a shell would take, a bounded number; the target's own AcceptEnv decides the rest.
      if (Object.keys(env).length >= MAX_ENV || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(info.key) || String(info.val).length > 4096) return reject?.();
      env[info.key] = String(info.val);
      accept?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      const p = ptyOf({ ...pty, ...info });
      pty = p;
      live.up?.setWindow(p.rows, p.cols, p.height, p.width);
      live.obs?.resize?.(p.cols, p.rows);
      accept?.();
    });
    session.on('signal', (accept, reject, info) => {
      // ssh2 throws on a name outside RFC 4254's list, which would end the whole connection.
      if (!live.up || !SIGNALS.has(info.name)) return reject?.();
      try {
        live.up.signal(info.name);
      } catch {
        return reject?.();
      }
      accept?.();
    });
    session.on('auth-agent', (_accept, reject) => {
      this.observer.forwardAttempt('agent', false);
      reject?.();
    });
    session.on('x11', (_accept, reject) => {
      this.observer.forwardAttempt('x11', false);
      reject?.();
    });
    const start = (kind: 'shell' | 'exec' | 'subsystem', accept: () => ServerChannel, detail: { command?: string; subsystem?: string }) => {
      if (started) return false;
      started = true;
      const stream = accept();
      stream.pause();
      const entry: { client: ServerChannel; up?: ClientChannel } = { client: stream };
      this.channels.add(entry);
      const abort = (message: string) => {
        try {
          stream.stderr.write(`sessiongate: ${message}\r\n`);
          stream.exit(255);
          stream.end();
        } catch {
          /* gone already */
        }
        entry.up?.close();
      };
      const obs = this.observer.channelStart(kind, { ...detail, ...(pty ? { pty } : {}) }, abort);
      live = { obs };
      const opened = (err: Error | undefined, up: ClientChannel) => {
        if (err) {
          stream.stderr.write(`sessiongate: the target refused the ${kind}: ${err.message}\r\n`);
          stream.exit(1);
          stream.end();
          this.channels.delete(entry);
          obs.end({ bytes_in: 0, bytes_out: 0, error: err.message });
          return;
        }
        entry.up = up;
        live.up = up;
        // A window-change that came while the target's channel was opening applies now.
        if (pty && window && (pty.cols !== window.cols || pty.rows !== window.rows)) up.setWindow(pty.rows, pty.cols, pty.height, pty.width);
        this.relayChannel(stream, up, obs, () => this.channels.delete(entry));
      };
      const window = pty ? { rows: pty.rows, cols: pty.cols, height: pty.height, width: pty.width, term: pty.term } : false;
      if (kind === 'shell') this.upstream.shell(window, { env }, opened);
      else if (kind === 'exec') this.upstream.exec(detail.command!, { pty: window, env }, opened);
      else this.upstream.subsys(detail.subsystem!, opened);
      return true;
    };
    session.on('shell', (accept, reject) => {
      if (!start('shell', accept, {})) reject?.();
    });
    session.on('exec', (accept, reject, info) => {
      if (typeof info.command !== 'string' || info.command.length > 65_536 || !start('exec', accept, { command: info.command })) reject?.();
    });
    const subsystem = (name: string) => (accept: () => ServerChannel, reject?: () => void) => {
      if (!/^[A-Za-z0-9@._-]{1,64}$/.test(name) || !start('subsystem', accept, { subsystem: name })) reject?.();
    };
    // No 'sftp' listener on purpose: without one ssh2 hands SFTP over as a raw `subsystem` channel,
    // which is relayed as bytes (and read on the side), never terminated here.
    session.on('subsystem', (accept, reject, info) => subsystem(info.name)(accept, reject));
  }

  private relayChannel(client: ServerChannel, up: ClientChannel, obs: ChannelObserver, done: () => void): void {
    let bytesIn = 0;
    let bytesOut = 0;
    let exit: { code?: number; signal?: string; dump?: boolean; desc?: string } = {};
    client.on('data', (d: Buffer) => {
      bytesIn += d.length;
      obs.input?.(d);
      this.observer.activity();
    });
    up.on('data', (d: Buffer) => {
      bytesOut += d.length;
      obs.output?.(d);
      this.observer.activity();
    });
    up.stderr.on('data', (d: Buffer) => {
      bytesOut += d.length;
      obs.stderr?.(d);
    });
    client.pipe(up);
    up.pipe(client, { end: false });
    up.stderr.pipe(client.stderr, { end: false });
    // ssh2 writes to the client's socket whatever its window allows: a client that declares a
    // huge window and stops reading would have the target's output pile up here. Stop reading
    // the target while the socket holds more than MAX_QUEUED (its flow control does the rest).
    const sock = (this.client as unknown as { _sock?: { writableLength?: number; once?: (e: 'drain', f: () => void) => void } })._sock;
    let held = false;
    const hold = () => {
      if (!sock?.once || (sock.writableLength ?? 0) <= MAX_QUEUED) return;
      up.pause();
      up.stderr.pause();
      if (held) return;
      held = true;
      sock.once('drain', () => {
        held = false;
        up.resume();
        up.stderr.resume();
      });
    };
    up.on('data', hold);
    up.stderr.on('data', hold);
    up.on('exit', (code: number | null, signal?: string, dump?: boolean, desc?: string) => {
      exit = code !== null && code !== undefined ? { code } : { ...(signal ? { signal } : {}), ...(dump !== undefined ? { dump } : {}), ...(desc ? { desc } : {}) };
    });
    let ended = false;
    const finish = () => {
      if (ended) return;
      ended = true;
      // Exit status before EOF and close: a client that already sent EOF closes on our EOF.
      try {
        if (exit.code !== undefined) client.exit(exit.code);
        else if (exit.signal) client.exit(exit.signal, exit.dump ?? false, exit.desc ?? '');
        client.end();
      } catch {
        /* the client is gone */
      }
      done();
      obs.end({ ...(exit.code !== undefined ? { exit_code: exit.code } : {}), ...(exit.signal ? { exit_signal: exit.signal } : {}), bytes_in: bytesIn, bytes_out: bytesOut });
    };
    up.on('close', finish);
    client.on('close', () => {
      up.close();
      finish();
    });
    client.resume();
  }

  /** The client's `ssh -R`: bindAddr and bindPort as it asked; the target's real port is the answer (for port 0). */
  private remoteForward(accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined, info: unknown): void {
    const i = (info ?? {}) as { bindAddr?: unknown; bindPort?: unknown };
    const addr = typeof i.bindAddr === 'string' ? i.bindAddr : '';
    const port = typeof i.bindPort === 'number' && Number.isInteger(i.bindPort) && i.bindPort >= 0 && i.bindPort <= 65535 ? i.bindPort : -1;
    const allowed = this.target.allow.port_forwarding;
    this.observer.forwardAttempt('tcpip', allowed, { host: addr.slice(0, 253), port: Math.max(0, port) });
    const up = this.upstream as Partial<Pick<ssh2.Client, 'forwardIn'>>;
    if (!allowed || port < 0 || addr.length > 253 || this.remoteForwards.size >= MAX_REMOTE_FORWARDS || typeof up.forwardIn !== 'function') return reject?.();
    try {
      up.forwardIn.call(this.upstream, addr, port, (err, real) => {
        if (err) return reject?.();
        this.remoteForwards.add(`${addr}:${real}`);
        accept?.(real);
      });
    } catch {
      reject?.();
    }
  }

  private cancelRemoteForward(accept: (() => void) | undefined, reject: (() => void) | undefined, info: unknown): void {
    const i = (info ?? {}) as { bindAddr?: unknown; bindPort?: unknown };
    const key = `${String(i.bindAddr)}:${String(i.bindPort)}`;
    if (!this.remoteForwards.has(key)) return reject?.();
    try {
      this.upstream.unforwardIn(String(i.bindAddr), Number(i.bindPort), (err) => {
        if (err) return reject?.();
        this.remoteForwards.delete(key);
        accept?.();
      });
    } catch {
      reject?.();
    }
  }

  /** A connection to a listener of `ssh -R` on the target: a forwarded-tcpip channel to the client, then bytes both ways. */
  private forwardedConnection(details: ssh2.TcpConnectionDetails, accept: () => ClientChannel, reject: () => void): void {
    if (!this.target.allow.port_forwarding || !this.remoteForwards.has(`${details.destIP}:${details.destPort}`)) return reject();
    try {
      this.client.forwardOut(details.destIP, details.destPort, details.srcIP, details.srcPort, (err, ch) => {
        if (err) return reject();
        floorPacket((ch as unknown as { outgoing?: { packetSize: number } }).outgoing);
        this.pipeRaw(ch, accept());
      });
    } catch {
      reject();
    }
  }

  private pipeRaw(a: Duplex, b: Duplex): void {
    // Tunnelled bytes are activity too: an idle timeout never cuts a busy tunnel.
    a.on('data', () => this.observer.activity());
    b.on('data', () => this.observer.activity());
    a.pipe(b).pipe(a);
    const end = () => {
      a.destroy();
      b.destroy();
    };
    a.on('close', end);
    b.on('close', end);
  }
}
