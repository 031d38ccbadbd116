// Helpers the store commands (users, search) share: config and store opening, flag checks,
// and terminal-safe text (recorded values are attacker-controlled: controls are shown escaped).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../config/loader.js';
import type { Config } from '../../config/schema.js';
import { SgError } from '../../gateway/core/errors.js';
import { systemClock, type Logger } from '../../gateway/core/runtime.js';
import type { ActivityEvent } from '../../recorder/events.js';
import { mintId } from '../../recorder/event-id.js';
import { Store } from '../../recorder/store/store.js';
import { loadIntegrityKey } from '../../recorder/store/integrity.js';
import type { CliIo } from '../io.js';

export const DEFAULT_CONFIG = 'config/demo.yaml';

/** Thrown for command-line mistakes: the command prints usage and exits 2. */
export class UsageError extends Error {}

// ---------- helpers shared by the store commands (users, search) ----------

// C0/C1 controls (ESC, CSI 0x9b, BEL...), DEL, and invisible/bidi characters that can make text
// read differently than it is (Trojan Source style).
const UNSAFE_TEXT = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\\]/g;

/** Text safe to print on a terminal: controls as `\xHH` / `\uHHHH`, backslash doubled. */
export function terminalSafe(s: unknown): string {
  const str = typeof s === 'string' ? s : s === undefined || s === null ? '' : String(s);
  return str.replace(UNSAFE_TEXT, (c) => {
    if (c === '\\') return '\\\\';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

const UNSAFE_JSON = /[\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** One JSON line; JSON.stringify leaves DEL, C1 controls and bidi marks raw: escape them too. */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n';
}

/** Every value of a repeatable flag (`--x a --x b`, `--x=c`); parseArgs keeps only the last. */
export function repeatedFlag(argv: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === `--${name}` && i + 1 < argv.length) out.push(argv[++i]!);
    else if (a.startsWith(`--${name}=`)) out.push(a.slice(name.length + 3));
  }
  return out;
}

export function checkFlags(flags: Record<string, string | true>, known: readonly string[], booleans: readonly string[] = []): void {
  for (const [k, v] of Object.entries(flags)) {
    if (!known.includes(k) && !booleans.includes(k)) throw new UsageError(`unknown option --${terminalSafe(k)}`);
    if (booleans.includes(k) && v !== true) throw new UsageError(`--${k} takes no value`);
    if (!booleans.includes(k) && v === true) throw new UsageError(`--${k} needs a value`);
  }
}

export interface CliStore {
  config: Config;
  store: Store;
  logger: Logger;
  /** Stores an activity event of the CLI user (initiator `cli`), committed before it returns. */
  record(a: Omit<ActivityEvent, 'id' | 'ts' | 'type' | 'initiator'>): Promise<void>;
  close(): Promise<void>;
}

/**
 * Loads the config (--config FILE, else config/demo.yaml when it exists) and opens the store
 * read-write: LMDB lets the CLI work next to a running gateway.
 */
export async function openCliStore(configFlag: string | true | undefined, io: CliIo): Promise<CliStore> {
  let file: string;
  if (typeof configFlag === 'string') file = configFlag;
  else if (existsSync(DEFAULT_CONFIG)) file = DEFAULT_CONFIG;
  else throw new SgError('SG_ERR_CONFIG_NOT_FOUND', `no --config FILE given and ${DEFAULT_CONFIG} does not exist`);
  const { config } = await loadConfig(file);
  const logger = pino({ level: io.env.SESSIONGATE_LOG_LEVEL ?? 'warn', base: { app: 'sessiongate-cli' } }, io.stderr);
  // The CLI's own records (searches, exports, user changes) are batches of the same chain as the
  // gateway's: they must be signed with the same key, or `verify` rightly reports them.
  const integrityKey = config.audit.key_file ? loadIntegrityKey(config.audit.key_file, { dataDir: config.data_dir, create: true }) : undefined;
  const store = Store.open({ dir: join(config.data_dir, 'store'), logger, ...(integrityKey ? { integrityKey } : {}) });
  const osUser = io.env.SUDO_USER ?? io.env.USER ?? io.env.LOGNAME;
  return {
    config,
    store,
    logger,
    async record(a) {
      const ts = systemClock.now();
      const ev: ActivityEvent = { id: mintId(ts, ts), ts, type: 'activity', initiator: 'cli', ...a, details: { ...a.details, ...(osUser ? { os_user: osUser } : {}) } };
      const r = await store.writeBatch([ev]);
      // The change is done; its record must be too, or the operator has to know.
      if (r.stored !== 1) throw new SgError('SG_ERR_STORE_WRITE', `the activity record was not stored: ${r.rejected[0]?.error ?? 'duplicate id'}`);
    },
    async close() {
      await store.close();
    },
  };
}
