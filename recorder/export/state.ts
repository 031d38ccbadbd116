// Where scheduled exports and forwarders keep their position (the last event id they have
// delivered and had acknowledged) so a restart neither repeats nor skips: one small database
// in the store's LMDB environment, written only after the destination acknowledged.
import { SgError } from '../../gateway/core/errors.js';
import { ID_RE } from '../../gateway/core/ids.js';
import type { KvDatabase } from '../store/store.js';
import type { ExportStore } from './source.js';

export const STATE_DB = 'export_state';

export interface SavedPosition {
  /** Last event id delivered and acknowledged. */
  after?: string;
  /** When the position was saved (ms). */
  saved_at: number;
  /** Consumer-specific extras (the scheduled export's last run time). */
  [k: string]: unknown;
}

export class ExportState {
  private readonly db: KvDatabase;

  constructor(store: ExportStore) {
    this.db = store.openDb(STATE_DB);
  }

  get(key: string): SavedPosition | undefined {
    const v = this.db.get(key) as SavedPosition | undefined;
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null || (v.after !== undefined && (typeof v.after !== 'string' || !ID_RE.test(v.after)))) {
      throw new SgError('SG_ERR_STORE_OPEN', `export state "${key}" is corrupt: refusing to guess a position`);
    }
    return v;
  }

  /** Resolves once the position is committed. */
  async set(key: string, v: SavedPosition): Promise<void> {
    await this.db.put(key, v);
  }

  /**
   * Late events of `key` (committed with an id at or below its position, not yet delivered),
   * kept by id so a restart still delivers them: the store is read from the position on, and
   * would never find them again.
   */
  lateFor(key: string): LateLedger {
    const prefix = `${key}:late:`;
    const db = this.db;
    return {
      ids(max) {
        const out: string[] = [];
        for (const k of db.getKeys({ start: prefix, end: `${prefix}~` })) {
          const id = String(k).slice(prefix.length);
          if (ID_RE.test(id)) out.push(id);
          if (out.length >= max) break;
        }
        return out;
      },
      add(id) {
        return db.put(prefix + id, 1).then(() => undefined);
      },
      async drop(ids) {
        await Promise.all(ids.map((id) => db.remove(prefix + id)));
      },
    };
  }
}

export interface LateLedger {
  /** Saved late ids, in id order, at most `max`. */
  ids(max: number): string[];
  add(id: string): Promise<void>;
  drop(ids: readonly string[]): Promise<void>;
}
