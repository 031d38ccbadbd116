// The config schema: one YAML file validated into typed config. Every object is strict, so
// an unknown key is an error; config/loader.ts maps each zod issue back to its YAML line.
// docs/config.md documents every key declared here; keep them in step.
import { z } from 'zod';
import ipaddr from 'ipaddr.js';

// ---------- scalar types ----------

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** `250ms`, `30s`, `5m`, `8h`, `7d`, or a number of ms. Output: ms. */
export const duration = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(v);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `invalid duration "${v}" (use e.g. 250ms, 30s, 5m, 8h, 7d)` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * UNITS_MS[m[2]!]!);
});

const UNITS_B: Record<string, number> = { b: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2, gb: 1024 ** 3, gib: 1024 ** 3 };
/** `16KB`, `700MB`, `1GB`, or a number of bytes. Output: bytes. */
export const byteSize = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)\s*$/i.exec(v);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `invalid size "${v}" (use e.g. 512, 16KB, 700MB, 1GB)` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * UNITS_B[m[2]!.toLowerCase()]!);
});

export interface ListenAddress {
  host: string;
  port: number;
}

const HOSTNAME_RE = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** `127.0.0.1:8080`, `[::1]:8080`, `localhost:0`. Port 0 = any free port (tests). */
export const listenAddress = z.string().transform((v, ctx): ListenAddress => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(v.trim());
  const port = m ? Number(m[3]) : NaN;
  const host = m ? (m[1] ?? m[2])! : '';
  const hostOk = m && (m[1] ? ipaddr.IPv6.isValid(host) : ipaddr.IPv4.isValidFourPartDecimal(host) || (!/^[\d.]+$/.test(host) && HOSTNAME_RE.test(host)));
  if (!m || !hostOk || !(port >= 0 && port <= 65535)) {
    ctx.addIssue({ code: 'custom', message: `invalid listen address "${v}" (use HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080)` });
    return z.NEVER;
  }
  return { host, port };
});

/** `10.0.0.0/8`, `192.168.1.5` (= /32), `::1`, `fd00::/8`. Kept as text; validated here. */
export const cidr = z.string().superRefine((v, ctx) => {
  // ipaddr.js also reads legacy IPv4 forms ("010.0.0.1" is octal 8.0.0.1, "10.1/16" is 10.0.0.1/16):
  // only dotted-quad decimal is accepted, so an allowlist means what it says.
  const [addr = '', bits, extra] = v.split('/');
  let ok = extra === undefined && (ipaddr.IPv4.isValidFourPartDecimal(addr) || (addr.includes(':') && ipaddr.IPv6.isValid(addr)));
  try {
    if (ok && bits !== undefined) ok = /^\d{1,3}$/.test(bits) && !!ipaddr.parseCIDR(v);
  } catch {
    ok = false;
  }
  if (!ok) ctx.addIssue({ code: 'custom', message: `invalid IP address or CIDR "${v}"` });
});

export const httpUrl = z.string().superRefine((v, ctx) => {
  let u: URL | undefined;
  try {
    u = new URL(v);
  } catch {
    /* reported below */
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
    ctx.addIssue({ code: 'custom', message: `invalid URL "${v}" (must be http:// or https:// with a host)` });
  } else if (u.username || u.password) {
    ctx.addIssue({ code: 'custom', message: 'credentials in upstream URLs are not allowed (use the route identity settings)' });
  }
});

const nonEmpty = z.string().min(1);
const name = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'use 1-64 letters, digits, _ . -');

export const tlsSchema = z.strictObject({
  cert: nonEmpty,
  key: nonEmpty,
  /** Optional passphrase file for the key. */
  passphrase_file: nonEmpty.optional(),
});

// ---------- HTTP front end ----------

const identityHeader = z.strictObject({
  /** Response header the upstream sets with the login (removed before the client sees it). */
  login: z.string().default('x-sessiongate-user'),
  name: z.string().optional(),
  email: z.string().optional(),
  client: z.string().optional(),
  type: z.string().optional(),
});

const jwtSchema = z
  .strictObject({
    /** Where the token is: `bearer` (Authorization header) or `cookie:NAME`. */
    from: z.string().regex(/^(bearer|cookie:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$/, 'use "bearer" or "cookie:NAME"').default('bearer'),
    /** false: claims are used but the record marks the identity unverified. */
    verify: z.boolean().default(true),
    /** HMAC secret file (HS256/384/512). */
    secret_file: nonEmpty.optional(),
    /** PEM public key file (RS*, PS*, ES*, EdDSA). */
    public_key_file: nonEmpty.optional(),
    /** JWKS JSON file (keys chosen by `kid`). */
    jwks_file: nonEmpty.optional(),
    algorithms: z.array(z.enum(['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])).optional(),
    issuer: z.string().optional(),
    audience: z.string().optional(),
    clock_skew: duration.default(30_000),
    claims: z
      .strictObject({
        login: z.string().default('sub'),
        name: z.string().default('name'),
        email: z.string().default('email'),
        client: z.string().default('org'),
        type: z.string().default('role'),
      })
      .prefault({}),
  })
  .superRefine((j, ctx) => {
    const n = [j.secret_file, j.public_key_file, j.jwks_file].filter(Boolean).length;
    if (j.verify && n !== 1) ctx.addIssue({ code: 'custom', message: 'set exactly one of secret_file, public_key_file, jwks_file (or verify: false)' });
  });

const formSchema = z.strictObject({
  /** Path of the login form's POST. */
  path: nonEmpty.default('/login'),
  /** Form field holding the login name (urlencoded, multipart or JSON body). */
  field: nonEmpty.default('username'),
  /** Largest login body the gateway reads to find the field. */
  max_body: byteSize.default(64 * 1024),
});

const identitySchema = z.strictObject({
  header: identityHeader.optional(),
  jwt: jwtSchema.optional(),
  /** Take the login from HTTP Basic auth (the password is never stored). */
  basic: z.boolean().default(false),
  form: formSchema.optional(),
});

const routeSchema = z.strictObject({
  name,
  match: z
    .strictObject({
      /** Host header to match (exact, or `*.example.com`). */
      host: z.string().optional(),
      path_prefix: z.string().startsWith('/').default('/'),
    })
    .prefault({}),
  upstream: httpUrl,
  realm: name.default('client'),
  /** Send the client's Host header upstream instead of the upstream's own. */
  preserve_host: z.boolean().default(false),
  /** Panel session key: a cookie name and/or the bearer token. Stored only as a hash. */
  session: z
    .strictObject({
      cookie: z.string().optional(),
      bearer: z.boolean().default(true),
    })
    .prefault({}),
  /** WEB vs API. A request is API when any rule matches. */
  api: z
    .strictObject({
      path_prefixes: z.array(z.string().startsWith('/')).default(['/api/']),
      bearer: z.boolean().default(true),
      accept_json: z.boolean().default(true),
    })
    .prefault({}),
  /** Paths that are login / logout actions (exact or prefix with trailing *). */
  actions: z
    .strictObject({
      login: z.array(z.string().startsWith('/')).default(['/login', '/api/login']),
      logout: z.array(z.string().startsWith('/')).default(['/logout', '/api/logout']),
    })
    .prefault({}),
  identity: identitySchema.prefault({}),
  /** Upstream timeouts: waiting for response headers (504 after), and idle body. */
  timeouts: z
    .strictObject({
      connect: duration.default(5_000),
      headers: duration.default(60_000),
      body: duration.default(300_000),
    })
    .prefault({}),
  /** Max upstream connections in the undici Pool. */
  connections: z.number().int().positive().max(10_000).default(128),
});

const httpListenerSchema = z
  .strictObject({
    name,
    listen: listenAddress,
    /** `uws` (uWebSockets.js, default) or `node` (node:http). */
    engine: z.enum(['uws', 'node']).default('uws'),
    tls: tlsSchema.optional(),
    trusted_proxies: z.array(cidr).default([]),
    /** Query parameters whose values are replaced by `[REDACTED]` in stored URLs. */
    redact_query: z.array(z.string()).default(['token', 'access_token', 'password', 'passwd', 'secret', 'api_key', 'apikey', 'key', 'signature', 'sig', 'code']),
    /** A panel session with no request for this long leaves the live list. */
    idle_timeout: duration.default(30 * 60_000),
    limits: z
      .strictObject({
        max_header_bytes: byteSize.default(16 * 1024),
        max_url_bytes: byteSize.default(8 * 1024),
        max_headers: z.number().int().positive().default(100),
        /** Time allowed for the whole request head (slowloris). */
        header_timeout: duration.default(10_000),
        /** 0 = no limit. */
        max_body_bytes: byteSize.default(0),
      })
      .prefault({}),
    routes: z.array(routeSchema).min(1),
  })
  .superRefine((l, ctx) => {
    const seen = new Set<string>();
    l.routes.forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'name'], message: `duplicate route name "${r.name}"` });
      seen.add(r.name);
    });
  });

// ---------- the rest ----------

const viewerSchema = z.strictObject({
  enabled: z.boolean().default(true),
  listen: listenAddress.default({ host: '127.0.0.1', port: 8080 }),
  tls: tlsSchema.optional(),
  cookie_name: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/).default('sg_viewer'),
  session_ttl: duration.default(8 * 3_600_000),
  /** Recordings larger than this are offered as a download instead of replayed (seed 003). */
  replay_max_bytes: byteSize.default(700 * 1024 * 1024),
  trusted_proxies: z.array(cidr).default([]),
  login_rate_limit: z
    .strictObject({
      max_attempts: z.number().int().positive().default(5),
      window: duration.default(15 * 60_000),
    })
    .prefault({}),
});

const auditSchema = z.strictObject({
  /** false turns HTTP request recording off: for benchmarks (recording overhead) only. */
  enabled: z.boolean().default(true),
  mode: z.enum(['best_effort', 'strict']).default('best_effort'),
  /** Batches are committed at least this often. At most 100ms (DESIGN). */
  flush_interval: duration.pipe(z.number().min(1).max(100, 'must be at most 100ms')).default(50),
  queue_max: z.number().int().min(100).max(10_000_000).default(100_000),
  batch_max: z.number().int().min(1).max(100_000).default(10_000),
  /** LMDB map size upper bound. */
  max_store_size: byteSize.default(64 * 1024 ** 3),
  /** HMAC key for the integrity chain; must be outside data_dir. */
  key_file: nonEmpty.optional(),
  /** Where batches are encoded, digested, indexed and committed: a writer thread (off the data path) or inline. */
  writer: z.enum(['worker', 'inline']).default('inline'),
});

/** How long one kind is kept: at least a day, so a unit typo (`180m` for `180d`) cannot wipe the evidence. */
const keepFor = duration.pipe(z.number().min(86_400_000, 'must be at least 1d'));

const retentionSchema = z.strictObject({
  requests: keepFor.optional(),
  /** Session start/end records and what happened inside them (SSH exec/forward). */
  sessions: keepFor.optional(),
  activity: keepFor.optional(),
  transfers: keepFor.optional(),
  /** Terminal recordings (.cast with its index); a recording never outlives its session's records. */
  recordings: keepFor.optional(),
  /** How often the prune runs. */
  interval: duration.pipe(z.number().min(60_000, 'must be at least 1m')).default(3_600_000),
});

// ---------- exports and forwarding (recorder/export) ----------

export const EXPORT_FILE_KINDS = ['requests', 'sessions', 'activity', 'transfers', 'ssh'] as const;
const exportKinds = z.array(z.enum(EXPORT_FILE_KINDS)).min(1).refine((a) => new Set(a).size === a.length, 'a kind is listed twice');

export const exportScheduleSchema = z.strictObject({
  /** Files land here (created 0700; files 0600). */
  dir: nonEmpty,
  interval: duration.pipe(z.number().min(1000, 'must be at least 1s')).default(3_600_000),
  format: z.enum(['ndjson', 'csv']).default('ndjson'),
  kinds: exportKinds.default([...EXPORT_FILE_KINDS]),
  /** File holding the passphrase scheduled files are encrypted with (OpenPGP); see export.encryption. */
  passphrase_file: nonEmpty.optional(),
});

export const forwardSchema = z
  .strictObject({
    name,
    protocol: z.enum(['syslog', 'http']),
    /** syslog: tcp://host:port or tls://host:port; http: http(s)://host/path. */
    url: nonEmpty,
    kinds: exportKinds.default([...EXPORT_FILE_KINDS]),
    /** Where a forwarder without a saved position starts: every stored event, or only new ones. */
    start_from: z.enum(['beginning', 'now']).default('beginning'),
    /** syslog: MSG is the event as JSON (`json`), or the fields go into structured data (`structured`). */
    format: z.enum(['json', 'structured']).default('json'),
    /** syslog facility (RFC 5424), default 13 (log audit). */
    facility: z.number().int().min(0).max(23).default(13),
    app_name: z.string().regex(/^[!-~]{1,48}$/, 'printable ASCII, 1-48 characters').default('sessiongate'),
    /** PEM CA bundle for tls:// and https:// (default: the system CAs). */
    ca_file: nonEmpty.optional(),
    /** http: file holding a bearer token sent as Authorization. */
    token_file: nonEmpty.optional(),
    batch_max: z.number().int().min(1).max(10_000).default(500),
    timeout: duration.pipe(z.number().min(100)).default(10_000),
    /** Backoff between retries grows up to this. */
    retry_max: duration.pipe(z.number().min(100)).default(60_000),
    /** Committed events held in memory while the destination is slow; beyond, it reads the store. */
    queue_max: z.number().int().min(100).max(1_000_000).default(10_000),
  })
  .superRefine((f, ctx) => {
    let u: URL | undefined;
    try {
      u = new URL(f.url);
    } catch {
      /* reported below */
    }
    const ok = f.protocol === 'syslog' ? ['tcp:', 'tls:'] : ['http:', 'https:'];
    if (!u || !ok.includes(u.protocol) || !u.hostname) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: f.protocol === 'syslog' ? `invalid syslog URL "${f.url}" (use tcp://HOST:PORT or tls://HOST:PORT)` : `invalid URL "${f.url}" (use http:// or https://)` });
      return;
    }
    if (f.protocol === 'syslog' && (!u.port || (u.pathname !== '' && u.pathname !== '/') || u.search)) ctx.addIssue({ code: 'custom', path: ['url'], message: 'a syslog URL is tcp://HOST:PORT or tls://HOST:PORT (port required, no path)' });
    if (u.username || u.password) ctx.addIssue({ code: 'custom', path: ['url'], message: 'credentials in URLs are not allowed (use token_file)' });
    if (f.token_file !== undefined && f.protocol !== 'http') ctx.addIssue({ code: 'custom', path: ['token_file'], message: 'only for protocol http' });
    if (f.ca_file !== undefined && u.protocol !== 'tls:' && u.protocol !== 'https:') ctx.addIssue({ code: 'custom', path: ['ca_file'], message: 'only for tls:// or https:// URLs' });
  });

export const EXPORT_ENCRYPTION_MODES = ['off', 'optional', 'required'] as const;

const exportSchema = z
  .strictObject({
    /** OpenPGP encryption of export files (recorder/export/openpgp-encrypt.ts): never, on request, always. */
    encryption: z.enum(EXPORT_ENCRYPTION_MODES).default('off'),
    /** Scheduled export of newly committed events to files. */
    schedule: exportScheduleSchema.optional(),
    /** Live forwarding of every stored event to SIEMs. */
    forward: z
      .array(forwardSchema)
      .default([])
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((f, i) => {
          if (seen.has(f.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate forwarder name "${f.name}"` });
          seen.add(f.name);
        });
      }),
  })
  .superRefine((e, ctx) => {
    // Scheduled files have nobody to type a passphrase: it comes from a file, and it must agree with the mode.
    if (!e.schedule) return;
    if (e.encryption === 'required' && e.schedule.passphrase_file === undefined)
      ctx.addIssue({ code: 'custom', path: ['schedule', 'passphrase_file'], message: 'required when export.encryption is required: scheduled files are encrypted with the passphrase in this file' });
    if (e.encryption === 'off' && e.schedule.passphrase_file !== undefined)
      ctx.addIssue({ code: 'custom', path: ['schedule', 'passphrase_file'], message: 'export.encryption is off, so nothing would be encrypted: set export.encryption to optional or required, or remove this key' });
  });

const backupSchema = z.strictObject({
  dir: nonEmpty.optional(),
  /** A store copy this often (recorder/backup.ts BackupScheduler); needs dir. */
  interval: duration.pipe(z.number().min(60_000, 'must be at least 1m')).optional(),
  keep: z.number().int().positive().default(7),
  /** Compacting copy (MDB_CP_COMPACT): free pages left out; smaller, more CPU. */
  compact: z.boolean().default(true),
}).superRefine((b, ctx) => {
  if (b.interval !== undefined && b.dir === undefined) ctx.addIssue({ code: 'custom', path: ['interval'], message: 'scheduled backups need backup.dir (where they go)' });
});

const directoryEntry = z.strictObject({
  login: nonEmpty,
  /** Limit the entry to one realm; absent = any realm. */
  realm: z.string().optional(),
  name: z.string().optional(),
  email: z.string().optional(),
  client: z.string().optional(),
  type: z.string().optional(),
});

const bootstrapUser = z.strictObject({
  name,
  email: z.string().optional(),
  role: z.enum(['admin', 'auditor', 'security']).optional(),
  /** File holding the initial password; without it the CLI must set one. */
  password_file: nonEmpty.optional(),
  panel_identities: z.array(z.string()).default([]),
});

/** An account on an SSH target: the credentials the gateway uses (users never see them). */
const sshAccount = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'use 1-64 letters, digits, _ . -'),
    /** Private key file (OpenSSH or PEM). */
    key_file: nonEmpty.optional(),
    /** File holding the key's passphrase. */
    key_passphrase_file: nonEmpty.optional(),
    /** File holding the account's password. */
    password_file: nonEmpty.optional(),
    /** Environment variable holding the account's password. */
    password_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
  });

const sshTarget = z.strictObject({
  name,
  /** `ssh`: a server behind the gateway; `local`: `command` run on the gateway host under a pty. */
  type: z.enum(['ssh', 'local']).default('ssh'),
  host: z.string().min(1).max(253).default('localhost'),
  port: z.number().int().min(1).max(65535).default(22),
  /** Shown in Server Session Logs (seed 003): e.g. `Debian 12`. */
  os: z.string().max(64).optional(),
  /** The target's host key, pinned: `ssh-ed25519 AAAA...` (as in known_hosts) or `SHA256:...`. A mismatch refuses the session. */
  host_key: z.string().min(1).optional(),
  /** `local` targets: the program and its arguments (run as the gateway's own OS user). */
  command: z.array(z.string().min(1)).min(1).optional(),
  /** `local` targets: the working directory. */
  cwd: nonEmpty.optional(),
  accounts: z.array(sshAccount).min(1),
  allow: z
    .strictObject({
      port_forwarding: z.boolean().default(false),
      agent_forwarding: z.boolean().default(false),
      x11_forwarding: z.boolean().default(false),
    })
    .prefault({}),
  /** Record what the user types (it captures typed passwords too). */
  record_input: z.boolean().default(false),
  /** Time allowed to connect to the target and authenticate. */
  connect_timeout: duration.default(10_000),
});

const sshListener = z.strictObject({
  name,
  listen: listenAddress,
  /** The gateway's own host key files; absent: one ed25519 key generated in data_dir on first start. */
  host_keys: z.array(nonEmpty).default([]),
  /** A session with no traffic either way for this long is ended (0: never). */
  idle_timeout: duration.default(30 * 60_000),
  /** Time allowed from connect to authenticated. */
  login_timeout: duration.default(30_000),
  /** Failed authentications allowed per connection. */
  max_auth_attempts: z.number().int().min(1).max(20).default(6),
});

const sshSchema = z
  .strictObject({
    listeners: z.array(sshListener).min(1),
    targets: z.array(sshTarget).min(1),
  })
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    c.targets.forEach((t, i) => {
      if (names.has(t.name.toLowerCase())) ctx.addIssue({ code: 'custom', path: ['targets', i, 'name'], message: `duplicate target name "${t.name}"` });
      names.add(t.name.toLowerCase());
      const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path: ['targets', i, ...path], message });
      if (t.type === 'local') {
        if (!t.command) issue(['command'], 'a local target needs command (the program and its arguments)');
        if (t.host_key) issue(['host_key'], 'a local target has no host key');
        t.accounts.forEach((a, j) => {
          if (a.key_file || a.password_file || a.password_env) issue(['accounts', j], 'a local target runs as the gateway itself: its accounts take no credentials');
        });
        return;
      }
      if (!t.host_key) issue(['host_key'], 'required: the pinned host key of the target');
      if (t.command || t.cwd) issue([t.command ? 'command' : 'cwd'], 'only local targets run a command');
      t.accounts.forEach((a, j) => {
        const n = [a.key_file, a.password_file, a.password_env].filter((x) => x !== undefined).length;
        if (n !== 1) issue(['accounts', j], 'give exactly one of key_file, password_file, password_env');
      });
    });
  });

// ---------- FTP front end ----------

/** `40000-40100` or `{from: 40000, to: 40100}`: the gateway's own passive data ports. */
const portRange = z
  .union([
    z.string().transform((v, ctx) => {
      const m = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(v);
      if (!m) {
        ctx.addIssue({ code: 'custom', message: `invalid port range "${v}" (use FROM-TO, e.g. 40000-40100)` });
        return z.NEVER;
      }
      return { from: Number(m[1]), to: Number(m[2]) };
    }),
    z.strictObject({ from: z.number().int(), to: z.number().int() }),
  ])
  .superRefine((r, ctx) => {
    if (r.from < 1024 || r.to > 65535) ctx.addIssue({ code: 'custom', message: `passive ports must lie within 1024-65535, got ${r.from}-${r.to}` });
    else if (r.from > r.to) ctx.addIssue({ code: 'custom', message: `the range starts after it ends (${r.from}-${r.to})` });
  });

/** An FTP server behind the gateway. Users log in with its own accounts (USER/PASS are relayed). */
const ftpServer = z.strictObject({
  name,
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535).default(21),
  /** Shown as the seed's "Domain name" in live FTP sessions; default: the server's name. */
  domain: z.string().min(1).max(253).optional(),
  /** Time allowed to connect to the server and read its greeting. */
  connect_timeout: duration.default(10_000),
  /**
   * Explicit FTPS toward the server: `auto` sends AUTH TLS after the greeting and uses TLS when the
   * server accepts it (234), clear text when it refuses; `required` refuses the login when it does
   * not; `off` never asks. Once TLS is on, a handshake or certificate failure refuses the login
   * (never a fall back to clear text), and data connections are protected too (PBSZ 0, PROT P).
   */
  upstream_tls: z.enum(['auto', 'required', 'off']).default('auto'),
  /** PEM CA bundle (or the server's own self-signed certificate) that verifies the server's certificate; absent: the system CAs. */
  upstream_ca: nonEmpty.optional(),
  /** SHA-256 fingerprint of the server's certificate (`AB:CD:...`, 32 bytes): that certificate and no other is accepted (no CA check). */
  upstream_fingerprint: z
    .string()
    .transform((v) => v.trim().replace(/^sha256:/i, '').toUpperCase())
    .refine((v) => /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/.test(v) || /^[0-9A-F]{64}$/.test(v), 'must be a SHA-256 fingerprint: 32 hex bytes, e.g. "AB:CD:..." (openssl x509 -noout -fingerprint -sha256)')
    .transform((v) => (v.includes(':') ? v : v.match(/../g)!.join(':')))
    .optional(),
  /** true: the server's certificate is not checked at all (tests only: anyone on the path can read the session). */
  upstream_insecure: z.boolean().default(false),
});

const ftpListener = z.strictObject({
  name,
  listen: listenAddress,
  /** The gateway's own passive data ports (PASV/EPSV); absent: any free port the system gives. */
  passive_ports: portRange.optional(),
  /** Address announced in 227 replies (behind NAT); absent: the local address of the client's control connection. */
  passive_address: z.string().refine((v) => ipaddr.IPv4.isValidFourPartDecimal(v), 'must be an IPv4 address (227 replies carry IPv4 only)').optional(),
  /** PORT/EPRT from clients: `allow` (only to the client's own IP, port > 1023) or `deny`. */
  active_mode: z.enum(['allow', 'deny']).default('allow'),
  /** Names of the servers reachable through this listener (`USER login@server`); absent: every server. */
  servers: z.array(name).min(1).optional(),
  /** The server for a login without `@server`; absent: the first server of this listener. */
  default_server: name.optional(),
  /** A data connection must open within this time, and is cut when no byte moves for this long. */
  data_timeout: duration.pipe(z.number().min(100)).default(30_000),
  /**
   * Relay plain (non-TLS) data connections on a native thread (build/Release/sg_relay.node, built
   * by `npm ci`): no JavaScript per chunk. false, or no addon: relayed in JavaScript (slower; the
   * log says so at start).
   */
  native_relay: z.boolean().default(true),
  /** A logged-in session with no command and no moving transfer for this long is ended (0: never). */
  idle_timeout: duration.default(15 * 60_000),
  /** Time allowed from connect to logged in. */
  login_timeout: duration.pipe(z.number().min(100)).default(60_000),
  /** Failed logins (530 from the server, or refused by a lock) allowed per connection. */
  max_login_attempts: z.number().int().min(1).max(20).default(3),
  /**
   * Explicit FTPS (AUTH TLS) toward clients: with a certificate the gateway answers AUTH TLS (234),
   * upgrades the control connection, advertises AUTH TLS, PBSZ and PROT in FEAT and protects data
   * connections after PROT P. Absent: AUTH is refused (502) and not advertised.
   */
  tls: tlsSchema.optional(),
  /** Refuse USER (530) until the client has done AUTH TLS, and transfers (522) until PROT P. Needs `tls`. */
  require_tls: z.boolean().default(false),
});

const ftpSchema = z
  .strictObject({
    listeners: z.array(ftpListener).min(1),
    servers: z.array(ftpServer).min(1),
  })
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    c.servers.forEach((s, i) => {
      if (names.has(s.name.toLowerCase())) ctx.addIssue({ code: 'custom', path: ['servers', i, 'name'], message: `duplicate server name "${s.name}" (names are case-insensitive)` });
      names.add(s.name.toLowerCase());
      const verify = (['upstream_ca', 'upstream_fingerprint', 'upstream_insecure'] as const).filter((k) => (k === 'upstream_insecure' ? s[k] : s[k] !== undefined));
      if (verify.length > 1) ctx.addIssue({ code: 'custom', path: ['servers', i, verify[1]!], message: `give at most one of upstream_ca, upstream_fingerprint, upstream_insecure (got ${verify.join(' and ')})` });
      if (s.upstream_tls === 'off' && verify.length) ctx.addIssue({ code: 'custom', path: ['servers', i, verify[0]!], message: 'upstream_tls is off: this server is never reached over TLS, so there is no certificate to check' });
    });
    const listenerNames = new Set<string>();
    const ranges: { i: number; from: number; to: number }[] = [];
    c.listeners.forEach((l, i) => {
      const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path: ['listeners', i, ...path], message });
      if (listenerNames.has(l.name)) issue(['name'], `duplicate listener name "${l.name}"`);
      listenerNames.add(l.name);
      l.servers?.forEach((s, j) => {
        if (!names.has(s.toLowerCase())) issue(['servers', j], `no server named "${s}" in ftp.servers`);
      });
      if (l.default_server !== undefined) {
        if (!names.has(l.default_server.toLowerCase())) issue(['default_server'], `no server named "${l.default_server}" in ftp.servers`);
        else if (l.servers && !l.servers.some((s) => s.toLowerCase() === l.default_server!.toLowerCase())) issue(['default_server'], `"${l.default_server}" is not one of this listener's servers`);
      }
      if (l.require_tls && !l.tls) issue(['require_tls'], 'require_tls needs tls (a certificate and key): without them AUTH TLS is refused and no client could log in');
      const r = l.passive_ports;
      if (r) {
        if (l.listen.port >= r.from && l.listen.port <= r.to) issue(['passive_ports'], `the range ${r.from}-${r.to} contains the listener's own port ${l.listen.port}`);
        const clash = ranges.find((o) => o.from <= r.to && r.from <= o.to);
        if (clash) issue(['passive_ports'], `overlaps the passive ports of ftp.listeners[${clash.i}] (${clash.from}-${clash.to}): each listener needs its own range`);
        ranges.push({ i, from: r.from, to: r.to });
      }
    });
  });


export const configSchema = z
  .strictObject({
    data_dir: nonEmpty.default('./data'),
    log: z
      .strictObject({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
        /** Log file; absent = stdout. */
        file: nonEmpty.optional(),
      })
      .prefault({}),
    viewer: viewerSchema.prefault({}),
    audit: auditSchema.prefault({}),
    http: z.array(httpListenerSchema).default([]),
    ssh: sshSchema.optional(),
    ftp: ftpSchema.optional(),
    retention: retentionSchema.prefault({}),
    export: exportSchema.prefault({}),
    backup: backupSchema.prefault({}),
    directory: z.array(directoryEntry).default([]),
    users: z.array(bootstrapUser).default([]),
    /** Demo only (config/demo.yaml): run the bundled demo panel and print generated viewer credentials. */
    demo: z
      .strictObject({
        /** Where the bundled demo panel (demo/panel) listens; routes point their upstream here. */
        panel_listen: listenAddress,
        /** Where the bundled demo FTP server (demo/ftp) listens; an ftp.servers entry points here. Absent: not started. */
        ftp_listen: listenAddress.optional(),
        /** Create a demo admin viewer user with a generated password and print it. */
        print_credentials: z.boolean().default(true),
        /** Drive a short scripted tour of the demo panel through the first panel listener at start. */
        traffic: z.boolean().default(false),
      })
      .optional(),
  })
  .superRefine((c, ctx) => {
    const seen = new Map<string, string>();
    c.http.forEach((l, i) => {
      if (seen.has(l.name)) ctx.addIssue({ code: 'custom', path: ['http', i, 'name'], message: `duplicate listener name "${l.name}"` });
      seen.set(l.name, l.name);
    });
  });

export type Config = z.output<typeof configSchema>;
export type HttpListenerConfig = Config['http'][number];
export type SshConfig = NonNullable<Config['ssh']>;
export type SshListenerConfig = SshConfig['listeners'][number];
export type SshTargetConfig = SshConfig['targets'][number];
export type FtpConfig = NonNullable<Config['ftp']>;
export type FtpListenerConfig = FtpConfig['listeners'][number];
export type FtpServerConfig = FtpConfig['servers'][number];
export type RouteConfig = HttpListenerConfig['routes'][number];
export type JwtConfig = NonNullable<RouteConfig['identity']['jwt']>;
export type ViewerConfig = Config['viewer'];
export type AuditConfig = Config['audit'];
export type DirectoryEntry = Config['directory'][number];
export type TlsConfig = z.output<typeof tlsSchema>;
export type ExportConfig = Config['export'];
export type ExportScheduleConfig = NonNullable<ExportConfig['schedule']>;
export type ExportEncryptionMode = ExportConfig['encryption'];
export type ForwardConfig = ExportConfig['forward'][number];
