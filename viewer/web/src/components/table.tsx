// One table for every list: sortable headers (buttons, with aria-sort), optional row selection
// for Remove Selected, and a narrow-window layout where each row becomes a card (CSS uses the
// data-label of each cell).
import type { ComponentChildren } from 'preact';

export interface Column<T> {
  id: string;
  label: string;
  /** The API's sort key for this column, when it can be sorted. */
  sort?: string;
  render: (row: T) => ComponentChildren;
  className?: string;
}

export interface SortState {
  sort: string;
  order: 'asc' | 'desc';
}

export function DataTable<T>(props: {
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string;
  sort?: SortState;
  onSort?: (s: SortState) => void;
  selected?: Set<string>;
  /** Takes an update of the previous selection (two quick clicks must both count). */
  onSelect?: (update: (prev: Set<string>) => Set<string>) => void;
  caption: string;
  rowClass?: (row: T) => string;
}) {
  const { columns, rows, rowKey, sort, onSort, selected, onSelect } = props;
  const all = selected !== undefined && rows.length > 0 && rows.every((r) => selected.has(rowKey(r)));
  const toggle = (k: string) =>
    onSelect?.((prev) => {
      const next = new Set(prev);
      if (next.has(k)) next.delete(k);
      else next.add(k);
      return next;
    });
  return (
    <div class="table-wrap">
      <table class="data">
        <caption class="sr-only">{props.caption}</caption>
        <thead>
          <tr>
            {selected && (
              <th class="col-select">
                <input type="checkbox" aria-label="Select all" checked={all} onChange={() => onSelect?.(() => (all ? new Set() : new Set(rows.map(rowKey))))} />
              </th>
            )}
            {columns.map((c) => {
              const active = sort && c.sort && sort.sort === c.sort;
              const ariaSort = active ? (sort!.order === 'asc' ? 'ascending' : 'descending') : undefined;
              return (
                <th key={c.id} class={c.className} aria-sort={ariaSort}>
                  {c.sort && onSort ? (
                    <button
                      type="button"
                      class={`sort${active ? ' sort-active' : ''}`}
                      onClick={() => onSort({ sort: c.sort!, order: active && sort!.order === 'desc' ? 'asc' : 'desc' })}
                      title={`Sort by ${c.label}`}
                    >
                      {c.label}
                      <span class="sort-arrow" aria-hidden="true">
                        {active ? (sort!.order === 'asc' ? '▲' : '▼') : '↕'}
                      </span>
                    </button>
                  ) : (
                    c.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => {
            const k = rowKey(r);
            return (
              <tr key={k} class={`${selected?.has(k) ? 'selected ' : ''}${props.rowClass?.(r) ?? ''}`}>
                {selected && (
                  <td class="col-select">
                    <input type="checkbox" aria-label="Select row" checked={selected.has(k)} onChange={() => toggle(k)} />
                  </td>
                )}
                {columns.map((c) => (
                  <td key={c.id} class={c.className} data-label={c.label}>
                    {c.render(r)}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
