// Server Session Logs (seed 003): one row per recorded server session (SSH, SFTP, FTP, web and
// local terminals), newest first, with the seed's columns in its order, its search fields, the
// filter button (server OS, protocol, time range, connected from) and refresh. The Action At time
// opens the session's playback (pages/replay.tsx), or for FTP sessions, which have no terminal,
// their command and transfer log (pages/session-log.tsx).
import { useState } from 'preact/hooks';
import type { Me, SgEvent } from '../api.js';
import { AutoRefresh } from '../components/auto-refresh.js';
import { DateRange } from '../components/date-range.js';
import { EventList, ListActions } from '../components/event-list.js';
import { IdentityLink } from '../components/identity.js';
import { Choice } from '../components/choice.js';
import { PageHeader } from '../components/layout.js';
import { SearchBox } from '../components/search-box.js';
import type { Column } from '../components/table.js';
import { formatDuration, formatTime } from '../format.js';
import { useSearch } from '../hooks/use-search.js';
import { linkClick } from '../router.js';
import { num, useUrlState } from '../url-state.js';
import { sessionPageFor, sessionPagePath } from '../components/session-info.js';

type Start = SgEvent & { account?: string; server?: { name?: string; os?: string; host?: string; port?: number }; protocol?: string; client_name?: string; connected_from?: string };
type End = SgEvent & { reason?: string; duration_ms?: number; terminated_by?: string };

interface SessionRow {
  seq?: number;
  session_id: string;
  start: Start;
  end?: End;
}

const PROTOCOLS = ['ssh', 'sftp', 'ftp', 'web-ssh', 'local', 'http'];

function text(v: unknown) {
  return v === undefined || v === null || v === '' ? <span class="muted">—</span> : String(v);
}

export function SessionLogs({ me }: { me: Me }) {
  const [st, set] = useUrlState({ q: '', from: '', to: '', os: '', protocol: '', connected_from: '', sort: 'time', order: 'desc', auto: '', every: '5', filters: '' });
  const [exporting, setExporting] = useState(false);
  const filters = { q: st.q || undefined, from: num(st.from), to: num(st.to), os: st.os || undefined, protocol: st.protocol || undefined, connected_from: st.connected_from || undefined };
  const params = { ...filters, sort: st.sort, order: st.order };
  const s = useSearch<SessionRow>({ kind: 'sessions', params, key: (r) => r.session_id, auto: { on: st.auto === '1', interval: Number(st.every) || 5 }, pushRows: true });
  const showFilters = st.filters === '1' || Boolean(st.os || st.protocol || st.connected_from || st.from || st.to);
  const columns = (): Column<SessionRow>[] => [
    { id: 'seq', label: 'No', sort: 'seq', className: 'col-num', render: (r) => text(r.seq) },
    {
      id: 'time',
      label: 'Action At',
      sort: 'time',
      className: 'col-time',
      // Seed 003: the Action At link opens the session's playback (a page of its own, with this
      // list's filters in its URL so Close comes back to them); an FTP session's opens its
      // command and transfer log.
      render: (r) => {
        const page = sessionPageFor(r.start);
        const href = sessionPagePath(page, r.start.id, location.search);
        return (
          <a class="linklike" href={href} onClick={linkClick(href)} title={page === 'log' ? 'Open the command and transfer log' : 'Play the session record'}>
            {formatTime(r.start.ts)}
          </a>
        );
      },
    },
    { id: 'name', label: 'Name', sort: 'user', render: (r) => <IdentityLink kind="login" value={r.start.user?.login} label={r.start.user?.name ?? r.start.user?.login} /> },
    { id: 'email', label: 'Email', sort: 'email', render: (r) => <IdentityLink kind="email" value={r.start.user?.email} /> },
    { id: 'role', label: 'Role', render: (r) => text(r.start.user?.role) },
    { id: 'account', label: 'Account', sort: 'account', render: (r) => text(r.start.account) },
    { id: 'server', label: 'Server Name', sort: 'server', render: (r) => text(r.start.server?.name) },
    { id: 'os', label: 'Server OS', sort: 'os', render: (r) => text(r.start.server?.os) },
    { id: 'host', label: 'Host', sort: 'host', render: (r) => text(r.start.server?.host) },
    { id: 'port', label: 'Port', className: 'col-num', render: (r) => text(r.start.server?.port) },
    { id: 'protocol', label: 'Protocol', sort: 'protocol', render: (r) => <span class="badge badge-other">{String(r.start.protocol ?? '—').toUpperCase()}</span> },
    { id: 'ip', label: 'Client IP', sort: 'ip', className: 'col-ip', render: (r) => <IdentityLink kind="ip" value={r.start.ip} /> },
    { id: 'client', label: 'Client Name', sort: 'client_name', render: (r) => <span class="desc">{text(r.start.client_name)}</span> },
    { id: 'from', label: 'Connected From', render: (r) => text(r.start.connected_from === 'web' ? 'Web' : r.start.connected_from === 'proxy' ? 'Proxy' : r.start.connected_from) },
    {
      id: 'state',
      label: 'Ended',
      sort: 'duration',
      render: (r) =>
        r.end ? (
          <span title={r.end.terminated_by ? `by ${r.end.terminated_by}` : ''}>
            {String(r.end.reason ?? 'ended').replace(/_/g, ' ')} <span class="muted small">{formatDuration(r.end.duration_ms)}</span>
          </span>
        ) : (
          <span class="badge badge-web">open</span>
        ),
    },
  ];
  return (
    <section>
      <PageHeader
        title="Server Session Logs"
        subtitle="Every server session through the gateway: SSH, SFTP, FTP and web terminals."
        actions={<AutoRefresh on={st.auto === '1'} interval={Number(st.every) || 5} live={s.live} onChange={(on, every) => set({ auto: on ? '1' : '', every: String(every) })} />}
      />
      <div class="toolbar">
        <SearchBox value={st.q} onSearch={(q) => set({ q })} label="Search" placeholder="Search name, email, account, server, host, client IP or client name" />
        <button type="button" class={`btn${showFilters ? ' btn-primary' : ''}`} aria-expanded={showFilters} onClick={() => set({ filters: showFilters ? '' : '1' })}>
          Filter
        </button>
        <ListActions onRefresh={s.reload} onExport={() => setExporting(true)} />
      </div>
      {showFilters && (
        <div class="panel filters" role="group" aria-label="Filters">
          <div class="toolbar">
            <label class="inline">
              Server OS <input aria-label="Server OS" value={st.os} maxLength={64} onChange={(e) => set({ os: e.currentTarget.value.trim() })} />
            </label>
            <Choice label="Protocol" value={st.protocol} any="Any protocol" options={PROTOCOLS} text={(p) => p.toUpperCase()} onChange={(protocol) => set({ protocol })} />
            <select aria-label="Connected from" value={st.connected_from} onChange={(e) => set({ connected_from: e.currentTarget.value })}>
              <option value="">Proxy and Web</option>
              <option value="proxy">Proxy</option>
              <option value="web">Web</option>
            </select>
          </div>
          <DateRange value={{ from: num(st.from), to: num(st.to) }} onApply={(r) => set({ from: r.from?.toString(), to: r.to?.toString() })} />
        </div>
      )}
      <EventList
        s={s}
        me={me}
        rowKey={(r) => r.session_id}
        empty={st.q || showFilters ? 'No session matches these filters.' : 'No server sessions recorded yet.'}
        caption="Server session logs"
        columns={columns}
        sort={{ sort: st.sort, order: st.order as 'asc' | 'desc' }}
        onSort={(x) => set({ sort: x.sort, order: x.order })}
        {...(exporting ? { exportOf: { kind: 'sessions', filters: params, onClose: () => setExporting(false) } } : {})}
      />
    </section>
  );
}
