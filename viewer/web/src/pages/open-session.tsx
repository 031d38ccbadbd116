// A link to a session known only by its session_id (a transfer on the Transfers page): finds the
// session's row and opens its own page (playback, or an FTP session's command and transfer log),
// replacing this address in the history so Back skips it.
import { useEffect, useState } from 'preact/hooks';
import { api, describeError } from '../api.js';
import { sessionPageFor, sessionPagePath, type SessionRow } from '../components/session-info.js';
import { ErrorBox, Loading } from '../components/states.js';
import { navigate, useLocation } from '../router.js';

export function OpenSession() {
  const sessionId = useLocation().params.get('session') ?? '';
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    setError('');
    if (!sessionId) return void setError('No session was given.');
    // The API's own rule for a session id: a malformed one is answered here, without a request.
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(sessionId)) return void setError(`"${sessionId.slice(0, 140)}" is not a session id.`);
    api
      .get<{ items: SessionRow[] }>('/api/sessions', { session_id: sessionId, limit: 1 })
      .then((page) => {
        if (!live) return;
        const row = page.items[0];
        if (!row) return setError('This session was not recorded, or its record has been removed by retention.');
        navigate(sessionPagePath(sessionPageFor(row.start), row.start.id, ''), true);
      })
      .catch((e) => live && setError(describeError(e)));
    return () => {
      live = false;
    };
  }, [sessionId]);
  return error ? <ErrorBox message={error} /> : <Loading />;
}
