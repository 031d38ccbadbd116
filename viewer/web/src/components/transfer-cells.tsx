// The cells of file transfers and FTP commands, shared by the Transfers page and a session's
// command and transfer log. Recorded names are rendered as text, never as markup.
import type { SgEvent } from '../api.js';
import { formatBytes, formatDuration } from '../format.js';
import type { Column } from './table.js';

export const DIRECTIONS = ['upload', 'download', 'rename', 'remove', 'mkdir', 'rmdir', 'list'] as const;
export const RESULTS = ['ok', 'aborted', 'failed', 'denied'] as const;
export const TRANSFER_PROTOCOLS = ['ftp', 'sftp', 'scp'] as const;

const DIRECTION_LABEL: Record<string, string> = {
  upload: '↑ upload',
  download: '↓ download',
  rename: 'rename',
  remove: 'remove',
  mkdir: 'mkdir',
  rmdir: 'rmdir',
  list: 'list',
};

export function DirectionBadge({ direction }: { direction: unknown }) {
  const d = typeof direction === 'string' ? direction : '';
  if (!d) return <span class="muted">—</span>;
  return <span class={`badge badge-dir badge-dir-${d.replace(/\W/g, '')}`}>{DIRECTION_LABEL[d] ?? d}</span>;
}

export function ResultBadge({ result, detail }: { result: unknown; detail?: unknown }) {
  const r = typeof result === 'string' ? result : '';
  if (!r) return <span class="muted">—</span>;
  return (
    <span class="stack">
      <span class={`badge badge-result-${r === 'ok' ? 'ok' : 'bad'}`}>{r}</span>
      {typeof detail === 'string' && detail && <span class="muted small desc">{detail}</span>}
    </span>
  );
}

/** A transfer's path, and its rename target. */
export function TransferPath({ r }: { r: SgEvent }) {
  const path = typeof r.path === 'string' ? r.path : '';
  const to = typeof r.to_path === 'string' ? r.to_path : '';
  return (
    <span class="url">
      {path || '—'}
      {to && (
        <>
          {' '}
          <span aria-label="renamed to">→</span> {to}
        </>
      )}
    </span>
  );
}

/** An FTP command with its arguments, and the server's reply code. */
export function FtpCommand({ r }: { r: SgEvent }) {
  const line = `${String(r.command ?? '')} ${typeof r.args === 'string' ? r.args : ''}`.trim();
  return <code class="url">{line}</code>;
}

function replyClass(code: unknown): string {
  return typeof code === 'number' && code >= 400 ? 'badge-result-bad' : 'badge-other';
}

/** Result of either kind: a transfer's result, a command's reply code (and why the gateway refused it). */
export function EventResult({ r }: { r: SgEvent }) {
  if (r.type === 'file.transfer') return <ResultBadge result={r.result} detail={r.detail} />;
  return (
    <span class="stack">
      {typeof r.reply_code === 'number' ? <span class={`badge ${replyClass(r.reply_code)}`}>{r.reply_code}</span> : <span class="muted">—</span>}
      {typeof r.detail === 'string' && r.detail && <span class="muted small desc">{r.detail}</span>}
    </span>
  );
}

export const sizeColumn: Column<SgEvent> = {
  id: 'bytes',
  label: 'Size',
  sort: 'bytes',
  className: 'col-num',
  render: (r) => (r.type === 'file.transfer' && r.direction !== 'list' ? <span title={`${String(r.bytes)} bytes`}>{formatBytes(r.bytes)}</span> : <span class="muted">—</span>),
};

export const durationColumn: Column<SgEvent> = {
  id: 'duration',
  label: 'Duration',
  className: 'col-num',
  render: (r) => (typeof r.duration_ms === 'number' ? (r.duration_ms < 1000 ? `${r.duration_ms} ms` : formatDuration(r.duration_ms)) : <span class="muted">—</span>),
};
