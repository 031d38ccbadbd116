// Explicit FTPS (RFC 4217) on both sides of the gateway:
// - toward clients, the listener's certificate: `AUTH TLS` upgrades the control connection
//   (a server-side TLSSocket over the same TCP connection) and, after `PROT P`, every data
//   connection (the client is the TLS client on data connections too, whichever side connected);
// - toward servers, `upstream_tls`: the gateway is a TLS client that checks the server's
//   certificate against `upstream_ca` (or the system CAs), or a pinned SHA-256 fingerprint, or
//   nothing when `upstream_insecure` is set; data connections reuse the control connection's TLS
//   session (servers such as vsftpd refuse data connections that do not: require_ssl_reuse).
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { FtpServerConfig, TlsConfig } from '../../config/schema.js';
import { SgError } from '../core/errors.js';

/** The listener's certificate and key, read and checked at start (clear errors, early). */
export function loadListenerTls(listener: string, cfg: TlsConfig): tls.SecureContext {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new SgError('SG_ERR_CONFIG_INVALID', `ftp listener "${listener}": cannot read TLS ${what} file ${file}: ${(e as Error).message}`, { cause: e });
    }
  };
  const cert = read(cfg.cert, 'certificate');
  const key = read(cfg.key, 'key');
  const passphrase = cfg.passphrase_file ? read(cfg.passphrase_file, 'passphrase').toString('utf8').replace(/\r?\n$/, '') : undefined;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new SgError('SG_ERR_CONFIG_INVALID', `ftp listener "${listener}": ${cfg.cert} is not a PEM certificate`, { cause: e });
  }
  let pk: ReturnType<typeof createPrivateKey>;
  try {
    pk = createPrivateKey({ key, ...(passphrase !== undefined ? { passphrase } : {}) });
  } catch (e) {
    throw new SgError('SG_ERR_CONFIG_INVALID', `ftp listener "${listener}": cannot load the private key ${cfg.key} (wrong passphrase or not PEM)`, { cause: e });
  }
  if (!x509.checkPrivateKey(pk)) throw new SgError('SG_ERR_CONFIG_INVALID', `ftp listener "${listener}": the private key ${cfg.key} does not belong to the certificate ${cfg.cert}`);
  // One context per listener: its session ticket keys let clients resume on data connections.
  return tls.createSecureContext({ cert, key, ...(passphrase !== undefined ? { passphrase } : {}), minVersion: 'TLSv1.2' });
}

/**
 * Wraps an accepted TCP connection (control after `AUTH TLS`, or data after `PROT P`) as the TLS
 * server. Bytes already read and buffered on `sock` are the client's first handshake bytes.
 */
export function serverTls(sock: net.Socket, context: tls.SecureContext): tls.TLSSocket {
  return new tls.TLSSocket(sock, { isServer: true, secureContext: context, requestCert: false, rejectUnauthorized: false });
}

/** How the gateway reaches one FTP server over TLS. */
export interface UpstreamTls {
  mode: FtpServerConfig['upstream_tls'];
  host: string;
  ca: Buffer | undefined;
  fingerprint: string | undefined;
  insecure: boolean;
}

export function upstreamTlsPolicy(server: FtpServerConfig): UpstreamTls {
  let ca: Buffer | undefined;
  if (server.upstream_ca && server.upstream_tls !== 'off') {
    try {
      ca = readFileSync(server.upstream_ca);
    } catch (e) {
      throw new SgError('SG_ERR_CONFIG_INVALID', `ftp server "${server.name}": cannot read upstream_ca ${server.upstream_ca}: ${(e as Error).message}`, { cause: e });
    }
  }
  return { mode: server.upstream_tls, host: server.host, ca, fingerprint: server.upstream_fingerprint, insecure: server.upstream_insecure };
}

export class UpstreamTlsError extends Error {}

/**
 * Starts the TLS client on `sock` (the server's control or data connection). The socket comes
 * back at once; it is destroyed with an UpstreamTlsError when the server's certificate does not
 * pass the policy. `ready` resolves once the handshake has passed.
 */
export function clientTls(sock: net.Socket, p: UpstreamTls, session: Buffer | undefined): { socket: tls.TLSSocket; ready: Promise<void> } {
  const pinned = p.fingerprint !== undefined;
  const opts: tls.ConnectionOptions = {
    socket: sock,
    // The name checked against the certificate: an IP address is matched against its IP SANs.
    ...(net.isIP(p.host) ? {} : { servername: p.host }),
    host: p.host,
    rejectUnauthorized: !(pinned || p.insecure),
    ...(p.ca ? { ca: p.ca } : {}),
    ...(session ? { session } : {}),
    minVersion: 'TLSv1.2',
  };
  const socket = tls.connect(opts);
  const ready = new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => {
      // A resumed session (data connections) carries no certificate: it was checked when the
      // session was made, and only that server holds the session's keys.
      if (pinned && !socket.isSessionReused()) {
        const got = socket.getPeerCertificate()?.fingerprint256;
        if (got !== p.fingerprint) {
          const e = new UpstreamTlsError(`the server's certificate (SHA-256 ${got ?? 'none'}) is not the pinned one (upstream_fingerprint)`);
          socket.destroy(e);
          return reject(e);
        }
      }
      resolve();
    });
    socket.once('error', (e) => reject(e instanceof UpstreamTlsError ? e : new UpstreamTlsError(describeTlsError(e))));
    socket.once('close', () => reject(new UpstreamTlsError('the server closed the connection during the TLS handshake')));
  });
  ready.catch(() => undefined);
  return { socket, ready };
}

function describeTlsError(e: Error & { code?: string }): string {
  const code = e.code ?? '';
  if (/CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS_CERT_ALTNAME/.test(code)) return `the server's TLS certificate was refused (${code}: ${e.message}); give upstream_ca or upstream_fingerprint for this server`;
  return `TLS with the server failed: ${e.message}`;
}
