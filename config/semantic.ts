// Checks the schema cannot make on its own: files that must exist, paths resolved against the
// config's directory, the integrity key kept out of data_dir, listeners that would fight over
// one address, names and matches that must be unique, JWT algorithms that fit the key.
// Each check reads single leaves validated on their own (schema-walk parseAt), so these run
// even when another part of the file is broken and one run reports every problem.
import { accessSync, constants, existsSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep, basename, join } from 'node:path';
import ipaddr from 'ipaddr.js';
import type { ListenAddress } from './schema.js';
import { isOptionalAt, parseAt, type ConfigPath } from './schema-walk.js';
import { formatKey } from './issues.js';
import type { PathIssue, SourcePos } from './yaml-source.js';

export interface SemanticResult {
  issues: PathIssue[];
  /** Legal but risky settings (shown by check-config, logged at start). */
  warnings: PathIssue[];
  /** Relative paths, made absolute against the config file's directory. */
  replacements: { path: ConfigPath; value: string }[];
}

/** Typed access to single validated leaves of the raw data (defaults applied, absent optional parents respected). */
class View {
  constructor(private readonly data: unknown) {}

  get<T>(path: ConfigPath): T | undefined {
    let v: unknown = this.data;
    for (let i = 0; i < path.length; i++) {
      if (v === undefined) {
        // Inside an absent optional section there is nothing, not even defaults.
        if (i > 0 && isOptionalAt(path.slice(0, i))) return undefined;
        continue;
      }
      if (v === null || typeof v !== 'object') return undefined;
      const seg = path[i]!;
      v = Object.hasOwn(v, seg) ? (v as Record<string | number, unknown>)[seg] : undefined;
    }
    const r = parseAt(path, v);
    return r.ok ? (r.value as T) : undefined;
  }

  raw(path: ConfigPath): unknown {
    let v: unknown = this.data;
    for (const seg of path) {
      if (v === null || typeof v !== 'object' || !Object.hasOwn(v, seg)) return undefined;
      v = (v as Record<string | number, unknown>)[seg];
    }
    return v;
  }

  /** Indices of the list at `path` (none when it is not a list). */
  indices(path: ConfigPath): number[] {
    const v = this.raw(path);
    return Array.isArray(v) ? v.map((_, i) => i) : [];
  }

  present(path: ConfigPath): boolean {
    const v = this.raw(path);
    return v !== undefined && v !== null;
  }
}

type PathKind = 'file' | 'dir' | 'output' | 'key';
interface PathKey {
  path: ConfigPath;
  kind: PathKind;
  /** Holds a secret: warn when other users can read it. */
  secret?: boolean;
}

function pathKeys(v: View): PathKey[] {
  const keys: PathKey[] = [{ path: ['data_dir'], kind: 'dir' }, { path: ['log', 'file'], kind: 'output' }, { path: ['audit', 'key_file'], kind: 'key', secret: true }, { path: ['backup', 'dir'], kind: 'dir' }];
  const tls = (base: ConfigPath): PathKey[] => [
    { path: [...base, 'tls', 'cert'], kind: 'file' },
    { path: [...base, 'tls', 'key'], kind: 'file', secret: true },
    { path: [...base, 'tls', 'passphrase_file'], kind: 'file', secret: true },
  ];
  keys.push(...tls(['viewer']));
  for (const i of v.indices(['http'])) {
    keys.push(...tls(['http', i]));
    for (const j of v.indices(['http', i, 'routes'])) {
      const jwt = ['http', i, 'routes', j, 'identity', 'jwt'];
      keys.push({ path: [...jwt, 'secret_file'], kind: 'file', secret: true }, { path: [...jwt, 'public_key_file'], kind: 'file' }, { path: [...jwt, 'jwks_file'], kind: 'file' });
    }
  }
  for (const i of v.indices(['ftp', 'listeners'])) keys.push(...tls(['ftp', 'listeners', i]));
  for (const i of v.indices(['ftp', 'servers'])) keys.push({ path: ['ftp', 'servers', i, 'upstream_ca'], kind: 'file' });
  for (const i of v.indices(['users'])) keys.push({ path: ['users', i, 'password_file'], kind: 'file', secret: true });
  for (const i of v.indices(['ssh', 'listeners'])) for (const j of v.indices(['ssh', 'listeners', i, 'host_keys'])) keys.push({ path: ['ssh', 'listeners', i, 'host_keys', j], kind: 'file', secret: true });
  for (const i of v.indices(['ssh', 'targets'])) {
    for (const j of v.indices(['ssh', 'targets', i, 'accounts'])) {
      const a = ['ssh', 'targets', i, 'accounts', j];
      keys.push({ path: [...a, 'key_file'], kind: 'file', secret: true }, { path: [...a, 'key_passphrase_file'], kind: 'file', secret: true }, { path: [...a, 'password_file'], kind: 'file', secret: true });
    }
  }
  keys.push({ path: ['export', 'schedule', 'dir'], kind: 'dir' }, { path: ['export', 'schedule', 'passphrase_file'], kind: 'file', secret: true });
  for (const i of v.indices(['export', 'forward'])) keys.push({ path: ['export', 'forward', i, 'ca_file'], kind: 'file' }, { path: ['export', 'forward', i, 'token_file'], kind: 'file', secret: true });
  return keys;
}

function statOf(p: string): Stats | NodeJS.ErrnoException {
  try {
    return statSync(p);
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
}

function statProblem(e: NodeJS.ErrnoException, what: string): string {
  if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return `${what} not found`;
  if (e.code === 'EACCES' || e.code === 'EPERM') return `${what} cannot be accessed (permission denied)`;
  return `${what} cannot be read (${e.code ?? e.message})`;
}

/** Why `abs` is not a readable, non-empty regular file, or undefined when it is. */
function fileProblem(abs: string): string | undefined {
  const st = statOf(abs);
  if (!('isFile' in st)) return statProblem(st, `file ${abs}`);
  if (st.isDirectory()) return `${abs} is a directory, expected a file`;
  if (!st.isFile()) return `${abs} is not a regular file`;
  try {
    accessSync(abs, constants.R_OK);
  } catch {
    return `file ${abs} is not readable by this user`;
  }
  if (st.size === 0) return `file ${abs} is empty`;
  return undefined;
}

function secretModeWarning(abs: string): string | undefined {
  const st = statOf(abs);
  if (!('isFile' in st) || !st.isFile()) return undefined;
  const mode = st.mode & 0o777;
  return mode & 0o044 ? `${abs} can be read by other users (mode ${mode.toString(8).padStart(4, '0')}): restrict it with chmod 600` : undefined;
}

/** Resolves symlinks in the part of `p` that exists, so "inside" checks cannot be dodged with a link. */
function canonical(p: string): string {
  let head = p;
  const tail: string[] = [];
  for (let i = 0; i < 4096; i++) {
    if (existsSync(head)) {
      try {
        return join(realpathSync(head), ...tail.reverse());
      } catch {
        break;
      }
    }
    const parent = dirname(head);
    if (parent === head) break;
    tail.push(basename(head));
    head = parent;
  }
  return p;
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

// ---------- addresses ----------

type Bind = { family: 4 | 6; addr: string } | { family: 'name'; addr: string };

/** The concrete addresses a listen host may bind to. */
function binds(host: string): Bind[] {
  const h = host.toLowerCase();
  // localhost resolves to 127.0.0.1 and/or ::1 depending on the system: treat it as both.
  if (h === 'localhost') return [...binds('127.0.0.1'), ...binds('::1')];
  if (!ipaddr.isValid(h)) return [{ family: 'name', addr: h }];
  let a = ipaddr.parse(h);
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
  return [a.kind() === 'ipv4' ? { family: 4, addr: a.toString() } : { family: 6, addr: a.toNormalizedString() }];
}

const ANY4 = '0.0.0.0';
const ANY6 = new ipaddr.IPv6([0, 0, 0, 0, 0, 0, 0, 0]).toNormalizedString();

function bindsOverlap(x: Bind, y: Bind): boolean {
  if (x.family === y.family && x.addr === y.addr) return true;
  // Node listens dual-stack on "::", so it takes the port on every IPv4 and IPv6 address.
  if ((x.family === 6 && x.addr === ANY6) || (y.family === 6 && y.addr === ANY6)) return true;
  // 0.0.0.0 takes every IPv4 address, and possibly the one a host name resolves to.
  if (x.family === 4 && x.addr === ANY4 && y.family !== 6) return true;
  if (y.family === 4 && y.addr === ANY4 && x.family !== 6) return true;
  return false;
}

function hostsOverlap(a: string, b: string): boolean {
  return binds(a).some((x) => binds(b).some((y) => bindsOverlap(x, y)));
}

function isLoopback(host: string): boolean {
  return binds(host).every((b) => b.family !== 'name' && ipaddr.parse(b.addr).range() === 'loopback');
}

export function formatAddress(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

// ---------- the checks ----------

export function checkSemantics(data: unknown, dir: string, locate: (path: ConfigPath) => SourcePos): SemanticResult {
  const v = new View(data);
  const issues: PathIssue[] = [];
  const warnings: PathIssue[] = [];
  const replacements: SemanticResult['replacements'] = [];
  const where = (path: ConfigPath) => (v.raw(path) === undefined ? `${formatKey(path)} (its default)` : `${formatKey(path)}, line ${locate(path).line}`);

  // Paths: resolve, then check what must exist.
  const resolved = new Map<string, string>();
  for (const pk of pathKeys(v)) {
    const value = v.get<string>(pk.path);
    if (value === undefined) continue;
    if (value.includes('\0')) {
      issues.push({ path: pk.path, message: 'a path must not contain NUL characters' });
      continue;
    }
    const abs = resolve(dir, value);
    const from = isAbsolute(value) ? '' : ` (relative paths are resolved against the config file's directory, ${dir})`;
    replacements.push({ path: pk.path, value: abs });
    resolved.set(formatKey(pk.path), abs);
    const st = statOf(abs);
    const exists = 'isFile' in st;
    let problem: string | undefined;
    if (pk.kind === 'file') problem = fileProblem(abs);
    else if (!exists && st.code === 'ENOTDIR') problem = `${abs} cannot be created: part of its parent path is a file`;
    else if (pk.kind === 'dir' && exists && !st.isDirectory()) problem = `${abs} exists and is not a directory`;
    else if (pk.kind === 'output' && exists && st.isDirectory()) problem = `${abs} is a directory, expected a file path`;
    else if (pk.kind === 'key' && exists && !st.isFile()) problem = `${abs} exists and is not a regular file`;
    else if (!exists && st.code !== 'ENOENT' && st.code !== 'ENOTDIR') problem = statProblem(st, abs);
    if (problem) issues.push({ path: pk.path, message: problem + (problem.includes('not found') ? from : '') });
    else if (pk.secret) {
      const w = secretModeWarning(abs);
      if (w) warnings.push({ path: pk.path, message: w });
    }
  }

  // What lives inside data_dir is what the integrity key protects, and what a backup must survive.
  const dataDir = resolved.get('data_dir');
  if (dataDir) {
    const dataReal = canonical(dataDir);
    for (const [key, label] of [
      ['audit.key_file', 'the integrity key must be kept away from the data it protects'],
      ['backup.dir', 'a backup inside the data it copies is lost with it'],
    ] as const) {
      const p = resolved.get(key);
      if (p && isInside(canonical(p), dataReal)) issues.push({ path: key.split('.'), message: `must be outside data_dir (${dataDir}): ${label}` });
    }
  }

  checkListeners(v, issues, warnings, where, locate);
  checkUnique(v, issues, where);
  checkJwt(v, issues, warnings);
  checkTrust(v, warnings);

  checkFtpTls(v, warnings);

  if (v.get<boolean>(['audit', 'enabled']) === false)
    warnings.push({ path: ['audit', 'enabled'], message: 'request recording is OFF: this setting exists only for benchmarks; HTTP requests through the gateway are not recorded' });

  return { issues, warnings, replacements };
}

function checkListeners(v: View, issues: PathIssue[], warnings: PathIssue[], where: (p: ConfigPath) => string, locate: (path: ConfigPath) => SourcePos): void {
  const entries: { path: ConfigPath; addr: ListenAddress }[] = [];
  const add = (path: ConfigPath) => {
    const addr = v.get<ListenAddress>(path);
    if (addr) entries.push({ path, addr });
  };
  if (v.get<boolean>(['viewer', 'enabled']) !== false) {
    add(['viewer', 'listen']);
    const addr = v.get<ListenAddress>(['viewer', 'listen']);
    if (addr && !isLoopback(addr.host) && !v.present(['viewer', 'tls']))
      warnings.push({ path: ['viewer', 'listen'], message: `the viewer listens on ${formatAddress(addr)} without TLS: passwords and session cookies would cross the network in clear text` });
  }
  for (const i of v.indices(['http'])) add(['http', i, 'listen']);
  for (const i of v.indices(['ssh', 'listeners'])) add(['ssh', 'listeners', i, 'listen']);
  for (const i of v.indices(['ftp', 'listeners'])) add(['ftp', 'listeners', i, 'listen']);
  if (v.present(['demo'])) {
    add(['demo', 'panel_listen']);
    const addr = v.get<ListenAddress>(['demo', 'panel_listen']);
    if (addr && !isLoopback(addr.host)) issues.push({ path: ['demo', 'panel_listen'], message: `the demo panel must listen on a loopback address (127.0.0.1, [::1] or localhost), got ${formatAddress(addr)}` });
    if (v.present(['demo', 'ftp_listen'])) {
      add(['demo', 'ftp_listen']);
      const ftp = v.get<ListenAddress>(['demo', 'ftp_listen']);
      if (ftp && !isLoopback(ftp.host)) issues.push({ path: ['demo', 'ftp_listen'], message: `the demo FTP server must listen on a loopback address (127.0.0.1, [::1] or localhost), got ${formatAddress(ftp)}` });
    }
  }

  // The clash is reported on whichever of the two comes later in the file.
  const line = (p: ConfigPath) => locate(p).line;
  entries.sort((a, b) => line(a.path) - line(b.path));
  for (let b = 1; b < entries.length; b++) {
    const e = entries[b]!;
    if (e.addr.port === 0) continue;
    const clash = entries.slice(0, b).find((a) => a.addr.port === e.addr.port && hostsOverlap(a.addr.host, e.addr.host));
    if (clash)
      issues.push({
        path: e.path,
        message: `${formatAddress(e.addr)} clashes with ${formatAddress(clash.addr)} of ${where(clash.path)}: two listeners cannot share an address and port (use another port, or port 0 in tests)`,
      });
  }
}

function checkUnique(v: View, issues: PathIssue[], where: (p: ConfigPath) => string): void {
  const unique = (
    paths: ConfigPath[],
    keyOf: (p: ConfigPath) => string | undefined,
    what: (k: string) => string,
    messageFor?: (first: ConfigPath) => string,
    issuePath: (p: ConfigPath) => ConfigPath = (p) => p,
  ) => {
    const first = new Map<string, ConfigPath>();
    for (const p of paths) {
      const k = keyOf(p);
      if (k === undefined) continue;
      const seen = first.get(k);
      if (seen) issues.push({ path: issuePath(p), message: messageFor ? messageFor(seen) : `${what(k)} is already used by ${where(seen)}` });
      else first.set(k, p);
    }
  };
  const listeners = v.indices(['http']).map((i): ConfigPath => ['http', i]);
  unique(
    listeners.map((l) => [...l, 'name']),
    (p) => v.get<string>(p),
    (k) => `duplicate listener name "${k}": the name`,
  );
  for (const l of listeners) {
    const routes = v.indices([...l, 'routes']).map((j): ConfigPath => [...l, 'routes', j]);
    unique(
      routes.map((r) => [...r, 'name']),
      (p) => v.get<string>(p),
      (k) => `duplicate route name "${k}" in this listener: the name`,
    );
    unique(
      routes,
      (r) => {
        const host = v.get<string>([...r, 'match', 'host']);
        const prefix = v.get<string>([...r, 'match', 'path_prefix']);
        return prefix === undefined || (v.present([...r, 'match', 'host']) && host === undefined) ? undefined : `${(host ?? '*').toLowerCase()} ${prefix}`;
      },
      () => '',
      (first) => `matches exactly the same requests as route "${v.get<string>([...first, 'name']) ?? '?'}" (${where(first)}): this route could never be reached`,
      (r) => [...r, 'match'],
    );
  }
  unique(
    v.indices(['users']).map((i): ConfigPath => ['users', i, 'name']),
    (p) => v.get<string>(p),
    (k) => `duplicate user "${k}": the name`,
  );
  unique(
    v.indices(['directory']).map((i): ConfigPath => ['directory', i]),
    (p) => {
      const login = v.get<string>([...p, 'login']);
      // Logins match case-insensitively (gateway/http directory), so `Bob` and `bob` are one login.
      return login === undefined ? undefined : `${login.trim().toLowerCase()}\u0000${v.get<string>([...p, 'realm']) ?? '*'}`;
    },
    () => '',
    (first) => `the same login${v.present([...first, 'realm']) ? ' and realm' : ''} is already described by ${where(first)} (logins are case-insensitive): only the first entry would ever be used`,
  );
}

function checkJwt(v: View, issues: PathIssue[], warnings: PathIssue[]): void {
  for (const i of v.indices(['http']))
    for (const j of v.indices(['http', i, 'routes'])) {
      const jwt: ConfigPath = ['http', i, 'routes', j, 'identity', 'jwt'];
      if (!v.present(jwt)) continue;
      if (v.get<boolean>([...jwt, 'verify']) === false) {
        warnings.push({ path: [...jwt, 'verify'], message: 'JWT signatures are not checked on this route: anyone can claim any identity, and records mark it unverified' });
        continue;
      }
      const algs = v.get<string[]>([...jwt, 'algorithms']);
      if (!algs) continue;
      const hmac = algs.filter((a) => a.startsWith('HS'));
      const asym = algs.filter((a) => !a.startsWith('HS'));
      if (v.present([...jwt, 'secret_file']) && asym.length)
        issues.push({ path: [...jwt, 'algorithms'], message: `${asym.join(', ')} need public_key_file or jwks_file: with secret_file only HS256, HS384 and HS512 apply` });
      if ((v.present([...jwt, 'public_key_file']) || v.present([...jwt, 'jwks_file'])) && hmac.length)
        issues.push({ path: [...jwt, 'algorithms'], message: `${hmac.join(', ')} must not be used with a public key: anyone holding the public key could forge tokens (use RS*, PS*, ES* or EdDSA)` });
    }
}

function checkTrust(v: View, warnings: PathIssue[]): void {
  const lists: ConfigPath[] = [['viewer', 'trusted_proxies'], ...v.indices(['http']).map((i): ConfigPath => ['http', i, 'trusted_proxies'])];
  for (const list of lists) {
    const cidrs = v.get<string[]>(list) ?? [];
    cidrs.forEach((c, k) => {
      if (/\/0$/.test(c.trim()))
        warnings.push({ path: [...list, k], message: `"${c}" trusts X-Forwarded-For from every address: any client could choose the IP that gets recorded` });
    });
  }
}

function checkFtpTls(v: View, warnings: PathIssue[]): void {
  for (const i of v.indices(['ftp', 'servers'])) {
    const base: ConfigPath = ['ftp', 'servers', i];
    if (v.get<boolean>([...base, 'upstream_insecure']) === true && v.get<string>([...base, 'upstream_tls']) !== 'off')
      warnings.push({ path: [...base, 'upstream_insecure'], message: "the FTP server's TLS certificate is not checked: anyone on the path to it can read and change the session (pin it with upstream_fingerprint or give upstream_ca)" });
  }
  for (const i of v.indices(['ftp', 'listeners'])) {
    const base: ConfigPath = ['ftp', 'listeners', i];
    if (v.present([...base, 'tls']) && v.get<boolean>([...base, 'require_tls']) !== true) {
      const addr = v.get<ListenAddress>([...base, 'listen']);
      if (addr && !isLoopback(addr.host))
        warnings.push({ path: [...base, 'require_tls'], message: `FTP clients may still log in without TLS on ${formatAddress(addr)} (their password in clear text): set require_tls: true to refuse them` });
    }
  }
}
