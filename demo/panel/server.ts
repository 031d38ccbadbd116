// The bundled demo panel: a fake hosting control panel on node:http that Sessiongate fronts in
// the demo (config/demo.yaml). Upstream of the gateway, so it is deliberately plain: in-memory
// data, fixed demo passwords, and the identity response header the gateway reads.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SgError } from '../../gateway/core/errors.js';
import type { Logger } from '../../gateway/core/runtime.js';
import { HttpError, Router, authenticate, errorPage, sendError, type Ctx } from './context.js';
import { PanelStore } from './store.js';
import { authRoutes } from './web-auth.js';
import { adminRoutes } from './web-admin.js';
import { clientRoutes } from './web-client.js';
import { apiRoutes } from './api.js';

export interface DemoPanelOptions {
  host: string;
  /** 0 = any free port (tests). */
  port: number;
  logger?: Logger;
}

export interface DemoPanel {
  /** The bound port. */
  port: number;
  /** The panel's in-memory data (tests inspect it). */
  store: PanelStore;
  close(): Promise<void>;
}

function validate(opts: DemoPanelOptions): void {
  if (typeof opts?.host !== 'string' || opts.host.length === 0) throw new SgError('SG_ERR_BAD_PARAM', 'demo panel: host is required');
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new SgError('SG_ERR_BAD_PARAM', `demo panel: invalid port ${String(opts.port)}`);
}

export async function startDemoPanel(opts: DemoPanelOptions): Promise<DemoPanel> {
  validate(opts);
  const store = new PanelStore();
  const router = new Router().add(authRoutes).add(adminRoutes).add(clientRoutes).add(apiRoutes);
  const log = opts.logger;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://panel.invalid');
    const ctx: Ctx = { req, res, url, method: req.method ?? 'GET', params: {}, store };
    authenticate(ctx);
    try {
      const hit = router.match(ctx.method, url.pathname);
      if (!hit) throw new HttpError(404, 'not_found', `No page at ${url.pathname}.`);
      if ('allow' in hit) {
        res.setHeader('allow', hit.allow.join(', '));
        throw new HttpError(405, 'method_not_allowed', `${ctx.method} is not allowed here.`);
      }
      ctx.params = hit.params;
      await hit.handler(ctx);
    } catch (e) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpError) {
        if (e.status === 413) res.setHeader('connection', 'close');
        sendError(ctx, e);
      } else {
        log?.error({ err: e, path: url.pathname }, 'demo panel: request failed');
        errorPage(ctx, 500, 'Server error', 'Something went wrong.');
      }
    } finally {
      log?.debug({ method: ctx.method, path: url.pathname, status: res.statusCode, user: ctx.user?.login }, 'demo panel request');
    }
  }

  const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(new SgError('SG_ERR_LISTEN', `demo panel: cannot listen on ${opts.host}:${opts.port}: ${e.message}`, { cause: e }));
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log?.info({ host: opts.host, port }, 'demo panel listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    store,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
