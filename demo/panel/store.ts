// In-memory data of the demo panel: users, clients, services, invoices, and the panel's own
// login sessions (cookie) and API tokens. One store per panel instance, so tests never share state.
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';

export type UserType = 'admin' | 'client';

export interface DemoUserSpec {
  login: string;
  /** Demo panel password: a fixed string for the fake upstream, never a Sessiongate credential. */
  password: string;
  type: UserType;
  name: string;
  email: string;
  /** Organisation name for client users. */
  client?: string;
}

/** The demo panel's users. config/demo.yaml's `directory` maps the same logins (a test keeps them in step). */
export const DEMO_USERS: readonly DemoUserSpec[] = [
  { login: 'puq', password: 'puq-demo-pass', type: 'admin', name: 'PUQ Admin', email: 'demo-admin@example.com' },
  { login: 'alice', password: 'alice-demo-pass', type: 'admin', name: 'Alice Walker', email: 'alice@example.com' },
  { login: 'demo-client', password: 'client-demo-pass', type: 'client', name: 'Demo Client', email: 'demo-client@example.com', client: 'Demo Client' },
  { login: 'bob', password: 'bob-demo-pass', type: 'client', name: 'Bob Stone', email: 'bob@acme.example', client: 'Acme Ltd' },
];

export interface User {
  login: string;
  type: UserType;
  name: string;
  email: string;
  clientId?: number;
  /** sha256 of the password: compared in constant time. */
  passwordHash: Buffer;
}

export interface Client {
  id: number;
  name: string;
  email: string;
  status: 'Active' | 'Suspended';
  created: string;
}

export interface Service {
  id: number;
  clientId: number;
  product: string;
  domain: string;
  status: 'Active' | 'Suspended';
  price: string;
  created: string;
}

export interface Invoice {
  id: number;
  clientId: number;
  total: string;
  status: 'Paid' | 'Unpaid';
  due: string;
}

export const PRODUCTS: Readonly<Record<string, string>> = {
  'Shared Hosting Basic': '4.99',
  'Shared Hosting Pro': '9.99',
  'VPS S': '12.00',
  'VPS M': '24.00',
  'Domain .com': '11.50',
  'Email Pro': '3.00',
};

export class ValidationError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'ValidationError';
  }
}

const hash = (s: string) => createHash('sha256').update(s).digest();
const day = (d: Date) => d.toISOString().slice(0, 10);
const EMAIL_RE = /^[^\s@<>"']{1,64}@[^\s@<>"']{1,190}$/;
const DOMAIN_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/i;

function requireText(value: string | undefined, field: string, max: number): string {
  const v = (value ?? '').trim();
  if (!v) throw new ValidationError(`${field} is required`, field);
  if (v.length > max) throw new ValidationError(`${field} is too long (at most ${max} characters)`, field);
  return v;
}

function requireEmail(value: string | undefined): string {
  const v = requireText(value, 'email', 254);
  if (!EMAIL_RE.test(v)) throw new ValidationError('email is not a valid address', 'email');
  return v;
}

export interface PanelSession {
  login: string;
  created: number;
}

export class PanelStore {
  readonly users = new Map<string, User>();
  readonly clients = new Map<number, Client>();
  readonly services = new Map<number, Service>();
  readonly invoices = new Map<number, Invoice>();
  private readonly sessions = new Map<string, PanelSession>();
  private readonly tokens = new Map<string, PanelSession>();
  private nextId = { client: 1, service: 100, invoice: 5000 };

  constructor(now: () => number = Date.now) {
    this.now = now;
    this.seed();
  }

  private readonly now: () => number;

  private seed(): void {
    const today = new Date(this.now());
    for (const spec of DEMO_USERS) {
      let clientId: number | undefined;
      if (spec.client) clientId = this.createClient({ name: spec.client, email: spec.email }).id;
      this.users.set(spec.login, { login: spec.login, type: spec.type, name: spec.name, email: spec.email, clientId, passwordHash: hash(spec.password) });
    }
    this.createClient({ name: 'Northwind Traders', email: 'it@northwind.example' });
    const [demo, acme, northwind] = [...this.clients.values()];
    const seedServices: [Client, string, string][] = [
      [demo!, 'Shared Hosting Pro', 'demo-client.example'],
      [demo!, 'Domain .com', 'demo-client.example'],
      [acme!, 'VPS M', 'vps1.acme.example'],
      [acme!, 'Email Pro', 'acme.example'],
      [northwind!, 'VPS S', 'web.northwind.example'],
    ];
    for (const [c, product, domain] of seedServices) this.createService(c.id, { product, domain });
    for (const [i, c] of [demo!, demo!, acme!, northwind!].entries()) {
      const due = new Date(today.getTime() + (i - 1) * 14 * 86_400_000);
      const id = this.nextId.invoice++;
      this.invoices.set(id, { id, clientId: c.id, total: (19.99 + i * 7.5).toFixed(2), status: i % 2 ? 'Unpaid' : 'Paid', due: day(due) });
    }
  }

  // ---------- authentication ----------

  /** The user when login and password match, else undefined (constant-time password compare). */
  authenticate(login: string | undefined, password: string | undefined): User | undefined {
    const user = login === undefined ? undefined : this.users.get(login);
    const given = hash(password ?? '');
    const expected = user?.passwordHash ?? hash(randomBytes(16).toString('hex'));
    return timingSafeEqual(given, expected) && user ? user : undefined;
  }

  openSession(login: string): string {
    const sid = randomBytes(24).toString('base64url');
    this.sessions.set(sid, { login, created: this.now() });
    return sid;
  }

  issueToken(login: string): string {
    const token = 'dcp_' + randomBytes(24).toString('base64url');
    this.tokens.set(token, { login, created: this.now() });
    return token;
  }

  userBySession(sid: string | undefined): User | undefined {
    const s = sid === undefined ? undefined : this.sessions.get(sid);
    return s ? this.users.get(s.login) : undefined;
  }

  userByToken(token: string | undefined): User | undefined {
    const s = token === undefined ? undefined : this.tokens.get(token);
    return s ? this.users.get(s.login) : undefined;
  }

  closeSession(sid: string): boolean {
    return this.sessions.delete(sid);
  }

  revokeToken(token: string): boolean {
    return this.tokens.delete(token);
  }

  // ---------- data ----------

  clientOf(user: User): Client | undefined {
    return user.clientId === undefined ? undefined : this.clients.get(user.clientId);
  }

  createClient(input: { name?: string; email?: string }): Client {
    const name = requireText(input.name, 'name', 120);
    const email = requireEmail(input.email);
    const id = this.nextId.client++;
    const client: Client = { id, name, email, status: 'Active', created: day(new Date(this.now())) };
    this.clients.set(id, client);
    return client;
  }

  /** Deletes the client with its services and invoices; logins of that client can no longer sign in. */
  deleteClient(id: number): boolean {
    if (!this.clients.delete(id)) return false;
    for (const [sid, s] of this.services) if (s.clientId === id) this.services.delete(sid);
    for (const [iid, inv] of this.invoices) if (inv.clientId === id) this.invoices.delete(iid);
    for (const [login, u] of this.users) if (u.clientId === id) this.users.delete(login);
    return true;
  }

  servicesOf(clientId: number | undefined): Service[] {
    return [...this.services.values()].filter((s) => clientId === undefined || s.clientId === clientId);
  }

  invoicesOf(clientId: number | undefined): Invoice[] {
    return [...this.invoices.values()].filter((i) => clientId === undefined || i.clientId === clientId);
  }

  createService(clientId: number, input: { product?: string; domain?: string }): Service {
    if (!this.clients.has(clientId)) throw new ValidationError('unknown client', 'client_id');
    const product = requireText(input.product, 'product', 64);
    const price = PRODUCTS[product];
    if (!price) throw new ValidationError(`unknown product (one of: ${Object.keys(PRODUCTS).join(', ')})`, 'product');
    const domain = requireText(input.domain, 'domain', 253).toLowerCase();
    if (!DOMAIN_RE.test(domain)) throw new ValidationError('domain is not a valid host name', 'domain');
    const id = this.nextId.service++;
    const service: Service = { id, clientId, product, domain, status: 'Active', price, created: day(new Date(this.now())) };
    this.services.set(id, service);
    return service;
  }

  deleteService(id: number): boolean {
    return this.services.delete(id);
  }

  payInvoice(id: number): Invoice | undefined {
    const inv = this.invoices.get(id);
    if (inv) inv.status = 'Paid';
    return inv;
  }

  updateProfile(user: User, input: { name?: string; email?: string }): void {
    const name = requireText(input.name, 'name', 120);
    const email = requireEmail(input.email);
    user.name = name;
    user.email = email;
  }
}
