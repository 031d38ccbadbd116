// The SSH login name chooses the target: `USER:ACCOUNT@SERVER`, `USER@SERVER` (the one account
// the user has there) or `USER` (the user's only target). DESIGN "Front ends: SSH".
import type { UserTarget } from '../core/users.js';

export interface LoginName {
  user: string;
  account?: string;
  server?: string;
}

const PART = /^[A-Za-z0-9_.-]{1,64}$/;

/** Undefined when the name is malformed (refused like a wrong password). */
export function parseLoginName(raw: string): LoginName | undefined {
  if (typeof raw !== 'string' || raw.length > 200) return undefined;
  const at = raw.lastIndexOf('@');
  const who = at < 0 ? raw : raw.slice(0, at);
  const server = at < 0 ? undefined : raw.slice(at + 1);
  const colon = who.indexOf(':');
  const user = colon < 0 ? who : who.slice(0, colon);
  const account = colon < 0 ? undefined : who.slice(colon + 1);
  if (!PART.test(user) || (server !== undefined && !PART.test(server)) || (account !== undefined && !PART.test(account))) return undefined;
  if (account !== undefined && server === undefined) return undefined;
  return { user, ...(account !== undefined ? { account } : {}), ...(server !== undefined ? { server } : {}) };
}

/** The one target among the user's that the login name picks, if exactly one fits. */
export function pickTarget(name: LoginName, allowed: readonly UserTarget[]): UserTarget | undefined {
  const eq = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  const fits = allowed.filter((t) => (name.server === undefined || eq(t.server, name.server)) && (name.account === undefined || eq(t.account, name.account)));
  return fits.length === 1 ? fits[0] : undefined;
}
