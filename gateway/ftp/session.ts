// One FTP client connection through the gateway (DESIGN "Front ends: FTP"). The gateway greets
// the client itself, reads `USER login[@server]`, connects to that server and relays the login;
// after `230` the session is registered and recorded. Every client line is parsed (lines.ts) and
// handled one at a time; replies are relayed as the server sent them, except:
// - PASV/EPSV: the gateway asks the server for a passive port (EPSV, or PASV when the server has
//   no EPSV; the address in a 227 is ignored: the server's control address is used), connects to
//   it, opens its own passive listener and answers with its own address (227) or port (229).
// - PORT/EPRT: allowed only to the client's own IP and a port above 1023 (FTP bounce); the
//   gateway then still uses passive mode toward the server, and connects to the client itself when
//   the transfer command is sent.
// - AUTH/PBSZ/PROT/CCC are refused (no TLS in this version) and AUTH is removed from FEAT.
// The final reply of a transfer reaches the client only once the data relay has finished, so the
// recorded byte count and result (ok / aborted / failed) are the ones the client saw.
import net from 'node:net';
import { posix } from 'node:path';
import type { FtpListenerConfig, FtpServerConfig } from '../../config/schema.js';
import type { AccessControl } from '../core/access.js';
import { newId } from '../core/ids.js';
import type { LiveSessionHandle, SessionRegistry } from '../core/registry.js';
import type { Clock, Logger } from '../core/runtime.js';
import type { Emitter } from '../../recorder/emitter.js';
import type { EndReason, ServerRef, TransferDirection, TransferResult, UserRef } from '../../recorder/events.js';
import { connectData, DataRelay, openPassive, sameIp, type PassiveWait, type PortPool } from './data.js';
import { LineSplitter, parseCommand, printable, type Command } from './lines.js';
import { encodeReply, parseEpsv, parseOpeningSize, parsePasv, parsePwd, reply, replyText, type Reply } from './replies.js';
import { SpeedMeter } from './speed.js';
import { UpstreamControl } from './upstream.js';

/** What the front end needs of the config's `directory` (login -> who; realm `ftp`). */
export interface FtpDirectory {
  lookup(login: string, realm: string): { name?: string; email?: string; client?: string; type?: string } | undefined;
}

export interface FtpSessionDeps {
  listener: FtpListenerConfig;
  /** Servers reachable through this listener, by lower-cased name. */
  servers: Map<string, FtpServerConfig>;
  defaultServer: FtpServerConfig;
  clock: Clock;
  logger: Logger;
  emitter: Emitter;
  registry: SessionRegistry;
  access: AccessControl;
  directory?: FtpDirectory;
  pool: PortPool;
  /** True while the front end shuts down. */
  closing: () => boolean;
}

const MAX_LINE = 4096;
const MAX_QUEUED_LINES = 64;
const MAX_STRIKES = 5;

/** Commands recorded as `ftp.command` (they read or change data, or concern the login or data channel). */
const RECORDED = new Set(['USER', 'PASS', 'ACCT', 'RETR', 'STOR', 'STOU', 'APPE', 'DELE', 'RNFR', 'RNTO', 'MKD', 'XMKD', 'RMD', 'XRMD', 'CWD', 'XCWD', 'CDUP', 'XCUP', 'LIST', 'NLST', 'MLSD', 'MLST', 'SIZE', 'MDTM', 'REST', 'SITE', 'ALLO', 'ABOR', 'PORT', 'EPRT', 'AUTH', 'SMNT', 'REIN']);
const TRANSFERS: Record<string, TransferDirection> = { RETR: 'download', STOR: 'upload', STOU: 'upload', APPE: 'upload', LIST: 'list', NLST: 'list', MLSD: 'list' };
const PRE_LOGIN_FEAT = reply(211, 'Features:\n EPRT\n EPSV\n MDTM\n PASV\n REST STREAM\n SIZE\n TVFS\nEnd');
const VERB_RE = /^[A-Z]{3,4}$/;

interface DataSetup {
  upstream: net.Socket;
  passive?: PassiveWait;
  active?: { host: string; port: number };
  close(): void;
}

interface Transfer {
  verb: string;
  /** The command's argument as sent (for the ftp.command record). */
  args: string;
  direction: TransferDirection;
  path: string;
  file: string;
  started: number;
  offset: number;
  size: number | undefined;
  meter: SpeedMeter;
  bytes: number;
  aborted: boolean;
  relay: DataRelay | undefined;
}

export class FtpSession {
  private readonly ip: string;
  private readonly splitter = new LineSplitter(MAX_LINE);
  private readonly inbox: Buffer[] = [];
  private busy = false;
  private strikes = 0;
  private loginFailures = 0;
  private upstream: UpstreamControl | undefined;
  private server: FtpServerConfig | undefined;
  /** USER sent and answered 331: PASS is next. */
  private pendingLogin: string | undefined;
  private login: string | undefined;
  private sessionId: string | undefined;
  private user: UserRef | undefined;
  private client: string | undefined;
  private handle: LiveSessionHandle | undefined;
  private startedAt = 0;
  private cwd = '/';
  private readonly sizes = new Map<string, number>();
  private rest = 0;
  private renameFrom: string | undefined;
  private data: DataSetup | undefined;
  private epsvAll = false;
  private upstreamNoEpsv = false;
  private transfer: Transfer | undefined;
  /** Resolves once the running transfer command's final reply has been written. */
  private transferWritten: Promise<void> = Promise.resolve();
  private bytesIn = 0;
  private bytesOut = 0;
  private lastActivity: number;
  private endReason: EndReason | undefined;
  private terminatedBy: { by: string; why: string } | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private details: Record<string, unknown> = {};
  private closed = false;
  private current: Promise<void> = Promise.resolve();
  readonly whenClosed: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    private readonly sock: net.Socket,
    private readonly deps: FtpSessionDeps,
  ) {
    this.ip = (sock.remoteAddress ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
    this.lastActivity = deps.clock.now();
    this.whenClosed = new Promise((r) => (this.resolveClosed = r));
    sock.setNoDelay(true);
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', (e) => deps.logger.debug({ err: e, ip: this.ip }, 'ftp client connection error'));
    sock.on('close', () => void this.onClose());
    this.write(reply(220, 'Sessiongate FTP gateway ready. Log in as USER login or USER login@server.'));
    const l = deps.listener;
    this.timers.push(
      setTimeout(() => {
        if (this.login || this.closed) return;
        this.refused(this.pendingLogin ?? '', 'login_timeout');
        this.hangUp(reply(421, 'Login timeout: closing the control connection.'));
      }, l.login_timeout),
    );
    if (l.idle_timeout > 0)
      this.timers.push(
        setInterval(() => {
          if (!this.login || this.transfer || this.endReason) return;
          if (deps.clock.now() - this.lastActivity >= l.idle_timeout) void this.end('idle_timeout', `Idle timeout (${Math.round(l.idle_timeout / 1000)} s): closing the control connection.`);
        }, Math.min(l.idle_timeout, 1000)),
      );
  }

  // ---------- client input ----------

  private onData(chunk: Buffer): void {
    if (this.endReason || this.closed) return;
    for (const ev of this.splitter.push(chunk)) {
      if (ev.kind === 'line') {
        // ABOR (and STAT) act on the running transfer: they cannot wait behind it.
        const verb = parseCommand(ev.line).verb;
        if (this.transfer && (verb === 'ABOR' || verb === 'STAT')) void this.urgent(ev.line);
        else this.inbox.push(ev.line);
      } else if (ev.kind === 'too_long') {
        this.strike(reply(500, `Command line too long (the limit is ${MAX_LINE} bytes).`), 'line too long');
      } else {
        const c = parseCommand(ev.line);
        this.strike(reply(500, 'Command refused: NUL or CR inside the line.'), ev.why === 'nul' ? 'NUL in line' : 'bare CR in line');
        if (this.sessionId) this.command(VERB_RE.test(c.verb) ? c.verb : printable(c.verb, 16), c.verb === 'PASS' ? undefined : printable(c.text, 512), 500, `refused: ${ev.why === 'nul' ? 'NUL' : 'bare CR'} inside the line`);
      }
      if (this.endReason || this.closed) return;
    }
    // A client that sends faster than commands are answered is read no further until they are.
    if (this.inbox.length >= MAX_QUEUED_LINES) this.sock.pause();
    this.pump();
  }

  private strike(r: Reply, why: string): void {
    this.write(r);
    if (++this.strikes >= MAX_STRIKES) this.abuse(why);
  }

  private abuse(why: string): void {
    this.deps.logger.warn({ ip: this.ip, why }, 'ftp client dropped: abusive input');
    if (this.sessionId) void this.end('error', `Too many bad commands (${why}): closing the control connection.`);
    else this.hangUp(reply(421, `Too many bad commands (${why}): closing the control connection.`));
  }

  private pump(): void {
    if (this.busy || this.endReason || this.closed) return;
    const line = this.inbox.shift();
    if (this.inbox.length < MAX_QUEUED_LINES / 2 && this.sock.isPaused()) this.sock.resume();
    if (!line) return;
    this.busy = true;
    this.lastActivity = this.deps.clock.now();
    this.handle?.touch();
    this.current = this.handleLine(line)
      .catch((e: unknown) => this.failed(e))
      .finally(() => {
        this.busy = false;
        this.pump();
      });
  }

  private failed(e: unknown): void {
    if (this.endReason || this.closed) return;
    this.deps.logger.debug({ err: e, ip: this.ip }, 'ftp command failed');
    if (this.upstream?.closed) {
      if (this.sessionId) void this.end('upstream_exit', 'Service not available: the server closed the connection.');
      else this.hangUp(reply(421, 'Service not available: the server closed the connection.'));
    } else this.write(reply(451, 'Requested action aborted: local error in processing.'));
  }

  private async handleLine(line: Buffer): Promise<void> {
    const c = parseCommand(line);
    if (!VERB_RE.test(c.verb)) return this.strike(reply(500, 'Unknown command.'), 'garbage');
    if (!this.login) return this.preLogin(c, line);
    return this.loggedIn(c, line);
  }

  // ---------- before login ----------

  private async preLogin(c: Command, line: Buffer): Promise<void> {
    switch (c.verb) {
      case 'USER':
        return this.user_(c);
      case 'PASS':
        return this.pass(c, line);
      case 'ACCT':
        if (!this.upstream || !this.pendingLogin) return this.write(reply(503, 'Login with USER first.'));
        return this.loginReply(await this.upstream.send(line));
      case 'FEAT':
        return this.write(PRE_LOGIN_FEAT);
      case 'SYST':
        return this.write(reply(215, 'UNIX Type: L8'));
      case 'NOOP':
        return this.write(reply(200, 'NOOP ok.'));
      case 'HELP':
        return this.write(reply(214, 'Log in with USER login[@server] and PASS.'));
      case 'OPTS':
        return this.write(/^utf8 on$/i.test(c.text.trim()) ? reply(200, 'Always in UTF8 mode.') : reply(501, 'Option not understood.'));
      case 'AUTH':
        return this.write(reply(502, 'AUTH not available: this gateway does not offer TLS.'));
      case 'QUIT':
        return this.hangUp(reply(221, 'Goodbye.'));
      default:
        return this.write(reply(530, 'Please login with USER and PASS.'));
    }
  }

  /** `login@server` picks a server of this listener; anything else is a login for the default server. */
  private pick(arg: string): { login: string; server: FtpServerConfig } {
    const at = arg.lastIndexOf('@');
    if (at > 0) {
      const s = this.deps.servers.get(arg.slice(at + 1).toLowerCase());
      if (s) return { login: arg.slice(0, at), server: s };
    }
    return { login: arg, server: this.deps.defaultServer };
  }

  private async user_(c: Command): Promise<void> {
    const wanted = c.text.trim();
    if (!wanted) return this.write(reply(501, 'USER needs a login.'));
    const { login, server } = this.pick(wanted);
    this.pendingLogin = undefined;
    if (this.deps.access.check({ ip: this.ip, login })) return this.loginRefused(login, server, 'locked', reply(530, 'Login refused: this login or address is locked.'));
    if (!this.upstream || this.server !== server || this.upstream.closed) {
      this.upstream?.destroy();
      this.upstream = undefined;
      try {
        const { ctl } = await UpstreamControl.connect(server.host, server.port, server.connect_timeout);
        this.upstream = ctl;
        this.server = server;
        ctl.onUnsolicited = (r) => this.unsolicited(r);
        ctl.onClose = () => this.upstreamClosed();
      } catch (e) {
        this.deps.logger.warn({ err: e, server: server.name }, 'ftp server unavailable');
        this.refused(login, 'server_unavailable', { server: server.name });
        return this.hangUp(reply(421, 'Service not available: the server cannot be reached.'));
      }
    }
    const r = await this.upstream.send(`USER ${login}`);
    if (r.code === 331 || r.code === 332) this.pendingLogin = login;
    else if (r.code === 230) {
      this.pendingLogin = login;
      return this.loginReply(r);
    } else if (r.code === 530) return this.loginRefused(login, server, 'bad_credentials', r);
    this.write(r);
  }

  private async pass(_c: Command, line: Buffer): Promise<void> {
    const login = this.pendingLogin;
    if (!this.upstream || !login || !this.server) return this.write(reply(503, 'Login with USER first.'));
    if (this.deps.access.check({ ip: this.ip, login })) {
      this.pendingLogin = undefined;
      return this.loginRefused(login, this.server, 'locked', reply(530, 'Login refused: this login or address is locked.'));
    }
    return this.loginReply(await this.upstream.send(line));
  }

  private loginReply(r: Reply): void {
    const login = this.pendingLogin!;
    if (r.code === 230) return void this.loggedInNow(login, r);
    if (r.code === 332) return this.write(r);
    this.pendingLogin = undefined;
    if (r.code === 530 || (r.code >= 400 && r.code < 600)) return this.loginRefused(login, this.server!, 'bad_credentials', r);
    this.write(r);
  }

  private loginRefused(login: string, server: FtpServerConfig, reason: string, r: Reply): void {
    this.refused(login, reason, { server: server.name, reply_code: r.code });
    this.write(r);
    if (++this.loginFailures >= this.deps.listener.max_login_attempts) this.hangUp(reply(421, 'Too many failed logins: closing the control connection.'));
  }

  private refused(login: string, reason: string, extra: Record<string, unknown> = {}): void {
    const l = this.deps.listener;
    this.deps.emitter.emit({
      type: 'activity',
      ip: this.ip,
      initiator: printable(login, 64) || '(none)',
      action: 'login_failed',
      description: `FTP login refused on ${l.name}: ${reason}`,
      details: { protocol: 'ftp', listener: l.name, reason, ...(login ? { login: printable(login, 256) } : {}), ...extra },
    });
  }

  private async loggedInNow(login: string, r: Reply): Promise<void> {
    const { clock, emitter, registry, listener } = this.deps;
    const server = this.server!;
    this.login = login;
    this.pendingLogin = undefined;
    this.sessionId = newId(clock.now());
    this.startedAt = clock.now();
    const dir = this.deps.directory?.lookup(login, 'ftp');
    const anonymous = /^(anonymous|ftp)$/i.test(login);
    const userType = dir?.type ?? (anonymous ? 'anonymous' : 'named');
    this.user = { login, ...(dir?.name ? { name: dir.name } : {}), ...(dir?.email ? { email: dir.email } : {}), ...(dir?.type ? { role: dir.type } : {}) };
    this.client = dir?.client;
    emitter.emit({ type: 'session.start', session_id: this.sessionId, protocol: 'ftp', listener: listener.name, ip: this.ip, user: this.user, ...(this.client ? { client: this.client } : {}), account: login, server: this.serverRef(), connected_from: 'proxy' });
    this.command('USER', login, 331);
    this.command('PASS', undefined, 230);
    // Where the login lands: asked before the client's next command is read.
    try {
      const pwd = await this.upstream!.send('PWD');
      this.cwd = (pwd.code === 257 && parsePwd(pwd)) || '/';
    } catch {
      /* the close handler ends the session */
    }
    this.details = { user_type: userType, status: 'idle', server: server.name, domain: server.domain ?? server.name, host: server.host, cwd: this.cwd, session_id: this.sessionId };
    this.handle = registry.register(
      { id: `ftp:${this.sessionId}`, protocol: 'ftp', listener: listener.name, ip: this.ip, user: this.user, ...(this.client ? { client: this.client } : {}), kind: userType, login, details: { ...this.details } },
      (actor, reason) => {
        this.terminatedBy = { by: actor.name, why: reason };
        return this.end('terminated', `Session terminated by ${actor.name}: ${reason}`);
      },
    );
    this.write(r);
  }

  private serverRef(): ServerRef {
    const s = this.server!;
    return { name: s.name, host: s.host, port: s.port };
  }

  // ---------- after login ----------

  private async loggedIn(c: Command, line: Buffer): Promise<void> {
    const up = this.upstream!;
    const v = c.verb;
    if (v in TRANSFERS) return this.runTransfer(c, line);
    switch (v) {
      case 'USER':
      case 'PASS':
      case 'ACCT':
      case 'REIN':
        this.write(reply(530, "Can't change to another user in this session."));
        if (v !== 'PASS') this.command(v, c.text, 530, 'refused: already logged in');
        return;
      case 'PASV':
      case 'EPSV':
        return this.passive(c);
      case 'PORT':
      case 'EPRT':
        return this.activeMode(c);
      case 'AUTH':
      case 'PBSZ':
      case 'PROT':
      case 'CCC':
        if (v === 'AUTH') this.command(v, c.text, 502, 'refused: no TLS on this gateway');
        return this.write(reply(502, `${v} not available: this gateway does not offer TLS.`));
      case 'FEAT': {
        const r = await up.send(line);
        if (r.code !== 211) return this.write(r);
        const keep = r.lines.filter((l, i) => i === 0 || i === r.lines.length - 1 || !/^\s*(AUTH|PBSZ|PROT|CCC|SSCN|CPSV)\b/i.test(l));
        return this.write({ code: r.code, lines: keep });
      }
      case 'QUIT': {
        const r = await up.send(line).catch(() => reply(221, 'Goodbye.'));
        this.endReason ??= 'client_exit';
        return this.hangUp(r);
      }
      case 'ABOR':
      case 'STAT':
        return this.relay(c, line);
      default:
        return this.relay(c, line);
    }
  }

  /** Relays one command and its reply, keeping the live state (cwd, sizes, REST, rename) and the records. */
  private async relay(c: Command, line: Buffer): Promise<void> {
    const v = c.verb;
    const cwdBefore = this.cwd;
    const path = this.resolve(c.text);
    const r = await this.upstream!.send(line);
    const ok = r.code >= 200 && r.code < 400;
    switch (v) {
      case 'CWD':
      case 'XCWD':
      case 'CDUP':
      case 'XCUP':
        if (r.code >= 200 && r.code < 300) {
          this.cwd = v === 'CDUP' || v === 'XCUP' ? posix.dirname(this.cwd) : path;
          const pwd = await this.upstream!.send('PWD').catch(() => undefined);
          if (pwd?.code === 257) this.cwd = parsePwd(pwd) ?? this.cwd;
          this.state({ cwd: this.cwd });
        }
        break;
      case 'PWD':
      case 'XPWD':
        if (r.code === 257) {
          this.cwd = parsePwd(r) ?? this.cwd;
          this.state({ cwd: this.cwd });
        }
        break;
      case 'SIZE':
        if (r.code === 213 && /^\d+$/.test(replyText(r).trim())) {
          if (this.sizes.size > 256) this.sizes.clear();
          this.sizes.set(path, Number(replyText(r).trim()));
        }
        break;
      case 'REST':
        this.rest = r.code === 350 && /^\d+$/.test(c.text.trim()) ? Number(c.text.trim()) : 0;
        break;
      case 'RNFR':
        this.renameFrom = r.code === 350 ? path : undefined;
        break;
      case 'RNTO':
        this.fileOp('rename', this.renameFrom ?? '?', ok, r, path);
        this.renameFrom = undefined;
        break;
      case 'DELE':
        this.fileOp('remove', path, ok, r);
        break;
      case 'MKD':
      case 'XMKD':
        this.fileOp('mkdir', (r.code === 257 && parsePwd(r)) || path, ok, r);
        break;
      case 'RMD':
      case 'XRMD':
        this.fileOp('rmdir', path, ok, r);
        break;
    }
    if (RECORDED.has(v)) this.command(v, c.text, r.code, undefined, cwdBefore);
    this.write(r);
  }

  private resolve(arg: string): string {
    const a = arg.trim();
    return a ? posix.resolve(this.cwd, a) : this.cwd;
  }

  // ---------- data channel ----------

  private closeData(): void {
    this.data?.close();
    this.data = undefined;
  }

  /** Asks the server for a passive port (hidden from the client) and connects to it. */
  private async upstreamData(): Promise<net.Socket | Reply> {
    const up = this.upstream!;
    let port: number | undefined;
    let last: Reply | undefined;
    if (!this.upstreamNoEpsv) {
      last = await up.send('EPSV');
      if (last.code === 229) port = parseEpsv(last);
      else if (last.code >= 500) this.upstreamNoEpsv = true;
    }
    if (port === undefined && this.upstreamNoEpsv) {
      last = await up.send('PASV');
      // The address inside a 227 is ignored: data goes to the server the control connection reached.
      if (last.code === 227) port = parsePasv(last);
    }
    if (port === undefined) return last && last.code >= 400 ? last : reply(425, 'Cannot open a data connection to the server.');
    try {
      return await connectData(up.remoteAddress, port, this.deps.listener.data_timeout);
    } catch (e) {
      this.deps.logger.warn({ err: e, server: this.server?.name }, 'ftp data connection to the server failed');
      return reply(425, 'Cannot open a data connection to the server.');
    }
  }

  private async passive(c: Command): Promise<void> {
    const epsv = c.verb === 'EPSV';
    if (epsv && /^all$/i.test(c.text.trim())) {
      this.epsvAll = true;
      return this.write(reply(200, 'EPSV ALL ok.'));
    }
    if (!epsv && this.epsvAll) return this.write(reply(503, 'Only EPSV after EPSV ALL.'));
    const local = (this.sock.localAddress ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
    const announce = this.deps.listener.passive_address ?? local;
    if (!epsv && !net.isIPv4(announce)) return this.write(reply(425, 'PASV is IPv4 only: use EPSV.'));
    this.closeData();
    const upSock = await this.upstreamData();
    if (!(upSock instanceof net.Socket)) return this.write(upSock);
    let wait: PassiveWait;
    try {
      wait = await openPassive(this.deps.pool, this.sock.localAddress ?? local, this.ip, this.deps.listener.data_timeout, (from) => {
        this.deps.logger.warn({ ip: this.ip, from, session_id: this.sessionId }, 'ftp data connection from a foreign address refused');
      });
    } catch (e) {
      upSock.destroy();
      this.deps.logger.error({ err: e }, 'no passive port available');
      return this.write(reply(425, 'No passive port available.'));
    }
    this.data = {
      upstream: upSock,
      passive: wait,
      close: () => {
        upSock.destroy();
        wait.close();
        void wait.socket.then((s) => s?.destroy());
      },
    };
    if (epsv) return this.write(reply(229, `Entering Extended Passive Mode (|||${wait.port}|)`));
    const h = announce.split('.').join(',');
    this.write(reply(227, `Entering Passive Mode (${h},${wait.port >> 8},${wait.port & 255}).`));
  }

  private async activeMode(c: Command): Promise<void> {
    const v = c.verb;
    const refuse = (code: number, text: string, detail: string) => {
      this.command(v, c.text, code, detail);
      this.write(reply(code, text));
    };
    if (this.deps.listener.active_mode === 'deny') return refuse(502, 'Active mode is disabled on this gateway: use PASV or EPSV.', 'refused: active mode denied');
    if (this.epsvAll) return refuse(503, 'Only EPSV after EPSV ALL.', 'refused: EPSV ALL');
    const target = v === 'PORT' ? parsePort(c.text) : parseEprt(c.text);
    if (!target) return refuse(501, `Syntax error in ${v} arguments.`, 'refused: bad syntax');
    if (!sameIp(target.host, this.ip) || target.port < 1024) return refuse(500, `Illegal ${v} command: only your own address and a port above 1023.`, `refused: FTP bounce to ${target.host}:${target.port}`);
    this.closeData();
    const upSock = await this.upstreamData();
    if (!(upSock instanceof net.Socket)) {
      this.command(v, c.text, upSock.code);
      return this.write(upSock);
    }
    this.data = { upstream: upSock, active: target, close: () => upSock.destroy() };
    this.command(v, c.text, 200);
    this.write(reply(200, `${v} command successful. Consider using EPSV.`));
  }

  private async runTransfer(c: Command, line: Buffer): Promise<void> {
    const v = c.verb;
    const data = this.data;
    this.data = undefined;
    const cwdBefore = this.cwd;
    if (!data) {
      this.command(v, c.text, 425);
      return this.write(reply(425, 'Use PORT, EPRT, PASV or EPSV first.'));
    }
    const direction = TRANSFERS[v]!;
    const arg = direction === 'list' ? c.text.split(/\s+/).filter((w) => w && !w.startsWith('-')).join(' ') : c.text;
    const path = this.resolve(arg);
    const offset = direction === 'list' ? 0 : this.rest;
    this.rest = 0;
    const now = this.deps.clock.now();
    const t: Transfer = { verb: v, args: c.text, direction, path, file: direction === 'list' ? path : posix.basename(path), started: now, offset, size: direction === 'download' ? this.sizes.get(path) : undefined, meter: new SpeedMeter(now), bytes: 0, aborted: false, relay: undefined };
    this.transfer = t;
    let written!: () => void;
    this.transferWritten = new Promise((r) => (written = r));
    this.state({ status: direction === 'download' ? 'downloading' : direction === 'upload' ? 'uploading' : 'listing', ...(direction === 'list' ? {} : { file: t.file }), speed: 0, bytes: 0, ...(this.progress(t) !== undefined ? { progress: this.progress(t) } : { progress: undefined }) }, true);
    const ticker = setInterval(() => this.tick(t), 500);

    // The client's side of the data connection: its connection to our passive port, or ours to its PORT.
    const clientSock: Promise<net.Socket | undefined> = data.passive
      ? data.passive.socket
      : connectData(data.active!.host, data.active!.port, this.deps.listener.data_timeout).catch((e: unknown) => {
          this.deps.logger.info({ err: e, ip: this.ip }, 'ftp active data connection to the client failed');
          return undefined;
        });
    const relayDone = clientSock.then((s) => {
      if (!s || s.destroyed || data.upstream.destroyed || this.endReason) {
        s?.destroy();
        data.upstream.destroy();
        return undefined;
      }
      const relay = new DataRelay(s, data.upstream, this.deps.listener.data_timeout, (n) => {
        t.bytes += n;
        t.meter.add(n, this.deps.clock.now());
        this.lastActivity = this.deps.clock.now();
      });
      t.relay = relay;
      if (t.aborted || this.endReason) relay.abort();
      // Downloads and listings are complete for the client once the last byte and the EOF are
      // handed over (some clients close their end only after the final reply).
      return direction === 'upload' ? relay.done : relay.settledDown;
    });

    let final: Reply;
    let prelim = false;
    try {
      final = await this.upstream!.send(line, (p) => {
        prelim = true;
        if (t.direction === 'download' && t.size === undefined) {
          const n = parseOpeningSize(p);
          if (n !== undefined) {
            t.size = n + t.offset;
            this.state({ progress: this.progress(t) });
          }
        }
        this.write(p);
      });
    } catch (e) {
      // The server is gone: the transfer is cut; the close handler ends the session.
      data.close();
      const res = await relayDone;
      clearInterval(ticker);
      this.finishTransfer(t, 'aborted', res, 'the server closed the connection', cwdBefore, undefined);
      written();
      throw e;
    }
    if (!prelim || final.code >= 400) {
      // Refused before any data (550, 425...) or failed: the data setup is useless now.
      if (!prelim) data.close();
    }
    const res = await relayDone;
    clearInterval(ticker);
    const okReply = final.code >= 200 && final.code < 300;
    let result: TransferResult;
    let out = final;
    if (!res && prelim && !t.aborted) {
      // The client never opened (or accepted) its data connection.
      result = 'failed';
      out = reply(425, "Can't open data connection.");
    } else if (t.aborted || final.code === 426 || (okReply && res && !res.clean)) result = 'aborted';
    else if (okReply && prelim) result = 'ok';
    else result = 'failed';
    this.finishTransfer(t, result, res, result === 'ok' ? undefined : printable(out.lines[0]!, 200), cwdBefore, out.code);
    this.write(out);
    written();
  }

  /** ABOR / STAT while a transfer runs: sent at once; the reply follows the transfer's own. */
  private async urgent(line: Buffer): Promise<void> {
    const c = parseCommand(line);
    const t = this.transfer;
    if (c.verb === 'ABOR' && t) {
      t.aborted = true;
      t.relay?.abort();
      this.command('ABOR', undefined, undefined);
    }
    const r = await this.upstream!.send(line).catch(() => reply(226, 'ABOR successful.'));
    await this.transferWritten;
    this.write(r);
  }

  private progress(t: Transfer): number | undefined {
    if (!t.size) return undefined;
    return Math.min(100, Math.round(((t.offset + t.bytes) * 1000) / t.size) / 10);
  }

  private tick(t: Transfer): void {
    const now = this.deps.clock.now();
    const p = this.progress(t);
    this.details = { ...this.details, speed: t.meter.rate(now), bytes: t.offset + t.bytes, ...(p !== undefined ? { progress: p } : {}) };
    this.handle?.touch(this.details);
  }

  private finishTransfer(t: Transfer, result: TransferResult, res: { down: number; up: number } | undefined, detail: string | undefined, cwd: string, code: number | undefined): void {
    if (this.transfer === t) this.transfer = undefined;
    const bytes = res ? (t.direction === 'upload' ? res.up : res.down) : 0;
    this.bytesOut += res?.down ?? 0;
    this.bytesIn += res?.up ?? 0;
    this.command(t.verb, t.args, code, undefined, cwd);
    if (!this.sessionId) return;
    this.deps.emitter.emit({
      type: 'file.transfer',
      session_id: this.sessionId,
      protocol: 'ftp',
      ip: this.ip,
      ...(this.user ? { user: this.user } : {}),
      ...(this.client ? { client: this.client } : {}),
      server: this.serverRef(),
      path: t.path,
      direction: t.direction,
      bytes,
      duration_ms: this.deps.clock.now() - t.started,
      result,
      ...(detail || t.offset ? { detail: [detail, t.offset ? `resumed at byte ${t.offset}` : ''].filter(Boolean).join('; ') } : {}),
    });
    this.state({ status: 'idle', speed: undefined, progress: result === 'ok' && t.direction !== 'list' ? 100 : this.progress({ ...t, bytes }), bytes: undefined }, true);
  }

  private fileOp(direction: TransferDirection, path: string, ok: boolean, r: Reply, to?: string): void {
    if (!this.sessionId) return;
    this.deps.emitter.emit({
      type: 'file.transfer',
      session_id: this.sessionId,
      protocol: 'ftp',
      ip: this.ip,
      ...(this.user ? { user: this.user } : {}),
      ...(this.client ? { client: this.client } : {}),
      server: this.serverRef(),
      path,
      ...(to ? { to_path: to } : {}),
      direction,
      bytes: 0,
      duration_ms: 0,
      result: ok ? 'ok' : 'failed',
      ...(ok ? {} : { detail: printable(r.lines[0]!, 200) }),
    });
    this.state({ file: posix.basename(to ?? path) });
  }

  // ---------- records and live state ----------

  private command(command: string, args: string | undefined, code: number | undefined, detail?: string, cwd = this.cwd): void {
    if (!this.sessionId) return;
    this.deps.emitter.emit({
      type: 'ftp.command',
      session_id: this.sessionId,
      ip: this.ip,
      ...(this.user ? { user: this.user } : {}),
      ...(this.client ? { client: this.client } : {}),
      command,
      ...(args !== undefined && command !== 'PASS' && args !== '' ? { args: printable(args, 1024) } : {}),
      ...(code !== undefined ? { reply_code: code } : {}),
      cwd,
      ...(detail ? { detail } : {}),
    });
  }

  /** Changes the live state; `announce` also tells viewers (status changes), else it is a touch. */
  private state(patch: Record<string, unknown>, announce = false): void {
    const next = { ...this.details };
    for (const [k, val] of Object.entries(patch)) {
      if (val === undefined) delete next[k];
      else next[k] = val;
    }
    this.details = next;
    if (!this.handle) return;
    if (announce) this.handle.update({ details: next });
    this.handle.touch(next);
  }

  private unsolicited(r: Reply): void {
    // e.g. `421 Timeout.` from the server: pass it on; the server closes next.
    this.write(r);
  }

  private upstreamClosed(): void {
    if (this.endReason || this.closed) return;
    if (this.busy) return; // the running command's failure ends the session (failed()).
    if (this.sessionId) void this.end('upstream_exit', 'Service not available: the server closed the connection.');
    else this.hangUp(reply(421, 'Service not available: the server closed the connection.'));
  }

  // ---------- the end ----------

  private write(r: Reply): void {
    if (this.closed || this.sock.destroyed || this.sock.writableEnded) return;
    this.sock.write(encodeReply(r));
  }

  /** Sends a last reply and closes (before login, or after QUIT). */
  private hangUp(r: Reply): void {
    this.write(r);
    this.closeData();
    this.transfer?.relay?.abort();
    this.upstream?.quit();
    this.sock.end();
    setTimeout(() => this.sock.destroy(), 1000).unref();
  }

  /** Ends a logged-in session: 421 with the reason to the client, every connection closed. */
  end(reason: EndReason, message: string): Promise<void> {
    if (!this.endReason || this.endReason === 'client_exit') this.endReason = reason;
    else return this.whenClosed;
    this.inbox.length = 0;
    this.hangUp(reply(421, message.replace(/[\r\n\0]+/g, ' ').slice(0, 500)));
    return this.whenClosed;
  }

  /** Front-end shutdown. */
  shutdown(): Promise<void> {
    if (this.sessionId) return this.end('gateway_shutdown', 'The gateway is shutting down.');
    this.hangUp(reply(421, 'The gateway is shutting down.'));
    return this.whenClosed;
  }

  private async onClose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const tm of this.timers) clearTimeout(tm);
    this.closeData();
    this.transfer?.relay?.abort();
    this.upstream?.quit();
    this.handle?.remove();
    // A transfer cut by the close finishes (and is recorded) before the session ends.
    await Promise.race([this.current, new Promise((r) => setTimeout(r, 2000).unref())]);
    if (this.sessionId) {
      this.deps.emitter.emit({
        type: 'session.end',
        session_id: this.sessionId,
        protocol: 'ftp',
        ip: this.ip,
        ...(this.user ? { user: this.user } : {}),
        ...(this.client ? { client: this.client } : {}),
        reason: this.endReason ?? (this.deps.closing() ? 'gateway_shutdown' : 'client_exit'),
        duration_ms: this.deps.clock.now() - this.startedAt,
        bytes_in: this.bytesIn,
        bytes_out: this.bytesOut,
        ...(this.terminatedBy ? { terminated_by: this.terminatedBy.by, terminate_reason: this.terminatedBy.why } : {}),
      });
    }
    this.resolveClosed();
  }
}

/** `h1,h2,h3,h4,p1,p2` -> host and port. */
export function parsePort(arg: string): { host: string; port: number } | undefined {
  const m = /^\s*(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})\s*$/.exec(arg);
  if (!m) return undefined;
  const n = m.slice(1).map(Number);
  if (n.some((x) => x > 255)) return undefined;
  return { host: n.slice(0, 4).join('.'), port: n[4]! * 256 + n[5]! };
}

/** `|1|132.235.1.2|6275|` or `|2|::1|6275|` -> host and port. */
export function parseEprt(arg: string): { host: string; port: number } | undefined {
  const a = arg.trim();
  const d = a[0];
  if (!d || d.charCodeAt(0) < 33 || d.charCodeAt(0) > 126) return undefined;
  const parts = a.split(d);
  if (parts.length !== 5 || parts[0] !== '' || parts[4] !== '') return undefined;
  const [, proto, host, port] = parts as [string, string, string, string];
  if ((proto === '1' && !net.isIPv4(host)) || (proto === '2' && !net.isIPv6(host)) || (proto !== '1' && proto !== '2')) return undefined;
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return undefined;
  return { host, port: Number(port) };
}
