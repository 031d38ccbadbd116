// First run: the viewer users the config lists (`users:`) are created when missing, and when no
// admin exists at all one is created with a password generated now. A generated password is
// printed once on the terminal (never logged, never stored in clear): there is no default
// password anywhere.
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { SgError } from '../gateway/core/errors.js';
import { generatePassword, type UserStore } from '../gateway/core/users.js';

export const FIRST_ADMIN = 'admin';

function readPasswordFile(file: string, user: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new SgError('SG_ERR_CONFIG_INVALID', `users: cannot read the password_file of ${user}: ${(e as Error).message}`, { cause: e, details: { key: 'users.password_file' } });
  }
}

/** Creates what is missing; returns the lines to print (with any generated password). */
export async function bootstrapUsers(config: Config, users: UserStore): Promise<string[]> {
  const lines: string[] = [];
  for (const u of config.users) {
    if (users.get(u.name)) continue;
    const generated = u.password_file === undefined;
    const password = generated ? generatePassword() : readPasswordFile(u.password_file!, u.name);
    await users.add({ name: u.name, password, panel_identities: u.panel_identities, ...(u.email ? { email: u.email } : {}), ...(u.role ? { role: u.role } : {}) });
    lines.push(generated ? `  viewer user ${u.name} created from the config; first sign-in: ${u.name} / ${password}   (shown once: change it under Users)` : `  viewer user ${u.name} created from the config`);
  }
  if (config.viewer.enabled !== false && !config.demo && !users.list().some((u) => u.role === 'admin')) {
    const password = generatePassword();
    await users.add({ name: FIRST_ADMIN, role: 'admin', password });
    lines.push(
      `  first run: viewer admin created: ${FIRST_ADMIN} / ${password}`,
      '  (shown only now; sign in and change it under Users, or run `sessiongate users passwd admin`)',
    );
  }
  return lines;
}
