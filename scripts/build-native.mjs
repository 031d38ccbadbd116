// Builds the optional native addon (native/data-relay.c -> build/Release/sg_relay.node): the FTP
// data channel's native relay (Linux). Run by `npm ci` (the package's install script) and by
// build-if-needed when the C source is newer than the addon. A failed build never fails the install:
// the gateway then relays FTP data in JavaScript (slower) and says so in its log at start.
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';

const addon = 'build/Release/sg_relay.node';
const source = 'native/data-relay.c';
const force = process.argv.includes('--force');
const mtime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);

if (process.platform !== 'linux') {
  process.stderr.write('sessiongate: the native FTP data relay is built on Linux only; FTP data is relayed in JavaScript here\n');
  process.exit(0);
}
if (!force && mtime(addon) >= Math.max(mtime(source), mtime('binding.gyp'))) process.exit(0);

// npm hands its own node-gyp to lifecycle scripts; outside npm, use the copy bundled with npm.
const candidates = [
  process.env.npm_config_node_gyp,
  process.env.npm_execpath && join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter(Boolean);
const nodeGyp = candidates.find((p) => existsSync(p));
const args = ['rebuild', '--loglevel=warn'];
// Build against the running Node's own headers when they are installed (no download needed).
const headers = join(dirname(process.execPath), '..', 'include', 'node', 'node_api.h');
if (!process.env.npm_config_nodedir && existsSync(headers)) args.push(`--nodedir=${join(dirname(process.execPath), '..')}`);
try {
  if (!nodeGyp) throw new Error('node-gyp not found (looked beside npm)');
  process.stderr.write('sessiongate: building the native FTP data relay (native/data-relay.c)...\n');
  execFileSync(process.execPath, [nodeGyp, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
} catch (e) {
  process.stderr.write(
    `\nsessiongate: WARNING: the native FTP data relay did not build (${e.message.split('\n')[0]}).\n` +
      'FTP transfers still work, relayed in JavaScript at a lower speed. It needs python3, make and a C compiler.\n\n',
  );
}
