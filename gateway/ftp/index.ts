// The FTP front end (DESIGN "Front ends: FTP"): a control-channel proxy in front of configured FTP
// servers, with its own passive data ports, FTP-bounce protection for active mode, live state per
// session in the registry and every transfer recorded. One FtpSession per client connection.
import net from 'node:net';
import type { FtpConfig, FtpListenerConfig, FtpServerConfig } from '../../config/schema.js';
import { SgError } from '../core/errors.js';
import { drainFrontend, listenOn, type BoundAddress, type Frontend } from '../core/frontend.js';
import { PortPool } from './data.js';
import { FtpSession, type FtpDeps } from './session.js';
import { nativeRelayAddon } from './native-relay.js';
import { loadListenerTls, upstreamTlsPolicy, type UpstreamTls } from './tls.js';

export type { FtpDeps, FtpDirectory } from './session.js';

/** The servers a listener reaches, by lower-cased name, and its default. */
export function listenerServers(listener: FtpListenerConfig, cfg: FtpConfig): { servers: Map<string, FtpServerConfig>; defaultServer: FtpServerConfig } {
  const all = new Map(cfg.servers.map((s) => [s.name.toLowerCase(), s]));
  const names = listener.servers ?? cfg.servers.map((s) => s.name);
  const servers = new Map(names.map((n) => [n.toLowerCase(), all.get(n.toLowerCase())!]));
  const defaultServer = servers.get((listener.default_server ?? names[0]!).toLowerCase())!;
  return { servers, defaultServer };
}

export function createFtpFrontend(listener: FtpListenerConfig, cfg: FtpConfig, deps: FtpDeps): Frontend {
  const { logger } = deps;
  const { servers, defaultServer } = listenerServers(listener, cfg);
  const pool = new PortPool(listener.passive_ports);
  // Certificates and CA files are read now: a bad one stops the start with a clear error.
  const tls = listener.tls ? loadListenerTls(listener.name, listener.tls) : undefined;
  const policies = new Map<FtpServerConfig, UpstreamTls>([...servers.values()].map((s) => [s, upstreamTlsPolicy(s)]));
  const upstreamTls = (s: FtpServerConfig) => policies.get(s) ?? upstreamTlsPolicy(s);
  const sessions = new Set<FtpSession>();
  let server: net.Server | undefined;
  let port = -1;
  let closing = false;

  const onConnection = (sock: net.Socket) => {
    if (closing) return void sock.destroy();
    const s = new FtpSession(sock, { ...deps, listener, servers, defaultServer, pool, closing: () => closing, upstreamTls, ...(tls ? { tls } : {}) });
    sessions.add(s);
    void s.whenClosed.then(() => sessions.delete(s));
  };

  return {
    protocol: 'ftp',
    name: listener.name,
    start() {
      if (server) return Promise.reject(new SgError('SG_ERR_LISTEN', `ftp listener ${listener.name} already started`));
      const why = listener.native_relay ? nativeRelayAddon().why : undefined;
      if (why) logger.warn({ listener: listener.name, reason: why }, 'ftp: native data relay unavailable; relaying FTP data in JavaScript (slower)');
      server = net.createServer(onConnection);
      server.on('error', (e) => logger.error({ err: e }, 'ftp listener error'));
      return listenOn(server, 'ftp', listener, logger).then((p) => void (port = p));
    },
    addresses(): BoundAddress[] {
      // Explicit FTPS starts in clear text (AUTH TLS): the port itself is not a TLS port.
      return port < 0 ? [] : [{ host: listener.listen.host, port, tls: false }];
    },
    async close(graceMs = 0) {
      if (closing) return;
      closing = true;
      await drainFrontend(server, sessions, graceMs, () => Promise.allSettled([...sessions].map((s) => s.shutdown())));
    },
  };
}
