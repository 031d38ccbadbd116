// The HTTP front end: one listener of config `http[]`, on uWebSockets.js (default) or node:http,
// reverse-proxying to the routes' upstreams and recording every request. The app builds it with
// createHttpFrontend() and drives it only through the Frontend interface.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { HttpListenerConfig, TlsConfig } from '../../config/schema.js';
import { SgError } from '../core/errors.js';
import type { BoundAddress, Frontend } from '../core/frontend.js';
import type { Engine } from './engines/engine.js';
import { NodeEngine } from './engines/node.js';
import { UwsEngine } from './engines/uws.js';
import { HttpProxy, type HttpFrontendDeps } from './proxy.js';

export type { HttpFrontendDeps } from './proxy.js';

/** Default grace for in-flight requests when close() is called without one. */
export const DEFAULT_GRACE_MS = 5_000;

interface TlsMaterial {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  passphrase: string | undefined;
}

/** Reads and checks the listener's certificate, key and passphrase at construction (clear errors, early). */
function loadTls(name: string, tls: TlsConfig): TlsMaterial {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new SgError('SG_ERR_CONFIG_INVALID', `listener "${name}": cannot read TLS ${what} file ${file}: ${(e as Error).message}`, { cause: e });
    }
  };
  const cert = read(tls.cert, 'certificate');
  const key = read(tls.key, 'key');
  const passphrase = tls.passphrase_file ? read(tls.passphrase_file, 'passphrase').toString('utf8').replace(/\r?\n$/, '') : undefined;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new SgError('SG_ERR_CONFIG_INVALID', `listener "${name}": ${tls.cert} is not a PEM certificate`, { cause: e });
  }
  let pk: ReturnType<typeof createPrivateKey>;
  try {
    pk = createPrivateKey({ key, passphrase });
  } catch (e) {
    throw new SgError('SG_ERR_CONFIG_INVALID', `listener "${name}": cannot load the private key ${tls.key} (wrong passphrase or not PEM)`, { cause: e });
  }
  if (!x509.checkPrivateKey(pk)) throw new SgError('SG_ERR_CONFIG_INVALID', `listener "${name}": the private key ${tls.key} does not belong to the certificate ${tls.cert}`);
  return { certFile: tls.cert, keyFile: tls.key, cert, key, passphrase };
}

class HttpFrontend implements Frontend {
  readonly protocol = 'http';
  readonly name: string;
  private readonly proxy: HttpProxy;
  private readonly engine: Engine;
  private bound: BoundAddress[] = [];
  private closing: Promise<void> | undefined;
  private started = false;

  constructor(
    private readonly cfg: HttpListenerConfig,
    private readonly deps: HttpFrontendDeps,
  ) {
    this.name = cfg.name;
    if (!cfg.routes || cfg.routes.length === 0) throw new SgError('SG_ERR_CONFIG_INVALID', `listener "${cfg.name}": no routes`);
    const tls = cfg.tls ? loadTls(cfg.name, cfg.tls) : undefined;
    this.proxy = new HttpProxy(cfg, deps);
    try {
      this.engine =
        cfg.engine === 'node'
          ? new NodeEngine({
              host: cfg.listen.host,
              port: cfg.listen.port,
              tls: tls && { cert: tls.cert, key: tls.key, passphrase: tls.passphrase },
              limits: {
                maxHeaderBytes: cfg.limits.max_header_bytes,
                maxUrlBytes: cfg.limits.max_url_bytes,
                maxHeaders: cfg.limits.max_headers,
                headerTimeoutMs: cfg.limits.header_timeout,
              },
              handlers: this.proxy,
              logger: deps.logger,
              onParserRefusal: (reason) => this.proxy.refused(reason),
            })
          : new UwsEngine({
              host: cfg.listen.host,
              port: cfg.listen.port,
              tls: tls && { certFile: tls.certFile, keyFile: tls.keyFile, passphrase: tls.passphrase },
              handlers: this.proxy,
              logger: deps.logger,
            });
    } catch (e) {
      void this.proxy.close(false);
      throw e;
    }
    this.proxy.addsDate = this.engine.addsDate;
  }

  async start(): Promise<void> {
    if (this.started) return;
    if (this.closing) throw new SgError('SG_ERR_LISTEN', `listener "${this.name}" is closed`);
    const addr = await this.engine.listen();
    this.started = true;
    this.bound = [addr];
    this.deps.logger.info({ listener: this.name, engine: this.engine.kind, host: addr.host, port: addr.port, tls: addr.tls, routes: this.cfg.routes.length }, 'http listener started');
  }

  addresses(): BoundAddress[] {
    return this.bound.map((a) => ({ ...a }));
  }

  close(graceMs: number = DEFAULT_GRACE_MS): Promise<void> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.proxy.closing = true;
    this.engine.stopAccepting();
    const drained = await this.proxy.waitIdle(Math.max(0, graceMs));
    if (!drained) this.deps.logger.warn({ listener: this.name, inFlight: this.proxy.inFlight }, 'grace period over: cutting in-flight requests');
    this.proxy.cutting = true;
    this.engine.closeAll();
    // Let the engines report the cut connections before the pools are torn down.
    await new Promise((r) => setImmediate(r));
    await this.proxy.close(drained);
    this.deps.logger.info({ listener: this.name }, 'http listener closed');
  }
}

export function createHttpFrontend(cfg: HttpListenerConfig, deps: HttpFrontendDeps): Frontend {
  return new HttpFrontend(cfg, deps);
}
