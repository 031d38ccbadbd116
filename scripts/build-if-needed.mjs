// Rebuild dist/ when any source is newer than the last build, so `npm start` and `npm run bench`
// work on a fresh clone without a separate build step: TypeScript with tsc, and the viewer's
// browser app (viewer/web) with Vite, and the native FTP relay (scripts/build-native.mjs).
import { statSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const force = process.argv.includes('--force');
function newest(dir, test, skip = () => false) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && !skip(e.name)) t = Math.max(t, newest(p, test, skip));
    } else if (test(e.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}
const mtime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);

const roots = ['config', 'gateway', 'recorder', 'viewer', 'cli', 'bench', 'demo'];
const stamp = 'dist/.build-stamp';
const src = Math.max(...roots.map((r) => newest(r, (n) => n.endsWith('.ts'), (n) => n === 'web')), mtime('tsconfig.json'));
if (force || src > mtime(stamp)) {
  process.stderr.write('sessiongate: building TypeScript (tsc)...\n');
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  writeFileSync(stamp, new Date().toISOString() + '\n');
}

const web = 'viewer/web';
const webStamp = 'dist/viewer/web/index.html';
const webSrc = Math.max(newest(web, () => true), mtime('package-lock.json'));
if (force || webSrc > mtime(webStamp)) {
  process.stderr.write('sessiongate: building the viewer app (vite)...\n');
  execFileSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--config', `${web}/vite.config.mjs`], { stdio: 'inherit' });
}

// The native FTP data relay (built by `npm ci`; rebuilt here only when its C source changed).
execFileSync(process.execPath, ['scripts/build-native.mjs'], { stdio: 'inherit' });
