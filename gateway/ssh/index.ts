// The SSH front end (DESIGN "Front ends: SSH"): an ssh2 server in front of configured targets.
// Gateway users log in by password or public key from the user store and pick the target in the
// login name; the gateway connects to the target with the account's credentials (checked against
// the pinned host key) before it accepts the login, so a refused target is a refused login.
// One session = one client connection: `session.start` once both sides are up, `ssh.exec` per
// exec, `ssh.forward` per forwarding attempt, `session.end` with the reason.
import ssh2 from 'ssh2';
import type { SshConfig, SshListenerConfig, SshTargetConfig } from '../../config/schema.js';
import type { AccessControl } from '../core/access.js';
import { SgError, type ErrorCode } from '../core/errors.js';
import { drainFrontend, listenOn, type BoundAddress, type Frontend } from '../core/frontend.js';
import { socketPair } from './socket-pair.js';
import { WebShell, type WebShellRequest, type WebTarget } from './web-shell.js';
import { newId } from '../core/ids.js';
import type { LiveSessionHandle, SessionRegistry } from '../core/registry.js';
import type { Clock, Logger } from '../core/runtime.js';
import type { User, UserStore } from '../core/users.js';
import type { Emitter } from '../../recorder/emitter.js';
import type { EndReason, RecordingRef, UserRef } from '../../recorder/events.js';
import { normalizeIp } from '../core/client-ip.js';
import { gatewayHostKeys } from './host-key.js';
import { parseLoginName, pickTarget } from './login-name.js';
import { Relay, type ChannelObserver } from './relay.js';
import { SftpAudit, transferFields } from './sftp-audit.js';
import { connectUpstream } from './upstream.js';
import { LocalUpstream } from './local-target.js';
import { CastWriter, type CastRecording, type LiveCasts } from '../../recorder/cast/index.js';
import { join } from 'node:path';

export interface SshDeps {
  clock: Clock;
  logger: Logger;
  emitter: Emitter;
  registry: SessionRegistry;
  access: AccessControl;
  users: UserStore;
  dataDir: string;
  env?: NodeJS.ProcessEnv;
  /** Recordings being written, for live watch (absent: nobody can watch). */
  liveCasts?: LiveCasts;
}

function userRef(u: User): UserRef {
  // The role shown in Server Session Logs (seed 003) is the gateway user's role.
  return { name: u.name, login: u.name, ...(u.email ? { email: u.email } : {}), ...(u.role ? { role: u.role } : {}) };
}

function clientName(info: ssh2.ClientInfo): string {
  // The client's version string as it sent it (seed 003's "client name"), bounded and printable.
  return String(info.header?.identRaw ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 255);
}

interface Authed {
  user: User;
  target: SshTargetConfig;
  account: string;
  upstream: ssh2.Client;
}

/** A web terminal's connection (injected, never from the network): who it is for. */
interface WebConn {
  user: User;
  login: string;
  ip: string;
  clientName: string;
  /** Why the login was refused (recorded as for any SSH login), for the viewer's answer. */
  refused?: string;
  sessionId?: string;
}

/** The SSH front end, plus the web terminal (DESIGN "Front ends: SSH", connected_from web). */
export interface SshFrontend extends Frontend {
  /** The targets and accounts `user` may reach through this listener. */
  targetsFor(user: User): WebTarget[];
  /** Opens a recorded shell for a viewer user; rejects with the refusal's SgError. */
  openWeb(req: WebShellRequest): Promise<WebShell>;
}

const WEB_REFUSALS: Record<string, [code: string, message: string]> = {
  locked: ['SG_ERR_LOCKED', 'this user or address is locked'],
  no_such_target: ['SG_ERR_FORBIDDEN', 'you may not reach this target'],
  no_such_account: ['SG_ERR_FORBIDDEN', 'no such account on this target'],
  bad_credentials: ['SG_ERR_FORBIDDEN', 'you may not open SSH sessions'],
  target_host_key_mismatch: ['SG_ERR_SSH_UPSTREAM', "the target's host key does not match the pinned key"],
  target_unavailable: ['SG_ERR_SSH_UPSTREAM', 'the target cannot be reached'],
};

export function createSshFrontend(listener: SshListenerConfig, cfg: SshConfig, deps: SshDeps): SshFrontend {
  const { clock, logger, emitter, registry, access, users } = deps;
  const targets = new Map(cfg.targets.map((t) => [t.name.toLowerCase(), t]));
  const open = new Set<ssh2.Connection>();
  /** How to end each live session gracefully (shutdown); removed when its connection closes. */
  const closers = new Map<ssh2.Connection, () => void>();
  let server: ssh2.Server | undefined;
  let port = -1;
  let closing = false;
  const hostKeys = gatewayHostKeys(listener.host_keys, deps.dataDir);
  const recordingsDir = join(deps.dataDir, 'recordings');
  /** Connections (by socket) not yet logged in: see start(). */
  const pending = new Map<object, { announced: boolean; cancel: () => void }>();
  /** Web terminal connections by their server-side stream (ssh2 keeps it as `_sock`). */
  const webConns = new WeakMap<object, WebConn>();

  function refuse(ip: string, login: string, reason: string, extra: Record<string, unknown> = {}): void {
    emitter.emit({ type: 'activity', ip, initiator: login.slice(0, 64) || '(none)', action: 'login_failed', description: `SSH login refused on ${listener.name}: ${reason}`, details: { protocol: 'ssh', listener: listener.name, reason, ...extra } });
  }

  /** Checks the login and opens the target connection; the refusal's reason (recorded) if refused. */
  async function authorize(ip: string, rawName: string, user: User | undefined): Promise<Authed | string> {
    const refused = (login: string, reason: string, extra?: Record<string, unknown>): string => {
      refuse(ip, login, reason, extra);
      return reason;
    };
    const name = parseLoginName(rawName);
    if (!name || !user) return refused(rawName, 'bad_credentials');
    if (access.check({ ip, user: user.name, ...(user.email ? { email: user.email } : {}) })) return refused(user.name, 'locked');
    const pick = pickTarget(name, reachable(user));
    if (!pick) return refused(user.name, 'no_such_target', { wanted: rawName.slice(0, 200) });
    const target = targets.get(pick.server.toLowerCase())!;
    const account = target.accounts.find((a) => a.name.toLowerCase() === pick.account.toLowerCase());
    if (!account) return refused(user.name, 'no_such_account', { target: target.name, account: pick.account });
    if (target.type === 'local') {
      // The relay drives a local target through the same calls as an ssh2 Client.
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', LANG: process.env.LANG ?? 'C.UTF-8', SESSIONGATE_USER: user.name };
      return { user, target, account: account.name, upstream: new LocalUpstream(target, env) as unknown as ssh2.Client };
    }
    try {
      const upstream = await connectUpstream(target, account, deps.env);
      return { user, target, account: account.name, upstream };
    } catch (e) {
      const d = (e as SgError).details as { code?: string; presented?: string } | undefined;
      logger.warn({ target: target.name, reason: d?.code, presented: d?.presented }, (e as Error).message);
      return refused(user.name, d?.code === 'host_key_mismatch' ? 'target_host_key_mismatch' : 'target_unavailable', { target: target.name, account: account.name, ...(d?.presented ? { presented_host_key: d.presented } : {}) });
    }
  }

  const reachable = (user: User) => user.targets.filter((t) => targets.has(t.server.toLowerCase()));

  function onClient(client: ssh2.Connection, info: ssh2.ClientInfo): void {
    if (closing) return void client.end();
    open.add(client);
    const web = webConns.get((client as unknown as { _sock: object })._sock);
    const early = pending.get((client as unknown as { _sock: object })._sock);
    if (early) early.announced = true;
    const ip = web ? web.ip : normalizeIp(info.ip);
    const ident = web ? web.clientName : clientName(info);
    let authed: Authed | undefined;
    let failures = 0;
    const loginTimer = setTimeout(() => {
      refuse(ip, '', 'login_timeout');
      client.end();
    }, listener.login_timeout);
    client.on('error', (e) => logger.debug({ err: e, ip }, 'ssh client connection error'));
    let started = false;
    client.on('close', () => {
      clearTimeout(loginTimer);
      open.delete(client);
      closers.delete(client);
      // Authenticated (the target connection is open) but gone before the session began.
      if (authed && !started) authed.upstream.end();
    });

    client.on('authentication', (ctx) => {
      void (async () => {
        if (authed) return ctx.accept();
        if (web) {
          // Signed in at the viewer already: the user as stored now, through the same checks.
          const a = await authorize(ip, web.login, users.get(web.user.name));
          if (typeof a !== 'string') {
            authed = a;
            clearTimeout(loginTimer);
            early?.cancel();
            return ctx.accept();
          }
          web.refused = a;
          ctx.reject();
          client.end();
          return;
        }
        let user: User | undefined;
        const who = parseLoginName(ctx.username)?.user ?? '';
        if (ctx.method === 'password') user = await users.verify(who, ctx.password);
        else if (ctx.method === 'publickey') {
          user = users.withSshKey(who, ctx.key.data);
          if (user && !ctx.signature) return ctx.accept(); // "would this key do?"
          const key = user ? ssh2.utils.parseKey(ctx.key.data) : undefined;
          const ok = key && !(key instanceof Error) && ctx.blob && ctx.signature && key.verify(ctx.blob, ctx.signature, ctx.hashAlgo);
          if (!ok) user = undefined;
        } else return ctx.reject(['publickey', 'password']);
        const a = await authorize(ip, ctx.username, user);
        if (typeof a !== 'string') {
          authed = a;
          clearTimeout(loginTimer);
          early?.cancel();
          return ctx.accept();
        }
        failures++;
        if (failures >= listener.max_auth_attempts) {
          ctx.reject();
          client.end();
          return;
        }
        ctx.reject(['publickey', 'password']);
      })().catch((e: unknown) => {
        logger.error({ err: e }, 'ssh authentication failed unexpectedly');
        ctx.reject();
      });
    });

    client.on('ready', () => {
      if (!authed) return client.end();
      started = true;
      const sessionId = startSession(client, authed, ip, ident, web ? 'web' : 'proxy');
      if (web) web.sessionId = sessionId;
    });
  }

  function startSession(client: ssh2.Connection, a: Authed, ip: string, ident: string, connectedFrom: 'proxy' | 'web'): string {
    const sessionId = newId(clock.now());
    const protocol = a.target.type === 'local' ? 'local' : 'ssh';
    const started = clock.now();
    const user = userRef(a.user);
    const server = { name: a.target.name, host: a.target.host, port: a.target.port, ...(a.target.os ? { os: a.target.os } : {}) };
    emitter.emit({ type: 'session.start', session_id: sessionId, protocol, listener: listener.name, ip, user, account: a.account, server, client_name: ident, connected_from: connectedFrom });
    let bytesIn = 0;
    let bytesOut = 0;
    let lastExit: { exit_code?: number; exit_signal?: string } = {};
    let endReason: EndReason | undefined;
    // The end reason must not depend on which side's close the gateway sees first: a session whose
    // last channel ended with the target's exit report (before the client left) ended upstream.
    let openChannels = 0;
    let targetExited = false;
    let clientGone = false;
    let terminatedBy: { by: string; why: string } | undefined;
    let lastActivity = clock.now();
    let handle: LiveSessionHandle | undefined;

    const relay = new Relay(client, a.upstream, a.target, {
      activity: () => {
        lastActivity = clock.now();
        handle?.touch();
      },
      channelStart: (kind, detail, abort): ChannelObserver => {
        const audit = kind === 'subsystem' && detail.subsystem === 'sftp' ? sftpAudit(abort) : undefined;
        // Channels with a pty get a cast (DESIGN "Recording pipeline"): the session's first one is
        // <session-id>.cast, later ones <session-id>.2, .3...
        const cast = detail.pty ? castFor(detail.pty.cols, detail.pty.rows, detail.pty.term) : undefined;
        openChannels++;
        return {
          ...(audit ? { input: (d: Buffer) => audit.fromClient(d), output: (d: Buffer) => audit.fromServer(d) } : {}),
          ...(cast
            ? {
                input: (d: Buffer) => cast.input(d),
                output: (d: Buffer) => cast.output(d),
                stderr: (d: Buffer) => cast.output(d),
                resize: (cols: number, rows: number) => cast.resize(cols, rows),
              }
            : {}),
          end: (r) => {
            audit?.close(r.error ?? (endReason ? `session ${endReason}` : 'channel closed'));
            if (cast) castsClosing.push(closeCast(cast));
            bytesIn += r.bytes_in;
            bytesOut += r.bytes_out;
            lastExit = { ...(r.exit_code !== undefined ? { exit_code: r.exit_code } : {}), ...(r.exit_signal ? { exit_signal: r.exit_signal } : {}) };
            openChannels--;
            targetExited = !clientGone && (r.exit_code !== undefined || r.exit_signal !== undefined);
            if (kind === 'exec') {
              emitter.emit({ type: 'ssh.exec', session_id: sessionId, ip, user, command: detail.command!.slice(0, 4096), pty: detail.pty !== undefined, bytes_in: r.bytes_in, bytes_out: r.bytes_out, ...lastExit });
            }
          },
        };
      },
      forwardAttempt: (kind, allowed, dest) => {
        emitter.emit({ type: 'ssh.forward', session_id: sessionId, ip, user, kind, allowed, ...(dest ? { dest_host: dest.host, dest_port: dest.port } : {}) });
      },
    });

    const recordings: CastRecording[] = [];
    const castsClosing: Promise<void>[] = [];
    let casts = 0;
    const castFor = (cols: number, rows: number, term: string): CastWriter | undefined => {
      casts++;
      try {
        const w = new CastWriter({
          dir: recordingsDir,
          sessionId: casts === 1 ? sessionId : `${sessionId}.${casts}`,
          width: cols,
          height: rows,
          title: `${a.user.name} on ${a.account}@${a.target.name}`,
          env: { TERM: term },
          recordInput: a.target.record_input,
          clock,
          logger,
          onGap: (g) => emitter.emit({ type: 'audit.gap', session_id: sessionId, lost: g.lost_events, reason: g.reason === 'buffer_full' ? 'queue_full' : 'write_failed', from_ts: g.from_ms, to_ts: g.to_ms, by_type: { recording: g.lost_events } }),
        });
        deps.liveCasts?.add(w.sessionId, w);
        return w;
      } catch (e) {
        logger.error({ err: e, session_id: sessionId }, 'cannot start the recording of this channel (the session goes on unrecorded)');
        emitter.emit({ type: 'audit.gap', session_id: sessionId, lost: 1, reason: 'write_failed', from_ts: clock.now(), to_ts: clock.now(), by_type: { recording: 1 } });
        return undefined;
      }
    };
    const closeCast = (cast: CastWriter): Promise<void> =>
      cast.close(endReason ?? 'channel closed').finally(() => deps.liveCasts?.remove(cast.sessionId, cast)).then(
        (rec) => void recordings.push(rec),
        (e: unknown) => logger.error({ err: e, session_id: sessionId }, 'closing a recording failed'),
      );

    /** SFTP is relayed as bytes and read on the side: one file.transfer per file operation. */
    const sftpAudit = (abort: (message: string) => void) =>
      new SftpAudit({
        clock,
        onOperation: (op) => emitter.emit({ type: 'file.transfer', session_id: sessionId, protocol: 'sftp', ip, user, server: { name: a.target.name, host: a.target.host, port: a.target.port }, ...transferFields(op) }),
        onError: (reason) => {
          logger.warn({ session_id: sessionId, reason }, 'malformed SFTP stream: ending the channel');
          abort('malformed SFTP stream: the channel is closed');
        },
      });
    const end = (reason: EndReason, message: string): Promise<void> => {
      if (endReason) return Promise.resolve();
      endReason = reason;
      return relay.endAll(message).then(() => {
        client.end();
        a.upstream.end();
      });
    };
    handle = registry.register(
      { id: `ssh:${sessionId}`, protocol, listener: listener.name, ip, user, login: a.user.name, details: { account: a.account, server: a.target.name, host: a.target.host, client_name: ident, connected_from: connectedFrom, session_id: sessionId } },
      (actor, reason) => {
        terminatedBy = { by: actor.name, why: reason };
        return end('terminated', `Session terminated by ${actor.name}: ${reason}`);
      },
    );
    const idle =
      listener.idle_timeout > 0
        ? setInterval(() => {
            if (clock.now() - lastActivity >= listener.idle_timeout) void end('idle_timeout', `Session ended: idle for ${Math.round(listener.idle_timeout / 1000)} s`);
          }, Math.min(listener.idle_timeout, 1000))
        : undefined;
    a.upstream.on('close', () => {
      if (!endReason) endReason = 'upstream_exit';
      client.end();
    });
    let closed = false;
    client.on('close', () => {
      clientGone = true;
      if (closed) return;
      closed = true;
      if (idle) clearInterval(idle);
      a.upstream.end();
      handle?.remove();
      // Channel ends may land in the same turn as the connection's close: let them queue first.
      setImmediate(() => void Promise.allSettled(castsClosing).then(() => ended()));
    });
    const recordingRef = (r: CastRecording): RecordingRef => ({ id: r.id, path: r.path, size: r.size, sha256: r.sha256 });
    const ended = () => {
      const rec = [...recordings].sort((x, y) => (x.id.length - y.id.length) || (x.id < y.id ? -1 : 1));
      emitter.emit({
        type: 'session.end',
        session_id: sessionId,
        protocol,
        ip,
        user,
        reason: endReason ?? (closing ? 'gateway_shutdown' : targetExited && openChannels === 0 ? 'upstream_exit' : 'client_exit'),
        duration_ms: clock.now() - started,
        bytes_in: bytesIn,
        bytes_out: bytesOut,
        ...lastExit,
        ...(terminatedBy ? { terminated_by: terminatedBy.by, terminate_reason: terminatedBy.why } : {}),
        ...(rec[0] ? { recording: recordingRef(rec[0]) } : {}),
        ...(rec.length > 1 ? { recordings: rec.map(recordingRef) } : {}),
      });
    };
    closers.set(client, () => void end('gateway_shutdown', 'Session ended: the gateway is shutting down'));
    return sessionId;
  }

  function openWeb(req: WebShellRequest): Promise<WebShell> {
    if (closing || !server) return Promise.reject(new SgError('SG_ERR_SSH_UPSTREAM', 'the SSH front end is not running'));
    const login = `${req.user.name}:${req.account}@${req.server}`;
    const conn: WebConn = { user: req.user, login, ip: req.ip, clientName: req.clientName.replace(/[^\x20-\x7e]/g, '?').slice(0, 255) };
    const [serverEnd, clientEnd] = socketPair(req.ip);
    webConns.set(serverEnd, conn);
    server.injectSocket(serverEnd as never);
    return WebShell.open(clientEnd, { login, cols: req.cols, rows: req.rows, timeoutMs: listener.login_timeout + 5000 }).then(
      (shell) => shell.started(conn.sessionId ?? ''),
      (e: unknown) => {
        const [code, message] = WEB_REFUSALS[conn.refused ?? ''] ?? ['SG_ERR_SSH_UPSTREAM', `the session could not start: ${(e as Error).message}`];
        throw new SgError(code as ErrorCode, message, { cause: e });
      },
    );
  }

  return {
    protocol: 'ssh',
    name: listener.name,
    openWeb,
    targetsFor(user) {
      return reachable(user).flatMap((t) => {
        const target = targets.get(t.server.toLowerCase())!;
        if (!target.accounts.some((a) => a.name.toLowerCase() === t.account.toLowerCase())) return [];
        return [{ server: target.name, account: t.account, host: target.host, port: target.port, ...(target.os ? { os: target.os } : {}) }];
      });
    },
    start() {
      if (server) return Promise.reject(new SgError('SG_ERR_LISTEN', `ssh listener ${listener.name} already started`));
      server = new ssh2.Server({ hostKeys, ident: 'Sessiongate' }, onClient);
      server.on('error', (e: Error) => logger.error({ err: e }, 'ssh listener error'));
      // ssh2 announces a client (onClient) only once its version line has come: one that never
      // sends it would stay forever. Every connection must log in within login_timeout; the
      // socket of one that did not is destroyed (a second later when onClient's timer ended it).
      (server as unknown as { _srv: import('node:net').Server })._srv.on('connection', (sock) => {
        const entry = { announced: false, cancel: () => (clearTimeout(timer), pending.delete(sock)) };
        const timer = setTimeout(() => {
          if (!entry.announced) refuse(normalizeIp(sock.remoteAddress ?? ''), '', 'login_timeout');
          setTimeout(() => sock.destroy(), entry.announced ? 1000 : 0).unref();
        }, listener.login_timeout);
        pending.set(sock, entry);
        sock.once('close', entry.cancel);
      });
      return listenOn(server, 'ssh', listener, logger).then((p) => void (port = p));
    },
    addresses(): BoundAddress[] {
      return port < 0 ? [] : [{ host: listener.listen.host, port, tls: false }];
    },
    async close(graceMs = 0) {
      if (closing) return;
      closing = true;
      await drainFrontend(server, open, graceMs, () => {
        for (const c of open) {
          const close = closers.get(c);
          if (close) close();
          else c.end();
        }
      });
    },
  };
}
