// A session's command and transfer log: its `ftp.command` and `file.transfer` events in time
// order (GET /api/transfers?session_id=…), what FTP sessions and SSH sessions without a terminal
// (SFTP) open where terminal sessions open the player. An open session's log refreshes itself.
import { useState } from 'preact/hooks';
import type { Me, SgEvent } from '../api.js';
import { useSearch } from '../hooks/use-search.js';
import { TypeBadge } from './badges.js';
import { EventList, ListActions, timeColumn, viewColumn } from './event-list.js';
import type { Column, SortState } from './table.js';
import { formatTime } from '../format.js';
import { DirectionBadge, durationColumn, EventResult, FtpCommand, sizeColumn, TransferPath } from './transfer-cells.js';

const TYPES: [string, string][] = [
  ['', 'Commands and transfers'],
  ['file.transfer', 'Transfers only'],
  ['ftp.command', 'Commands only'],
];

export function SessionEvents({ sessionId, open, me }: { sessionId: string; open: boolean; me: Me }) {
  const [sort, setSort] = useState<SortState>({ sort: 'time', order: 'asc' });
  const [types, setTypes] = useState('');
  const [exporting, setExporting] = useState(false);
  const filters = { session_id: sessionId, types: types || undefined };
  const params = { ...filters, sort: sort.sort, order: sort.order };
  const s = useSearch<SgEvent>({ kind: 'transfers', params, key: (r) => r.id, auto: { on: open, interval: 3 }, pushRows: true });
  const columns = (details: (id: string) => void): Column<SgEvent>[] => [
    timeColumn(details),
    { id: 'type', label: 'Type', render: (r) => <TypeBadge type={r.type} /> },
    {
      id: 'what',
      label: 'Command / transfer',
      className: 'col-desc',
      render: (r) =>
        r.type === 'file.transfer' ? (
          <span class="stack">
            <DirectionBadge direction={r.direction} />
            <TransferPath r={r} />
          </span>
        ) : (
          <FtpCommand r={r} />
        ),
    },
    { id: 'cwd', label: 'Directory', render: (r) => (typeof r.cwd === 'string' ? <span class="url">{r.cwd}</span> : <span class="muted">—</span>) },
    { id: 'result', label: 'Reply / result', render: (r) => <EventResult r={r} /> },
    sizeColumn,
    durationColumn,
    viewColumn(details, (r) => `View details of the entry at ${formatTime(r.ts)}`),
  ];
  return (
    <section class="session-events" aria-label="Commands and transfers">
      <div class="toolbar">
        <h2>Commands and transfers</h2>
        <select aria-label="Show" value={types} onChange={(e) => setTypes(e.currentTarget.value)}>
          {TYPES.map(([v, l]) => (
            <option key={v} value={v}>
              {l}
            </option>
          ))}
        </select>
        <ListActions onRefresh={s.reload} onExport={() => setExporting(true)} />
      </div>
      <EventList
        s={s}
        me={me}
        empty="No commands or transfers were recorded in this session."
        caption="Commands and transfers of this session"
        columns={columns}
        sort={sort}
        onSort={setSort}
        {...(exporting ? { exportOf: { kind: 'transfers', filters: params, onClose: () => setExporting(false) } } : {})}
      />
    </section>
  );
}
