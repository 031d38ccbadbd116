// Path lists from the config (`/login`, `/api/*`) matched against request targets. Panels decode
// and normalise paths before routing, so `/a/../login` or `/log%69n` must classify like `/login`:
// otherwise a client could hide a login or logout from the audit trail by spelling it oddly.
import { percentDecode } from './login-text.js';

/** The path part of a request target: query and fragment cut, absolute-form reduced, normalised. */
export function requestPath(target: string): string {
  // One pass: find the end of the path and whether anything needs decoding or resolving.
  const n = target.length;
  let end = n;
  let odd = false;
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const c = target.charCodeAt(i);
    if (c === 0x3f /* ? */ || c === 0x23 /* # */) {
      end = i;
      break;
    }
    if (c === 0x25 /* % */ || c === 0x5c /* \ */ || (prev === 0x2f && (c === 0x2f || c === 0x2e))) odd = true;
    prev = c;
  }
  let path = end === n ? target : target.slice(0, end);
  if (path.charCodeAt(0) !== 0x2f /* / */) {
    // absolute-form (`http://host/x`) or junk: keep what follows the authority.
    const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/.exec(path);
    path = m ? path.slice(m[0].length) || '/' : '/' + path;
    return normalizePath(path);
  }
  return odd ? normalizePath(path) : path;
}

function normalizePath(path: string): string {
  // Servers differ on %2F; decoding it errs towards matching, which is the audit-safe side.
  const decoded = percentDecode(path, false).replace(/\\/g, '/');
  const out: string[] = [];
  const parts = decoded.split('/');
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i]!;
    if (p === '' || p === '.') continue;
    if (p === '..') out.pop();
    else out.push(p);
  }
  const trailing = decoded.length > 1 && decoded.endsWith('/') && out.length > 0;
  return '/' + out.join('/') + (trailing ? '/' : '');
}

/** `/login` matches `/login` and `/login/`; `/api/*` matches every path starting with `/api/`. */
export class PathList {
  private readonly exact = new Set<string>();
  private readonly prefixes: string[] = [];

  constructor(entries: readonly string[]) {
    for (const e of entries) {
      if (e.endsWith('*')) this.prefixes.push(e.slice(0, -1));
      else this.exact.add(stripSlash(e));
    }
  }

  get empty(): boolean {
    return this.exact.size === 0 && this.prefixes.length === 0;
  }

  /** `path` is already reduced by requestPath(). */
  has(path: string): boolean {
    if (this.exact.size > 0 && this.exact.has(stripSlash(path))) return true;
    for (const p of this.prefixes) if (path.startsWith(p)) return true;
    return false;
  }
}

function stripSlash(p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}
