// Activity Log (seed 002): the panels' own create/update/delete/login requests together with
// Sessiongate's own activity (sign-ins, searches, exports, terminations, locks, retention), with
// date, IP, initiator, action type, description and View details.
import { useState } from 'preact/hooks';
import type { Me, SgEvent } from '../api.js';
import { AutoRefresh } from '../components/auto-refresh.js';
import { ActionBadge, TypeBadge } from '../components/badges.js';
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

const TYPE_CHOICES = ['', 'http.request', 'activity,audit.gap'];

const ACTIONS = ['create', 'update', 'delete', 'login', 'logout', 'login_failed', 'connection_refused', 'search', 'view', 'export', 'replay', 'watch', 'terminate', 'lock', 'unlock', 'retention_prune', 'config_reload'];

function description(r: SgEvent): string {
  if (r.type === 'http.request') {
    const failed = typeof r.status === 'number' && r.status >= 400 ? ` → ${r.status}` : '';
    return `${String(r.method ?? '')} ${String(r.url ?? '')}${failed}`.trim();
  }
  if (r.type === 'audit.gap') return String(r.description ?? `${String(r.lost ?? '?')} events could not be stored (${String(r.reason ?? 'unknown')})`);
  return String(r.description ?? '');
}

function Initiator({ r }: { r: SgEvent }) {
  if (r.type === 'http.request') return <UserCell user={r.user} />;
  const who = typeof r.initiator === 'string' ? r.initiator : undefined;
  if (!who) return <span class="muted">—</span>;
  if (who === 'system' || who === 'cli') return <span class="system">{who}</span>;
  return (
    <div class="user-cell">
      <IdentityLink kind="login" value={r.user?.login ?? who} label={who} />
      {r.user?.email && (
        <div class="sub">
          <IdentityLink kind="email" value={r.user.email} />
        </div>
      )}
    </div>
  );
}

export function ActivityLog({ me }: { me: Me }) {
  const [st, set] = useUrlState({ q: '', from: '', to: '', action: '', initiator: '', types: '', sort: 'time', order: 'desc', auto: '', every: '5' });
  const [exporting, setExporting] = useState(false);
  const filters = { q: st.q || undefined, from: num(st.from), to: num(st.to), action: st.action || undefined, initiator: st.initiator || undefined, types: st.types || undefined };
  const params = { ...filters, sort: st.sort, order: st.order };
  const s = useSearch<SgEvent>({ kind: 'activity', params, key: (r) => r.id, auto: { on: st.auto === '1', interval: Number(st.every) || 5 }, pushRows: true });
  const columns = (setDetails: (id: string) => void): Column<SgEvent>[] => [
    timeColumn(setDetails),
    { id: 'ip', label: 'IP Address', className: 'col-ip', render: (r) => <IdentityLink kind="ip" value={r.ip} /> },
    { id: 'initiator', label: 'Initiator', sort: 'initiator', render: (r) => <Initiator r={r} /> },
    {
      id: 'action',
      label: 'Action Type',
      sort: 'action',
      render: (r) => (
        <span class="stack">
          <ActionBadge action={r.type === 'audit.gap' ? 'audit_gap' : r.action} />
          {r.type !== 'activity' && <TypeBadge type={r.type} />}
        </span>
      ),
    },
    { id: 'description', label: 'Description', className: 'col-desc', render: (r) => <span class="desc">{description(r)}</span> },
    viewColumn(setDetails, (r) => `View details of the entry at ${formatTime(r.ts)}`),
  ];
  return (
    <section>
      <PageHeader
        title="Activity Log"
        subtitle="What the panels' users changed, and everything done in Sessiongate itself."
        actions={<AutoRefresh on={st.auto === '1'} interval={Number(st.every) || 5} live={s.live} onChange={(on, every) => set({ auto: on ? '1' : '', every: String(every) })} />}
      />
      <div class="toolbar">
        <DateRange value={{ from: num(st.from), to: num(st.to) }} onApply={(r) => set({ from: r.from?.toString(), to: r.to?.toString() })} />
      </div>
      <div class="toolbar">
        <SearchBox value={st.q} onSearch={(q) => set({ q })} label="Search" placeholder="Search initiator, description, IP, client or target" />
        <Choice label="Action type" value={st.action} any="Any action" options={ACTIONS} text={(a) => a.replace(/_/g, ' ')} onChange={(action) => set({ action })} />
        <input
          type="text"
          aria-label="Initiator"
          placeholder="Initiator (user, login, system)"
          value={st.initiator}
          maxLength={256}
          onChange={(e) => set({ initiator: e.currentTarget.value.trim() })}
        />
        <select aria-label="Source of entries" value={st.types} onChange={(e) => set({ types: e.currentTarget.value })}>
          <option value="">Panels and Sessiongate</option>
          <option value="http.request">Panel changes only</option>
          <option value="activity,audit.gap">Sessiongate only</option>
          {st.types && !TYPE_CHOICES.includes(st.types) && <option value={st.types}>{st.types}</option>}
        </select>
        <ListActions onRefresh={s.reload} onExport={() => setExporting(true)} />
      </div>
      <EventList
        s={s}
        me={me}
        empty="No activity matches these filters."
        caption="Activity log"
        columns={columns}
        sort={{ sort: st.sort, order: st.order as 'asc' | 'desc' }}
        onSort={(x) => set({ sort: x.sort, order: x.order })}
        {...(exporting ? { exportOf: { kind: 'activity', filters: params, onClose: () => setExporting(false) } } : {})}
      />
    </section>
  );
}
