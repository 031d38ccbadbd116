// The seeds' date range filter: pick a start and an end (or a preset), then Apply. Times are the
// viewer's local time; the offset is shown beside the fields.
import { useEffect, useState } from 'preact/hooks';
import { fromLocalInput, offsetOf, toLocalInput } from '../format.js';

export interface Range {
  from?: number;
  to?: number;
}

const PRESETS: [string, () => Range][] = [
  ['Last hour', () => ({ from: Date.now() - 3_600_000 })],
  ['Last 24 hours', () => ({ from: Date.now() - 86_400_000 })],
  ['Today', () => ({ from: new Date(new Date().setHours(0, 0, 0, 0)).getTime() })],
  ['Last 7 days', () => ({ from: Date.now() - 7 * 86_400_000 })],
  ['Last 30 days', () => ({ from: Date.now() - 30 * 86_400_000 })],
];

export function DateRange({ value, onApply }: { value: Range; onApply: (r: Range) => void }) {
  const [from, setFrom] = useState(toLocalInput(value.from));
  const [to, setTo] = useState(toLocalInput(value.to));
  const [error, setError] = useState('');
  useEffect(() => {
    setFrom(toLocalInput(value.from));
    setTo(toLocalInput(value.to));
  }, [value.from, value.to]);
  const apply = (e?: Event) => {
    e?.preventDefault();
    const f = fromLocalInput(from);
    // An end given to the minute includes that whole minute.
    const t = fromLocalInput(to);
    const end = t === undefined ? undefined : t + 59_999;
    if (f !== undefined && end !== undefined && f > end) {
      setError('The start must be before the end.');
      return;
    }
    setError('');
    onApply({ from: f, to: end });
  };
  return (
    <form class="date-range" onSubmit={apply} aria-label="Date range">
      <label>
        From
        <input type="datetime-local" value={from} onInput={(e) => setFrom(e.currentTarget.value)} name="from" />
      </label>
      <label>
        To
        <input type="datetime-local" value={to} onInput={(e) => setTo(e.currentTarget.value)} name="to" />
      </label>
      <span class="muted tz" title="Times are in your time zone">
        UTC{offsetOf(new Date())}
      </span>
      <select
        aria-label="Preset range"
        value=""
        onChange={(e) => {
          const p = PRESETS.find(([l]) => l === e.currentTarget.value);
          if (p) onApply(p[1]());
        }}
      >
        <option value="">Presets…</option>
        {PRESETS.map(([l]) => (
          <option key={l} value={l}>
            {l}
          </option>
        ))}
      </select>
      <button type="submit" class="btn btn-primary">
        Apply
      </button>
      {(value.from !== undefined || value.to !== undefined) && (
        <button type="button" class="btn" onClick={() => onApply({})}>
          Clear
        </button>
      )}
      {error && (
        <span class="field-error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}
