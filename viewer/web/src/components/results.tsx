// What sits under every search table: counts, "Load more", and the empty/error/loading states.
import type { ComponentChildren } from 'preact';
import type { SearchState } from '../hooks/use-search.js';
import { Empty, ErrorBox, Loading } from './states.js';

export function Results<T>(props: { s: SearchState<T>; empty: ComponentChildren; children: ComponentChildren }) {
  const { s } = props;
  if (s.loading && !s.items.length) return <Loading />;
  if (s.error && !s.items.length) return <ErrorBox message={s.error} onRetry={s.reload} />;
  if (!s.items.length) return <Empty>{props.empty}</Empty>;
  return (
    <>
      {s.error && <ErrorBox message={s.error} onRetry={s.reload} />}
      {props.children}
      <div class="results-foot">
        <span class="muted" aria-live="polite">
          {s.items.length.toLocaleString()} shown
          {s.total !== undefined && ` of ${s.estimated ? '~' : ''}${s.total.toLocaleString()}`}
          {s.partial && ' (the search stopped at its work limit: load more to continue)'}
        </span>
        {s.more && (
          <button type="button" class="btn" onClick={s.loadMore} disabled={s.loadingMore}>
            {s.loadingMore ? 'Loading…' : 'Load more'}
          </button>
        )}
      </div>
    </>
  );
}
