// Shared by the integrity, retention and verify tests: a real Store in a temp dir written with
// events of every kind, and raw LMDB access to the same files to play the attacker.
import { join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { Store } from '../../recorder/store/store.js';
import { openLayout, type StoreDbs } from '../../recorder/store/layout.js';
import { ENV_FILE, rootOptions } from '../../recorder/store/lmdb-options.js';
import { mintId } from '../../recorder/event-id.js';
import type { SgEvent } from '../../recorder/events.js';
import type { Clock } from '../../gateway/core/runtime.js';
import { oneOfEach, silentLogger, stamp } from '../fixtures/recorder-helpers.js';

export const KEY = Buffer.alloc(32, 7);
export const OTHER_KEY = Buffer.alloc(32, 9);

export function openStore(dir: string, opts: { key?: Buffer; clock?: Clock; segmentRows?: number; writer?: 'inline' | 'worker' } = {}): Store {
  return Store.open({
    dir,
    logger: silentLogger(),
    ...(opts.key ? { integrityKey: opts.key } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    segmentRows: opts.segmentRows ?? 16,
    segmentMaxAgeMs: 3_600_000,
    ...(opts.writer ? { writer: opts.writer } : {}),
  });
}

/** `n` rounds of one event of every type, event times `ts0 + i*step`. */
export function eventsAt(n: number, ts0: number, step = 1000): SgEvent[] {
  const out: SgEvent[] = [];
  for (let i = 0; i < n; i++) {
    const t = ts0 + i * step;
    out.push(...stamp(oneOfEach(i + Math.floor(ts0 / 1000)), mintId, () => t));
  }
  return out;
}

/** Writes `events` in batches of `per`. */
export async function writeAll(store: Store, events: SgEvent[], per = 8): Promise<void> {
  for (let i = 0; i < events.length; i += per) {
    const r = await store.writeBatch(events.slice(i, i + per));
    if (r.stored !== Math.min(per, events.length - i)) throw new Error(`stored ${r.stored}: ${JSON.stringify(r.rejected)}`);
  }
}

/** The store's own database handles (what the lead wires into Retention). */
export function layoutOf(store: Store): StoreDbs {
  return (store as unknown as { layout: StoreDbs }).layout;
}

/** Raw access to a closed store's files: the attacker's view. */
export async function withRaw<T>(dir: string, fn: (dbs: StoreDbs, root: RootDatabase<unknown, string>) => T): Promise<Awaited<T>> {
  const root = open<unknown, string>(rootOptions(join(dir, ENV_FILE), false, undefined) as Parameters<typeof open>[0] & { path: string });
  try {
    return await fn(openLayout(root), root);
  } finally {
    await root.close();
  }
}
