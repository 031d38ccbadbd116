// Session playback (seed 003 "Playing Session Records"): opened from the Action At time in Server
// Session Logs, at /session-logs/<start event id>/replay (the list's filters ride along in the
// query string, so Close returns to the same list). The session's information on top, the player
// below; a recording over `viewer.replay_max_bytes` (700 MB) gets the seed's message and a
// Download button instead. Sessions with several terminal channels (<id>, <id>.2, ...) let the
// user pick the recording; sessions without one say so.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, describeError, type Me } from '../api.js';
import type { Encryption } from '../components/export-dialog.js';
import { RecordingPlayer } from '../components/player.js';
import { RecordingDownload } from '../components/recording-download.js';
import { Info, SessionInfo, SessionPageHeader, sessionPagePath, text, useCloseToList, useSessionRow, type RecordingRef, type SessionRow as Row } from '../components/session-info.js';
import { SessionEvents } from '../components/session-events.js';
import { ErrorBox, Loading } from '../components/states.js';
import { formatBytes } from '../format.js';
import { navigate, useLocation } from '../router.js';

interface Meta {
  id: string;
  size: number;
  duration: number;
  complete: boolean;
  sha256?: string;
  replayable: boolean;
  replay_max_bytes: number;
}

/** "700MB" for the seed's 700 MB default (700 MiB), whole units otherwise as the size is. */
function limitText(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)}MB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}KB`;
  return formatBytes(n);
}

function recordingsOf(row: Row): RecordingRef[] {
  // FTP has no terminal: its record is the command and transfer log.
  if (row.start.protocol === 'ftp') return [];
  const list = row.end?.recordings ?? (row.end?.recording ? [row.end.recording] : row.start.recording ? [row.start.recording] : []);
  if (list.length) return list;
  // Still open (the end names the recordings): the first terminal channel's is the session id.
  return row.end ? [] : [{ id: row.session_id }];
}

export function SessionReplay({ me, startId }: { me: Me; startId: string }) {
  const loc = useLocation();
  const { row, error } = useSessionRow(startId);
  const [meta, setMeta] = useState<Meta | undefined | null>();
  const [metaError, setMetaError] = useState('');
  const list = new URLSearchParams(loc.params);
  const rec = list.get('rec') ?? '';
  list.delete('rec');
  const listQuery = list.toString() ? `?${list.toString()}` : '';
  const close = useCloseToList(listQuery);
  const encryption = (me.settings?.export_encryption ?? 'off') as Encryption;

  const recordings = row ? recordingsOf(row) : [];
  const current = recordings.find((r) => r.id === rec) ?? recordings[0];

  useEffect(() => {
    if (!current) return;
    let live = true;
    setMeta(undefined);
    setMetaError('');
    api.get<Meta>(`/api/recordings/${encodeURIComponent(current.id)}`).then(
      (m) => live && setMeta(m),
      (e) => {
        if (!live) return;
        if (e instanceof ApiError && e.status === 404) setMeta(null);
        else setMetaError(describeError(e));
      },
    );
    return () => {
      live = false;
    };
  }, [current?.id]);

  const s = row?.start;
  return (
    <section class="replay">
      <SessionPageHeader title="Session playback" start={s} onClose={close} />
      {error ? (
        <ErrorBox message={error} />
      ) : !row || !s ? (
        <Loading />
      ) : (
        <>
          <SessionInfo row={row}>
              <Info label="Session Record">{current ? <code>{current.id}</code> : text('')}</Info>
              <Info label="Size">{meta ? formatBytes(meta.size) : current?.size !== undefined ? formatBytes(current.size) : text('')}</Info>
              <Info label="SHA-256" wide>
                {meta?.sha256 ?? current?.sha256 ? <span class="hash">{meta?.sha256 ?? current?.sha256}</span> : text(meta && !meta.complete ? 'not yet: the recording is still being written' : '')}
              </Info>
          </SessionInfo>
          {recordings.length > 1 && (
            <div class="tabs replay-recordings" role="tablist" aria-label="Recordings of this session">
              {recordings.map((r, i) => (
                <button
                  key={r.id}
                  type="button"
                  role="tab"
                  aria-selected={r.id === current?.id}
                  class={`tab${r.id === current?.id ? ' tab-active' : ''}`}
                  onClick={() => navigate(sessionPagePath('replay', startId, `?${new URLSearchParams({ ...Object.fromEntries(list), rec: r.id }).toString()}`), true)}
                >
                  Recording {i + 1}
                </button>
              ))}
            </div>
          )}
          <div class="panel">
            {!current ? (
              <>
                <p class="no-recording">This session has no recording: it opened no terminal (its file transfers and commands are listed below, not recorded as video).</p>
                <SessionEvents sessionId={row.session_id} open={!row.end} me={me} />
              </>
            ) : metaError ? (
              <ErrorBox message={metaError} />
            ) : meta === undefined ? (
              <Loading label="Opening the recording…" />
            ) : meta === null ? (
              <p class="no-recording">The recording of this session is not available: it was never written, or retention has removed it.</p>
            ) : !meta.replayable ? (
              <div class="too-large" role="status">
                <p>
                  <strong>The file exceeds {limitText(meta.replay_max_bytes)}, and the session cannot be replayed directly.</strong>
                </p>
                <p>To view this session, download the file and play it locally.</p>
                <p class="muted small">
                  {formatBytes(meta.size)}. Play it with <code>asciinema play FILE.cast</code> or <code>sessiongate replay {current.id}</code> on the gateway.
                </p>
                <div class="toolbar">
                  <RecordingDownload id={current.id} encryption={encryption} primary />
                </div>
              </div>
            ) : (
              <>
                <RecordingPlayer key={current.id} id={current.id} />
                <div class="toolbar replay-actions">
                  <span class="muted small">{meta.complete ? '' : 'The recording is still being written: it plays up to now.'}</span>
                  <span class="spacer" />
                  <RecordingDownload id={current.id} encryption={encryption} />
                </div>
              </>
            )}
          </div>
        </>
      )}
    </section>
  );
}
