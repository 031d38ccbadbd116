// A filter drop-down: "any" (empty value) first, then the choices; the value lives in the URL
// state of the page like every other filter.
export function Choice(props: { label: string; value: string; any: string; options: readonly string[]; text?: (v: string) => string; onChange: (v: string) => void }) {
  const text = props.text ?? ((v: string) => v);
  return (
    <select aria-label={props.label} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
      <option value="">{props.any}</option>
      {props.options.map((v) => (
        <option key={v} value={v}>
          {text(v)}
        </option>
      ))}
    </select>
  );
}
