// The browser app (viewer/web, built by Vite into dist/viewer/web): its files are read once and
// served from memory. Every page path (`/admin-sessions`, `/live`, ...) answers with the app's
// index.html, which routes on the client; API and docs paths never reach here.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Route } from './context.js';
import type { Reply } from './http-io.js';
import { errorBody, json } from './reply.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sessiongate viewer</title></head>
<body><h1>Sessiongate viewer</h1>
<p>The browser app is not built. Run <code>npm run build</code> (or <code>npm start</code>, which builds what is missing).</p>
<p><a href="/docs/api.md">API reference</a> &middot; <a href="/healthz">health</a></p></body></html>
`;

/** dist/viewer/web, found from this file both in the source tree and in dist/. */
export function findUiDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) {
      const ui = join(dir, 'dist', 'viewer', 'web');
      return existsSync(join(ui, 'index.html')) ? ui : undefined;
    }
    dir = dirname(dir);
  }
  return undefined;
}

interface UiFiles {
  index: Buffer | undefined;
  /** `/assets/x.js` and top-level files such as `/favicon.svg`, by URL path. */
  files: Map<string, Reply>;
}

function readUi(dir: string | undefined): UiFiles {
  const files = new Map<string, Reply>();
  if (!dir) return { index: undefined, files };
  const add = (urlPath: string, file: string) => {
    const type = TYPES[extname(file)];
    if (type) files.set(urlPath, { status: 200, contentType: type, body: readFileSync(file) });
  };
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'assets' && statSync(p).isDirectory()) for (const a of readdirSync(p)) add(`/assets/${a}`, join(p, a));
    else if (name !== 'index.html' && statSync(p).isFile()) add(`/${name}`, p);
  }
  return { index: readFileSync(join(dir, 'index.html')), files };
}

/** Single-segment paths that are never app pages. */
const RESERVED = new Set(['api', 'docs', 'healthz', 'metrics']);

export function uiRoutes(dir: string | undefined = findUiDir()): Route[] {
  let ui: UiFiles | undefined;
  const load = () => (ui ??= readUi(dir));
  const page = (): Reply => {
    const { index } = load();
    return { status: 200, contentType: 'text/html; charset=utf-8', body: index ?? NOT_BUILT };
  };
  const notFound = () => json(404, errorBody('SG_ERR_NOT_FOUND', 'no such file'));
  return [
    { method: 'GET', path: '/', access: 'public', handler: page },
    // A session's playback page (viewer/web/src/pages/replay.tsx).
    { method: 'GET', path: '/session-logs/:id/replay', access: 'public', handler: page },
    // A session's command and transfer log (FTP: viewer/web/src/pages/session-log.tsx).
    { method: 'GET', path: '/session-logs/:id/log', access: 'public', handler: page },
    // A session known by its session_id, opened on its own page (viewer/web/src/pages/open-session.tsx).
    { method: 'GET', path: '/session-logs/open', access: 'public', handler: page },
    {
      method: 'GET',
      path: '/assets/:file',
      access: 'public',
      handler: ({ params }) => load().files.get(`/assets/${params.file}`) ?? notFound(),
    },
    {
      method: 'GET',
      path: '/:page',
      access: 'public',
      handler: ({ params }) => {
        const name = params.page!;
        if (RESERVED.has(name)) return json(404, errorBody('SG_ERR_NOT_FOUND', 'no such endpoint'));
        const file = load().files.get(`/${name}`);
        if (file) return file;
        // A name with a file extension is a missing file, not an app page.
        return /\.[A-Za-z0-9]+$/.test(name) ? notFound() : page();
      },
    },
  ];
}
