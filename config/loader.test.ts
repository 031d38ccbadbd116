import t, { type Test } from 'tap';
import fc from 'fast-check';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument, stringify, isMap, isPair, isScalar, isSeq, type Node } from 'yaml';
import { ConfigError, SgError } from '../gateway/core/errors.js';
import { loadConfig, loadConfigSync, parseConfigText, formatConfigIssue, type LoadedConfig } from './loader.js';
import { allKeyPaths } from './schema-walk.js';
import { closest, formatKey } from './issues.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');

// ---------- helpers ----------

/** 1-based line of the first line containing `needle` (after `after` lines). */
function lineOf(text: string, needle: string, after = 0): number {
  const lines = text.split('\n');
  for (let i = after; i < lines.length; i++) if (lines[i]!.includes(needle)) return i + 1;
  throw new Error(`fixture has no line with ${JSON.stringify(needle)}`);
}

function failure(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError, but the config loaded');
}

async function failureAsync(p: Promise<unknown>): Promise<ConfigError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError, but the config loaded');
}

/** The issue for `key`, asserting there is exactly one. */
function issueFor(t: Tap, err: ConfigError, key: string) {
  const found = err.issues.filter((i) => i.key === key);
  t.equal(found.length, 1, `one issue for ${key} (issues: ${err.message})`);
  return found[0] ?? { key, message: '', line: undefined };
}

type Tap = Test;

/** Writes `yaml` as sessiongate.yaml into a fresh test dir (plus extra fixture files) and returns its path. */
function writeConfig(t: Tap, yaml: string, files: Record<string, unknown> = {}): string {
  const dir = t.testdir({ 'sessiongate.yaml': yaml, ...files });
  return join(dir, 'sessiongate.yaml');
}

/** A route-complete listener block used by many fixtures. */
const LISTENER = `http:
  - name: panel
    listen: 127.0.0.1:0
    routes:
      - name: admin
        upstream: http://127.0.0.1:9000
`;

// ---------- valid configs ----------

t.test('a minimal config loads with every default filled in', async (t) => {
  const file = writeConfig(t, LISTENER);
  const loaded = await loadConfig(file);
  const c = loaded.config;
  t.equal(loaded.file, file);
  t.equal(loaded.dir, dirname(file));
  t.same(loaded.warnings, []);
  t.equal(c.data_dir, join(dirname(file), 'data'), 'the default ./data is resolved against the config dir');
  t.same(c.viewer.listen, { host: '127.0.0.1', port: 8080 });
  t.equal(c.viewer.session_ttl, 8 * 3_600_000);
  t.equal(c.viewer.replay_max_bytes, 700 * 1024 * 1024);
  t.equal(c.audit.mode, 'best_effort');
  t.equal(c.audit.flush_interval, 50);
  t.equal(c.http.length, 1);
  const r = c.http[0]!.routes[0]!;
  t.equal(r.realm, 'client');
  t.equal(r.match.path_prefix, '/');
  t.same(r.api.path_prefixes, ['/api/']);
  t.equal(r.timeouts.headers, 60_000);
  t.equal(r.identity.basic, false);
  t.same(loadConfigSync(file).config, c, 'the sync variant gives the same result');
});

t.test('an empty file and a comments-only file are valid (all defaults)', async (t) => {
  for (const text of ['', '# nothing here\n', '---\n', '~\n']) {
    const { config } = parseConfigText(text, '/etc/sg/empty.yaml');
    t.same(config.http, [], JSON.stringify(text));
    t.equal(config.viewer.enabled, true);
    t.equal(config.data_dir, '/etc/sg/data');
  }
});

t.test('relative paths are resolved against the config file directory and made absolute', async (t) => {
  const yaml = `data_dir: ./state
log:
  file: logs/gw.log
audit:
  key_file: ../keys/audit.key
backup:
  dir: backups
viewer:
  tls: { cert: tls/v.crt, key: tls/v.key, passphrase_file: tls/v.pass }
http:
  - name: panel
    listen: 127.0.0.1:0
    tls: { cert: tls/p.crt, key: /ABS/tls/p.key }
    routes:
      - name: admin
        upstream: http://127.0.0.1:9000
        identity:
          jwt: { secret_file: secrets/jwt.key }
      - name: api
        match: { path_prefix: /api/ }
        upstream: http://127.0.0.1:9000
        identity:
          jwt: { public_key_file: secrets/pub.pem }
      - name: api2
        match: { path_prefix: /api2/ }
        upstream: http://127.0.0.1:9000
        identity:
          jwt: { jwks_file: secrets/keys.jwks }
users:
  - name: alice
    password_file: secrets/alice.pw
`;
  const dir = t.testdir({
    conf: {},
    tls: { 'v.crt': 'c', 'v.key': 'k', 'v.pass': 'p', 'p.crt': 'c', 'p.key': 'k' },
    secrets: { 'jwt.key': 's', 'pub.pem': 'p', 'keys.jwks': '{}', 'alice.pw': 'pw' },
  });
  const confDir = join(dir, 'conf');
  // The config sits in conf/, the files one level up: relative paths climb with ../
  const file = join(confDir, 'sg.yaml');
  writeFileSync(file, yaml.replace(/(cert|key|passphrase_file|secret_file|public_key_file|jwks_file|password_file): (tls|secrets)\//g, '$1: ../$2/').replace('/ABS/', `${dir}/`));
  const { config: c } = await loadConfig(file);
  t.equal(c.data_dir, join(confDir, 'state'));
  t.equal(c.log.file, join(confDir, 'logs/gw.log'));
  t.equal(c.audit.key_file, join(dir, 'keys/audit.key'));
  t.equal(c.backup.dir, join(confDir, 'backups'));
  t.equal(c.viewer.tls!.cert, join(dir, 'tls/v.crt'));
  t.equal(c.viewer.tls!.key, join(dir, 'tls/v.key'));
  t.equal(c.viewer.tls!.passphrase_file, join(dir, 'tls/v.pass'));
  t.equal(c.http[0]!.tls!.cert, join(dir, 'tls/p.crt'));
  t.equal(c.http[0]!.tls!.key, join(dir, 'tls/p.key'), 'absolute paths stay as they are');
  t.equal(c.http[0]!.routes[0]!.identity.jwt!.secret_file, join(dir, 'secrets/jwt.key'));
  t.equal(c.http[0]!.routes[1]!.identity.jwt!.public_key_file, join(dir, 'secrets/pub.pem'));
  t.equal(c.http[0]!.routes[2]!.identity.jwt!.jwks_file, join(dir, 'secrets/keys.jwks'));
  t.equal(c.users[0]!.password_file, join(dir, 'secrets/alice.pw'));
});

t.test('parseConfigText without a file resolves against the working directory, or opts.dir', async (t) => {
  t.equal(parseConfigText('data_dir: d').config.data_dir, resolve(process.cwd(), 'd'));
  t.equal(parseConfigText('data_dir: d', undefined, { dir: '/srv/sg' }).config.data_dir, '/srv/sg/d');
  const loaded = parseConfigText('data_dir: d');
  t.equal(loaded.file, undefined);
  const err = failure(() => parseConfigText('bogus: 1'));
  t.match(err.message, /^<config>:1: bogus: unknown key/);
});

// ---------- unknown keys ----------

t.test('an unknown top-level key names the key and its line, with a suggestion', async (t) => {
  const yaml = `data_dir: ./data\nviewr:\n  enabled: true\n`;
  const err = failure(() => parseConfigText(yaml, 'sg.yaml'));
  t.equal(err.code, 'SG_ERR_CONFIG_INVALID');
  t.ok(err instanceof SgError);
  const i = issueFor(t, err, 'viewr');
  t.equal(i.line, 2);
  t.equal(i.column, 1);
  t.match(i.message, /unknown key "viewr" \(did you mean "viewer"\?\)/);
  t.match(err.message, /^sg\.yaml:2: viewr: unknown key "viewr"/);
});

t.test('an unknown key deep in a route points at the unknown key itself', async (t) => {
  const yaml = `${LISTENER}      - name: client
        upstream: http://127.0.0.1:9001
        match: { path_prefix: /c/ }
        identity:
          jwt:
            verify: false
            claimz:
              login: sub
`;
  const err = failure(() => parseConfigText(yaml, 'sg.yaml'));
  const i = issueFor(t, err, 'http[0].routes[1].identity.jwt.claimz');
  t.equal(i.line, lineOf(yaml, 'claimz'));
  t.equal(i.column, 13);
  t.match(i.message, /did you mean "claims"/);
});

t.test('several unknown keys in one mapping are each reported on their own line', async (t) => {
  const yaml = `audit:\n  mode: strict\n  flush: 10ms\n  queue: 5\n`;
  const err = failure(() => parseConfigText(yaml));
  t.equal(issueFor(t, err, 'audit.flush').line, 3);
  t.equal(issueFor(t, err, 'audit.queue').line, 4);
});

t.test('a valid key in the wrong place says where it belongs; hyphens and case are forgiven in suggestions', async (t) => {
  const err = failure(() => parseConfigText('flush_interval: 10ms\ndata-dir: /x\n'));
  t.match(issueFor(t, err, 'flush_interval').message, /belongs under audit\.flush_interval/);
  t.match(issueFor(t, err, 'data-dir').message, /did you mean "data_dir"/);
  t.equal(closest('Data_Dir', ['data_dir', 'log']), 'data_dir');
  t.equal(closest('zzzzzz', ['data_dir', 'log']), undefined);
  t.equal(formatKey(['http', 0, 'routes', 1, 'upstream']), 'http[0].routes[1].upstream');
  t.equal(formatKey(['directory', 0, 'a b']), 'directory[0]["a b"]');
});

// ---------- wrong types and bad values ----------

t.test('wrong types name the key, the line, what was expected and what was given', async (t) => {
  const yaml = `viewer:
  enabled: yes
  session_ttl: true
audit:
  queue_max: abc
  batch_max: "500"
http: { name: x }
directory: [ 5 ]
`;
  const err = failure(() => parseConfigText(yaml));
  const cases: [string, string, RegExp][] = [
    ['viewer.enabled', 'enabled: yes', /expected true or false, got string "yes" \(write true or false, without quotes\)/],
    ['viewer.session_ttl', 'session_ttl', /expected a duration such as .*, got boolean true/],
    ['audit.queue_max', 'queue_max', /expected a number, got string "abc"/],
    ['audit.batch_max', 'batch_max', /got string "500" \(write the number without quotes\)/],
    ['http', 'http:', /expected a list, got a mapping/],
    ['directory[0]', 'directory', /expected a mapping \(key: value\), got number 5/],
  ];
  for (const [key, needle, msg] of cases) {
    const i = issueFor(t, err, key);
    t.equal(i.line, lineOf(yaml, needle), `${key} line`);
    t.match(i.message, msg, `${key} message`);
  }
  t.equal(err.issues.length, cases.length, 'all issues reported, not just the first');
});

t.test('a config that is not a mapping is refused', async (t) => {
  const err = failure(() => parseConfigText('- a\n- b\n'));
  t.equal(err.code, 'SG_ERR_CONFIG_INVALID');
  t.match(err.issues[0]!.message, /must be a mapping of keys.*got a list/);
  t.equal(err.issues[0]!.line, 1);
});

t.test('a missing required key points at the nearest existing parent', async (t) => {
  const yaml = `http:
  - name: panel
    listen: 127.0.0.1:0
    routes:
      - name: admin
        realm: admin
`;
  const err = failure(() => parseConfigText(yaml));
  const i = issueFor(t, err, 'http[0].routes[0].upstream');
  t.equal(i.line, lineOf(yaml, '- name: admin'));
  t.match(i.message, /required key is missing/);
  const err2 = failure(() => parseConfigText('http:\n  - name: p\n    listen: 127.0.0.1:1\n'));
  t.equal(issueFor(t, err2, 'http[0].routes').line, 2);
});

t.test('bad listen addresses are refused with key and line', async (t) => {
  for (const bad of ['1.2.3:80', 'host:99999', ':80', '127.0.0.1', '[::1:80', '256.1.1.1:80', 'a b:80']) {
    const yaml = `viewer:\n  enabled: true\nhttp:\n  - name: panel\n    listen: "${bad}"\n    routes:\n      - name: r\n        upstream: http://127.0.0.1:9\n`;
    const err = failure(() => parseConfigText(yaml));
    const i = issueFor(t, err, 'http[0].listen');
    t.equal(i.line, 5, bad);
    t.match(i.message, /invalid listen address/, bad);
  }
  const err = failure(() => parseConfigText('viewer:\n  listen: 8080\n'));
  t.match(issueFor(t, err, 'viewer.listen').message, /expected a listen address HOST:PORT .*, got number 8080/);
  // Good forms pass.
  for (const ok of ['127.0.0.1:0', '[::1]:8080', 'localhost:65535', '0.0.0.0:443', 'gw.example.com:80']) {
    t.same(Object.keys(parseConfigText(`viewer:\n  listen: "${ok}"\n`).config.viewer.listen), ['host', 'port'], ok);
  }
});

t.test('a bad CIDR in trusted_proxies names the list item', async (t) => {
  const yaml = `${LISTENER.replace('    routes:', '    trusted_proxies:\n      - 10.0.0.0/8\n      - 10.0.0.0/33\n      - fd00::/8\n    routes:')}`;
  const err = failure(() => parseConfigText(yaml));
  const i = issueFor(t, err, 'http[0].trusted_proxies[1]');
  t.equal(i.line, lineOf(yaml, '10.0.0.0/33'));
  t.match(i.message, /invalid IP address or CIDR "10\.0\.0\.0\/33"/);
  const err2 = failure(() => parseConfigText('viewer:\n  trusted_proxies: [1.2.3.4, nope]\n'));
  t.equal(issueFor(t, err2, 'viewer.trusted_proxies[1]').line, 2);
  // ipaddr.js's legacy IPv4 forms would silently mean another network in an allowlist.
  for (const bad of ['010.0.0.1', '192.168.1', '10.1/16', '0x0a.0.0.0/8', '3232235777', '10.0.0.0/8/8', '1.2.3.4/', '::1/129', '10.0.0.0/33', ' 10.0.0.1']) {
    const e = failure(() => parseConfigText(`viewer:\n  trusted_proxies: ["${bad}"]\n`));
    t.match(issueFor(t, e, 'viewer.trusted_proxies[0]').message, /invalid IP address or CIDR/, bad);
  }
  const good = ['10.0.0.0/8', '192.168.1.5', '0.0.0.0/32', '::1', 'fd00::/8', '::ffff:10.0.0.1', '2001:db8::/32'];
  t.same(parseConfigText(`viewer:\n  trusted_proxies: ${JSON.stringify(good)}\n`).config.viewer.trusted_proxies, good);
});

t.test('bad upstream URLs: no scheme, ftp://, credentials (never echoed)', async (t) => {
  const cases: [string, RegExp][] = [
    ['example.com:8080/x', /invalid URL/],
    ['ftp://files.example.com/', /invalid URL "ftp:\/\/files\.example\.com\/" \(must be http:\/\/ or https:\/\//],
    ['http://admin:hunter2@10.0.0.1/', /credentials in upstream URLs are not allowed/],
    ['ftp://admin:hunter2@10.0.0.1/', /invalid URL "ftp:\/\/\[REDACTED\]@10\.0\.0\.1\/"/],
  ];
  for (const [url, msg] of cases) {
    const yaml = LISTENER.replace('http://127.0.0.1:9000', url);
    const err = failure(() => parseConfigText(yaml));
    const i = issueFor(t, err, 'http[0].routes[0].upstream');
    t.equal(i.line, lineOf(yaml, 'upstream:'), url);
    t.match(i.message, msg, url);
    t.notMatch(err.message, /hunter2/, 'the password never appears in messages');
  }
});

t.test('bad durations and sizes, and flush_interval over 100ms', async (t) => {
  const yaml = `viewer:
  session_ttl: 8 hours
  replay_max_bytes: 700 MiBs
audit:
  flush_interval: 250ms
http:
  - name: panel
    listen: 127.0.0.1:0
    limits:
      max_header_bytes: -5
      header_timeout: 10x
    routes:
      - name: admin
        upstream: http://127.0.0.1:9000
`;
  const err = failure(() => parseConfigText(yaml));
  const cases: [string, string, RegExp][] = [
    ['viewer.session_ttl', 'session_ttl', /invalid duration "8 hours"/],
    ['viewer.replay_max_bytes', 'replay_max_bytes', /invalid size "700 MiBs"/],
    ['audit.flush_interval', 'flush_interval', /must be at most 100ms, got string "250ms"/],
    ['http[0].limits.max_header_bytes', 'max_header_bytes', /must be at least 0 bytes, got number -5/],
    ['http[0].limits.header_timeout', 'header_timeout', /invalid duration "10x"/],
  ];
  for (const [key, needle, msg] of cases) {
    const i = issueFor(t, err, key);
    t.equal(i.line, lineOf(yaml, needle), key);
    t.match(i.message, msg, key);
  }
  t.equal(err.issues.length, cases.length);
  t.match(issueFor(t, failure(() => parseConfigText('audit:\n  flush_interval: 0\n')), 'audit.flush_interval').message, /at least 1ms/);
  t.equal(parseConfigText('audit:\n  flush_interval: 100ms\n').config.audit.flush_interval, 100, '100ms is the limit, included');
  t.equal(parseConfigText('viewer:\n  replay_max_bytes: 1GB\n').config.viewer.replay_max_bytes, 1024 ** 3);
});

t.test('enum values get the list of choices and a suggestion', async (t) => {
  const err = failure(() => parseConfigText('audit:\n  mode: stirct\n'));
  const i = issueFor(t, err, 'audit.mode');
  t.equal(i.line, 2);
  t.match(i.message, /expected one of "best_effort", "strict", got string "stirct" \(did you mean "strict"\?\)/);
});

t.test('ftp: port ranges and server names are checked; ssh needs listeners and targets, each account exactly one credential', async (t) => {
  const err = failure(() => parseConfigText('ftp:\n  listeners:\n    - { name: f, listen: 127.0.0.1:0, passive_ports: 40100-40000, default_server: nope }\n  servers: [{ name: files, host: 127.0.0.1 }]\n'));
  t.match(issueFor(t, err, 'ftp.listeners[0].passive_ports').message, /starts after it ends/);
  t.match(issueFor(t, err, 'ftp.listeners[0].default_server').message, /no server named "nope"/);
  t.equal(issueFor(t, err, 'ftp.listeners[0].passive_ports').line, 3);
  const ssh = failure(() => parseConfigText('ssh:\n  listen: 0.0.0.0:2222\n'));
  t.equal(issueFor(t, ssh, 'ssh.listen').line, 2, 'a misplaced key is named with its line');
  const acc = failure(() =>
    parseConfigText('ssh:\n  listeners: [{ name: s, listen: 127.0.0.1:0 }]\n  targets:\n    - name: w\n      host: h\n      host_key: SHA256:x\n      accounts: [{ name: root, key_file: a, password_env: B }]\n'),
  );
  t.match(issueFor(t, acc, 'ssh.targets[0].accounts[0]').message, /exactly one of key_file, password_file, password_env/);
  const dup = failure(() =>
    parseConfigText('ssh:\n  listeners: [{ name: s, listen: 127.0.0.1:0 }]\n  targets:\n    - { name: w, host: h, host_key: SHA256:x, accounts: [{ name: r, password_env: P }] }\n    - { name: W, host: h, host_key: SHA256:x, accounts: [{ name: r, password_env: P }] }\n'),
  );
  t.match(issueFor(t, dup, 'ssh.targets[1].name').message, /duplicate target name/);
});

t.test('export.encryption: required loads; scheduled files then need a passphrase_file, and off refuses one', async (t) => {
  for (const mode of ['off', 'optional', 'required']) t.equal(parseConfigText(`export:\n  encryption: ${mode}\n`).config.export.encryption, mode);
  t.equal(parseConfigText('').config.export.encryption, 'off', 'off by default');

  const missing = `export:
  encryption: required
  schedule:
    dir: exports
`;
  const i = issueFor(t, failure(() => parseConfigText(missing)), 'export.schedule.passphrase_file');
  t.equal(i.line, lineOf(missing, 'schedule:'), 'the line of the section it belongs in');
  t.match(i.message, /required when export.encryption is required/);

  const dir = t.testdir({ 'export.pass': 'a passphrase long enough\n' });
  chmodSync(join(dir, 'export.pass'), 0o600);
  const off = `export:
  schedule:
    dir: exports
    passphrase_file: export.pass
`;
  const j = issueFor(t, failure(() => parseConfigText(off, join(dir, 'sg.yaml'))), 'export.schedule.passphrase_file');
  t.equal(j.line, lineOf(off, 'passphrase_file'));
  t.match(j.message, /export.encryption is off/);

  const ok = `export:\n  encryption: required\n${off.slice('export:\n'.length)}`;
  const loaded = parseConfigText(ok, join(dir, 'sg.yaml'));
  t.equal(loaded.config.export.schedule?.passphrase_file, join(dir, 'export.pass'), 'resolved against the config directory');
  t.same(loaded.warnings, []);
  chmodSync(join(dir, 'export.pass'), 0o644);
  t.match(parseConfigText(ok, join(dir, 'sg.yaml')).warnings[0], { key: 'export.schedule.passphrase_file', message: /can be read by other users/ });
  const gone = issueFor(t, failure(() => parseConfigText(ok.replace('export.pass', 'nope.pass'), join(dir, 'sg.yaml'))), 'export.schedule.passphrase_file');
  t.match(gone.message, /not found/);
});

// ---------- YAML-level problems ----------

t.test('a YAML syntax error is a parse error with its line', async (t) => {
  const yaml = `data_dir: ./data\nviewer:\n  listen: [127.0.0.1:8080\naudit:\n  mode: strict\n`;
  const err = failure(() => parseConfigText(yaml, 'sg.yaml'));
  t.equal(err.code, 'SG_ERR_CONFIG_PARSE');
  t.ok(err.issues.length >= 1);
  t.ok(err.issues.every((i) => typeof i.line === 'number' && i.line >= 1 && i.line <= 5), JSON.stringify(err.issues));
  const tab = failure(() => parseConfigText('viewer:\n\tenabled: true\n'));
  t.equal(tab.code, 'SG_ERR_CONFIG_PARSE');
  t.equal(tab.issues[0]!.line, 2);
  const quote = failure(() => parseConfigText('data_dir: "abc\n'));
  t.equal(quote.code, 'SG_ERR_CONFIG_PARSE');
  t.equal(quote.issues[0]!.line, 1, 'an error at the end of the file points at its last line');
});

t.test('a duplicate key is a parse error naming the key and its line', async (t) => {
  const yaml = `viewer:\n  enabled: true\n  listen: 127.0.0.1:8080\n  enabled: false\n`;
  const err = failure(() => parseConfigText(yaml));
  t.equal(err.code, 'SG_ERR_CONFIG_PARSE');
  t.equal(err.issues.length, 1);
  t.equal(err.issues[0]!.key, 'viewer.enabled');
  t.equal(err.issues[0]!.line, 4);
  t.match(err.issues[0]!.message, /duplicate key "enabled"/);
});

t.test('several documents, tags, bad aliases and alias bombs are parse errors', async (t) => {
  const cases: [string, RegExp, number | undefined][] = [
    ['data_dir: a\n---\ndata_dir: b\n', /more than one YAML document/, 2],
    ['viewer:\n  enabled: !!binary dHJ1ZQ==\n', /unsupported YAML tag !!binary/, 2],
    ['directory: !!set { a }\n', /unsupported YAML tag !!set/, 1],
    ['data_dir: !secret x\n', /unsupported YAML tag !secret/, 1],
    ['data_dir: *nowhere\n', /unknown alias "\*nowhere"/, 1],
    ['viewer: &v\n  x: *v\n', /refers to a mapping or list that contains it/, 2],
    ['? [a, b]\n: 1\n', /mapping keys must be plain text/, 1],
  ];
  for (const [yaml, msg, line] of cases) {
    const err = failure(() => parseConfigText(yaml));
    t.equal(err.code, 'SG_ERR_CONFIG_PARSE', yaml);
    t.match(err.issues[0]!.message, msg, yaml);
    t.equal(err.issues[0]!.line, line, yaml);
  }
  // "Billion laughs": each level multiplies; the loader stops instead of expanding.
  let bomb = 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n';
  for (let i = 1; i < 9; i++) bomb += `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill('*' + String.fromCharCode(96 + i)).join(',')}]\n`;
  const err = failure(() => parseConfigText(bomb));
  t.equal(err.code, 'SG_ERR_CONFIG_PARSE');
  t.match(err.issues[0]!.message, /too many alias expansions/);
  for (const deep of ['['.repeat(5000) + ']'.repeat(5000), 'a: ' + '{b: '.repeat(3000) + '1' + '}'.repeat(3000), '['.repeat(100_000)]) {
    const e = failure(() => parseConfigText(deep));
    t.equal(e.code, 'SG_ERR_CONFIG_PARSE', 'absurd nesting is a parse error, not a crash');
  }
  // Plain anchors and aliases are fine.
  const shared = `http:
  - name: a
    listen: 127.0.0.1:0
    routes: &routes
      - name: r
        upstream: http://127.0.0.1:9000
  - name: b
    listen: 127.0.0.1:0
    routes: *routes
`;
  t.equal(parseConfigText(shared).config.http[1]!.routes[0]!.upstream, 'http://127.0.0.1:9000');
});

t.test('__proto__ is an ordinary unknown key, not a prototype', async (t) => {
  const err = failure(() => parseConfigText('__proto__:\n  data_dir: /etc\n'));
  t.match(issueFor(t, err, '__proto__').message, /unknown key "__proto__"/);
});

// ---------- files ----------

t.test('a missing or unreadable config file is SG_ERR_CONFIG_NOT_FOUND', async (t) => {
  const dir = t.testdir({ sub: {} });
  const missing = join(dir, 'nope.yaml');
  const e1 = await failureAsync(loadConfig(missing));
  t.equal(e1.code, 'SG_ERR_CONFIG_NOT_FOUND');
  t.equal(e1.file, missing);
  t.match(e1.message, /config file not found/);
  t.equal(failure(() => loadConfigSync(missing)).code, 'SG_ERR_CONFIG_NOT_FOUND');
  const e2 = await failureAsync(loadConfig(join(dir, 'sub')));
  t.equal(e2.code, 'SG_ERR_CONFIG_NOT_FOUND');
  t.match(e2.message, /is a directory/);
  t.equal((await failureAsync(loadConfig(join(dir, 'nope', 'x.yaml')))).code, 'SG_ERR_CONFIG_NOT_FOUND');
});

t.test('a config file that is not UTF-8 or far too large is a parse error', async (t) => {
  const dir = t.testdir({});
  const bin = join(dir, 'bin.yaml');
  writeFileSync(bin, Buffer.concat([Buffer.from('data_dir: ok\nlog:\n  level: '), Buffer.from([0xff, 0xfe, 0x00]), Buffer.from('\n')]));
  const e = await failureAsync(loadConfig(bin));
  t.equal(e.code, 'SG_ERR_CONFIG_PARSE');
  t.equal(e.issues[0]!.line, 3);
  t.match(e.issues[0]!.message, /not valid UTF-8/);
  const big = join(dir, 'big.yaml');
  writeFileSync(big, '#'.repeat(5 * 1024 * 1024));
  t.equal((await failureAsync(loadConfig(big))).code, 'SG_ERR_CONFIG_PARSE');
  const bom = join(dir, 'bom.yaml');
  writeFileSync(bom, '\uFEFFdata_dir: ./x\n');
  t.equal((await loadConfig(bom)).config.data_dir, join(dir, 'x'), 'a UTF-8 BOM is accepted');
});

t.test('a missing tls file names the key, the line and the resolved path', async (t) => {
  const yaml = `${LISTENER.replace('    routes:', '    tls:\n      cert: tls/panel.crt\n      key: tls/panel.key\n    routes:')}`;
  const file = writeConfig(t, yaml, { tls: { 'panel.crt': 'CERT' } });
  const err = await failureAsync(loadConfig(file));
  t.equal(err.code, 'SG_ERR_CONFIG_INVALID');
  const i = issueFor(t, err, 'http[0].tls.key');
  t.equal(i.line, lineOf(yaml, 'key: tls/panel.key'));
  t.match(i.message, `file ${join(dirname(file), 'tls/panel.key')} not found`);
  t.match(i.message, /resolved against the config file's directory/);
  t.equal(err.issues.length, 1, 'the cert that exists is fine');
});

t.test('required files must be regular, readable and not empty', async (t) => {
  const yaml = `viewer:
  tls: { cert: tls, key: empty.key }
users:
  - name: alice
    password_file: alice.pw
`;
  const file = writeConfig(t, yaml, { tls: {}, 'empty.key': '', 'alice.pw': 'secret' });
  chmodSync(join(dirname(file), 'alice.pw'), 0o000);
  const err = await failureAsync(loadConfig(file));
  t.match(issueFor(t, err, 'viewer.tls.cert').message, /is a directory, expected a file/);
  t.match(issueFor(t, err, 'viewer.tls.key').message, /is empty/);
  if (process.getuid?.() === 0) t.comment('running as root: an unreadable file is still readable, skipping that case');
  else t.match(issueFor(t, err, 'users[0].password_file').message, /not readable/);
});

t.test('audit.key_file and backup.dir must be outside data_dir, also through a symlink', async (t) => {
  const yaml = `data_dir: ./data\naudit:\n  key_file: ./data/keys/audit.key\nbackup:\n  dir: data/backups\n`;
  const err = failure(() => parseConfigText(yaml, '/srv/sg/sg.yaml'));
  const k = issueFor(t, err, 'audit.key_file');
  t.equal(k.line, 3);
  t.match(k.message, /must be outside data_dir \(\/srv\/sg\/data\)/);
  t.equal(issueFor(t, err, 'backup.dir').line, 5);
  t.match(failure(() => parseConfigText('data_dir: /srv/d\naudit:\n  key_file: /srv/d\n')).issues[0]!.message, /outside data_dir/);
  t.ok(parseConfigText('data_dir: /srv/data\naudit:\n  key_file: /srv/data-keys/audit.key\n'), 'a sibling whose name starts alike is outside');

  const dir = t.testdir({ data: {}, keys: {} });
  symlinkSync(join(dir, 'data'), join(dir, 'keys', 'link'));
  const viaLink = failure(() => parseConfigText('data_dir: data\naudit:\n  key_file: keys/link/audit.key\n', join(dir, 'sg.yaml')));
  t.match(issueFor(t, viaLink, 'audit.key_file').message, /outside data_dir/);
});

t.test('data_dir and backup.dir must be directories, log.file must not be one', async (t) => {
  const file = writeConfig(t, 'data_dir: afile\nlog:\n  file: adir\nbackup:\n  dir: bfile\n', { afile: 'x', bfile: 'x', adir: {} });
  const err = await failureAsync(loadConfig(file));
  t.match(issueFor(t, err, 'data_dir').message, /is not a directory/);
  t.match(issueFor(t, err, 'log.file').message, /is a directory/);
  t.match(issueFor(t, err, 'backup.dir').message, /is not a directory/);
  const under = await failureAsync(loadConfig(writeConfig(t, 'data_dir: afile/data\n', { afile: 'x' })));
  t.match(issueFor(t, under, 'data_dir').message, /cannot be created: part of its parent path is a file/);
});

// ---------- listeners and uniqueness ----------

function listeners(...addrs: string[]): string {
  return 'http:\n' + addrs.map((a, i) => `  - name: l${i}\n    listen: "${a}"\n    routes:\n      - name: r\n        upstream: http://127.0.0.1:9000\n`).join('');
}

t.test('two listeners on one address and port clash; port 0 never does', async (t) => {
  const clash = (yaml: string) => failure(() => parseConfigText(yaml));
  const e1 = clash(`viewer:\n  listen: 127.0.0.1:8080\n${listeners('127.0.0.1:8080')}`);
  const i1 = issueFor(t, e1, 'http[0].listen');
  t.equal(i1.line, 5);
  t.match(i1.message, /127\.0\.0\.1:8080 clashes with 127\.0\.0\.1:8080 of viewer\.listen, line 2/);
  t.match(issueFor(t, clash(listeners('127.0.0.1:9443', '127.0.0.1:9443')), 'http[1].listen').message, /of http\[0\]\.listen/);
  t.ok(issueFor(t, clash(listeners('0.0.0.0:9443', '10.1.2.3:9443')), 'http[1].listen'), '0.0.0.0 takes every IPv4 address');
  t.ok(issueFor(t, clash(listeners('[::]:9443', '127.0.0.1:9443')), 'http[1].listen'), ':: is dual-stack');
  t.ok(issueFor(t, clash(listeners('localhost:9443', '[::1]:9443')), 'http[1].listen'), 'localhost may be ::1');
  t.ok(issueFor(t, clash(listeners('[::ffff:127.0.0.1]:9443', '127.0.0.1:9443')), 'http[1].listen'), 'IPv4-mapped IPv6 is the IPv4 address');
  t.ok(issueFor(t, clash(`demo:\n  panel_listen: 127.0.0.1:9080\n${listeners('0.0.0.0:9080')}`), 'http[0].listen'), 'the demo panel counts; the later one in the file is named');
  const sshYaml = (port: number) => `ssh:\n  listeners:\n    - { name: s, listen: 127.0.0.1:${port} }\n  targets:\n    - { name: d, type: local, command: [/bin/true], accounts: [{ name: a }] }\n`;
  const e3 = clash(`${listeners('127.0.0.1:2222')}${sshYaml(2222)}`);
  t.match(issueFor(t, e3, 'ssh.listeners[0].listen').message, /clashes with 127\.0\.0\.1:2222 of http\[0\]\.listen/, 'SSH listeners count too');
  t.ok(parseConfigText(`${listeners('127.0.0.1:2222')}${sshYaml(2223)}`), 'an SSH listener on another port is fine');

  t.ok(parseConfigText(listeners('127.0.0.1:0', '127.0.0.1:0', '0.0.0.0:0')), 'port 0 never clashes');
  t.ok(parseConfigText(listeners('127.0.0.1:9443', '127.0.0.2:9443', '[::1]:9443', '127.0.0.1:9444')), 'different addresses or ports are fine');
  t.ok(parseConfigText(`viewer:\n  enabled: false\n  listen: 127.0.0.1:9443\n${listeners('127.0.0.1:9443')}`), 'a disabled viewer takes no port');
  t.ok(parseConfigText(`${listeners('127.0.0.1:8080')}`.replace('http:', 'viewer:\n  listen: 127.0.0.1:8081\nhttp:')));
  const e2 = clash(listeners('127.0.0.1:8080'));
  t.match(issueFor(t, e2, 'http[0].listen').message, /of viewer\.listen \(its default\)/, "the viewer's default address counts too");
});

t.test('listener, route, user and directory names must be unique, even when other errors exist', async (t) => {
  const yaml = `http:
  - name: panel
    listen: 127.0.0.1:0
    routes:
      - name: admin
        upstream: http://127.0.0.1:9000
        match: { path_prefix: /admin/ }
      - name: admin
        upstream: http://127.0.0.1:9000
        match: { path_prefix: /admin2/ }
      - name: other
        upstream: not-a-url
        match: { path_prefix: /admin/ }
  - name: panel
    listen: 127.0.0.1:0
    routes:
      - name: x
        upstream: http://127.0.0.1:9000
directory:
  - login: Bob
    realm: admin
  - login: bob
    realm: admin
  - login: bob
users:
  - name: alice
  - name: alice
`;
  const err = failure(() => parseConfigText(yaml));
  const cases: [string, number, RegExp][] = [
    ['http[0].routes[1].name', lineOf(yaml, '- name: admin', 5), /duplicate route name "admin" in this listener: the name is already used by http\[0\]\.routes\[0\]\.name, line 5/],
    ['http[0].routes[2].upstream', lineOf(yaml, 'not-a-url'), /invalid URL/],
    ['http[0].routes[2].match', lineOf(yaml, 'match: { path_prefix: /admin/ }', 11), /same requests as route "admin" \(http\[0\]\.routes\[0\], line 5\)/],
    ['http[1].name', lineOf(yaml, '- name: panel', 3), /duplicate listener name "panel"/],
    ['directory[1]', lineOf(yaml, '- login: bob'), /already described by directory\[0\]/],
    ['users[1].name', lineOf(yaml, '- name: alice', lineOf(yaml, '- name: alice')), /duplicate user "alice"/],
  ];
  for (const [key, line, msg] of cases) {
    const i = issueFor(t, err, key);
    t.equal(i.line, line, key);
    t.match(i.message, msg, key);
  }
  t.equal(err.issues.length, cases.length, 'the realm-less bob is a different entry; nothing is reported twice');
});

t.test('JWT algorithms must fit the key; verify: false is a warning', async (t) => {
  const route = (jwt: string) => `http:
  - name: panel
    listen: 127.0.0.1:0
    routes:
      - name: admin
        upstream: http://127.0.0.1:9000
        identity:
          jwt: ${jwt}
`;
  const files = { 'k.secret': 's', 'k.pem': 'p', 'k.jwks': '{}' };
  const e1 = await failureAsync(loadConfig(writeConfig(t, route('{ secret_file: k.secret, algorithms: [HS256, RS256] }'), files)));
  t.match(issueFor(t, e1, 'http[0].routes[0].identity.jwt.algorithms').message, /RS256 need public_key_file or jwks_file/);
  const e2 = await failureAsync(loadConfig(writeConfig(t, route('{ jwks_file: k.jwks, algorithms: [HS256] }'), files)));
  t.match(issueFor(t, e2, 'http[0].routes[0].identity.jwt.algorithms').message, /HS256 must not be used with a public key/);
  const e3 = await failureAsync(loadConfig(writeConfig(t, route('{ secret_file: k.secret, public_key_file: k.pem }'), files)));
  t.match(issueFor(t, e3, 'http[0].routes[0].identity.jwt').message, /set exactly one of secret_file, public_key_file, jwks_file/);
  const ok = await loadConfig(writeConfig(t, route('{ verify: false }'), files));
  t.same(
    ok.warnings.map((w) => w.key),
    ['http[0].routes[0].identity.jwt.verify'],
  );
  t.equal(ok.warnings[0]!.line, 8);
});

t.test('the demo panel must listen on loopback', async (t) => {
  const err = failure(() => parseConfigText('demo:\n  panel_listen: 0.0.0.0:9080\n'));
  t.match(issueFor(t, err, 'demo.panel_listen').message, /loopback/);
  t.equal(parseConfigText('demo:\n  panel_listen: localhost:9080\n').config.demo!.panel_listen.port, 9080);
});

// ---------- many errors, warnings, format ----------

t.test('every problem is reported in one run, sorted by line, in FILE:LINE: KEY: MESSAGE form', async (t) => {
  const yaml = `data_dir: ./data
bogus: 1
viewer:
  listen: ":80"
  session_ttl: true
audit:
  flush_interval: 250ms
  mode: fast
  key_file: data/audit.key
http:
  - name: panel
    listen: 1.2.3:80
    trusted_proxies: [10.0.0.0/33]
    routes:
      - name: admin
        upstream: ftp://x
        match: { hots: x }
`;
  const err = failure(() => parseConfigText(yaml, 'sg.yaml'));
  const keys = ['bogus', 'viewer.listen', 'viewer.session_ttl', 'audit.flush_interval', 'audit.mode', 'audit.key_file', 'http[0].listen', 'http[0].trusted_proxies[0]', 'http[0].routes[0].upstream', 'http[0].routes[0].match.hots'];
  t.same(
    err.issues.map((i) => i.key),
    keys,
  );
  const lines = err.issues.map((i) => i.line!);
  t.same(lines, [...lines].sort((a, b) => a - b));
  const text = err.message.split('\n');
  t.equal(text.length, keys.length);
  for (const l of text) t.match(l, /^sg\.yaml:\d+: [\w.[\]]+: \S/);
  t.equal(formatConfigIssue('f.yaml', { key: 'a.b', line: 3, message: 'm' }), 'f.yaml:3: a.b: m');
  t.equal(formatConfigIssue('f.yaml', { key: 'a.b', line: 3, message: 'm' }, 'warning'), 'f.yaml:3: a.b: warning: m');
  t.equal(formatConfigIssue('f.yaml', { key: '', message: 'config file not found' }), 'f.yaml: config file not found');
});

t.test('risky but legal settings load with warnings', async (t) => {
  const yaml = `audit:
  enabled: false
viewer:
  listen: 0.0.0.0:8080
  trusted_proxies: [0.0.0.0/0]
users:
  - name: alice
    password_file: pw
`;
  const file = writeConfig(t, yaml, { pw: 'secret' });
  chmodSync(join(dirname(file), 'pw'), 0o644);
  const loaded = await loadConfig(file);
  const byKey = Object.fromEntries(loaded.warnings.map((w) => [w.key, w]));
  t.match(byKey['audit.enabled']?.message, /recording is OFF.*benchmarks/);
  t.equal(byKey['audit.enabled']?.line, 2);
  t.match(byKey['viewer.listen']?.message, /without TLS/);
  t.match(byKey['viewer.trusted_proxies[0]']?.message, /every address/);
  t.match(byKey['users[0].password_file']?.message, /can be read by other users \(mode 0644\)/);
  t.equal(loaded.warnings.length, 4);
  chmodSync(join(dirname(file), 'pw'), 0o600);
  t.equal((await loadConfig(file)).warnings.length, 3, 'a 0600 secret is fine');
});

// ---------- the shipped configs ----------

const FILE_KEYS = new Set(['cert', 'key', 'passphrase_file', 'secret_file', 'public_key_file', 'jwks_file', 'password_file']);

/** Every `FILE_KEYS` value in a YAML document (the files a config needs to exist). */
function referencedFiles(text: string): string[] {
  const out: string[] = [];
  const walk = (n: unknown, key?: string): void => {
    if (isMap(n)) for (const p of n.items) walk(p.value, isScalar(p.key) ? String(p.key.value) : undefined);
    else if (isSeq(n)) for (const x of n.items) walk(x);
    else if (isScalar(n) && key && FILE_KEYS.has(key) && typeof n.value === 'string') out.push(n.value);
  };
  walk(parseDocument(text).contents);
  return out;
}

t.test('config/example.yaml validates once the files it names exist, and has no warnings', async (t) => {
  const src = join(ROOT, 'config', 'example.yaml');
  const text = readFileSync(src, 'utf8');
  // In place, only the referenced files are missing (the operator creates them).
  const inPlace = await failureAsync(loadConfig(src));
  const files = referencedFiles(text);
  t.ok(files.length >= 5, `the example names its TLS, JWT and password files (${files.join(', ')})`);
  t.equal(inPlace.issues.length, files.length);
  for (const i of inPlace.issues) t.match(i.message, /not found/, i.key);

  const dir = t.testdir({});
  copyFileSync(src, join(dir, 'example.yaml'));
  for (const f of files) {
    t.notOk(f.startsWith('/'), `${f} is relative, so the example works wherever it is copied`);
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), 'x', { mode: 0o600 });
  }
  const loaded = await loadConfig(join(dir, 'example.yaml'));
  t.same(loaded.warnings, []);
  const c = loaded.config;
  t.same(
    c.http[0]!.routes.map((r) => r.realm),
    ['admin', 'client'],
  );
  t.ok(c.http[0]!.routes[0]!.identity.jwt && c.http[0]!.routes[0]!.identity.form, 'JWT and form identities');
  t.ok(c.http[0]!.trusted_proxies.length > 0, 'trusted proxies');
  t.ok(c.directory.length >= 3, 'directory entries');
  t.equal(c.viewer.listen.host, '127.0.0.1');
});

/** Turns "# key: value" lines (commented-out keys at their own indentation) back on. */
function uncommentKeys(text: string): string {
  const names = new Set(allKeyPaths().map((p) => p.split('.').pop()!.replace(/\[\]$/, '')));
  return text
    .split('\n')
    .map((l) => {
      const m = /^(\s*)# ( *(?:- )?([a-z_]+):(?:\s.*)?)$/.exec(l);
      return m && names.has(m[3]!) ? m[1]! + m[2]! : l;
    })
    .join('\n');
}

/** Key paths present in a YAML document, in allKeyPaths() form (`http[].routes[].name`). */
function keyPathsIn(t: Tap, text: string): Set<string> {
  const doc = parseDocument(text, { uniqueKeys: false });
  const out = new Set<string>();
  const walk = (n: unknown, prefix: string): void => {
    if (isMap(n)) {
      for (const p of n.items) {
        if (!isPair(p) || !isScalar(p.key)) continue;
        const path = prefix ? `${prefix}.${String(p.key.value)}` : String(p.key.value);
        out.add(path);
        walk(p.value as Node, path);
      }
    } else if (isSeq(n)) for (const x of n.items) walk(x, `${prefix}[]`);
  };
  walk(doc.contents, '');
  t.same(doc.errors, [], 'the uncommented example is well-formed YAML');
  return out;
}

t.test('config/example.yaml shows every key of the schema (set, or commented out in place)', async (t) => {
  const text = readFileSync(join(ROOT, 'config', 'example.yaml'), 'utf8');
  const present = keyPathsIn(t, uncommentKeys(text));
  const missing = allKeyPaths().filter((p) => !present.has(p));
  t.same(missing, [], 'every schema key appears in the example');
  const unknown = [...present].filter((p) => !allKeyPaths().includes(p));
  t.same(unknown, [], 'and every key in the example exists');
});

t.test('docs/config.md documents every key of the schema', async (t) => {
  const doc = readFileSync(join(ROOT, 'docs', 'config.md'), 'utf8');
  const missing = allKeyPaths().filter((p) => !doc.includes('`' + p + '`'));
  t.same(missing, [], 'every key appears as `full.key.path`');
  for (const s of ['FILE:LINE: KEY: MESSAGE', 'audit.enabled: false', 'benchmark', 'config/demo.yaml', 'not implemented', '250ms', '700MB', '[::1]:8080'])
    t.ok(doc.includes(s), `mentions ${s}`);
});

t.test('config/demo.yaml validates', async (t) => {
  const file = join(ROOT, 'config', 'demo.yaml');
  t.ok(existsSync(file), 'config/demo.yaml exists (written by the demo work)');
  if (!existsSync(file)) return;
  const loaded = await loadConfig(file);
  t.ok(loaded.config.demo, 'it has a demo section');
  t.ok(loaded.config.http.length >= 1, 'and at least one panel listener');
});

// ---------- fuzz ----------

/** A valid config using every section, with its files in `dir`. */
function fuzzBase(dir: string): Record<string, unknown> {
  for (const f of ['tls.crt', 'tls.key', 'jwt.secret', 'pw']) writeFileSync(join(dir, f), 'x', { mode: 0o600 });
  return {
    data_dir: './data',
    log: { level: 'warn', file: 'gw.log' },
    viewer: { listen: '127.0.0.1:0', session_ttl: '8h', trusted_proxies: ['10.0.0.0/8'], login_rate_limit: { max_attempts: 5, window: '15m' } },
    audit: { mode: 'strict', flush_interval: '20ms', key_file: 'keys/audit.key', max_store_size: '1GB' },
    http: [
      {
        name: 'panel',
        listen: '127.0.0.1:0',
        tls: { cert: 'tls.crt', key: 'tls.key' },
        trusted_proxies: ['192.168.0.0/16', '::1'],
        limits: { max_header_bytes: '16KB', header_timeout: '10s' },
        routes: [
          { name: 'admin', realm: 'admin', match: { host: 'panel.test', path_prefix: '/admin/' }, upstream: 'http://127.0.0.1:9000', identity: { jwt: { secret_file: 'jwt.secret', algorithms: ['HS256'] }, form: { path: '/admin/login' } } },
          { name: 'client', upstream: 'https://127.0.0.1:9001', session: { cookie: 'sid' }, identity: { basic: true, header: { login: 'x-user' } } },
        ],
      },
    ],
    retention: { requests: '30d' },
    export: { encryption: 'optional' },
    backup: { dir: 'backups', interval: '24h', keep: 3 },
    directory: [{ login: 'ops', realm: 'admin', name: 'Ops' }],
    users: [{ name: 'alice', role: 'admin', password_file: 'pw', panel_identities: ['ops'] }],
  };
}

/** Every path (objects and arrays) in a plain value. */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

function assertConfigOutcome(t: Tap, run: () => LoadedConfig, label: string): 'ok' | 'error' {
  try {
    run();
    return 'ok';
  } catch (e) {
    if (!(e instanceof ConfigError)) {
      t.fail(`${label}: threw ${e instanceof Error ? e.stack : String(e)}`);
      throw e;
    }
    if (e.issues.length === 0) t.fail(`${label}: a ConfigError without issues`);
    for (const i of e.issues) {
      if (typeof i.key !== 'string' || !i.message) t.fail(`${label}: bad issue ${JSON.stringify(i)}`);
      if (e.code === 'SG_ERR_CONFIG_INVALID' && !(typeof i.line === 'number' && i.line >= 1)) t.fail(`${label}: issue without a line ${JSON.stringify(i)}`);
    }
    return 'error';
  }
}

t.test('fuzz: structural mutations of a valid config load or throw a ConfigError with key and line', async (t) => {
  const dir = t.testdir({ keys: {} });
  const file = join(dir, 'sg.yaml');
  const base = fuzzBase(dir);
  t.ok(parseConfigText(stringify(base), file), 'the base config is valid');
  const all = paths(base).filter((p) => p.length > 0);
  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom('30s', '250ms', '1.2.3:80', '127.0.0.1:0', '[::]:0', 'http://x', 'ftp://x', '10.0.0.0/33', '', '-1', 'yes', '16KB', '/', 'HS256', 'strict', '../../etc/passwd', 'a\u0000b'),
  );
  const mutation = fc.oneof(
    fc.record({ op: fc.constant('set' as const), at: fc.nat(), value }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('add' as const), at: fc.nat(), key: fc.string({ maxLength: 12 }), value }),
  );
  const seen = { ok: 0, error: 0 };
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (muts) => {
      const doc = structuredClone(base);
      for (const m of muts) {
        const p = all[m.at % all.length]!;
        let parent: unknown = doc;
        for (const seg of p.slice(0, -1)) parent = parent && typeof parent === 'object' ? (parent as Record<string | number, unknown>)[seg] : undefined;
        if (!parent || typeof parent !== 'object') continue;
        const last = p[p.length - 1]!;
        const obj = parent as Record<string | number, unknown>;
        if (m.op === 'set') obj[last] = m.value;
        else if (m.op === 'delete') {
          if (Array.isArray(obj)) obj.splice(Number(last), 1);
          else delete obj[last];
        } else {
          const target = obj[last];
          if (target && typeof target === 'object' && !Array.isArray(target)) (target as Record<string, unknown>)[m.key] = m.value;
        }
      }
      seen[assertConfigOutcome(t, () => parseConfigText(stringify(doc), file), JSON.stringify(muts))]++;
    }),
    { numRuns: 400 },
  );
  t.ok(seen.ok > 0 && seen.error > 0, `both outcomes happen (${JSON.stringify(seen)})`);
});

t.test('fuzz: text mutations of a valid config load or throw a ConfigError', async (t) => {
  const dir = t.testdir({ keys: {} });
  const file = join(dir, 'sg.yaml');
  const text = stringify(fuzzBase(dir));
  const lines = text.split('\n').length;
  const chunk = fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom(':', ': ', '- ', '[', ']', '{', '}', '"', "'", '&a ', '*a', '!!str ', '! ', '#', '\t', '\n', '  ', '|', '>', '---\n', '? ', '%YAML 1.1\n', '\u0000', '\uFEFF'));
  const mutation = fc.oneof(
    fc.record({ op: fc.constant('insert' as const), at: fc.nat(), s: chunk }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ op: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
    fc.record({ op: fc.constant('dup' as const), a: fc.nat() }),
  );
  const seen = { ok: 0, error: 0 };
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (muts) => {
      let s = text;
      for (const m of muts) {
        if (m.op === 'insert') {
          const at = m.at % (s.length + 1);
          s = s.slice(0, at) + m.s + s.slice(at);
        } else if (m.op === 'delete') {
          const at = m.at % (s.length + 1);
          s = s.slice(0, at) + s.slice(at + m.len);
        } else {
          const ls = s.split('\n');
          const a = m.a % lines;
          if (m.op === 'dup') ls.splice(a, 0, ls[a] ?? '');
          else {
            const b = m.b % lines;
            [ls[a], ls[b]] = [ls[b] ?? '', ls[a] ?? ''];
          }
          s = ls.join('\n');
        }
      }
      seen[assertConfigOutcome(t, () => parseConfigText(s, file), JSON.stringify(s))]++;
    }),
    { numRuns: 400 },
  );
  t.ok(seen.error > 0, `errors happen (${JSON.stringify(seen)})`);
});
