// What every bench suite's command line shares: usage errors, integer options, and printing
// usage (stdout for --help, stderr and exit code 2 for a bad option).

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface BenchIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** An integer option within [min, max], or `def` when absent. */
export function intFlag(v: string | true | undefined, name: string, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (v === true || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

/** The suite's options, or the exit code after printing its usage (0 for --help, 2 for a bad option). */
export function parseOrUsage<O>(suite: string, usage: string, io: BenchIo, parse: () => O): { options: O } | { exit: number } {
  try {
    return { options: parse() };
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    (e.message ? io.stderr : io.stdout).write((e.message ? `bench ${suite}: ${e.message}\n\n` : '') + usage);
    return { exit: e.message ? 2 : 0 };
  }
}

/** Runs `work` with `onSignal` handling SIGINT and SIGTERM (a bench interrupted cleans up after itself). */
export async function withInterrupt<T>(onSignal: (sig: NodeJS.Signals) => void, work: () => Promise<T>): Promise<T> {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
