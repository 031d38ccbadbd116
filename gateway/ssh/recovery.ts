// After a crash: casts torn mid-line are repaired, and the terminal sessions the store still has
// open (no session.end) are closed as `interrupted`, with their repaired recording when there is
// one. Runs at start, before any SSH listener accepts a connection (no session is live yet).
import type { Emitter } from '../../recorder/emitter.js';
import type { Protocol, SessionStartEvent } from '../../recorder/events.js';
import { repairCasts } from '../../recorder/cast/index.js';
import type { SearchStore } from '../../recorder/store/types.js';
import type { Logger } from '../core/runtime.js';

const TERMINAL: readonly Protocol[] = ['ssh', 'sftp', 'local', 'web-ssh'];

export async function recoverSessions(deps: { store: SearchStore; emitter: Emitter; recordingsDir: string; logger: Logger }): Promise<number> {
  const repaired = new Map((await repairCasts(deps.recordingsDir, { logger: deps.logger })).map((r) => [r.sessionId, r]));
  let closed = 0;
  let cursor: string | undefined;
  do {
    const page = deps.store.query('sessions', { state: 'open', limit: 500, ...(cursor ? { cursor } : {}) });
    for (const row of page.items as { session_id: string; start: SessionStartEvent }[]) {
      if (!TERMINAL.includes(row.start.protocol)) continue;
      const rec = repaired.get(row.session_id);
      deps.emitter.emit({
        type: 'session.end',
        session_id: row.session_id,
        protocol: row.start.protocol,
        ...(row.start.ip ? { ip: row.start.ip } : {}),
        ...(row.start.user ? { user: row.start.user } : {}),
        reason: 'interrupted',
        ...(rec ? { recording: { id: rec.sessionId, path: rec.path, size: rec.size, sha256: rec.sha256 } } : {}),
      });
      closed++;
    }
    cursor = page.next_cursor;
  } while (cursor);
  if (closed || repaired.size) deps.logger.warn({ closed, repaired: repaired.size }, 'sessions left open by a crash closed as interrupted');
  return closed;
}
