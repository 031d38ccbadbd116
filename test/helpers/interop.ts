// Tests that need a system tool (curl, nginx, sshd, chromium...) call requireTool first.
// Without SESSIONGATE_REQUIRE_INTEROP=1 a missing tool skips the test with a visible message;
// with it (CI), a missing tool fails the test, so CI never passes by skipping.
import { execFileSync } from 'node:child_process';
import type { Test } from 'tap';

const cache = new Map<string, string | undefined>();

export function toolPath(name: string): string | undefined {
  if (!cache.has(name)) {
    let p: string | undefined;
    for (const dir of ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin', '/usr/local/sbin']) {
      try {
        execFileSync('test', ['-x', `${dir}/${name}`]);
        p = `${dir}/${name}`;
        break;
      } catch {
        /* next */
      }
    }
    cache.set(name, p);
  }
  return cache.get(name);
}

export const interopRequired = process.env.SESSIONGATE_REQUIRE_INTEROP === '1';

/** Returns the tool's path, or undefined after skipping (or failing, under SESSIONGATE_REQUIRE_INTEROP=1). */
export function requireTool(t: Test, name: string): string | undefined {
  const p = toolPath(name);
  if (p) return p;
  const msg = `${name} is not installed (apt-get install the package that provides it)`;
  if (interopRequired) t.fail(`SESSIONGATE_REQUIRE_INTEROP=1 and ${msg}`);
  else {
    t.comment(`SKIP: ${msg}`);
    t.pass(`skipped: ${msg}`);
  }
  return undefined;
}
