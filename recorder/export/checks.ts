// Construction-time validation shared by the scheduled export and the forwarders: the config
// object through its zod schema, the injected store, clock and logger by shape.
import { z } from 'zod';
import { SgError } from '../../gateway/core/errors.js';
import type { Clock, Logger } from '../../gateway/core/runtime.js';
import type { ExportStore } from './source.js';

const depsSchema = z.object({
  store: z.custom<ExportStore>((v) => typeof (v as ExportStore | null)?.iterateAll === 'function' && typeof (v as ExportStore).openDb === 'function', 'a Store'),
  clock: z.custom<Clock>((v) => typeof (v as Clock | null)?.now === 'function', 'a Clock'),
  logger: z.custom<Logger>((v) => typeof (v as Logger | null)?.error === 'function', 'a pino logger'),
});

function invalid(what: string, error: z.ZodError): SgError {
  return new SgError('SG_ERR_CONFIG_INVALID', `invalid ${what}: ${error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
}

/** The parsed config, or SG_ERR_CONFIG_INVALID naming each problem. */
export function checkConfig<S extends z.ZodType>(schema: S, cfg: unknown, what: string): z.output<S> {
  const r = schema.safeParse(cfg);
  if (!r.success) throw invalid(what, r.error);
  return r.data;
}

export function checkDeps(deps: unknown, what: string): void {
  const r = depsSchema.safeParse(deps);
  if (!r.success) throw invalid(`${what} deps`, r.error);
}
