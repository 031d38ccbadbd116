// Who made a panel request, per route: from a JWT or Basic auth before forwarding, from the
// upstream's identity headers or an accepted login form after it answered. Every identity is
// completed from the directory; fields the source gives itself win.
import type { RouteConfig } from '../../../config/schema.js';
import type { IdentitySource } from '../../../recorder/events.js';
import type { Clock } from '../../core/runtime.js';
import { basicLogin } from './basic.js';
import type { Directory } from './directory.js';
import { formLogin as parseFormLogin } from './form.js';
import { JwtVerifier, type JwtResult } from './jwt.js';
import { cleanField, cleanLogin, headerText } from './login-text.js';
import { PathList, requestPath } from './path-match.js';
import { bearerToken, getCookie, setCookieValue, splitSetCookie } from './session-key.js';

export interface Identity {
  login?: string;
  name?: string;
  email?: string;
  client?: string;
  type?: string;
  verified: boolean;
  source: IdentitySource;
}

export interface RouteIdentityDeps {
  clock: Clock;
  directory: Directory;
  /** Shared verifier; built from route.identity.jwt when absent. */
  jwt?: JwtVerifier;
}

type Fields = 'name' | 'email' | 'client' | 'type';
const FIELDS: readonly Fields[] = ['name', 'email', 'client', 'type'];

/** A claim by exact name, else by dotted path (`realm_access.roles`). */
function claim(claims: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  if (!name.includes('.')) return undefined;
  let v: unknown = claims;
  for (const part of name.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** Claim values as text: strings, numbers, or a list of them (roles) joined. */
function claimText(v: unknown): string | undefined {
  if (Array.isArray(v)) {
    const parts = v.slice(0, 16).map((x) => cleanField(x)).filter((x): x is string => x !== undefined);
    return parts.length > 0 ? cleanField(parts.join(', ')) : undefined;
  }
  return cleanField(v);
}

export class RouteIdentity {
  private readonly id: RouteConfig['identity'];
  private readonly realm: string;
  private readonly sessionCookie: string | undefined;
  private readonly directory: Directory;
  private readonly jwt: JwtVerifier | undefined;
  private readonly ownsJwt: boolean;
  private readonly jwtCookie: string | undefined;
  private readonly formPath: PathList | undefined;
  private readonly headerNames: { login: string } & Partial<Record<Fields, string>>;

  constructor(route: RouteConfig, deps: RouteIdentityDeps) {
    this.id = route.identity ?? ({ basic: false } as RouteConfig['identity']);
    this.realm = route.realm;
    this.sessionCookie = route.session?.cookie || undefined;
    this.directory = deps.directory;
    const jcfg = this.id.jwt;
    this.ownsJwt = !!jcfg && !deps.jwt;
    this.jwt = jcfg ? (deps.jwt ?? new JwtVerifier(jcfg, deps.clock)) : undefined;
    this.jwtCookie = jcfg?.from?.startsWith('cookie:') ? jcfg.from.slice('cookie:'.length) : undefined;
    this.formPath = this.id.form ? new PathList([this.id.form.path]) : undefined;
    const h = this.id.header;
    this.headerNames = { login: (h?.login ?? 'x-sessiongate-user').toLowerCase() };
    if (h) for (const f of FIELDS) if (h[f]) this.headerNames[f] = h[f]!.toLowerCase();
  }

  /** Before forwarding: identity from a JWT (per identity.jwt.from) or Basic auth. Basic stays
   *  unverified until settle()/fromResponse() sees the upstream's answer. */
  fromRequest(h: { authorization?: string; cookie?: string }): Identity | undefined {
    if (this.jwt) {
      const r = this.jwtResult(h);
      if (r?.ok) {
        const c = r.claims;
        const map = this.id.jwt!.claims;
        const login = cleanLogin(claimText(claim(c, map.login)));
        const out: Identity = { verified: r.verified, source: 'jwt' };
        if (login) out.login = login;
        for (const f of FIELDS) {
          const v = claimText(claim(c, map[f]));
          if (v) out[f] = v;
        }
        if (out.login || out.name || out.email) return this.complete(out);
      }
    }
    if (this.id.basic) {
      const login = basicLogin(h.authorization);
      if (login) return this.complete({ login, verified: false, source: 'basic' });
    }
    return undefined;
  }

  /** The verifier's answer for the request's token (undefined: no JWT configured or no token sent). */
  jwtResult(h: { authorization?: string; cookie?: string }): JwtResult | undefined {
    if (!this.jwt) return undefined;
    const token = this.jwtCookie !== undefined ? getCookie(h.cookie, this.jwtCookie) : bearerToken(h.authorization);
    return token ? this.jwt.verify(token) : undefined;
  }

  /** True when this request is the login form POST whose body must be read (up to form.max_body). */
  wantsFormBody(method: string, path: string): boolean {
    if (!this.formPath || method.length !== 4 || method.toUpperCase() !== 'POST') return false;
    return this.formPath.has(requestPath(path));
  }

  /** Bytes of the login body worth reading (0 when the route has no login form). */
  get formMaxBody(): number {
    return this.id.form?.max_body ?? 0;
  }

  /** The login in a form body read because wantsFormBody() said so. */
  formLogin(contentType: string | undefined, body: Buffer): string | undefined {
    return this.id.form ? parseFormLogin(contentType, body, this.id.form.field) : undefined;
  }

  /**
   * After the upstream answered: the identity from the upstream's identity header(s), else the
   * form login (verified when the answer accepted it: 2xx/3xx and, with route.session.cookie, a
   * Set-Cookie of that cookie; a refused attempt is returned unverified so the record shows who
   * tried), else `requestIdentity` settled by the status (see settle()).
   * For `set-cookie`, getHeader may return several values joined by "\n" (or commas).
   */
  fromResponse(status: number, getHeader: (lowercaseName: string) => string | undefined, formLogin: string | undefined, requestIdentity?: Identity): Identity | undefined {
    if (this.id.header) {
      const login = cleanLogin(headerValue(getHeader, this.headerNames.login));
      if (login) {
        const out: Identity = { login, verified: true, source: 'header' };
        for (const f of FIELDS) {
          const name = this.headerNames[f];
          const v = name ? cleanField(headerValue(getHeader, name)) : undefined;
          if (v) out[f] = v;
        }
        return this.complete(out);
      }
    }
    if (formLogin !== undefined && this.id.form) {
      const login = cleanLogin(formLogin);
      if (login) return this.complete({ login, verified: this.loginAccepted(status, getHeader), source: 'form' });
    }
    return this.settle(requestIdentity, status);
  }

  /** The final form of a request identity once the status is known: Basic credentials the
   *  upstream refused (401/403) stay unverified, accepted ones become verified. */
  settle(identity: Identity | undefined, status: number): Identity | undefined {
    if (!identity || identity.source !== 'basic') return identity;
    const verified = status >= 100 && status !== 401 && status !== 403;
    return identity.verified === verified ? identity : { ...identity, verified };
  }

  /** Response headers the proxy strips before the client sees the answer (lowercase). */
  identityHeaderNames(): string[] {
    if (!this.id.header) return [];
    const names = new Set<string>([this.headerNames.login]);
    for (const f of FIELDS) if (this.headerNames[f]) names.add(this.headerNames[f]!);
    return [...names];
  }

  close(): void {
    if (this.ownsJwt) this.jwt?.close();
  }

  private loginAccepted(status: number, getHeader: (lowercaseName: string) => string | undefined): boolean {
    if (status < 200 || status >= 400) return false;
    if (!this.sessionCookie) return true;
    const sc = getHeader('set-cookie');
    if (!sc) return false;
    const v = setCookieValue(splitSetCookie(sc), this.sessionCookie);
    return typeof v === 'string' && v.length > 0;
  }

  private complete(i: Identity): Identity {
    if (!i.login) return i;
    const rec = this.directory.lookup(i.login, this.realm);
    if (rec) for (const f of FIELDS) if (i[f] === undefined && rec[f] !== undefined) i[f] = rec[f];
    return i;
  }
}

function headerValue(getHeader: (lowercaseName: string) => string | undefined, name: string): string | undefined {
  const v = getHeader(name);
  return typeof v === 'string' ? headerText(v) : undefined;
}
