// After a crash: casts torn mid-line are repaired, and the terminal sessions the store still has
// open (no session.end) are closed as `interrupted`, with their repaired recording when there is
// one. Runs at start, before any SSH listener accepts a connection (no session is live yet).
import type { Emitter } from '../../recorder/emitter.js';
import type { Protocol, SessionStartEvent } from '../../recorder/events.js';
import { repairCasts, type RepairedCast } from '../../recorder/cast/index.js';
import type { SearchStore } from '../../recorder/store/types.js';
import type { Logger } from '../core/runtime.js';

const TERMINAL: readonly Protocol[] = ['ssh', 'sftp', 'local', 'web-ssh'];

export async function recoverSessions(deps: { store: SearchStore; emitter: Emitter; recordingsDir: string; logger: Logger }): Promise<number> {
  // A session's recordings are <id> and <id>.2, <id>.3... (one per pty channel), in that order.
  const repaired = new Map<string, RepairedCast[]>();
  for (const r of await repairCasts(deps.recordingsDir, { logger: deps.logger })) {
    const id = r.sessionId.split('.')[0]!;
    repaired.set(id, [...(repaired.get(id) ?? []), r].sort((a, b) => a.sessionId.length - b.sessionId.length || (a.sessionId < b.sessionId ? -1 : 1)));
  }
  const ref = (r: RepairedCast) => ({ id: r.sessionId, path: r.path, size: r.size, sha256: r.sha256 });
  let closed = 0;
  let cursor: string | undefined;
  do {
    const page = deps.store.query('sessions', { state: 'open', limit: 500, ...(cursor ? { cursor } : {}) });
    for (const row of page.items as { session_id: string; start: SessionStartEvent }[]) {
      if (!TERMINAL.includes(row.start.protocol)) continue;
      const recs = repaired.get(row.session_id) ?? [];
      deps.emitter.emit({
        type: 'session.end',
        session_id: row.session_id,
        protocol: row.start.protocol,
        ...(row.start.ip ? { ip: row.start.ip } : {}),
        ...(row.start.user ? { user: row.start.user } : {}),
        reason: 'interrupted',
        ...(recs[0] ? { recording: ref(recs[0]) } : {}),
        ...(recs.length > 1 ? { recordings: recs.map(ref) } : {}),
      });
      closed++;
    }
    cursor = page.next_cursor;
  } while (cursor);
  if (closed || repaired.size) deps.logger.warn({ closed, repaired: repaired.size }, 'sessions left open by a crash closed as interrupted');
  return closed;
}
