// Live Sessions (seed 004): who is connected now, per front end (control panels, SSH, FTP), with
// logon and idle time; select rows, Remove Selected, confirm with a reason: the gateway ends them
// at once. Locks on a user, login, email or IP, with a duration, listed and liftable. An SSH
// session's Watch button shows its terminal live (admin and security).
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, describeError, type Me } from '../api.js';
import { Confirm, Dialog, FormFooter } from '../components/dialog.js';
import { IdentityLink } from '../components/identity.js';
import { LiveWatch, type Watched } from '../components/live-watch.js';
import { PageHeader } from '../components/layout.js';
import { Empty, ErrorBox, Loading } from '../components/states.js';
import { DataTable, type Column } from '../components/table.js';
import { formatBytes, formatDuration, formatTime } from '../format.js';
import { useUrlState } from '../url-state.js';

interface LiveSession {
  id: string;
  protocol: string;
  listener?: string;
  ip?: string;
  user?: { name?: string; email?: string; login?: string };
  client?: string;
  kind?: string;
  login?: string;
  started_at: number;
  last_seen?: number;
  idle_ms?: number;
  details?: Record<string, unknown>;
}

interface Lock {
  id: string;
  kind: string;
  value: string;
  created_at: number;
  until?: number;
  actor?: string;
  reason?: string;
}

const TABS = [
  { id: 'panel', label: 'Control panel sessions', protocols: ['http'] },
  { id: 'ssh', label: 'SSH sessions', protocols: ['ssh', 'sftp', 'web-ssh', 'local'] },
  { id: 'ftp', label: 'FTP sessions', protocols: ['ftp'] },
] as const;

function d(r: LiveSession, k: string): unknown {
  return r.details?.[k];
}

function text(v: unknown): string {
  return v === undefined || v === null || v === '' ? '—' : String(v);
}

/** Bytes per second as kilobytes per second (seed 004's unit). */
function kbps(bytesPerSecond: number): string {
  const k = bytesPerSecond / 1024;
  return k >= 100 ? String(Math.round(k)) : k.toFixed(1);
}

/** 0-100 with at most one decimal: 45.3 (an almost finished transfer never shows 100). */
function percent(p: number): string {
  const v = Math.min(100, Math.max(0, p));
  return v === 100 || Number.isInteger(v) ? String(v) : v.toFixed(1);
}

const TRANSFERRING = new Set(['downloading', 'uploading', 'listing']);

/** What Watch opens for an SSH row: its first terminal channel's recording (the SSH session id). */
function watchedOf(r: LiveSession): Watched | undefined {
  const recording = d(r, 'session_id');
  // SFTP moves files: it has no terminal to watch.
  if (typeof recording !== 'string' || !recording || r.protocol === 'sftp') return undefined;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const w: Watched = { id: r.id, recording, started_at: r.started_at };
  const login = r.login ?? r.user?.login ?? r.user?.name;
  if (login) w.login = login;
  if (str(d(r, 'account'))) w.account = str(d(r, 'account'))!;
  if (str(d(r, 'server'))) w.server = str(d(r, 'server'))!;
  if (r.ip) w.ip = r.ip;
  return w;
}

function columnsFor(tab: string, now: number, fetchedAt: number, watch?: (w: Watched) => void): Column<LiveSession>[] {
  const idle: Column<LiveSession> = { id: 'idle', label: 'Idle time', className: 'col-num', render: (r) => formatDuration((r.idle_ms ?? 0) + (now - fetchedAt)) };
  const logon: Column<LiveSession> = { id: 'logon', label: 'Logon time', render: (r) => formatTime(r.started_at) };
  const ip: Column<LiveSession> = { id: 'ip', label: 'IP address', className: 'col-ip', render: (r) => <IdentityLink kind="ip" value={r.ip} /> };
  const login: Column<LiveSession> = {
    id: 'login',
    label: tab === 'ftp' ? 'FTP user login' : 'Login',
    render: (r) => <IdentityLink kind="login" value={r.login ?? r.user?.login} label={r.login ?? r.user?.login ?? r.user?.name} />,
  };
  const type: Column<LiveSession> = { id: 'type', label: 'Type', render: (r) => <span class="badge badge-other">{text(r.kind ?? d(r, 'user_type') ?? r.protocol)}</span> };
  if (tab === 'ftp') {
    return [
      type,
      { id: 'status', label: 'Status', render: (r) => text(d(r, 'status')) },
      login,
      { id: 'domain', label: 'Domain name', render: (r) => text(d(r, 'domain') ?? d(r, 'server')) },
      { id: 'cwd', label: 'Current location', render: (r) => <span class="url">{text(d(r, 'cwd'))}</span> },
      { id: 'file', label: 'File name', render: (r) => <span class="url">{text(d(r, 'file'))}</span> },
      // Seed 004: "Speed. Transfer speed in kilobytes." The registry has bytes per second.
      { id: 'speed', label: 'Speed (KB/s)', className: 'col-num', render: (r) => (typeof d(r, 'speed') === 'number' ? <span title={`${formatBytes(d(r, 'speed'))}/s`}>{kbps(d(r, 'speed') as number)}</span> : '—') },
      { id: 'progress', label: 'Progress, %', className: 'col-num', render: (r) => (typeof d(r, 'progress') === 'number' ? percent(d(r, 'progress') as number) : '—') },
      ip,
      // Seed 004: "The time lapsed since the moment user logged in."
      { id: 'logon', label: 'Logon time', render: (r) => <span title={formatTime(r.started_at)}>{formatDuration(now - r.started_at)}</span> },
      idle,
    ];
  }
  if (tab === 'ssh') {
    return [
      type,
      login,
      { id: 'account', label: 'Account', render: (r) => text(d(r, 'account')) },
      { id: 'server', label: 'Server', render: (r) => text(d(r, 'server')) },
      ip,
      logon,
      idle,
      ...(watch
        ? [
            {
              id: 'watch',
              label: '',
              className: 'col-actions',
              render: (r: LiveSession) => {
                const w = watchedOf(r);
                return w ? (
                  <button type="button" class="btn btn-small" onClick={() => watch(w)} aria-label={`Watch ${w.login ?? 'the session'} on ${w.server ?? 'the server'}`}>
                    Watch
                  </button>
                ) : null;
              },
            },
          ]
        : []),
    ];
  }
  return [
    type,
    login,
    ip,
    { id: 'listener', label: 'Panel', render: (r) => text(r.client ?? r.listener) },
    logon,
    idle,
  ];
}

export function LiveSessions({ me }: { me: Me }) {
  const [st, set] = useUrlState({ tab: 'panel' });
  const tab = TABS.find((t) => t.id === st.tab) ?? TABS[0];
  const canAct = me.user.role === 'admin' || me.user.role === 'security';
  const [items, setItems] = useState<LiveSession[] | undefined>();
  const [error, setError] = useState('');
  const [fetchedAt, setFetchedAt] = useState(Date.now());
  const [now, setNow] = useState(Date.now());
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [confirming, setConfirming] = useState(false);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState('');
  const [watching, setWatching] = useState<Watched | undefined>();

  const load = useCallback(async () => {
    try {
      const r = await api.get<{ items: LiveSession[] }>('/api/live');
      setItems(r.items);
      setFetchedAt(Date.now());
      setNow(Date.now());
      setError('');
      setSelected((sel) => new Set([...sel].filter((id) => r.items.some((i) => i.id === id))));
    } catch (e) {
      setError(describeError(e));
    }
  }, []);

  useEffect(() => {
    void load();
    const tick = setInterval(() => setNow(Date.now()), 1000);
    // The registry pushes a signal on every change; polling covers a stream that is down.
    const poll = setInterval(() => void load(), 15_000);
    let ws: WebSocket | undefined;
    try {
      ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/stream`);
      ws.onopen = () => ws!.send(JSON.stringify({ op: 'subscribe', kind: 'live' }));
      ws.onmessage = (m) => {
        if (String(m.data).includes('"live"')) void load();
      };
    } catch {
      ws = undefined;
    }
    return () => {
      clearInterval(tick);
      clearInterval(poll);
      ws?.close();
    };
  }, [load]);

  const rows = (items ?? []).filter((i) => (tab.protocols as readonly string[]).includes(i.protocol));
  // Speed and progress change without a registry signal: asked every 2 s while a shown FTP
  // session moves a file.
  const moving = tab.id === 'ftp' && rows.some((r) => TRANSFERRING.has(String(d(r, 'status'))));
  useEffect(() => {
    if (!moving) return;
    const t = setInterval(() => void load(), 2000);
    return () => clearInterval(t);
  }, [moving, load]);
  const counts = Object.fromEntries(TABS.map((t) => [t.id, (items ?? []).filter((i) => (t.protocols as readonly string[]).includes(i.protocol)).length]));

  const removeSelected = async () => {
    setBusy(true);
    const ids = [...selected].filter((id) => rows.some((r) => r.id === id));
    const failed: string[] = [];
    for (const id of ids) {
      try {
        await api.post(`/api/live/${encodeURIComponent(id)}/terminate`, { reason: reason.trim() });
      } catch (e) {
        failed.push(describeError(e));
      }
    }
    setBusy(false);
    setConfirming(false);
    setReason('');
    setSelected(new Set());
    setNotice(failed.length ? `${ids.length - failed.length} of ${ids.length} sessions ended. ${failed[0]}` : `${ids.length} session${ids.length === 1 ? '' : 's'} ended.`);
    void load();
  };

  return (
    <section>
      <PageHeader
        title="Live Sessions"
        subtitle="Who is connected through the gateway right now."
        actions={
          <button type="button" class="btn" onClick={() => void load()} title="Refresh">
            ↻ Refresh
          </button>
        }
      />
      <div class="tabs" role="tablist">
        {TABS.map((t) => (
          <button key={t.id} type="button" role="tab" aria-selected={t.id === tab.id} class={`tab${t.id === tab.id ? ' tab-active' : ''}`} onClick={() => set({ tab: t.id })}>
            {t.label} <span class="count">{counts[t.id] ?? 0}</span>
          </button>
        ))}
      </div>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {canAct && (
        <div class="toolbar">
          <button type="button" class="btn btn-danger" disabled={!selected.size} onClick={() => setConfirming(true)}>
            Remove Selected{selected.size ? ` (${selected.size})` : ''}
          </button>
        </div>
      )}
      {error && !items ? (
        <ErrorBox message={error} onRetry={() => void load()} />
      ) : !items ? (
        <Loading />
      ) : !rows.length ? (
        <Empty>No {tab.label.toLowerCase()} right now.</Empty>
      ) : (
        <DataTable
          caption={tab.label}
          columns={columnsFor(tab.id, now, fetchedAt, canAct ? setWatching : undefined)}
          rows={rows}
          rowKey={(r) => r.id}
          {...(canAct ? { selected, onSelect: setSelected } : {})}
        />
      )}
      {confirming && (
        <Dialog title="Remove selected sessions" onClose={() => setConfirming(false)}>
          <form
            class="form"
            onSubmit={(e) => {
              e.preventDefault();
              if (reason.trim()) void removeSelected();
            }}
          >
            <p>
              End {selected.size} session{selected.size === 1 ? '' : 's'} now?{' '}
              {tab.id === 'panel' ? 'The user is disconnected and their session key is refused from now on.' : 'The user is disconnected at once and told why.'}
            </p>
            <label>
              Reason (recorded with the termination)
              <textarea name="reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
            </label>
            <FormFooter error="" onCancel={() => setConfirming(false)} submitLabel="OK" danger busy={busy || !reason.trim()} />
          </form>
        </Dialog>
      )}
      {watching && (
        <LiveWatch
          session={watching}
          live={!items || items.some((i) => i.id === watching.id)}
          canTerminate={canAct}
          onClose={() => setWatching(undefined)}
          onTerminated={() => {
            setNotice('1 session ended.');
            void load();
          }}
        />
      )}
      <Locks canAct={canAct} />
    </section>
  );
}

const DURATIONS = [
  ['15m', '15 minutes'],
  ['1h', '1 hour'],
  ['8h', '8 hours'],
  ['1d', '1 day'],
  ['7d', '7 days'],
  ['', 'until lifted'],
];

function Locks({ canAct }: { canAct: boolean }) {
  const [locks, setLocks] = useState<Lock[] | undefined>();
  const [error, setError] = useState('');
  const [form, setForm] = useState({ kind: 'ip', value: '', duration: '1h', reason: '' });
  const [formError, setFormError] = useState('');
  const [lifting, setLifting] = useState<Lock | undefined>();
  const load = useCallback(async () => {
    try {
      setLocks((await api.get<{ items: Lock[] }>('/api/locks')).items);
      setError('');
    } catch (e) {
      setError(describeError(e));
    }
  }, []);
  useEffect(() => void load(), [load]);
  const add = async (e: Event) => {
    e.preventDefault();
    setFormError('');
    try {
      await api.post('/api/locks', { kind: form.kind, value: form.value.trim(), reason: form.reason.trim() || undefined, ...(form.duration ? { duration: form.duration } : {}) });
      setForm({ ...form, value: '', reason: '' });
      void load();
    } catch (err) {
      setFormError(describeError(err));
    }
  };
  const columns: Column<Lock>[] = [
    { id: 'kind', label: 'Locks', render: (l) => <span class="badge badge-other">{l.kind}</span> },
    { id: 'value', label: 'Value', render: (l) => <code>{l.value}</code> },
    { id: 'until', label: 'Until', render: (l) => (l.until ? formatTime(l.until) : 'lifted by hand') },
    { id: 'by', label: 'By', render: (l) => text(l.actor) },
    { id: 'reason', label: 'Reason', render: (l) => text(l.reason) },
    {
      id: 'lift',
      label: '',
      className: 'col-actions',
      render: (l) =>
        canAct ? (
          <button type="button" class="btn btn-small" onClick={() => setLifting(l)}>
            Lift
          </button>
        ) : null,
    },
  ];
  return (
    <div class="panel">
      <h2>Locks</h2>
      <p class="muted">A lock refuses the user, login, email or address on every protocol and ends their live sessions, until it expires or is lifted.</p>
      {canAct && (
        <form class="toolbar lock-form" onSubmit={add} aria-label="Add a lock">
          <select aria-label="Lock kind" value={form.kind} onChange={(e) => setForm({ ...form, kind: e.currentTarget.value })}>
            <option value="ip">IP or CIDR</option>
            <option value="login">Panel login</option>
            <option value="email">Email</option>
            <option value="user">Gateway user</option>
          </select>
          <input aria-label="Value to lock" placeholder="e.g. 203.0.113.7" value={form.value} required maxLength={256} onInput={(e) => setForm({ ...form, value: e.currentTarget.value })} />
          <select aria-label="Duration" value={form.duration} onChange={(e) => setForm({ ...form, duration: e.currentTarget.value })}>
            {DURATIONS.map(([v, l]) => (
              <option key={v} value={v}>
                {l}
              </option>
            ))}
          </select>
          <input aria-label="Reason" placeholder="Reason" value={form.reason} maxLength={500} onInput={(e) => setForm({ ...form, reason: e.currentTarget.value })} />
          <button type="submit" class="btn btn-danger">
            Lock
          </button>
          {formError && (
            <span class="field-error" role="alert">
              {formError}
            </span>
          )}
        </form>
      )}
      {error ? <ErrorBox message={error} onRetry={() => void load()} /> : !locks ? <Loading /> : !locks.length ? <Empty>No locks.</Empty> : <DataTable caption="Locks" columns={columns} rows={locks} rowKey={(l) => l.id} />}
      {lifting && (
        <Confirm
          title="Lift lock"
          message={
            <>
              Lift the lock on {lifting.kind} <code>{lifting.value}</code>?
            </>
          }
          confirmLabel="Lift"
          onCancel={() => setLifting(undefined)}
          onConfirm={async () => {
            try {
              await api.del(`/api/locks/${encodeURIComponent(lifting.id)}`);
            } catch (e) {
              setError(describeError(e));
            }
            setLifting(undefined);
            void load();
          }}
        />
      )}
    </div>
  );
}
