// `sessiongate check-config`, run in-process through the real dispatcher (cli/main.ts) with
// captured stdout/stderr: exit codes and the FILE:LINE: KEY: MESSAGE lines operators and CI see.
import t from 'tap';
import { PassThrough, Readable } from 'node:stream';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { main } from '../cli/main.js';
import type { CliIo } from '../cli/io.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function capture(stream: PassThrough): () => string {
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (c: string) => (text += c));
  return () => text;
}

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = capture(stdout);
  const err = capture(stderr);
  const io: CliIo = { stdout, stderr, stdin: Readable.from([]), env: {} };
  const code = await main(argv, io);
  stdout.end();
  stderr.end();
  await new Promise((r) => setImmediate(r));
  return { code, stdout: out(), stderr: err() };
}

const VALID = `data_dir: ./data
viewer:
  listen: 127.0.0.1:18080
http:
  - name: panel
    listen: 127.0.0.1:18443
    routes:
      - name: admin
        match: { path_prefix: /admin/ }
        upstream: http://127.0.0.1:9000
        realm: admin
      - name: client
        upstream: http://127.0.0.1:9000
  - name: api
    listen: "[::1]:18444"
    routes:
      - name: api
        upstream: http://127.0.0.1:9001
`;

t.test('a valid file: FILE: OK and a one-line summary on stdout, exit 0', async (t) => {
  const dir = t.testdir({ 'sg.yaml': VALID });
  const file = join(dir, 'sg.yaml');
  const r = await cli('check-config', file);
  t.equal(r.code, 0);
  t.equal(r.stderr, '');
  const lines = r.stdout.trimEnd().split('\n');
  t.equal(lines.length, 2, r.stdout);
  t.equal(lines[0], `${file}: OK`);
  const summary = lines[1]!;
  t.match(summary, /^2 HTTP listeners: panel http:\/\/127\.0\.0\.1:18443 \(2 routes\), api http:\/\/\[::1\]:18444 \(1 route\); 3 routes; viewer http:\/\/127\.0\.0\.1:18080; audit best_effort; data_dir /);
  t.ok(summary.includes(join(dir, 'data')), 'data_dir shown resolved');
});

t.test('an invalid file: every problem as FILE:LINE: KEY: MESSAGE on stderr, exit 1', async (t) => {
  const bad = `data_dir: ./data
bogus: 1
viewer:
  listen: 127.0.0.1:18443
audit:
  flush_interval: 250ms
http:
  - name: panel
    listen: 127.0.0.1:18443
    trusted_proxies: [10.0.0.0/33]
    routes:
      - name: admin
        upstream: ftp://x
`;
  const dir = t.testdir({ 'bad.yaml': bad });
  const file = join(dir, 'bad.yaml');
  const r = await cli('check-config', file);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  const issues = lines.slice(0, -1);
  t.same(issues, [
    `${file}:2: bogus: unknown key "bogus" (valid keys here: data_dir, log, viewer, audit, http, ssh, ftp, retention, export, backup, directory, users, demo)`,
    `${file}:6: audit.flush_interval: must be at most 100ms, got string "250ms"`,
    `${file}:9: http[0].listen: 127.0.0.1:18443 clashes with 127.0.0.1:18443 of viewer.listen, line 4: two listeners cannot share an address and port (use another port, or port 0 in tests)`,
    `${file}:10: http[0].trusted_proxies[0]: invalid IP address or CIDR "10.0.0.0/33"`,
    `${file}:13: http[0].routes[0].upstream: invalid URL "ftp://x" (must be http:// or https:// with a host)`,
  ]);
  t.equal(lines[lines.length - 1], `${file}: 5 problems (SG_ERR_CONFIG_INVALID); the gateway would refuse this file`);
});

t.test('the file name is printed as given (relative paths stay relative)', async (t) => {
  const dir = t.testdir({ 'rel.yaml': 'audit:\n  mode: fast\n' });
  const rel = join('.', dir.slice(process.cwd().length + 1), 'rel.yaml');
  t.ok(dir.startsWith(process.cwd()), 'tap fixtures live under the working directory');
  const r = await cli('check-config', rel);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`^${rel.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2: audit\\.mode: expected one of "best_effort", "strict", got string "fast"`));
});

t.test('YAML syntax errors and duplicate keys: exit 1 with the line', async (t) => {
  const dir = t.testdir({ 'dup.yaml': 'viewer:\n  enabled: true\n  enabled: false\n', 'syntax.yaml': 'viewer:\n  listen: [127.0.0.1:8080\n' });
  const dup = await cli('check-config', join(dir, 'dup.yaml'));
  t.equal(dup.code, 1);
  t.match(dup.stderr, `${join(dir, 'dup.yaml')}:3: viewer.enabled: duplicate key "enabled"`);
  t.match(dup.stderr, /SG_ERR_CONFIG_PARSE/);
  const syn = await cli('check-config', join(dir, 'syntax.yaml'));
  t.equal(syn.code, 1);
  t.match(syn.stderr, new RegExp(`^${join(dir, 'syntax.yaml').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2: `));
});

t.test('a missing file: exit 1, FILE: config file not found', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'nope.yaml');
  const r = await cli('check-config', file);
  t.equal(r.code, 1);
  t.equal(r.stderr.split('\n')[0], `${file}: config file not found`);
  t.match(r.stderr, /SG_ERR_CONFIG_NOT_FOUND/);
});

t.test('warnings go to stderr with "warning:" and do not fail the check', async (t) => {
  const dir = t.testdir({ 'w.yaml': 'audit:\n  enabled: false\n' });
  const file = join(dir, 'w.yaml');
  const r = await cli('check-config', file);
  t.equal(r.code, 0);
  t.equal(r.stderr, `${file}:2: audit.enabled: warning: request recording is OFF: this setting exists only for benchmarks; HTTP requests through the gateway are not recorded\n`);
  t.match(r.stdout, /: OK\n0 HTTP listeners; 0 routes; viewer http:\/\/127\.0\.0\.1:8080; audit OFF \(benchmark only\)/);
});

t.test('usage errors exit 2; --help exits 0', async (t) => {
  const none = await cli('check-config');
  t.equal(none.code, 2);
  t.match(none.stderr, /missing FILE/);
  t.match(none.stderr, /usage: sessiongate check-config FILE/);
  const two = await cli('check-config', 'a.yaml', 'b.yaml');
  t.equal(two.code, 2);
  t.match(two.stderr, /exactly one FILE/);
  const flag = await cli('check-config', '--verbose', 'a.yaml');
  t.equal(flag.code, 2);
  t.match(flag.stderr, /unknown option --verbose/);
  const help = await cli('check-config', '--help');
  t.equal(help.code, 0);
  t.match(help.stdout, /usage: sessiongate check-config FILE/);
  t.equal(help.stderr, '');
});

t.test('the shipped demo config checks OK', async (t) => {
  const r = await cli('check-config', join(ROOT, 'config', 'demo.yaml'));
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /demo\.yaml: OK\n.*HTTP listener.*viewer http:\/\/127\.0\.0\.1:\d+.*demo panel 127\.0\.0\.1:\d+/);
});

t.test('the shipped example checks OK once its files exist', async (t) => {
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(join(ROOT, 'config', 'example.yaml'), 'utf8');
  const dir = t.testdir({ tls: {}, secrets: {} });
  writeFileSync(join(dir, 'example.yaml'), text);
  for (const f of ['tls/panel.crt', 'tls/panel.key', 'secrets/panel-jwt.key', 'secrets/client-api.jwks.json', 'secrets/alice.password']) writeFileSync(join(dir, f), 'x', { mode: 0o600 });
  const r = await cli('check-config', join(dir, 'example.yaml'));
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '');
  t.match(r.stdout, /1 HTTP listener: panel https:\/\/0\.0\.0\.0:443 \(2 routes\); 2 routes; viewer http:\/\/127\.0\.0\.1:8080; audit best_effort; data_dir \/var\/lib\/sessiongate/);
});
