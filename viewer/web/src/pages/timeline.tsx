// One identity across every protocol (GET /api/timeline): panel requests, SSH/FTP sessions,
// transfers and activity of one login, email or IP, in time order.
import { useState } from 'preact/hooks';
import type { Me, SgEvent } from '../api.js';
import { ActionBadge, MethodBadge, SourceBadge, TypeBadge } from '../components/badges.js';
import { DateRange } from '../components/date-range.js';
import { EventList, timeColumn } from '../components/event-list.js';
import { IdentityLink, UserCell } from '../components/identity.js';
import { PageHeader } from '../components/layout.js';
import type { Column } from '../components/table.js';
import { formatBytes } from '../format.js';
import { useSearch } from '../hooks/use-search.js';
import { Empty } from '../components/states.js';
import { num, useUrlState } from '../url-state.js';

type By = 'login' | 'email' | 'ip';

function What({ r }: { r: SgEvent }) {
  switch (r.type) {
    case 'http.request':
      return (
        <span class="stack">
          <SourceBadge source={r.source} />
          <MethodBadge method={r.method} />
          <span class="url">{String(r.url ?? '')}</span>
        </span>
      );
    case 'session.start':
    case 'session.end': {
      const server = r.server as { name?: string; host?: string } | undefined;
      return (
        <span>
          {String(r.protocol ?? '')} {r.type === 'session.start' ? 'to' : 'ended on'} {server?.name ?? server?.host ?? '?'}
          {r.account ? ` as ${String(r.account)}` : ''}
          {r.type === 'session.end' && r.reason ? ` (${String(r.reason)})` : ''}
        </span>
      );
    }
    case 'file.transfer':
      return (
        <span>
          {String(r.direction ?? '')} <span class="url">{String(r.path ?? '')}</span> {formatBytes(r.bytes)} — {String(r.result ?? '')}
        </span>
      );
    case 'ftp.command':
      return <code>{`${String(r.command ?? '')} ${String(r.args ?? '')}`.trim()}</code>;
    case 'activity':
      return (
        <span class="stack">
          <ActionBadge action={r.action} /> {String(r.description ?? '')}
        </span>
      );
    default:
      return <span>{String(r.description ?? r.command ?? '')}</span>;
  }
}

export function Timeline({ me }: { me: Me }) {
  const [st, set] = useUrlState({ login: '', email: '', ip: '', from: '', to: '', order: 'desc' });
  const by: By | undefined = st.login ? 'login' : st.email ? 'email' : st.ip ? 'ip' : undefined;
  const value = by ? st[by]! : '';
  const [draftBy, setDraftBy] = useState<By>(by ?? 'login');
  const [draft, setDraft] = useState(value);
  const params = by ? { [by]: value, from: num(st.from), to: num(st.to), order: st.order } : {};
  const s = useSearch<SgEvent>({ kind: 'timeline', params, key: (r) => r.id, auto: { on: false, interval: 5 }, enabled: by !== undefined });
  const columns = (setDetails: (id: string) => void): Column<SgEvent>[] => [
    timeColumn(setDetails, false),
    { id: 'type', label: 'Kind', render: (r) => <TypeBadge type={r.type} /> },
    { id: 'user', label: 'User', render: (r) => <UserCell user={r.user} /> },
    { id: 'ip', label: 'IP Address', className: 'col-ip', render: (r) => <IdentityLink kind="ip" value={r.ip} /> },
    { id: 'what', label: 'What', className: 'col-desc', render: (r) => <What r={r} /> },
  ];
  return (
    <section>
      <PageHeader title="Timeline" subtitle={by ? <>Everything recorded for {by} <strong>{value}</strong>, across panels, SSH, FTP and activity.</> : 'Follow one person across every protocol: pick a login, email or IP.'} />
      <form
        class="toolbar"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          const v = draft.trim();
          set({ login: draftBy === 'login' ? v : '', email: draftBy === 'email' ? v : '', ip: draftBy === 'ip' ? v : '' });
        }}
      >
        <select aria-label="Identity kind" value={draftBy} onChange={(e) => setDraftBy(e.currentTarget.value as By)}>
          <option value="login">Login</option>
          <option value="email">Email</option>
          <option value="ip">IP address</option>
        </select>
        <input aria-label="Identity" placeholder="e.g. demo-client@example.com" value={draft} maxLength={256} onInput={(e) => setDraft(e.currentTarget.value)} required />
        <button type="submit" class="btn btn-primary">
          Show timeline
        </button>
        <label class="check">
          <input type="checkbox" checked={st.order === 'asc'} onChange={(e) => set({ order: e.currentTarget.checked ? 'asc' : 'desc' })} /> Oldest first
        </label>
      </form>
      {by && (
        <>
          <div class="toolbar">
            <DateRange value={{ from: num(st.from), to: num(st.to) }} onApply={(r) => set({ from: r.from?.toString(), to: r.to?.toString() })} />
          </div>
          <EventList s={s} me={me} empty={`Nothing recorded for ${by} ${value}${st.from || st.to ? ' in this period' : ''}.`} caption="Timeline" columns={columns} />
        </>
      )}
      {!by && <Empty>Click any user, email or IP address on another page, or enter one above.</Empty>}
    </section>
  );
}
