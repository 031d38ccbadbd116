// The seeds' auto refresh: an interval choice and an on/off switch, top right of a page.
export const INTERVALS = [2, 3, 5, 10, 30, 60];

export function AutoRefresh(props: { on: boolean; interval: number; onChange: (on: boolean, interval: number) => void; live?: 'connecting' | 'live' | 'polling' | 'off' }) {
  return (
    <div class="auto-refresh">
      <label class="switch">
        <input type="checkbox" role="switch" aria-label="Auto refresh" checked={props.on} onChange={(e) => props.onChange(e.currentTarget.checked, props.interval)} />
        <span class="switch-track" aria-hidden="true" />
        <span>Auto refresh {props.on ? 'on' : 'off'}</span>
      </label>
      <select aria-label="Refresh interval" value={String(props.interval)} onChange={(e) => props.onChange(props.on, Number(e.currentTarget.value))}>
        {INTERVALS.map((s) => (
          <option key={s} value={s}>
            every {s} s
          </option>
        ))}
      </select>
      {props.on && props.live && (
        <span class={`live-dot live-${props.live}`} title={props.live === 'live' ? 'New events are pushed as they are recorded' : props.live}>
          {props.live === 'live' ? 'live' : props.live}
        </span>
      )}
    </div>
  );
}
