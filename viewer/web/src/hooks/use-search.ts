// One search page's state: the first page for the current filters, "Load more" through the
// cursor, and auto refresh. With auto refresh on, new events are pushed over /api/stream and
// applied every interval (newest first: prepended; any other sort: the first page is asked again);
// if the stream cannot be used the page is polled at that interval instead.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, describeError, type Page } from '../api.js';

export type Params = Record<string, string | number | boolean | undefined>;
export type LiveState = 'connecting' | 'live' | 'polling' | 'off';

export interface SearchState<T> {
  items: T[];
  loading: boolean;
  error: string;
  more: boolean;
  loadingMore: boolean;
  total?: number;
  estimated?: boolean;
  partial?: boolean;
  fresh: Set<string>;
  live: LiveState;
  reload: () => void;
  loadMore: () => void;
}

const KIND_PATH: Record<string, string> = {
  requests: '/api/requests',
  activity: '/api/activity',
  sessions: '/api/sessions',
  transfers: '/api/transfers',
  timeline: '/api/timeline',
};

export function useSearch<T>(opts: {
  kind: keyof typeof KIND_PATH;
  params: Params;
  key: (row: T) => string;
  auto: { on: boolean; interval: number };
  /** Pushed events are rows of this page as they are (requests, activity); else re-query. */
  pushRows?: boolean;
  /** False: ask nothing (a page still waiting for its input). */
  enabled?: boolean;
}): SearchState<T> {
  const { kind, params, key, auto } = opts;
  const [items, setItems] = useState<T[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState('');
  const [cursor, setCursor] = useState<string | undefined>();
  const [loadingMore, setLoadingMore] = useState(false);
  const [meta, setMeta] = useState<{ total?: number; estimated?: boolean; partial?: boolean }>({});
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [live, setLive] = useState<LiveState>('off');
  const paramKey = JSON.stringify(params);
  const gen = useRef(0);
  const keyRef = useRef(key);
  keyRef.current = key;

  const load = useCallback(
    async (quiet = false) => {
      const g = ++gen.current;
      if (!quiet) setLoading(true);
      try {
        const page = await api.get<Page<T>>(KIND_PATH[kind]!, { ...params, limit: 50 });
        if (g !== gen.current) return;
        setItems(page.items);
        setCursor(page.next_cursor);
        setMeta({ total: page.total, estimated: page.total_estimated, partial: page.partial });
        setError('');
      } catch (e) {
        if (g !== gen.current) return;
        setError(describeError(e));
        if (!quiet) setItems([]);
      } finally {
        if (g === gen.current) setLoading(false);
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [kind, paramKey],
  );

  const enabled = opts.enabled ?? true;
  useEffect(() => {
    setFresh(new Set());
    if (!enabled) {
      gen.current++;
      setItems([]);
      setLoading(false);
      return;
    }
    void load();
  }, [load, enabled]);

  const loadMore = useCallback(async () => {
    if (!cursor || loadingMore) return;
    setLoadingMore(true);
    const g = gen.current;
    try {
      const page = await api.get<Page<T>>(KIND_PATH[kind]!, { ...params, limit: 50, cursor });
      if (g !== gen.current) return;
      setItems((prev) => {
        const seen = new Set(prev.map((r) => keyRef.current(r)));
        return [...prev, ...page.items.filter((r) => !seen.has(keyRef.current(r)))];
      });
      setCursor(page.next_cursor);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setLoadingMore(false);
    }
  }, [cursor, loadingMore, kind, paramKey]);

  // Auto refresh: the stream when it works, polling when it does not.
  useEffect(() => {
    if (!auto.on || !enabled) {
      setLive('off');
      return;
    }
    let closed = false;
    let pending: T[] = [];
    let requery = false;
    let ws: WebSocket | undefined;
    let timer: number | undefined;
    const pushRows = opts.pushRows ?? false;
    const newestFirst = (params.sort ?? 'time') === 'time' && (params.order ?? 'desc') === 'desc';
    const apply = () => {
      if (requery || (pending.length && (!pushRows || !newestFirst))) {
        requery = false;
        pending = [];
        void load(true);
        return;
      }
      if (!pending.length) return;
      const add = pending.reverse();
      pending = [];
      setItems((prev) => {
        // A pushed row already shown replaces it (a session row gains its end); others are new.
        const latest = new Map(add.map((r) => [keyRef.current(r), r]));
        const kept = prev.map((r) => latest.get(keyRef.current(r)) ?? r);
        const seen = new Set(prev.map((r) => keyRef.current(r)));
        const novel = add.filter((r) => !seen.has(keyRef.current(r)));
        setFresh(new Set(add.map((r) => keyRef.current(r))));
        return [...novel, ...kept];
      });
      setMeta((m) => (m.total === undefined ? m : { ...m, total: m.total + add.length }));
    };
    const poll = () => {
      setLive('polling');
      timer = window.setInterval(() => void load(true), auto.interval * 1000);
    };
    const filter: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '' && v !== false && k !== 'sort' && k !== 'order') filter[k] = v === true ? '1' : String(v);
    if (kind === 'timeline' || typeof WebSocket === 'undefined') poll();
    else {
      setLive('connecting');
      try {
        ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/stream`);
      } catch {
        ws = undefined;
        poll();
      }
      if (ws) {
        let opened = false;
        ws.onopen = () => {
          opened = true;
          ws!.send(JSON.stringify({ op: 'subscribe', kind, filter }));
        };
        ws.onmessage = (m) => {
          let msg: { op?: string; items?: T[] };
          try {
            msg = JSON.parse(String(m.data));
          } catch {
            return;
          }
          if (msg.op === 'subscribed') setLive('live');
          else if (msg.op === 'events' && Array.isArray(msg.items)) pending.push(...msg.items);
          else if (msg.op === 'overflow') requery = true;
          else if (msg.op === 'error') {
            ws?.close();
          }
        };
        ws.onclose = () => {
          if (closed) return;
          ws = undefined;
          // Missed pushes while it was down: ask again, then poll.
          if (opened) requery = true;
          if (timer !== undefined) clearInterval(timer);
          poll();
        };
        timer = window.setInterval(apply, auto.interval * 1000);
      }
    }
    return () => {
      closed = true;
      if (timer !== undefined) clearInterval(timer);
      ws?.close();
    };
  }, [auto.on, auto.interval, kind, paramKey, load, enabled]);

  return {
    items,
    loading,
    error,
    more: cursor !== undefined,
    loadingMore,
    total: meta.total,
    estimated: meta.estimated,
    partial: meta.partial,
    fresh,
    live,
    reload: () => void load(),
    loadMore: () => void loadMore(),
  };
}
