// What a session's own pages (playback, command and transfer log) show on top: the session as
// Server Session Logs lists it (seed 003's fields), its end, and whatever the page adds. The
// session is read from its start event by id, then its row (start + end) from the session search.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, describeError, type SgEvent } from '../api.js';
import { formatDuration, formatTime } from '../format.js';
import { navigate } from '../router.js';
import { IdentityLink } from './identity.js';
import { PageHeader } from './layout.js';

export interface RecordingRef {
  id: string;
  size?: number;
  sha256?: string;
}

export type SessionStart = SgEvent & {
  session_id: string;
  protocol?: string;
  account?: string;
  server?: { name?: string; os?: string; host?: string; port?: number };
  client_name?: string;
  connected_from?: string;
  recording?: RecordingRef;
};
export type SessionEnd = SgEvent & { reason?: string; duration_ms?: number; terminated_by?: string; terminate_reason?: string; recording?: RecordingRef; recordings?: RecordingRef[] };

export interface SessionRow {
  seq?: number;
  session_id: string;
  start: SessionStart;
  end?: SessionEnd;
}

/** A value, or a muted dash when there is none. */
export function text(v: unknown) {
  return v === undefined || v === null || v === '' ? <span class="muted">—</span> : String(v);
}

export function connectedFrom(v: unknown): string | undefined {
  return v === 'web' ? 'Web' : v === 'proxy' ? 'Proxy' : typeof v === 'string' ? v : undefined;
}

export function Info({ label, children, wide }: { label: string; children: ComponentChildren; wide?: boolean }) {
  return (
    <div class={wide ? 'info-wide' : undefined}>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function endReason(end: SessionEnd | undefined) {
  if (!end) return <span class="badge badge-web">open</span>;
  const r = String(end.reason ?? 'ended').replace(/_/g, ' ');
  return end.terminated_by ? `${r} by ${end.terminated_by}${end.terminate_reason ? `: ${end.terminate_reason}` : ''}` : r;
}

/** "alice on root@web1": who the page is about. */
export function sessionTitle(s: SessionStart | undefined): string {
  if (!s) return '';
  return `${s.user?.name ?? s.user?.login ?? 'someone'} on ${s.account ? `${s.account}@` : ''}${s.server?.name ?? s.server?.host ?? '?'}`;
}

/** The session whose start event is `startId`: its row once read, or the error. */
export function useSessionRow(startId: string): { row?: SessionRow; error: string } {
  const [row, setRow] = useState<SessionRow | undefined>();
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    setRow(undefined);
    setError('');
    (async () => {
      const { event } = await api.get<{ event: SessionStart }>(`/api/events/${encodeURIComponent(startId)}`);
      if (event.type !== 'session.start') throw new ApiError(404, 'SG_ERR_NOT_FOUND', 'This is not a server session.');
      const page = await api.get<{ items: SessionRow[] }>('/api/sessions', { from: event.ts, to: event.ts, limit: 500 });
      const found = page.items.find((r) => r.session_id === event.session_id) ?? { session_id: event.session_id, start: event };
      if (live) setRow(found);
    })().catch((e) => live && setError(describeError(e)));
    return () => {
      live = false;
    };
  }, [startId]);
  return { row, error };
}

/** The information panel: seed 003's fields, the end, then the page's own (`children`). */
export function SessionInfo({ row, children }: { row: SessionRow; children?: ComponentChildren }) {
  const s = row.start;
  return (
    <div class="panel replay-info">
      <dl class="info-grid" aria-label="Session information">
        <Info label="Name">
          <IdentityLink kind="login" value={s.user?.login} label={s.user?.name ?? s.user?.login} />
        </Info>
        <Info label="Email">
          <IdentityLink kind="email" value={s.user?.email} />
        </Info>
        <Info label="Role">{text(s.user?.role)}</Info>
        <Info label="Account">{text(s.account)}</Info>
        <Info label="Server Name">{text(s.server?.name)}</Info>
        <Info label="Server OS">{text(s.server?.os)}</Info>
        <Info label="Host">{text(s.server?.host)}</Info>
        <Info label="Port">{text(s.server?.port)}</Info>
        <Info label="Protocol">{text(s.protocol?.toUpperCase())}</Info>
        <Info label="Client IP">
          <IdentityLink kind="ip" value={s.ip} />
        </Info>
        <Info label="Client Name">{text(s.client_name)}</Info>
        <Info label="Connected From">{text(connectedFrom(s.connected_from))}</Info>
        <Info label="Action At">{formatTime(s.ts)}</Info>
        <Info label="Ended At">{row.end ? formatTime(row.end.ts) : text('')}</Info>
        <Info label="Duration">{row.end ? formatDuration(row.end.duration_ms) : text('')}</Info>
        <Info label="End Reason">{endReason(row.end)}</Info>
        {children}
      </dl>
    </div>
  );
}

/** A session's own page: its playback (terminal sessions) or its command and transfer log (FTP). */
export type SessionPage = 'replay' | 'log';

const SESSION_PAGE_RE = /^\/session-logs\/([^/]+)\/(replay|log)$/;

/** The session page a path is, with the session's start event id; undefined for other paths. */
export function sessionPageOf(path: string): { page: SessionPage; startId: string } | undefined {
  const m = SESSION_PAGE_RE.exec(path);
  if (!m) return undefined;
  try {
    return { page: m[2] as SessionPage, startId: decodeURIComponent(m[1]!) };
  } catch {
    return undefined;
  }
}

/** A session page's path, keeping the list's query (filters) for Close. */
export function sessionPagePath(page: SessionPage, startId: string, listSearch: string): string {
  return `/session-logs/${encodeURIComponent(startId)}/${page}${listSearch}`;
}

/** The page a session opens on: FTP sessions have no terminal, so their command and transfer log. */
export function sessionPageFor(start: { protocol?: unknown }): SessionPage {
  return start.protocol === 'ftp' ? 'log' : 'replay';
}

/** Where a link to a session known only by its session_id goes (pages/open-session.tsx finds it). */
export const OPEN_SESSION_PATH = '/session-logs/open';
export function openSessionPath(sessionId: string): string {
  return `${OPEN_SESSION_PATH}?${new URLSearchParams({ session: sessionId }).toString()}`;
}

/** A session page's header: its title, who and where, and Close. */
export function SessionPageHeader({ title, start, onClose }: { title: string; start: SessionStart | undefined; onClose: () => void }) {
  return (
    <PageHeader
      title={title}
      subtitle={sessionTitle(start) || undefined}
      actions={
        <button type="button" class="btn" onClick={onClose}>
          Close
        </button>
      }
    />
  );
}

/** Close: back to Server Session Logs with the list's filters; Escape closes unless a dialog is open. */
export function useCloseToList(listQuery: string): () => void {
  const close = () => navigate(`/session-logs${listQuery}`);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && !document.querySelector('[role="dialog"]')) close();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  });
  return close;
}
