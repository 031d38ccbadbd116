// Transfers: who moved which file where, when, how much and with what result — every
// `file.transfer` recorded by the FTP front end and by SFTP/scp on SSH, newest first. Search by
// path or user; filter by date range, protocol, direction and result; sort; export the view.
import { useState } from 'preact/hooks';
import type { Me, SgEvent } from '../api.js';
import { AutoRefresh } from '../components/auto-refresh.js';
import { DateRange } from '../components/date-range.js';
import { EventList, ListActions, timeColumn, viewColumn } from '../components/event-list.js';
import { IdentityLink, UserCell } from '../components/identity.js';
import { Choice } from '../components/choice.js';
import { PageHeader } from '../components/layout.js';
import { SearchBox } from '../components/search-box.js';
import { openSessionPath } from '../components/session-info.js';
import type { Column } from '../components/table.js';
import { DIRECTIONS, DirectionBadge, durationColumn, RESULTS, ResultBadge, sizeColumn, TRANSFER_PROTOCOLS, TransferPath } from '../components/transfer-cells.js';
import { formatTime } from '../format.js';
import { useSearch } from '../hooks/use-search.js';
import { linkClick } from '../router.js';
import { num, useUrlState } from '../url-state.js';

function Server({ r }: { r: SgEvent }) {
  const s = r.server as { name?: string; host?: string } | undefined;
  if (!s?.name && !s?.host) return <span class="muted">—</span>;
  return (
    <div class="user-cell">
      <span>{s.name ?? s.host}</span>
      {s.name && s.host && <div class="sub muted">{s.host}</div>}
    </div>
  );
}

export function Transfers({ me }: { me: Me }) {
  const [st, set] = useUrlState({ q: '', from: '', to: '', protocol: '', direction: '', result: '', sort: 'time', order: 'desc', auto: '', every: '5' });
  const [exporting, setExporting] = useState(false);
  const filters = {
    types: 'file.transfer',
    q: st.q || undefined,
    from: num(st.from),
    to: num(st.to),
    protocol: st.protocol || undefined,
    direction: st.direction || undefined,
    result: st.result || undefined,
  };
  const params = { ...filters, sort: st.sort, order: st.order };
  const s = useSearch<SgEvent>({ kind: 'transfers', params, key: (r) => r.id, auto: { on: st.auto === '1', interval: Number(st.every) || 5 }, pushRows: true });
  const filtered = Boolean(st.q || st.from || st.to || st.protocol || st.direction || st.result);
  const columns = (details: (id: string) => void): Column<SgEvent>[] => [
    timeColumn(details),
    {
      id: 'user',
      label: 'User',
      sort: 'user',
      render: (r) => (
        <span class="stack">
          <UserCell user={r.user} />
          {r.ip && (
            <span class="sub small">
              <IdentityLink kind="ip" value={r.ip} />
            </span>
          )}
        </span>
      ),
    },
    { id: 'protocol', label: 'Protocol', render: (r) => <span class="badge badge-other">{String(r.protocol ?? '—').toUpperCase()}</span> },
    { id: 'server', label: 'Server', sort: 'server', render: (r) => <Server r={r} /> },
    { id: 'direction', label: 'Direction', sort: 'direction', render: (r) => <DirectionBadge direction={r.direction} /> },
    { id: 'path', label: 'Path', sort: 'path', className: 'col-desc', render: (r) => <TransferPath r={r} /> },
    sizeColumn,
    durationColumn,
    { id: 'result', label: 'Result', sort: 'result', render: (r) => <ResultBadge result={r.result} detail={r.detail} /> },
    {
      id: 'session',
      label: 'Session',
      // The session the transfer belongs to: its command and transfer log (FTP) or playback (SSH).
      render: (r) => {
        if (!r.session_id) return <span class="muted">—</span>;
        const href = openSessionPath(r.session_id);
        return (
          <a class="linklike" href={href} onClick={linkClick(href)} title="Open the session this transfer belongs to">
            Session
          </a>
        );
      },
    },
    viewColumn(details, (r) => `View details of the transfer at ${formatTime(r.ts)}`),
  ];
  return (
    <section>
      <PageHeader
        title="Transfers"
        subtitle="Every file moved through the gateway by FTP, SFTP or scp: who, which file, where, when, how much and the result."
        actions={<AutoRefresh on={st.auto === '1'} interval={Number(st.every) || 5} live={s.live} onChange={(on, every) => set({ auto: on ? '1' : '', every: String(every) })} />}
      />
      <div class="toolbar">
        <DateRange value={{ from: num(st.from), to: num(st.to) }} onApply={(r) => set({ from: r.from?.toString(), to: r.to?.toString() })} />
      </div>
      <div class="toolbar">
        <SearchBox value={st.q} onSearch={(q) => set({ q })} label="Search" placeholder="Search path, user, email, IP or server" />
        <Choice label="Protocol" value={st.protocol} any="Any protocol" options={TRANSFER_PROTOCOLS} text={(p) => p.toUpperCase()} onChange={(protocol) => set({ protocol })} />
        <Choice label="Direction" value={st.direction} any="Any direction" options={DIRECTIONS} onChange={(direction) => set({ direction })} />
        <Choice label="Result" value={st.result} any="Any result" options={RESULTS} onChange={(result) => set({ result })} />
        <ListActions onRefresh={s.reload} onExport={() => setExporting(true)} />
      </div>
      <EventList
        s={s}
        me={me}
        empty={filtered ? 'No transfer matches these filters.' : 'No file transfers recorded yet.'}
        caption="File transfers"
        columns={columns}
        sort={{ sort: st.sort, order: st.order as 'asc' | 'desc' }}
        onSort={(x) => set({ sort: x.sort, order: x.order })}
        {...(exporting ? { exportOf: { kind: 'transfers', filters: params, onClose: () => setExporting(false) } } : {})}
      />
    </section>
  );
}
