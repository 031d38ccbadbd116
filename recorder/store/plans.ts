// Query plans per kind (docs/store.md "Queries"; filters from seeds 000-003 and types.ts):
// each filter becomes a posting group where the index knows it (exact terms, keyword trigrams)
// and always a row test, so the index narrows and the row decides.
import type { ActivityEvent, AuditGapEvent, FileTransferEvent, FtpCommandEvent, HttpRequestEvent, SessionEndEvent, SessionStartEvent, SgEvent } from '../events.js';
import type { Kind } from './kinds.js';
import { KINDS } from './kinds.js';
import { fromStored } from './row-codec.js';
import { ACTIVITY_FIELD, Q, exactTerm, keywordMatches, keywordTrigrams, norm } from './terms.js';
import { MAX_TERM, type StoreDbs, type SessionIndexEntry } from './layout.js';
import { filtersHash } from './cursor.js';
import type { QueryPlan, SortValue, SourcePlan } from './query-engine.js';
import { ACTIVITY_SORTS, REQUEST_SORTS, SESSION_SORTS, TRANSFER_SORTS } from './types.js';
import type { ActivityItem, ActivityQuery, RequestQuery, SessionQuery, SessionRow, TimelineQuery, TransferItem, TransferQuery } from './types.js';
import { bad, checkObject, normaliseIp, optEnum, optString, optTime, parseCursor, parseHide, parseKeyword, parseLimit, parseOrder, parseSort, parseTypes, type Hide } from './query-parse.js';

type Test = (ev: SgEvent, seq: number | undefined, snap: number) => boolean;
type Get = (ev: SgEvent) => unknown;

/** Assembles one kind's posting groups and row tests. */
class SourceBuilder {
  readonly groups: [string, string][][] = [];
  private readonly tests: Test[] = [];
  private exact = true;

  constructor(readonly kind: Kind) {}

  /** Exact, case-insensitive (normalised) equality with an indexed field. */
  term(field: string, value: string | undefined, get: Get): this {
    if (value === undefined) return this;
    const want = norm(value);
    if (want.length > MAX_TERM) this.exact = false;
    this.groups.push([[field, exactTerm(value)]]);
    this.tests.push((ev) => {
      const v = get(ev);
      return typeof v === 'string' && norm(v) === want;
    });
    return this;
  }

  /** One of several exact values (e.g. types). */
  oneOf(field: string, values: readonly string[], all: readonly string[], get: Get): this {
    if (values.length === all.length) return this;
    const want = new Set(values);
    this.groups.push(values.map((v) => [field, exactTerm(v)]));
    this.tests.push((ev) => want.has(get(ev) as string));
    return this;
  }

  /** An indexed marker term whose meaning `test` states (e.g. the activity term of requests). */
  marker(field: string, term: string, test: Test): this {
    this.groups.push([[field, term]]);
    this.tests.push(test);
    return this;
  }

  keyword(kw: string | undefined): this {
    if (kw === undefined) return this;
    for (const g of keywordTrigrams(kw)) this.groups.push([[Q, g]]);
    const kind = this.kind;
    this.tests.push((ev) => keywordMatches(kind, ev, kw));
    this.exact = false;
    return this;
  }

  /** A row test the index cannot answer. */
  test(t: Test): this {
    this.tests.push(t);
    this.exact = false;
    return this;
  }

  range(from: number | undefined, to: number | undefined): this {
    if (from !== undefined) this.test((ev) => ev.ts >= from);
    if (to !== undefined) this.test((ev) => ev.ts <= to);
    return this;
  }

  hide(h: Hide | undefined): this {
    if (!h) return this;
    return this.test((ev) => {
      const login = ev.user?.login;
      if (typeof login === 'string' && h.logins.has(norm(login))) return false;
      return !(typeof ev.ip === 'string' && h.ips.has(norm(ev.ip)));
    });
  }

  build(): SourcePlan {
    const tests = this.tests;
    const plan: SourcePlan = { kind: this.kind, groups: this.groups, exactByGroups: this.exact };
    if (tests.length === 1) plan.match = tests[0];
    else if (tests.length) {
      plan.match = (ev, seq, snap) => {
        for (const t of tests) if (!t(ev, seq, snap)) return false;
        return true;
      };
    }
    return plan;
  }
}

const login: Get = (e) => e.user?.login;
const email: Get = (e) => e.user?.email;
const ipOf: Get = (e) => e.ip;

function ipFilter(v: unknown): string | undefined {
  const s = optString(v, 'ip');
  return s === undefined ? undefined : normaliseIp(s);
}

function strKey(v: unknown): SortValue {
  return typeof v === 'string' ? norm(v) : null;
}
function numKey(v: unknown): SortValue {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export interface PlanEnv {
  dbs: StoreDbs;
}

interface Common {
  from: number | undefined;
  to: number | undefined;
  q: string | undefined;
  limit: number;
  order: 'asc' | 'desc';
  cursor: string | undefined;
}

function common(q: Record<string, unknown>): Common {
  return { from: optTime(q.from, 'from'), to: optTime(q.to, 'to'), q: parseKeyword(q.q), limit: parseLimit(q.limit), order: parseOrder(q.order), cursor: parseCursor(q.cursor) };
}

const BASE_KEYS = ['from', 'to', 'q', 'limit', 'cursor', 'order', 'sort'] as const;

function hashOf(name: string, filters: object): string {
  // A loop, not `{ limit, cursor, ...rest }`: V8 takes a slow path for rest and spread-plus-
  // property objects (measured ~1-3 us each, per query).
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(filters)) if (k !== 'limit' && k !== 'cursor') rest[k] = v;
  return filtersHash([name, rest]);
}

/** `{ ...c, ...more }` without the spread's slow path (see hashOf). */
function withCommon<T extends object>(c: Common, more: T): Common & T {
  return Object.assign(Object.assign({}, c), more);
}

function plan<T>(name: string, c: Common, sort: string, filters: object, sources: SourcePlan[], item: QueryPlan<T>['item'], sortKey?: QueryPlan<T>['sortKey']): QueryPlan<T> {
  const p: QueryPlan<T> = { name, sources, order: c.order, sort, limit: c.limit, hash: hashOf(name, filters), item };
  if (c.from !== undefined) p.from = c.from;
  if (c.to !== undefined) p.to = c.to;
  if (c.cursor !== undefined) p.cursor = c.cursor;
  if (sortKey) p.sortKey = sortKey;
  return p;
}

// ---------- requests (seeds 000, 001) ----------

const REQUEST_KEYS = [...BASE_KEYS, 'realm', 'source', 'method', 'hide', 'action', 'login', 'email', 'ip'];

function requestSortKey(sort: string): (ev: SgEvent) => SortValue {
  const f: Record<string, (e: HttpRequestEvent) => SortValue> = {
    client: (e) => strKey(e.client),
    user: (e) => strKey(e.user?.name),
    email: (e) => strKey(e.user?.email),
    ip: (e) => strKey(e.ip),
    url: (e) => strKey(e.url),
    source: (e) => strKey(e.source),
    method: (e) => strKey(e.method),
    status: (e) => numKey(e.status),
    action: (e) => strKey(e.action),
    realm: (e) => strKey(e.realm),
    duration: (e) => numKey(e.duration_ms),
  };
  return f[sort] as (ev: SgEvent) => SortValue;
}

export function requestsPlan(raw: RequestQuery): QueryPlan<HttpRequestEvent> {
  const q = checkObject(raw, REQUEST_KEYS);
  const c = common(q);
  const sort = parseSort(q.sort, REQUEST_SORTS);
  const source = optEnum(q.source, 'source', ['WEB', 'API'] as const);
  const method = optString(q.method, 'method')?.toUpperCase();
  const f = withCommon(c, {
    sort,
    realm: optString(q.realm, 'realm'),
    source,
    method,
    action: optString(q.action, 'action'),
    login: optString(q.login, 'login'),
    email: optString(q.email, 'email'),
    ip: ipFilter(q.ip),
    hide: parseHide(q.hide),
  });
  const src = new SourceBuilder('requests')
    .term('realm', f.realm, (e) => (e as HttpRequestEvent).realm)
    .term('source', f.source, (e) => (e as HttpRequestEvent).source)
    .term('method', f.method, (e) => (e as HttpRequestEvent).method)
    .term('action', f.action, (e) => (e as HttpRequestEvent).action)
    .term('login', f.login, login)
    .term('email', f.email, email)
    .term('ip', f.ip, ipOf)
    .keyword(c.q)
    .range(c.from, c.to)
    .hide(f.hide)
    .build();
  const hide = f.hide ? { logins: [...f.hide.logins].sort(), ips: [...f.hide.ips].sort() } : undefined;
  return plan('requests', c, sort, Object.assign(Object.assign({}, f), { hide }), [src], (ev) => ev as HttpRequestEvent, sort === 'time' ? undefined : requestSortKey(sort));
}

// ---------- sessions (seed 003) ----------

const SESSION_KEYS = [...BASE_KEYS, 'protocol', 'os', 'connected_from', 'login', 'email', 'ip', 'state', 'session_id'];
const PROTOCOLS = ['ssh', 'sftp', 'ftp', 'http', 'web-ssh', 'local'] as const;

/** The session's end as of the snapshot, if recorded. */
function endOf(env: PlanEnv, start: SgEvent, snap: number): SessionEndEvent | undefined {
  const sid = (start as SessionStartEvent).session_id;
  if (typeof sid !== 'string' || !sid || sid.length > MAX_TERM) return undefined;
  const ix = env.dbs.sessionIndex?.get(sid) as SessionIndexEntry | undefined;
  if (!ix?.e || ix.eb === undefined || ix.eb > snap) return undefined;
  const v = env.dbs.rows.sessions?.get(ix.e);
  return v === undefined ? undefined : (fromStored('sessions', ix.e, v) as SessionEndEvent);
}

export function sessionsPlan(raw: SessionQuery, env: PlanEnv): QueryPlan<SessionRow> {
  const q = checkObject(raw, SESSION_KEYS);
  const c = common(q);
  const sort = parseSort(q.sort, SESSION_SORTS);
  const f = withCommon(c, {
    sort,
    protocol: optEnum(q.protocol, 'protocol', PROTOCOLS),
    os: optString(q.os, 'os'),
    connected_from: optEnum(q.connected_from, 'connected_from', ['proxy', 'web'] as const),
    login: optString(q.login, 'login'),
    email: optString(q.email, 'email'),
    ip: ipFilter(q.ip),
    state: optEnum(q.state, 'state', ['open', 'ended'] as const),
    session_id: optString(q.session_id, 'session_id'),
  });
  const b = new SourceBuilder('sessions')
    .marker('type', 'session.start', (e) => e.type === 'session.start')
    .term('protocol', f.protocol, (e) => (e as SessionStartEvent).protocol)
    .term('os', f.os, (e) => (e as SessionStartEvent).server?.os)
    .term('connected_from', f.connected_from, (e) => (e as SessionStartEvent).connected_from)
    .term('login', f.login, login)
    .term('email', f.email, email)
    .term('ip', f.ip, ipOf)
    .term('session', f.session_id, (e) => e.session_id)
    .keyword(c.q)
    .range(c.from, c.to);
  if (f.state) {
    const wantEnded = f.state === 'ended';
    b.test((e, _seq, snap) => (endOf(env, e, snap) !== undefined) === wantEnded);
  }
  const keys: Record<string, (e: SessionStartEvent, seq: number | undefined, snap: number) => SortValue> = {
    seq: (_e, seq) => numKey(seq),
    user: (e) => strKey(e.user?.name),
    email: (e) => strKey(e.user?.email),
    account: (e) => strKey(e.account),
    server: (e) => strKey(e.server?.name),
    host: (e) => strKey(e.server?.host),
    ip: (e) => strKey(e.ip),
    protocol: (e) => strKey(e.protocol),
    os: (e) => strKey(e.server?.os),
    duration: (e, _seq, snap) => numKey(endOf(env, e, snap)?.duration_ms),
    client_name: (e) => strKey(e.client_name),
  };
  const item = (ev: SgEvent, _k: Kind, seq: number | undefined, snap: number): SessionRow => {
    const start = ev as SessionStartEvent;
    const row: SessionRow = { seq: seq ?? 0, session_id: start.session_id, start };
    const end = endOf(env, start, snap);
    if (end) row.end = end;
    return row;
  };
  const sortKey = sort === 'time' ? undefined : (ev: SgEvent, _k: Kind, seq: number | undefined, snap: number) => keys[sort]!(ev as SessionStartEvent, seq, snap);
  return plan('sessions', c, sort, f, [b.build()], item, sortKey);
}

// ---------- activity (seed 002) ----------

const ACTIVITY_KEYS = [...BASE_KEYS, 'action', 'initiator', 'types'];
const ACTIVITY_TYPES = ['activity', 'audit.gap', 'http.request'] as const;

export function activityPlan(raw: ActivityQuery): QueryPlan<ActivityItem> {
  const q = checkObject(raw, ACTIVITY_KEYS);
  const c = common(q);
  const sort = parseSort(q.sort, ACTIVITY_SORTS);
  const f = withCommon(c, { sort, action: optString(q.action, 'action'), initiator: optString(q.initiator, 'initiator'), types: parseTypes(q.types, ACTIVITY_TYPES) });
  const sources: SourcePlan[] = [];
  const logTypes = f.types.filter((t) => t !== 'http.request');
  if (logTypes.length) {
    sources.push(
      new SourceBuilder('activity')
        .oneOf('type', logTypes, ['activity', 'audit.gap'], (e) => e.type)
        .term('action', f.action, (e) => (e as ActivityEvent).action)
        .term('initiator', f.initiator, (e) => (e as ActivityEvent).initiator)
        .keyword(c.q)
        .range(c.from, c.to)
        .build(),
    );
  }
  if (f.types.includes('http.request')) {
    sources.push(
      new SourceBuilder('requests')
        .marker(ACTIVITY_FIELD, '1', (e) => (e as HttpRequestEvent).action !== 'view')
        .term('action', f.action, (e) => (e as HttpRequestEvent).action)
        .term('login', f.initiator, login)
        .keyword(c.q)
        .range(c.from, c.to)
        .build(),
    );
  }
  const keys: Record<string, (e: SgEvent) => SortValue> = {
    initiator: (e) => strKey(e.type === 'activity' ? e.initiator : e.type === 'http.request' ? e.user?.login : undefined),
    action: (e) => strKey(e.type === 'activity' || e.type === 'http.request' ? e.action : undefined),
    type: (e) => strKey(e.type),
  };
  return plan('activity', c, sort, f, sources, (ev) => ev as ActivityEvent | AuditGapEvent | HttpRequestEvent, sort === 'time' ? undefined : (ev) => keys[sort]!(ev));
}

// ---------- transfers and FTP commands ----------

const TRANSFER_KEYS = [...BASE_KEYS, 'types', 'protocol', 'login', 'email', 'ip', 'server', 'path', 'direction', 'result', 'session_id'];
const TRANSFER_TYPES = ['file.transfer', 'ftp.command'] as const;
const DIRECTIONS = ['upload', 'download', 'remove', 'rename', 'mkdir', 'rmdir', 'list'] as const;
const RESULTS = ['ok', 'aborted', 'failed', 'denied'] as const;
const ASCII_PRINTABLE = /^[\x20-\x7e]+$/;

/** What the path filter looks at: a transfer's path and rename target (FTP commands are found
 * by their arguments through the keyword). */
function pathsOf(e: SgEvent): unknown[] {
  return e.type === 'file.transfer' ? [e.path, e.to_path] : [];
}

export function transfersPlan(raw: TransferQuery): QueryPlan<TransferItem> {
  const q = checkObject(raw, TRANSFER_KEYS);
  const c = common(q);
  const sort = parseSort(q.sort, TRANSFER_SORTS);
  const pathRaw = q.path;
  if (pathRaw !== undefined && pathRaw !== null && (typeof pathRaw !== 'string' || pathRaw.length > 1024)) throw bad('path', 'must be a string of at most 1024 characters');
  const path = typeof pathRaw === 'string' && pathRaw !== '' ? pathRaw : undefined;
  const f = withCommon(c, {
    sort,
    types: parseTypes(q.types, TRANSFER_TYPES),
    protocol: optEnum(q.protocol, 'protocol', ['ftp', 'sftp', 'scp'] as const),
    login: optString(q.login, 'login'),
    email: optString(q.email, 'email'),
    ip: ipFilter(q.ip),
    server: optString(q.server, 'server'),
    path,
    direction: optEnum(q.direction, 'direction', DIRECTIONS),
    result: optEnum(q.result, 'result', RESULTS),
    session_id: optString(q.session_id, 'session_id'),
  });
  const b = new SourceBuilder('transfers')
    .oneOf('type', f.types, TRANSFER_TYPES, (e) => e.type)
    .term('protocol', f.protocol, (e) => (e as FileTransferEvent).protocol)
    .term('login', f.login, login)
    .term('email', f.email, email)
    .term('ip', f.ip, ipOf)
    .term('server', f.server, (e) => (e as FileTransferEvent).server?.name)
    .term('direction', f.direction, (e) => (e as FileTransferEvent).direction)
    .term('result', f.result, (e) => (e as FileTransferEvent).result)
    .term('session', f.session_id, (e) => e.session_id)
    .keyword(c.q)
    .range(c.from, c.to);
  if (path !== undefined) {
    // Path match is case-sensitive; trigrams of its lowercase form narrow only when that is
    // exact (ASCII: lowercasing keeps substrings substrings).
    if (ASCII_PRINTABLE.test(path) && path.length >= 3) for (const g of keywordTrigrams(path.toLowerCase())) b.groups.push([[Q, g]]);
    b.test((e) => pathsOf(e).some((p) => typeof p === 'string' && p.includes(path)));
  }
  const keys: Record<string, (e: SgEvent) => SortValue> = {
    user: (e) => strKey(e.user?.name),
    server: (e) => strKey(e.type === 'file.transfer' ? e.server?.name : undefined),
    path: (e) => strKey(e.type === 'file.transfer' ? e.path : e.type === 'ftp.command' ? e.args : undefined),
    direction: (e) => strKey(e.type === 'file.transfer' ? e.direction : undefined),
    result: (e) => strKey(e.type === 'file.transfer' ? e.result : undefined),
    bytes: (e) => numKey(e.type === 'file.transfer' ? e.bytes : undefined),
  };
  return plan('transfers', c, sort, f, [b.build()], (ev) => ev as FileTransferEvent | FtpCommandEvent, sort === 'time' ? undefined : (ev) => keys[sort]!(ev));
}

// ---------- timeline: one identity across every kind ----------

const TIMELINE_KEYS = ['login', 'email', 'ip', 'from', 'to', 'limit', 'cursor', 'order'];

export function timelinePlan(raw: TimelineQuery): QueryPlan<SgEvent> {
  const q = checkObject(raw, TIMELINE_KEYS);
  const c = common(q);
  const ids: [string, string | undefined, Get][] = [
    ['login', optString(q.login, 'login'), login],
    ['email', optString(q.email, 'email'), email],
    ['ip', ipFilter(q.ip), ipOf],
  ];
  const given = ids.filter(([, v]) => v !== undefined);
  if (given.length !== 1) throw bad(given.length ? 'identity' : 'login', 'give exactly one of login, email, ip');
  const [field, value, get] = given[0]! as [string, string, Get];
  const sources = KINDS.map((kind) => new SourceBuilder(kind).term(field, value, get).range(c.from, c.to).build());
  return plan('timeline', c, 'time', withCommon(c, { [field]: value }), sources, (ev) => ev);
}
