// The people who use Sessiongate (DESIGN "Identities"): viewer role, scrypt password hash,
// SSH keys, reachable targets and the panel logins that are theirs (Hide Me). Kept in the
// store's `users` db so the CLI can manage users while the gateway runs (LMDB is multi-process).
// Names are unique case-insensitively so `Alice` can never shadow `alice`.
import { randomBytes, randomInt, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { KvDb } from './access.js';
import type { Clock, Logger } from './runtime.js';
import type { ViewerRole } from '../../recorder/events.js';
import { SgError } from './errors.js';

export type { ViewerRole };
export const VIEWER_ROLES: readonly ViewerRole[] = ['admin', 'auditor', 'security'];

export interface UserTarget {
  server: string;
  account: string;
}

/** What callers see: never the password hash. */
export interface User {
  name: string;
  email?: string;
  role?: ViewerRole;
  ssh_keys: string[];
  targets: UserTarget[];
  /** Panel logins that belong to this person (Hide Me excludes them). */
  panel_identities: string[];
  created_at: number;
  updated_at: number;
  /** Sessions opened before this instant are no longer valid (password changed). */
  password_changed_at: number;
}

interface UserRecord extends User {
  /** `scrypt$N$r$p$salt$hash`, salt and hash base64url. */
  password_hash: string;
}

export interface NewUser {
  name: string;
  email?: string;
  role?: ViewerRole;
  password: string;
  panel_identities?: string[];
}

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export interface UserStoreOptions {
  clock: Clock;
  /** Where malformed stored hashes are reported; silent when absent. */
  logger?: Logger;
  /** Cost for new hashes; verification reads the cost stored with each hash. */
  scrypt?: ScryptParams;
}

export const USER_NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
export const PASSWORD_MIN = 12;
const PASSWORD_MAX = 1024;
const EMAIL_RE = /^[^\s@<>"]+@[^\s@<>"]+$/;
// C0/C1 controls and bidi overrides: never part of an email or a panel login.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const PREFIX = 'u:';

function scrypt(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  // scrypt needs 128*N*r*p bytes; the default maxmem (32 MiB) is exactly too small for N=2^15.
  const opts: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r * params.p + 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCb(password.normalize('NFC'), salt, KEY_BYTES, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await scrypt(password, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function parseHash(stored: string): ParsedHash | undefined {
  const m = /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9_-]{8,128})\$([A-Za-z0-9_-]{16,256})$/.exec(stored);
  if (!m) return undefined;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // Refuse absurd costs read from disk: they would stall the thread pool.
  if (N < 2 || (N & (N - 1)) !== 0 || N > 2 ** 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  return { params: { N, r, p }, salt: Buffer.from(m[4]!, 'base64url'), key: Buffer.from(m[5]!, 'base64url') };
}

/** Checks a password against a stored hash in constant time (for equal-length keys). */
export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const h = parseHash(stored);
  if (!h) return false;
  const key = await scrypt(password, h.salt, h.params);
  return key.length === h.key.length && timingSafeEqual(key, h.key);
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** A random password (base58, no look-alike characters): 20 chars, about 117 bits. */
export function generatePassword(length = 20): string {
  let s = '';
  for (let i = 0; i < length; i++) s += BASE58[randomInt(BASE58.length)];
  return s;
}

const SSH_KEY_RE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,2}( [^\r\n\0]{0,200})?$/;
const TARGET_PART_RE = /^[A-Za-z0-9_.-]{1,64}$/;

function validateSshKey(k: unknown, i: number): string {
  const bad = () => new SgError('SG_ERR_BAD_PARAM', `ssh_keys[${i}]: not an OpenSSH public key line ("ssh-ed25519 AAAA... comment")`);
  if (typeof k !== 'string' || !SSH_KEY_RE.test(k.trim())) throw bad();
  // The blob must name its own type (wire format: uint32 length, type), as ssh-keygen writes it.
  const [type, b64] = k.trim().split(' ') as [string, string];
  const blob = Buffer.from(b64, 'base64');
  const n = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (n !== type.length || blob.subarray(4, 4 + n).toString('latin1') !== type || blob.length < 4 + n + 16) throw bad();
  return k.trim();
}

function validateTarget(t: unknown, i: number): UserTarget {
  const o = t as UserTarget | undefined;
  if (!o || typeof o.server !== 'string' || typeof o.account !== 'string' || !TARGET_PART_RE.test(o.server) || !TARGET_PART_RE.test(o.account)) {
    throw new SgError('SG_ERR_BAD_PARAM', `targets[${i}]: needs server and account names (1-64 letters, digits, _ . -)`);
  }
  return { server: o.server, account: o.account };
}

export function validateUserName(name: unknown): string {
  if (typeof name !== 'string' || !USER_NAME_RE.test(name)) {
    throw new SgError('SG_ERR_BAD_PARAM', 'invalid user name (use 1-64 letters, digits, _ . -)', { details: { param: 'name' } });
  }
  return name;
}

export function validateRole(role: unknown): ViewerRole | undefined {
  if (role === undefined || role === null || role === '' || role === 'none') return undefined;
  if (typeof role !== 'string' || !(VIEWER_ROLES as readonly string[]).includes(role)) {
    throw new SgError('SG_ERR_BAD_PARAM', `invalid role (use ${VIEWER_ROLES.join(', ')} or none)`, { details: { param: 'role' } });
  }
  return role as ViewerRole;
}

function validatePassword(password: unknown): string {
  if (typeof password !== 'string' || [...password].length < PASSWORD_MIN) {
    throw new SgError('SG_ERR_BAD_PASSWORD', `password must be at least ${PASSWORD_MIN} characters`);
  }
  if (password.length > PASSWORD_MAX) throw new SgError('SG_ERR_BAD_PASSWORD', `password must be at most ${PASSWORD_MAX} characters`);
  if (password.includes('\0')) throw new SgError('SG_ERR_BAD_PASSWORD', 'password must not contain NUL');
  return password;
}

function validateEmail(email: unknown): string | undefined {
  if (email === undefined || email === null || email === '') return undefined;
  if (typeof email !== 'string' || email.length > 254 || !EMAIL_RE.test(email) || CONTROL_RE.test(email)) {
    throw new SgError('SG_ERR_BAD_PARAM', 'invalid email address', { details: { param: 'email' } });
  }
  return email;
}

function validateIdentities(list: unknown): string[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list) || list.length > 256) throw new SgError('SG_ERR_BAD_PARAM', 'panel_identities must be a list of at most 256 logins', { details: { param: 'panel_identities' } });
  const out = new Set<string>();
  for (const v of list) {
    if (typeof v !== 'string' || !v.trim() || v.length > 256 || CONTROL_RE.test(v)) {
      throw new SgError('SG_ERR_BAD_PARAM', 'invalid panel identity (1-256 characters, no control characters)', { details: { param: 'panel_identities' } });
    }
    out.add(v.trim());
  }
  return [...out];
}

function publicView(r: UserRecord): User {
  const { password_hash: _omit, ...user } = r;
  return user;
}

export class UserStore {
  private readonly db: KvDb;
  private readonly clock: Clock;
  private readonly logger: Pick<Logger, 'error'>;
  private readonly cost: ScryptParams;
  /** Hash of a random password: unknown users are checked against it so they cost the same. */
  private dummy: Promise<string> | undefined;

  constructor(db: KvDb, opts: UserStoreOptions) {
    if (!db || typeof db.get !== 'function' || !opts || !opts.clock) throw new SgError('SG_ERR_CONFIG_INVALID', 'UserStore needs a db and a clock');
    const cost = opts.scrypt ?? DEFAULT_SCRYPT;
    if (!parseHash(`scrypt$${cost.N}$${cost.r}$${cost.p}$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`)) {
      throw new SgError('SG_ERR_CONFIG_INVALID', 'invalid scrypt parameters (N a power of two up to 2^20, r 1-32, p 1-16)');
    }
    this.db = db;
    this.clock = opts.clock;
    this.logger = opts.logger ?? { error: () => undefined };
    this.cost = cost;
  }

  async add(input: NewUser): Promise<User> {
    const name = validateUserName(input.name);
    const role = validateRole(input.role);
    const email = validateEmail(input.email);
    const panel_identities = validateIdentities(input.panel_identities);
    const password = validatePassword(input.password);
    if (this.record(name)) throw new SgError('SG_ERR_USER_EXISTS', `user "${name}" already exists`);
    const password_hash = await hashPassword(password, this.cost);
    // Re-check after the (slow) hash: another add may have landed meanwhile.
    if (this.record(name)) throw new SgError('SG_ERR_USER_EXISTS', `user "${name}" already exists`);
    const now = this.clock.now();
    const rec: UserRecord = { name, ssh_keys: [], targets: [], panel_identities, created_at: now, updated_at: now, password_changed_at: now, password_hash };
    if (email !== undefined) rec.email = email;
    if (role !== undefined) rec.role = role;
    await this.db.put(key(name), rec);
    return publicView(rec);
  }

  get(name: string): User | undefined {
    const r = this.record(name);
    return r ? publicView(r) : undefined;
  }

  list(): User[] {
    const out: User[] = [];
    for (const { value } of this.db.getRange({ start: PREFIX, end: 'u;' })) {
      if (isRecord(value)) out.push(publicView(value));
    }
    return out.sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1));
  }

  async remove(name: string): Promise<User> {
    const r = this.mustGet(name);
    await this.db.remove(key(r.name));
    return publicView(r);
  }

  async setPassword(name: string, password: string): Promise<User> {
    validatePassword(password);
    this.mustGet(name);
    const password_hash = await hashPassword(password, this.cost);
    return this.modify(name, (r) => {
      r.password_hash = password_hash;
      // Strictly later than any session opened before, even within the same ms.
      r.password_changed_at = Math.max(this.clock.now(), r.password_changed_at + 1);
    });
  }

  async setRole(name: string, role: ViewerRole | undefined | null): Promise<User> {
    const v = validateRole(role);
    return this.modify(name, (r) => {
      if (v === undefined) delete r.role;
      else r.role = v;
    });
  }

  async update(name: string, patch: { email?: string | null; panel_identities?: string[] }): Promise<User> {
    const email = 'email' in patch ? validateEmail(patch.email) : undefined;
    const ids = patch.panel_identities !== undefined ? validateIdentities(patch.panel_identities) : undefined;
    return this.modify(name, (r) => {
      if ('email' in patch) {
        if (email === undefined) delete r.email;
        else r.email = email;
      }
      if (ids) r.panel_identities = ids;
    });
  }

  /**
   * Replaces the user's SSH access: public keys (`ssh-ed25519 AAAA... comment`, as in
   * authorized_keys) and the target accounts they may reach (`server` + `account`, both names
   * from the `ssh.targets` config).
   */
  async setSshAccess(name: string, patch: { ssh_keys?: string[]; targets?: UserTarget[] }): Promise<User> {
    const keys = patch.ssh_keys?.map((k, i) => validateSshKey(k, i));
    const targets = patch.targets?.map((t, i) => validateTarget(t, i));
    return this.modify(name, (r) => {
      if (keys) r.ssh_keys = keys;
      if (targets) r.targets = targets;
    });
  }

  /** The user when `blob` (an SSH public key in wire format) is one of theirs. */
  withSshKey(name: string, blob: Buffer): User | undefined {
    const r = this.record(name);
    if (!r) return undefined;
    const want = blob.toString('base64');
    return r.ssh_keys.some((k) => k.split(/\s+/)[1] === want) ? publicView(r) : undefined;
  }

  /**
   * The user when the password is right. Unknown users and malformed names cost one scrypt
   * too, so timing does not tell which names exist; role checks are the caller's.
   */
  async verify(name: string, password: string): Promise<User | undefined> {
    const pw = typeof password === 'string' && password.length <= PASSWORD_MAX ? password : '';
    const r = typeof name === 'string' && USER_NAME_RE.test(name) ? this.record(name) : undefined;
    const stored = r?.password_hash ?? (await this.dummyHash());
    let ok = false;
    try {
      ok = await checkPassword(pw, stored);
    } catch (e) {
      this.logger.error({ err: e, user: r?.name }, 'password check failed');
    }
    if (r && !parseHash(r.password_hash)) this.logger.error({ user: r.name }, 'stored password hash is malformed; the user cannot sign in');
    return ok && r ? publicView(r) : undefined;
  }

  private dummyHash(): Promise<string> {
    this.dummy ??= hashPassword(randomBytes(18).toString('base64url'), this.cost);
    return this.dummy;
  }

  private record(name: string): UserRecord | undefined {
    if (typeof name !== 'string' || !USER_NAME_RE.test(name)) return undefined;
    const v = this.db.get(key(name));
    return isRecord(v) ? v : undefined;
  }

  private mustGet(name: string): UserRecord {
    const r = this.record(name);
    if (!r) throw new SgError('SG_ERR_USER_NOT_FOUND', `no user "${String(name).slice(0, 64)}"`);
    return r;
  }

  private async modify(name: string, fn: (r: UserRecord) => void): Promise<User> {
    const r = { ...this.mustGet(name) };
    fn(r);
    r.updated_at = Math.max(this.clock.now(), r.updated_at);
    await this.db.put(key(r.name), r);
    return publicView(r);
  }
}

function key(name: string): string {
  return PREFIX + name.toLowerCase();
}

function isRecord(v: unknown): v is UserRecord {
  return typeof v === 'object' && v !== null && typeof (v as UserRecord).name === 'string' && typeof (v as UserRecord).password_hash === 'string';
}
