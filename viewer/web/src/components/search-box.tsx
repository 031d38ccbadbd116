// The search box: searches as the user stops typing (and on Enter).
import { useEffect, useRef, useState } from 'preact/hooks';

export function SearchBox(props: { value: string; onSearch: (q: string) => void; placeholder: string; label: string }) {
  const [v, setV] = useState(props.value);
  const timer = useRef<number>();
  useEffect(() => setV(props.value), [props.value]);
  const fire = (q: string) => {
    if (timer.current !== undefined) clearTimeout(timer.current);
    props.onSearch(q.trim());
  };
  return (
    <form
      class="search"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        fire(v);
      }}
    >
      <input
        type="search"
        aria-label={props.label}
        placeholder={props.placeholder}
        value={v}
        maxLength={256}
        onInput={(e) => {
          const q = e.currentTarget.value;
          setV(q);
          if (timer.current !== undefined) clearTimeout(timer.current);
          timer.current = window.setTimeout(() => props.onSearch(q.trim()), 400);
        }}
      />
    </form>
  );
}
