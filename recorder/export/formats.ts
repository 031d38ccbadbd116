// The two file formats. CSV: RFC 4180 (CRLF, fields quoted when they hold `"` `,` CR or LF,
// quotes doubled), one header row of fixed columns, and every text cell that a spreadsheet
// would run as a formula (= + - @, TAB, CR first) prefixed with `'` (OWASP "CSV injection"):
// recorded values are attacker-controlled (URLs, user agents, names). NDJSON: each item
// exactly as the API returns it, one JSON document per line. Both UTF-8, no BOM.
import { columnsOf, type Cell, type ExportKind } from './columns.js';

export const EXPORT_FORMATS = ['csv', 'ndjson'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface Encoder {
  readonly contentType: string;
  readonly ext: string;
  /** Written once before the first item (may be empty). */
  head(): string;
  item(x: unknown): string;
}

const NEEDS_QUOTES = /[",\r\n]/;
const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV field. Text is formula-guarded, then quoted when needed; numbers/booleans are literal. */
export function csvCell(v: Cell): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  let s = String(v);
  if (FORMULA_START.test(s)) s = `'${s}`;
  return NEEDS_QUOTES.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvRow(cells: readonly Cell[]): string {
  return cells.map(csvCell).join(',') + '\r\n';
}

// JSON.stringify leaves U+2028/U+2029 raw: valid JSON, but they break line-oriented readers
// and older JavaScript parsers. Escaping them keeps every line one value.
const LINE_SEPARATORS = /[\u2028\u2029]/g;

export function ndjsonLine(x: unknown): string {
  return JSON.stringify(x).replace(LINE_SEPARATORS, (c) => (c === '\u2028' ? '\\u2028' : '\\u2029')) + '\n';
}

export function encoderFor(kind: ExportKind, format: ExportFormat): Encoder {
  if (format === 'ndjson') return { contentType: 'application/x-ndjson; charset=utf-8', ext: 'ndjson', head: () => '', item: ndjsonLine };
  const cols = columnsOf(kind);
  return {
    contentType: 'text/csv; charset=utf-8; header=present',
    ext: 'csv',
    head: () => csvRow(cols.map((c) => c.name)),
    item: (x) => csvRow(cols.map((c) => c.get(x))),
  };
}
