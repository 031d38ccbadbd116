// Watching a live SSH session (Live Sessions, SSH tab, Watch): the session's terminal as it is now
// and as it changes, read-only, from the `/api/recordings/:id/live` WebSocket. Whoever may
// terminate can end the session from here, with a reason, as with Remove Selected.
import { useState } from 'preact/hooks';
import { api, describeError } from '../api.js';
import { formatTime } from '../format.js';
import { Dialog } from './dialog.js';
import { LivePlayer } from './player.js';

export interface Watched {
  /** The live session (registry) id, for terminate. */
  id: string;
  /** The recording being written: the SSH session id (its first terminal channel). */
  recording: string;
  login?: string;
  account?: string;
  server?: string;
  ip?: string;
  started_at?: number;
}

/** `live`: whether the session is still in the live list (the Live page keeps it current). */
export function LiveWatch({ session, live, canTerminate, onClose, onTerminated }: { session: Watched; live: boolean; canTerminate: boolean; onClose: () => void; onTerminated?: () => void }) {
  const [streamEnded, setEnded] = useState(false);
  const ended = streamEnded || !live;
  const [confirming, setConfirming] = useState(false);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const terminate = async (e: Event) => {
    e.preventDefault();
    if (!reason.trim()) return;
    setBusy(true);
    setError('');
    try {
      await api.post(`/api/live/${encodeURIComponent(session.id)}/terminate`, { reason: reason.trim() });
      setConfirming(false);
      onTerminated?.();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title="Watch live session" onClose={onClose} wide>
      <div class="watch-head">
        <span class={`watch-status${ended ? '' : ' is-live'}`} role="status">
          {ended ? 'The session has ended.' : '● Live'}
        </span>
        <span>
          <strong>{session.login ?? '—'}</strong> on {session.account ? `${session.account}@` : ''}
          {session.server ?? '—'}
        </span>
        {session.ip && <span class="muted">from {session.ip}</span>}
        {session.started_at && <span class="muted">since {formatTime(session.started_at)}</span>}
      </div>
      <LivePlayer id={session.recording} onEnded={() => setEnded(true)} />
      <p class="muted small">Read-only: what the user sees, as it happens. Watching is recorded in the Activity Log.</p>
      {confirming && (
        <form class="form watch-terminate" onSubmit={terminate}>
          <label>
            Reason (recorded with the termination)
            <textarea name="reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
          </label>
          {error && (
            <p class="field-error" role="alert">
              {error}
            </p>
          )}
        </form>
      )}
      <div class="dialog-actions">
        {canTerminate && !ended && !confirming && (
          <button type="button" class="btn btn-danger" onClick={() => setConfirming(true)}>
            Terminate…
          </button>
        )}
        {confirming && (
          <button type="button" class="btn btn-danger" disabled={busy || !reason.trim()} onClick={(e) => void terminate(e)}>
            End the session
          </button>
        )}
        <button type="button" class="btn" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
