// The list part of every evidence page: results with their states, the sortable table (new
// pushed rows highlighted), the time zone note, the details view and the export dialog.
import { useState } from 'preact/hooks';
import type { Me, SgEvent } from '../api.js';
import { formatTime, timeZoneName } from '../format.js';
import type { SearchState } from '../hooks/use-search.js';
import { EventDetails } from './details.js';
import { ExportDialog, type Encryption } from './export-dialog.js';
import { Results } from './results.js';
import { DataTable, type Column, type SortState } from './table.js';

export function EventList<T = SgEvent>(props: {
  s: SearchState<T>;
  /** A row's key (default: its `id`). */
  rowKey?: (row: T) => string;
  empty: string;
  caption: string;
  /** The columns, given how to open an event's details. */
  columns: (openDetails: (id: string) => void) => Column<T>[];
  sort?: SortState;
  onSort?: (s: SortState) => void;
  me: Me;
  /** What the export dialog exports (when open). */
  exportOf?: { kind: string; filters: Record<string, string | number | boolean | undefined>; onClose: () => void };
}) {
  const { s } = props;
  const key = props.rowKey ?? ((r: T) => (r as unknown as { id: string }).id);
  const [details, setDetails] = useState<string | undefined>();
  return (
    <>
      <Results s={s} empty={props.empty}>
        <DataTable
          caption={props.caption}
          columns={props.columns(setDetails)}
          rows={s.items}
          rowKey={key}
          rowClass={(r) => (s.fresh.has(key(r)) ? 'fresh' : '')}
          {...(props.sort && props.onSort ? { sort: props.sort, onSort: props.onSort } : {})}
        />
      </Results>
      <p class="muted small">Times in {timeZoneName()}.</p>
      {details && <EventDetails id={details} onClose={() => setDetails(undefined)} />}
      {props.exportOf && (
        <ExportDialog kind={props.exportOf.kind} filters={props.exportOf.filters} encryption={(props.me.settings?.export_encryption ?? 'off') as Encryption} onClose={props.exportOf.onClose} />
      )}
    </>
  );
}

/** The Date column: the time opens the details (as in seed 003, where the time opens the record). */
export function timeColumn(open: (id: string) => void, sortable = true): Column<SgEvent> {
  return {
    id: 'time',
    label: 'Date',
    ...(sortable ? { sort: 'time' } : {}),
    className: 'col-time',
    render: (r) => (
      <button type="button" class="linklike" onClick={() => open(r.id)} title="Details">
        {formatTime(r.ts)}
      </button>
    ),
  };
}

/** The View button at the end of a row; `label` names the row for screen readers. */
export function viewColumn(open: (id: string) => void, label: (r: SgEvent) => string): Column<SgEvent> {
  return {
    id: 'view',
    label: '',
    className: 'col-actions',
    render: (r) => (
      <button type="button" class="btn btn-small" onClick={() => open(r.id)} aria-label={label(r)}>
        View
      </button>
    ),
  };
}

/** The right end of a list's toolbar: Refresh now, and Export of the filtered view. */
export function ListActions(props: { onRefresh: () => void; onExport?: () => void }) {
  return (
    <>
      <span class="spacer" />
      <button type="button" class="btn" onClick={props.onRefresh} title="Refresh now">
        Refresh
      </button>
      {props.onExport && (
        <button type="button" class="btn" onClick={props.onExport}>
          Export
        </button>
      )}
    </>
  );
}
