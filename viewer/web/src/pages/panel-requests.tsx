// Client Sessions and Admin Sessions (seeds 000, 001): every panel request of one realm, newest
// first, with the seeds' columns in their order, the date range with Apply, the search box, the
// WEB/API and method filters, sortable columns, auto refresh (pushed live), Hide Me on the admin
// page, a details view and export.
import { useState } from 'preact/hooks';
import type { Me, SgEvent } from '../api.js';
import { AutoRefresh } from '../components/auto-refresh.js';
import { MethodBadge, SourceBadge } from '../components/badges.js';
import { DateRange } from '../components/date-range.js';
import { EventList, ListActions, timeColumn, viewColumn } from '../components/event-list.js';
import { IdentityLink, UserCell } from '../components/identity.js';
import { Choice } from '../components/choice.js';
import { PageHeader } from '../components/layout.js';
import { SearchBox } from '../components/search-box.js';
import type { Column } from '../components/table.js';
import { formatTime } from '../format.js';
import { useSearch } from '../hooks/use-search.js';
import { num, useUrlState } from '../url-state.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

export function PanelRequests({ realm, me }: { realm: 'admin' | 'client'; me: Me }) {
  const admin = realm === 'admin';
  const [st, set] = useUrlState({ q: '', from: '', to: '', source: '', method: '', hide_me: '', sort: 'time', order: 'desc', auto: '', every: '5' });
  const [exporting, setExporting] = useState(false);
  const filters = {
    realm,
    q: st.q || undefined,
    from: num(st.from),
    to: num(st.to),
    source: st.source || undefined,
    method: st.method || undefined,
    hide_me: admin && st.hide_me === '1' ? true : undefined,
  };
  const params = { ...filters, sort: st.sort, order: st.order };
  const s = useSearch<SgEvent>({ kind: 'requests', params, key: (r) => r.id, auto: { on: st.auto === '1', interval: Number(st.every) || 5 }, pushRows: true });

  const who: Column<SgEvent> = admin
    ? { id: 'user', label: 'Admin', sort: 'user', render: (r) => <UserCell user={r.user} /> }
    : { id: 'user', label: 'User', sort: 'user', render: (r) => <UserCell user={r.user} /> };
  const columns = (setDetails: (id: string) => void): Column<SgEvent>[] => [
    timeColumn(setDetails),
    ...(admin ? [] : [{ id: 'client', label: 'Client', sort: 'client', render: (r: SgEvent) => (r.client ? String(r.client) : <span class="muted">—</span>) }]),
    who,
    { id: 'ip', label: 'IP Address', sort: 'ip', className: 'col-ip', render: (r) => <IdentityLink kind="ip" value={r.ip} /> },
    { id: 'url', label: 'URL', sort: 'url', className: 'col-url', render: (r) => <span class="url" title={String(r.url ?? '')}>{String(r.url ?? '')}</span> },
    { id: 'source', label: 'Type', sort: 'source', render: (r) => <SourceBadge source={r.source} /> },
    { id: 'method', label: 'Method', sort: 'method', render: (r) => <MethodBadge method={r.method} /> },
    { id: 'status', label: 'Status', sort: 'status', className: 'col-num', render: (r) => <span class={`status status-${String(r.status ?? '').slice(0, 1)}xx`}>{String(r.status ?? '—')}</span> },
    viewColumn(setDetails, (r) => `Details of the request at ${formatTime(r.ts)}`),
  ];

  return (
    <section>
      <PageHeader
        title={admin ? 'Admin Sessions' : 'Client Sessions'}
        subtitle={admin ? 'Every request by administrators, through the web panel and the API.' : 'Every request by clients and their users, through the client area and the API.'}
        actions={
          <AutoRefresh
            on={st.auto === '1'}
            interval={Number(st.every) || 5}
            live={s.live}
            onChange={(on, every) => set({ auto: on ? '1' : '', every: String(every) })}
          />
        }
      />
      <div class="toolbar">
        <DateRange value={{ from: num(st.from), to: num(st.to) }} onApply={(r) => set({ from: r.from?.toString(), to: r.to?.toString() })} />
      </div>
      <div class="toolbar">
        <SearchBox
          value={st.q}
          onSearch={(q) => set({ q })}
          label="Search"
          placeholder={admin ? 'Search admin name, email, IP or URL' : 'Search client, user, email, IP or URL'}
        />
        <select aria-label="Type" value={st.source} onChange={(e) => set({ source: e.currentTarget.value })}>
          <option value="">WEB and API</option>
          <option value="WEB">WEB</option>
          <option value="API">API</option>
        </select>
        <Choice label="Method" value={st.method} any="Any method" options={METHODS} onChange={(method) => set({ method })} />
        {admin && (
          <label class="check" title="Leave out your own panel identities and your current IP">
            <input type="checkbox" name="hide_me" checked={st.hide_me === '1'} onChange={(e) => set({ hide_me: e.currentTarget.checked ? '1' : '' })} /> Hide Me
          </label>
        )}
        <ListActions onRefresh={s.reload} onExport={() => setExporting(true)} />
      </div>
      <EventList
        s={s}
        me={me}
        empty={st.q || st.from || st.to || st.source || st.method ? 'No request matches these filters.' : 'No requests recorded yet.'}
        caption={admin ? 'Admin sessions' : 'Client sessions'}
        columns={columns}
        sort={{ sort: st.sort, order: st.order as 'asc' | 'desc' }}
        onSort={(x) => set({ sort: x.sort, order: x.order })}
        {...(exporting ? { exportOf: { kind: 'requests', filters: params, onClose: () => setExporting(false) } } : {})}
      />
    </section>
  );
}
