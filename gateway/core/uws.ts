// Loads the native uWebSockets.js binary directly. The npm build's own entry point silently
// falls back to a slow pure-JS implementation when the binary fails to load; we refuse that
// (DESIGN: detect it and say so loudly), so operators never run the slow path unknowingly.
import { createRequire } from 'node:module';
import { SgError } from './errors.js';

const require = createRequire(import.meta.url);
type Uws = typeof import('@trufflesuite/uws-js-unofficial');

let cached: Uws | undefined;

export function loadUws(): Uws {
  if (cached) return cached;
  const pkgDir = require.resolve('@trufflesuite/uws-js-unofficial/package.json').replace(/package\.json$/, '');
  const bin = `${pkgDir}binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  try {
    cached = require(bin) as Uws;
  } catch (e) {
    throw new SgError(
      'SG_ERR_UWS_FALLBACK',
      `uWebSockets.js native binary failed to load (${bin}); refusing its slow pure-JS fallback. ` +
        `Use a supported Node.js (20.x, glibc >= 2.36) or set "engine: node" on the listener.`,
      { cause: e },
    );
  }
  return cached;
}

export type { Uws };
