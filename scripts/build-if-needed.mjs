// Rebuild dist/ when any TypeScript source is newer than the last build, so `npm start`
// and `npm run bench` work on a fresh clone without a separate build step.
import { statSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const roots = ['config', 'gateway', 'recorder', 'viewer', 'cli', 'bench', 'demo'];
const stamp = 'dist/.build-stamp';
function newest(dir) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) { if (e.name !== 'node_modules' && e.name !== 'web') t = Math.max(t, newest(p)); }
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}
const src = Math.max(...roots.map(newest), statSync('tsconfig.json').mtimeMs);
const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (src > built || process.argv.includes('--force')) {
  process.stderr.write('sessiongate: building TypeScript (tsc)...\n');
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  const { writeFileSync } = await import('node:fs');
  writeFileSync(stamp, new Date().toISOString() + '\n');
}
