// Polling for what is recorded or registered asynchronously (flushes, session ends, live transfer
// progress): one copy of the loop for the tests that wait on it.

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` (every 50 ms) until it returns a truthy value, which it resolves with; throws naming `what` after `ms`. */
export async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
