// A session's command and transfer log: where Server Session Logs' Action At leads for FTP
// sessions (they have no terminal to replay), at /session-logs/<start event id>/log with the
// list's filters in the query string so Close returns to them. The session's information on top
// (seed 003's fields), its FTP commands and file transfers below, in time order.
import type { Me } from '../api.js';
import { SessionEvents } from '../components/session-events.js';
import { SessionInfo, SessionPageHeader, useCloseToList, useSessionRow } from '../components/session-info.js';
import { ErrorBox, Loading } from '../components/states.js';
import { useLocation } from '../router.js';

export function SessionLog({ me, startId }: { me: Me; startId: string }) {
  const loc = useLocation();
  const { row, error } = useSessionRow(startId);
  const list = loc.params.toString();
  const close = useCloseToList(list ? `?${list}` : '');

  return (
    <section class="replay">
      <SessionPageHeader title="Session commands and transfers" start={row?.start} onClose={close} />
      {error ? (
        <ErrorBox message={error} />
      ) : !row ? (
        <Loading />
      ) : (
        <>
          <SessionInfo row={row} />
          <div class="panel">
            <SessionEvents sessionId={row.session_id} open={!row.end} me={me} />
          </div>
        </>
      )}
    </section>
  );
}
