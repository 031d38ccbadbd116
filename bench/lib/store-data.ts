// Deterministic synthetic panel traffic for the store bench: the same seed gives the same rows,
// which go both to the Sessiongate store and (as CSV) to the SQLite anchor. Clients own users
// (with emails and logins) who come from a few IPs each; a few heavy users make a large share of
// the requests (the "user filter" worst case); URLs carry ids and query strings. Rare and common
// keywords appear at controlled frequencies, and no generated text can contain a rare keyword
// by chance (they use letters the generator never emits together).
import type { HttpRequestEvent, HttpSource } from '../../recorder/events.js';
import { mintId } from '../../recorder/event-id.js';

/** mulberry32: small, fast, good enough for synthetic data; the same seed, the same sequence. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Rare keywords: each in about RARE_RATE of the rows (in a URL query string). */
export const RARE_TERMS = ['qzxvkj', 'wqjzxp', 'zjqxvw', 'xkqzjv', 'vjxqzk'] as const;
export const RARE_RATE = 2e-5;
/** Common keywords and the share of rows whose URL holds each. */
export const COMMON_TERMS = { invoice: 0.3, domains: 0.2, tickets: 0.1 } as const;

const FIRST = ['anna', 'ben', 'carla', 'dmitri', 'elena', 'farid', 'greta', 'hugo', 'ines', 'jonas', 'kira', 'luis', 'mara', 'nils', 'olga', 'pavel', 'rosa', 'sven', 'tara', 'umar', 'vera', 'wim', 'yara', 'zoe'];
const LAST = ['meyer', 'novak', 'garcia', 'smith', 'ivanova', 'rossi', 'dubois', 'jensen', 'kowalski', 'silva', 'tanaka', 'okafor', 'larsen', 'petrov', 'moreau', 'fischer', 'horvat', 'nagy', 'popescu', 'berg'];
const ORG_A = ['North', 'Blue', 'Rapid', 'Iron', 'Silver', 'Green', 'Bright', 'Delta', 'Nova', 'Prime', 'Alpine', 'Coastal'];
const ORG_B = ['Hosting', 'Media', 'Systems', 'Labs', 'Networks', 'Digital', 'Retail', 'Logistics', 'Studio', 'Cloud'];
const TLDS = ['com', 'net', 'de', 'io', 'co.uk', 'nl', 'fr', 'pl'];
const UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'curl/8.5.0',
  'python-requests/2.31.0',
];
// Paths without the common keywords (those are placed at their controlled rates).
const WEB_PATHS = ['/admin/clients/{id}', '/admin/clients/{id}/services', '/admin/orders', '/admin/orders/{id}', '/client/services/{id}', '/client/profile', '/admin/products/{id}/edit', '/client/dashboard', '/admin/reports/revenue', '/client/billing/methods'];
const API_PATHS = ['/api/v1/clients/{id}', '/api/v1/services/{id}/usage', '/api/v1/orders', '/api/v1/products/{id}', '/api/v1/accounts/{id}/status'];

export interface Person {
  name: string;
  email: string;
  login: string;
  client: string;
  ips: string[];
}

export interface Population {
  clients: string[];
  people: Person[];
  /** People who make HEAVY_SHARE of all requests between them. */
  heavy: Person[];
}

export const HEAVY_SHARE = 0.08;

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

export function population(seed: number, nClients = 2_000, perClient = 10): Population {
  const r = prng(seed ^ 0x5eed);
  const clients: string[] = [];
  const people: Person[] = [];
  for (let c = 0; c < nClients; c++) {
    const org = `${pick(r, ORG_A)} ${pick(r, ORG_B)} ${c}`;
    clients.push(org);
    const domain = `${org.toLowerCase().replace(/ /g, '-')}.${pick(r, TLDS)}`;
    const n = 1 + Math.floor(r() * perClient * 2);
    for (let i = 0; i < n; i++) {
      const first = pick(r, FIRST);
      const last = pick(r, LAST);
      const ips = Array.from({ length: 1 + Math.floor(r() * 3) }, () => `${1 + Math.floor(r() * 222)}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}.${1 + Math.floor(r() * 254)}`);
      people.push({ name: `${first[0]!.toUpperCase()}${first.slice(1)} ${last[0]!.toUpperCase()}${last.slice(1)}`, email: `${first}.${last}${i}@${domain}`, login: `${first}.${last}.${c}.${i}`, client: org, ips });
    }
  }
  return { clients, people, heavy: people.slice(0, 5) };
}

export interface GenOptions {
  seed: number;
  events: number;
  /** ms of the first and after the last event. */
  start: number;
  end: number;
}

/** Yields `events` requests in time order (ids time-ordered like the Recorder's). */
export function* requests(o: GenOptions, pop: Population): Generator<HttpRequestEvent> {
  const r = prng(o.seed);
  const step = (o.end - o.start) / o.events;
  const common = Object.entries(COMMON_TERMS);
  for (let i = 0; i < o.events; i++) {
    const ts = Math.floor(o.start + i * step + r() * step);
    const p = r() < HEAVY_SHARE ? pick(r, pop.heavy) : pick(r, pop.people);
    const api = r() < 0.25;
    const source: HttpSource = api ? 'API' : 'WEB';
    const realm = r() < 0.3 ? 'admin' : 'client';
    const id = String(1000 + Math.floor(r() * 900_000));
    let path = pick(r, api ? API_PATHS : WEB_PATHS).replace('{id}', id);
    // Common keywords at their rates (a URL holds at most one of them).
    let x = r();
    for (const [term, rate] of common) {
      if (x < rate) {
        path = api ? `/api/v1/${term}/${id}` : `/${realm}/${term}/${id}`;
        break;
      }
      x -= rate;
    }
    let query = r() < 0.5 ? `?page=${1 + Math.floor(r() * 20)}&sort=${r() < 0.5 ? 'name' : 'date'}` : '';
    if (r() < RARE_RATE * RARE_TERMS.length) query += `${query ? '&' : '?'}ref=${pick(r, RARE_TERMS)}`;
    const m = r();
    const method = api ? (m < 0.55 ? 'GET' : m < 0.8 ? 'POST' : m < 0.92 ? 'PUT' : 'DELETE') : m < 0.85 ? 'GET' : 'POST';
    const s = r();
    const status = s < 0.86 ? 200 : s < 0.92 ? 302 : s < 0.97 ? 404 : s < 0.99 ? 403 : 500;
    yield {
      id: mintId(ts, ts),
      ts,
      type: 'http.request',
      realm,
      listener: 'panel',
      route: realm,
      source,
      method,
      url: `https://panel.example.com${path}${query}`,
      status,
      bytes_in: method === 'GET' ? 0 : Math.floor(r() * 4000),
      bytes_out: Math.floor(200 + r() * 60_000),
      duration_ms: Math.round(r() * 400 * 100) / 100,
      user_agent: api ? 'python-requests/2.31.0' : pick(r, UAS),
      action: method === 'GET' ? 'view' : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : 'delete',
      identity_verified: true,
      ip: pick(r, p.ips),
      user: { name: p.name, email: p.email, login: p.login },
      client: p.client,
    } as HttpRequestEvent;
  }
}

/** The CSV columns the SQLite loader reads (bench/store-sqlite.py). */
export const CSV_COLUMNS = ['id', 'ts', 'realm', 'source', 'method', 'url', 'status', 'bytes_in', 'bytes_out', 'duration_ms', 'user_agent', 'action', 'ip', 'client', 'user_name', 'email', 'login'] as const;

const q = (v: unknown) => (v === undefined || v === null ? '' : typeof v === 'number' ? String(v) : `"${String(v).replace(/"/g, '""')}"`);

export function csvLine(e: HttpRequestEvent): string {
  return [e.id, e.ts, e.realm, e.source, e.method, e.url, e.status, e.bytes_in, e.bytes_out, e.duration_ms, e.user_agent, e.action, e.ip, e.client, e.user?.name, e.user?.email, e.user?.login].map(q).join(',') + '\n';
}
