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
// - AUTH TLS (explicit FTPS, tls.ts): with the listener's certificate the gateway answers 234 and
//   upgrades the client's control connection itself (lines the client pipelined after AUTH are
//   dropped: nothing sent in clear can act on the TLS session), answers PBSZ/PROT, and wraps the
//   client's data connections after PROT P. Toward the server it does its own AUTH TLS at USER
//   (upstream_tls) and then protects every data connection (PBSZ 0, PROT P), whatever the client
//   chose. Without a certificate AUTH/PBSZ/PROT are refused and AUTH is removed from FEAT; CCC is
//   always refused.
// The final reply of a transfer reaches the client only once the data relay has finished, so the
// recorded byte count and result (ok / aborted / failed) are the ones the client saw.
import net from 'node:net';
import { posix } from 'node:path';
import type tls from 'node:tls';
import type { FtpListenerConfig, FtpServerConfig } from '../../config/schema.js';
import type { AccessControl } from '../core/access.js';
import { newId } from '../core/ids.js';
import type { LiveSessionHandle, SessionRegistry } from '../core/registry.js';
import type { Clock, Logger } from '../core/runtime.js';
import type { Emitter } from '../../recorder/emitter.js';
import type { EndReason, FileTransferEvent, ServerRef, TransferDirection, TransferResult, UserRef } from '../../recorder/events.js';
import { connectData, openPassive, relayData, sameIp, type PassiveWait, type PortPool, type Relay } from './data.js';
import { LineSplitter, parseCommand, printable, type Command } from './lines.js';
import { encodeReply, parseEpsv, parseOpeningSize, parsePasv, parsePwd, reply, replyText, type Reply } from './replies.js';
import { SpeedMeter } from './speed.js';
import { serverTls, type UpstreamTls } from './tls.js';
import { UpstreamControl } from './upstream.js';

/** What the front end needs of the config's `directory` (login -> who; realm `ftp`). */
export interface FtpDirectory {
  lookup(login: string, realm: string): { name?: string; email?: string; client?: string; type?: string } | undefined;
}

/** What the FTP front end is given (index.ts). */
export interface FtpDeps {
  clock: Clock;
  logger: Logger;
  emitter: Emitter;
  registry: SessionRegistry;
  access: AccessControl;
  /** The config's `directory` (user type, name, email of FTP logins; realm `ftp`). */
  directory?: FtpDirectory;
}

/** What each session is given: the front end's deps and its listener's own parts. */
export interface FtpSessionDeps extends FtpDeps {
  listener: FtpListenerConfig;
  /** Servers reachable through this listener, by lower-cased name. */
  servers: Map<string, FtpServerConfig>;
  defaultServer: FtpServerConfig;
  pool: PortPool;
  /** True while the front end shuts down. */
  closing: () => boolean;
  /** The listener's certificate (explicit FTPS toward clients); absent: AUTH is refused. */
  tls?: tls.SecureContext;
  /** How each server is reached over TLS (by server name). */
  upstreamTls: (server: FtpServerConfig) => UpstreamTls;
}

const MAX_LINE = 4096;
const MAX_QUEUED_LINES = 64;
const MAX_STRIKES = 5;
/** Foreign data connections recorded per session (more are only logged: a flood must not fill the store). */
const FOREIGN_RECORDS = 5;

/** Commands recorded as `ftp.command` (they read or change data, or concern the login or data channel). */
const RECORDED = new Set(['USER', 'PASS', 'ACCT', 'RETR', 'STOR', 'STOU', 'APPE', 'DELE', 'RNFR', 'RNTO', 'MKD', 'XMKD', 'RMD', 'XRMD', 'CWD', 'XCWD', 'CDUP', 'XCUP', 'LIST', 'NLST', 'MLSD', 'MLST', 'SIZE', 'MDTM', 'REST', 'SITE', 'ALLO', 'ABOR', 'PORT', 'EPRT', 'AUTH', 'PBSZ', 'PROT', 'CCC', 'SMNT', 'REIN']);
const TRANSFERS: Record<string, TransferDirection> = { RETR: 'download', STOR: 'upload', STOU: 'upload', APPE: 'upload', LIST: 'list', NLST: 'list', MLSD: 'list' };
// reply() starts each inner line with the one space RFC 2389 asks for.
const PRE_LOGIN_FEAT = reply(211, 'Features:\nCLNT\nEPRT\nEPSV\nMDTM\nPASV\nREST STREAM\nSIZE\nTVFS\nEnd');
const PRE_LOGIN_FEAT_TLS = reply(211, 'Features:\nAUTH TLS\nCLNT\nEPRT\nEPSV\nMDTM\nPASV\nPBSZ\nPROT\nREST STREAM\nSIZE\nTVFS\nEnd');
const TLS_FEATURES = [' AUTH TLS', ' PBSZ', ' PROT'];
/** AUTH mechanisms taken as TLS (RFC 4217 and the older draft's names; SSL and TLS-P also protect data at once). */
const AUTH_MECHS = new Set(['TLS', 'TLS-C', 'SSL', 'TLS-P']);
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
  relay: Relay | undefined;
}

export class FtpSession {
  private readonly ip: string;
  /** The local address of the client's control connection (where passive listeners open). */
  private readonly localAddr: string;
  private splitter = new LineSplitter(MAX_LINE);
  /** The client's control connection: the TCP socket, or the TLSSocket over it after AUTH TLS. */
  private sock: net.Socket;
  /** AUTH seen in the client's input: nothing more is read in clear until it is answered. */
  private upgrading = false;
  /** The AUTH mechanism the client's control connection was upgraded with (TLS on it). */
  private clientTls: string | undefined;
  private pbsz = false;
  /** Data protection toward the client (PROT): C clear, P TLS. */
  private prot: 'C' | 'P' = 'C';
  /** Data protection toward the server: P once its control connection is TLS and PROT P was accepted. */
  private upstreamProt: 'C' | 'P' = 'C';
  private readonly onDataFn = (chunk: Buffer) => this.onData(chunk);
  private readonly onErrorFn = (e: Error) => this.deps.logger.debug({ err: e, ip: this.ip }, this.clientTls ? 'ftp client TLS connection error' : 'ftp client connection error');
  private readonly onCloseFn = () => void this.onClose();
  private readonly inbox: Buffer[] = [];
  private busy = false;
  private strikes = 0;
  private loginFailures = 0;
  private foreignSeen = 0;
  private upstream: UpstreamControl | undefined;
  private server: FtpServerConfig | undefined;
  /** USER sent and answered 331: PASS is next. */
  private pendingLogin: string | undefined;
  private login: string | undefined;
  private sessionId: string | undefined;
  private user: UserRef | undefined;
  private client: string | undefined;
  /** What the client said it is (CLNT): seed 003's client name; answered by the gateway itself. */
  private clientName: string | undefined;
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
    sock: net.Socket,
    private readonly deps: FtpSessionDeps,
  ) {
    this.sock = sock;
    this.ip = (sock.remoteAddress ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
    this.localAddr = sock.localAddress ?? '';
    this.lastActivity = deps.clock.now();
    this.whenClosed = new Promise((r) => (this.resolveClosed = r));
    sock.setNoDelay(true);
    sock.on('data', this.onDataFn);
    sock.on('error', this.onErrorFn);
    sock.on('close', this.onCloseFn);
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
        if (verb === 'AUTH' && this.deps.tls && !this.clientTls && !this.login) {
          // What follows AUTH is either the TLS handshake (read by the TLS socket) or clear text
          // the client sent without waiting for 234: dropped, never run as commands.
          this.upgrading = true;
          this.sock.pause();
          break;
        }
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
    if (this.inbox.length >= MAX_QUEUED_LINES || this.upgrading) this.sock.pause();
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
    if (!this.upgrading && this.inbox.length < MAX_QUEUED_LINES / 2 && this.sock.isPaused()) this.sock.resume();
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
        return this.write(this.deps.tls ? PRE_LOGIN_FEAT_TLS : PRE_LOGIN_FEAT);
      case 'SYST':
        return this.write(reply(215, 'UNIX Type: L8'));
      case 'NOOP':
        return this.write(reply(200, 'NOOP ok.'));
      case 'CLNT':
        return this.clnt(c);
      case 'HELP':
        return this.write(reply(214, 'Log in with USER login[@server] and PASS.'));
      case 'OPTS':
        return this.write(/^utf8 on$/i.test(c.text.trim()) ? reply(200, 'Always in UTF8 mode.') : reply(501, 'Option not understood.'));
      case 'AUTH':
        if (!this.deps.tls) return this.write(reply(502, 'AUTH not available: this gateway does not offer TLS.'));
        return this.auth(c);
      case 'PBSZ':
      case 'PROT':
        if (!this.deps.tls) return this.write(reply(530, 'Please login with USER and PASS.'));
        return this.protection(c);
      case 'CCC':
        if (!this.deps.tls) return this.write(reply(530, 'Please login with USER and PASS.'));
        return this.write(reply(534, 'CCC refused: the control connection stays protected.'));
      case 'QUIT':
        return this.hangUp(reply(221, 'Goodbye.'));
      default:
        return this.write(reply(530, 'Please login with USER and PASS.'));
    }
  }

  // ---------- explicit FTPS toward the client ----------

  /** AUTH before login with a certificate configured: 234, then the TLS handshake on the same connection. */
  private async auth(c: Command): Promise<void> {
    const ctx = this.deps.tls!;
    const mech = c.text.trim().toUpperCase();
    const refuse = (r: Reply) => {
      this.upgrading = false;
      this.write(r);
      if (this.sock.isPaused() && this.inbox.length < MAX_QUEUED_LINES / 2) this.sock.resume();
    };
    if (this.clientTls) return refuse(reply(503, 'Already using TLS.'));
    if (!AUTH_MECHS.has(mech)) return refuse(reply(504, 'AUTH mechanism not supported: use AUTH TLS.'));
    const raw = this.sock;
    raw.off('data', this.onDataFn);
    raw.pause();
    // Nothing the client sent in clear after AUTH is run, and a USER sent before it is forgotten.
    this.inbox.length = 0;
    this.splitter = new LineSplitter(MAX_LINE);
    this.pendingLogin = undefined;
    const ok = await new Promise<boolean>((resolve) => {
      if (raw.destroyed || raw.writableEnded) return resolve(false);
      raw.write(encodeReply(reply(234, `AUTH ${mech} ok: start the TLS handshake.`)), (e) => resolve(!e));
    });
    if (!ok || this.closed || raw.destroyed) return;
    const ts = serverTls(raw, ctx);
    this.sock = ts;
    this.clientTls = mech;
    if (mech === 'SSL' || mech === 'TLS-P') {
      // The older draft's mechanisms protect data connections at once.
      this.pbsz = true;
      this.prot = 'P';
    }
    ts.on('data', this.onDataFn);
    ts.on('error', this.onErrorFn);
    ts.on('close', this.onCloseFn);
    this.upgrading = false;
  }

  /** PBSZ and PROT (only after AUTH TLS; PBSZ before PROT, RFC 4217). */
  private protection(c: Command): void {
    const v = c.verb;
    const arg = c.text.trim().toUpperCase();
    const answer = (code: number, text: string, detail?: string) => {
      this.command(v, c.text, code, detail);
      this.write(reply(code, text));
    };
    if (!this.clientTls) return answer(503, `${v} needs AUTH TLS first.`, 'refused: no AUTH TLS');
    if (v === 'PBSZ') {
      if (!/^\d+$/.test(arg)) return answer(501, 'PBSZ needs a number (0 for TLS).');
      this.pbsz = true;
      return answer(200, 'PBSZ=0');
    }
    if (!this.pbsz) return answer(503, 'PBSZ first (PBSZ 0).', 'refused: no PBSZ');
    if (arg === 'P' || arg === 'C') {
      if (arg === 'C' && this.deps.listener.require_tls) return answer(534, 'Data connections must be protected on this gateway: use PROT P.', 'refused: require_tls');
      this.prot = arg;
      this.state({ ...this.tlsDetails() });
      return answer(200, `Protection level set to ${arg}.`);
    }
    if (arg === 'S' || arg === 'E') return answer(536, `Protection level ${arg} not supported: use P or C.`);
    return answer(504, 'PROT takes C or P.');
  }

  /** TLS as shown in the live state: the client's side and the server's. */
  private tlsDetails(): { client_tls: string; server_tls: string } {
    return {
      client_tls: !this.clientTls ? 'off' : this.prot === 'P' ? 'control+data' : 'control',
      server_tls: !this.upstream?.secure ? 'off' : this.upstreamProt === 'P' ? 'control+data' : 'control',
    };
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
    if (this.deps.listener.require_tls && !this.clientTls) return this.loginRefused(login, server, 'tls_required', reply(530, 'TLS required: send AUTH TLS before USER (explicit FTPS).'));
    if (this.deps.access.check({ ip: this.ip, login })) return this.loginRefused(login, server, 'locked', reply(530, 'Login refused: this login or address is locked.'));
    if (!this.upstream || this.server !== server || this.upstream.closed) {
      this.upstream?.destroy();
      this.upstream = undefined;
      this.upstreamProt = 'C';
      let ctl: UpstreamControl;
      try {
        ({ ctl } = await UpstreamControl.connect(server.host, server.port, server.connect_timeout));
        this.upstream = ctl;
        this.server = server;
        ctl.onUnsolicited = (r) => this.unsolicited(r);
        ctl.onClose = () => this.upstreamClosed();
      } catch (e) {
        this.deps.logger.warn({ err: e, server: server.name }, 'ftp server unavailable');
        this.refused(login, 'server_unavailable', { server: server.name });
        return this.hangUp(reply(421, 'Service not available: the server cannot be reached.'));
      }
      const policy = this.deps.upstreamTls(server);
      if (policy.mode !== 'off') {
        let secure: boolean;
        try {
          secure = await ctl.startTls(policy, server.connect_timeout);
        } catch (e) {
          this.deps.logger.error({ err: e, server: server.name }, 'ftp server: TLS failed (the login is refused; see upstream_ca, upstream_fingerprint, upstream_tls)');
          this.refused(login, 'server_tls_failed', { server: server.name });
          return this.hangUp(reply(421, 'Service not available: TLS with the server failed.'));
        }
        if (!secure && policy.mode === 'required') {
          this.deps.logger.error({ server: server.name }, 'ftp server refused AUTH TLS and upstream_tls is required: login refused');
          this.refused(login, 'server_tls_refused', { server: server.name });
          return this.hangUp(reply(421, 'Service not available: the server does not offer TLS.'));
        }
        // Data protection now when the server takes it before login (vsftpd does), else after 230.
        if (secure) await this.protectUpstream();
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

  /** PBSZ 0 and PROT P toward a server whose control connection is TLS; true when accepted. */
  private async protectUpstream(): Promise<boolean> {
    const up = this.upstream!;
    const pbsz = await up.send('PBSZ 0');
    if (pbsz.code < 200 || pbsz.code >= 300) return false;
    const prot = await up.send('PROT P');
    if (prot.code < 200 || prot.code >= 300) return false;
    this.upstreamProt = 'P';
    return true;
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

  private loginReply(r: Reply): void | Promise<void> {
    const login = this.pendingLogin!;
    if (r.code === 230) return this.loggedInNow(login, r);
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

  /**
   * Someone else connected to this session's passive port (port theft): cut by openPassive, and
   * recorded for the security team, at most FOREIGN_RECORDS times per session (then only logged).
   */
  private foreignData(from: string, port: number | undefined): void {
    const l = this.deps.listener;
    this.deps.logger.warn({ ip: this.ip, from, session_id: this.sessionId }, 'ftp data connection from a foreign address refused');
    if (++this.foreignSeen > FOREIGN_RECORDS) return;
    const ip = from.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
    this.deps.emitter.emit({
      type: 'activity',
      ip,
      initiator: 'system',
      action: 'connection_refused',
      description: `FTP data connection from ${ip} refused on ${l.name}: the passive port was opened for ${this.ip}`,
      ...(this.sessionId ? { session_id: this.sessionId, targets: [{ kind: 'session', id: this.sessionId }] } : {}),
      details: { protocol: 'ftp', listener: l.name, client_ip: this.ip, ...(port ? { port } : {}) },
    });
  }

  private async loggedInNow(login: string, r: Reply): Promise<void> {
    const { clock, emitter, registry, listener } = this.deps;
    const server = this.server!;
    if (this.upstream!.secure && this.upstreamProt !== 'P' && !(await this.protectUpstream().catch(() => false)) && this.deps.upstreamTls(server).mode === 'required') {
      this.deps.logger.error({ server: server.name }, 'ftp server refused PROT P and upstream_tls is required: login refused');
      this.refused(login, 'server_tls_refused', { server: server.name, reply_code: 230 });
      return this.hangUp(reply(421, 'Service not available: the server does not protect data connections.'));
    }
    this.login = login;
    this.pendingLogin = undefined;
    this.sessionId = newId(clock.now());
    this.startedAt = clock.now();
    const dir = this.deps.directory?.lookup(login, 'ftp');
    const anonymous = /^(anonymous|ftp)$/i.test(login);
    const userType = dir?.type ?? (anonymous ? 'anonymous' : 'named');
    this.user = { login, ...(dir?.name ? { name: dir.name } : {}), ...(dir?.email ? { email: dir.email } : {}), ...(dir?.type ? { role: dir.type } : {}) };
    this.client = dir?.client;
    emitter.emit({ type: 'session.start', session_id: this.sessionId, protocol: 'ftp', listener: listener.name, ip: this.ip, user: this.user, ...(this.client ? { client: this.client } : {}), account: login, server: this.serverRef(), ...(this.clientName ? { client_name: this.clientName } : {}), connected_from: 'proxy' });
    if (this.clientTls) {
      this.command('AUTH', this.clientTls, 234);
      if (this.pbsz) this.command('PBSZ', '0', 200);
      if (this.prot === 'P') this.command('PROT', 'P', 200);
    }
    this.command('USER', login, 331);
    this.command('PASS', undefined, 230);
    // Where the login lands: asked before the client's next command is read.
    try {
      const pwd = await this.upstream!.send('PWD');
      this.cwd = (pwd.code === 257 && parsePwd(pwd)) || '/';
    } catch {
      /* the close handler ends the session */
    }
    this.details = { user_type: userType, status: 'idle', server: server.name, domain: server.domain ?? server.name, host: server.host, cwd: this.cwd, session_id: this.sessionId, ...(this.clientName ? { client_name: this.clientName } : {}), ...this.tlsDetails() };
    this.handle = registry.register(
      { id: `ftp:${this.sessionId}`, protocol: 'ftp', listener: listener.name, ip: this.ip, user: this.user, ...(this.client ? { client: this.client } : {}), kind: userType, login, details: { ...this.details } },
      (actor, reason) => {
        this.terminatedBy = { by: actor.name, why: reason };
        return this.end('terminated', `Session terminated by ${actor.name}: ${reason}`);
      },
    );
    this.write(r);
  }

  /**
   * CLNT <name> (draft-ietf-ftpext-clnt): noted as the session's client name and answered here (the
   * server may not know CLNT). After login it reaches the live state only: session.start is written.
   */
  private clnt(c: Command): void {
    const name = printable(c.text.trim(), 256);
    if (!name) return this.write(reply(501, 'CLNT needs the client name.'));
    this.clientName = name;
    if (this.login) this.state({ client_name: name });
    this.write(reply(200, 'Noted.'));
  }

  private serverRef(): ServerRef {
    const s = this.server!;
    return { name: s.name, host: s.host, port: s.port };
  }

  // ---------- after login ----------

  private async loggedIn(c: Command, line: Buffer): Promise<void> {
    const up = this.upstream!;
    const v = c.verb;
    if (v in TRANSFERS) {
      if (this.deps.listener.require_tls && this.prot !== 'P') {
        this.command(v, c.text, 522, 'refused: data connection not protected (require_tls)');
        return this.write(reply(522, 'Data connections must be protected: send PBSZ 0 and PROT P first.'));
      }
      return this.runTransfer(c, line);
    }
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
        if (!this.deps.tls) {
          if (v === 'AUTH') this.command(v, c.text, 502, 'refused: no TLS on this gateway');
          return this.write(reply(502, `${v} not available: this gateway does not offer TLS.`));
        }
        if (v === 'AUTH') {
          this.upgrading = false;
          if (this.sock.isPaused() && this.inbox.length < MAX_QUEUED_LINES / 2) this.sock.resume();
          this.command(v, c.text, 503, this.clientTls ? 'refused: already TLS' : 'refused: AUTH after login');
          return this.write(reply(503, this.clientTls ? 'Already using TLS.' : 'AUTH TLS must come before USER: reconnect and send AUTH TLS first.'));
        }
        if (v === 'CCC') {
          this.command(v, c.text, 534, 'refused: the control connection stays protected');
          return this.write(reply(534, 'CCC refused: the control connection stays protected.'));
        }
        return this.protection(c);
      case 'FEAT': {
        const r = await up.send(line);
        if (r.code !== 211) return this.write(r);
        const keep = r.lines.filter((l, i) => i === 0 || i === r.lines.length - 1 || !/^\s*(AUTH|PBSZ|PROT|CCC|SSCN|CPSV|CLNT)\b/i.test(l));
        if (keep.length >= 2) keep.splice(keep.length - 1, 0, ' CLNT', ...(this.deps.tls ? TLS_FEATURES : []));
        return this.write({ code: r.code, lines: keep });
      }
      case 'CLNT':
        return this.clnt(c);
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
      const sock = await connectData(up.remoteAddress, port, this.deps.listener.data_timeout);
      // The server's TLS handshake on it starts when it runs the transfer command.
      if (this.upstreamProt === 'P') return up.dataTls(sock, this.deps.upstreamTls(this.server!));
      return sock;
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
    const local = this.localAddr.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
    const announce = this.deps.listener.passive_address ?? local;
    if (!epsv && !net.isIPv4(announce)) return this.write(reply(425, 'PASV is IPv4 only: use EPSV.'));
    this.closeData();
    const upSock = await this.upstreamData();
    if (!(upSock instanceof net.Socket)) return this.write(upSock);
    let wait: PassiveWait;
    try {
      wait = await openPassive(this.deps.pool, this.localAddr || local, this.ip, this.deps.listener.data_timeout, (from) => this.foreignData(from, wait?.port));
    } catch (e) {
      upSock.destroy();
      this.deps.logger.error({ err: e }, 'no passive port available');
      return this.write(reply(425, 'No passive port available.'));
    }
    const setup: DataSetup = {
      upstream: upSock,
      passive: wait,
      close: () => {
        setup.upstream.destroy();
        wait.close();
        void wait.socket.then((s) => s?.destroy());
      },
    };
    this.data = setup;
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
    const setup: DataSetup = { upstream: upSock, active: target, close: () => setup.upstream.destroy() };
    this.data = setup;
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
    const protect = this.prot === 'P' ? this.deps.tls : undefined;
    const relayDone = clientSock.then((raw) => {
      if (!raw || raw.destroyed || data.upstream.destroyed || this.endReason) {
        raw?.destroy();
        data.upstream.destroy();
        return undefined;
      }
      // PROT P: the client is the TLS client of the data connection, whichever side connected.
      const s = protect ? serverTls(raw, protect) : raw;
      if (protect) {
        const ts = s as tls.TLSSocket;
        ts.on('error', (e) => this.deps.logger.debug({ err: e, ip: this.ip }, 'ftp client data TLS error'));
        ts.once('secure', () => this.deps.logger.debug({ ip: this.ip, session_id: this.sessionId, resumed: ts.isSessionReused(), protocol: ts.getProtocol() }, 'ftp client data connection: TLS'));
      }
      const relay = relayData(s, data.upstream, {
        stallMs: this.deps.listener.data_timeout,
        native: this.deps.listener.native_relay,
        upload: direction === 'upload',
        onNativeError: (e) => this.deps.logger.warn({ err: e, session_id: this.sessionId }, 'ftp: the native relay could not start; this transfer is relayed in JavaScript'),
      });
      t.relay = relay;
      if (t.aborted || this.endReason) relay.abort();
      // Downloads and listings are complete for the client once the last byte and the EOF are
      // handed over (some clients close their end only after the final reply).
      return direction === 'upload' ? relay.done : relay.settledDown;
    });

    // The relay may have swapped a socket for its own (data.ts withBigReads): cut it through the relay.
    const cut = () => {
      t.relay?.abort();
      data.close();
    };
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
      cut();
      const res = await relayDone;
      clearInterval(ticker);
      // The gateway itself cut it when the session was ended (terminate, idle timeout, shutdown).
      const why = this.endReason && this.endReason !== 'upstream_exit' ? `the session ended (${this.endReason})` : 'the server closed the connection';
      this.finishTransfer(t, 'aborted', res, why, cwdBefore, undefined);
      written();
      throw e;
    }
    if (!prelim || final.code >= 400) {
      // Refused before any data (550, 425...) or failed: the data setup is useless now.
      if (!prelim) cut();
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
    } else if (t.aborted || final.code === 426) result = 'aborted';
    else if (okReply && res && !res.clean) {
      // The server sent everything, but the client's side was cut (reset, a failed TLS
      // handshake): the client must not read 226 for a file it did not get whole.
      result = 'aborted';
      out = reply(426, 'Connection closed; transfer aborted (the data connection to the client was cut).');
    } else if (okReply && prelim) result = 'ok';
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

  /** Every 500 ms of a transfer: bytes, speed and progress from the relay's counters. */
  private tick(t: Transfer): void {
    const now = this.deps.clock.now();
    const moved = t.relay ? t.relay.down + t.relay.up : 0;
    if (moved > t.bytes) {
      t.meter.add(moved - t.bytes, now);
      t.bytes = moved;
      this.lastActivity = now;
    }
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
    this.transferRecord({
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
    this.transferRecord({
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

  /** One `file.transfer` of this session (none before the session has begun). */
  private transferRecord(what: Pick<FileTransferEvent, 'path' | 'direction' | 'bytes' | 'duration_ms' | 'result'> & Partial<Pick<FileTransferEvent, 'to_path' | 'detail'>>): void {
    if (!this.sessionId) return;
    this.deps.emitter.emit({
      type: 'file.transfer',
      session_id: this.sessionId,
      protocol: 'ftp',
      ip: this.ip,
      ...(this.user ? { user: this.user } : {}),
      ...(this.client ? { client: this.client } : {}),
      server: this.serverRef(),
      ...what,
    });
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
