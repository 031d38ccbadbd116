// Web terminal (issue 5, connected_from web): the SSH targets the signed-in user may reach, and a
// recorded shell on one of them in xterm.js over the `/api/terminal` WebSocket. Terminal bytes go
// as binary frames both ways; size changes as JSON `resize`; the server answers `ready`, `end`
// or `error`. The session is an ordinary SSH session of the gateway: listed live, recorded,
// ended by Remove Selected.
import { useEffect, useRef, useState } from 'preact/hooks';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import { api, describeError, type Me } from '../api.js';
import { PageHeader } from '../components/layout.js';
import { Empty, ErrorBox, Loading } from '../components/states.js';
import { DataTable, type Column } from '../components/table.js';

interface Target {
  server: string;
  account: string;
  host: string;
  port: number;
  os?: string;
}

type Status =
  | { kind: 'connecting' }
  | { kind: 'connected'; sessionId: string }
  | { kind: 'ended'; sessionId?: string; exitCode?: number; exitSignal?: string }
  | { kind: 'failed'; message: string };

/** Pastes are split so no frame passes the server's 64 KiB message bound. */
const MAX_FRAME = 32 * 1024;

function Session({ target, onClose }: { target: Target; onClose: () => void }) {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<Status>({ kind: 'connecting' });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace' });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(box.current!);
    fit.fit();
    setStatus({ kind: 'connecting' });
    const q = new URLSearchParams({ server: target.server, account: target.account, cols: String(term.cols), rows: String(term.rows) });
    const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/terminal?${q}`);
    ws.binaryType = 'arraybuffer';
    const enc = new TextEncoder();
    let sessionId: string | undefined;
    let ended = false;
    ws.onmessage = (ev) => {
      if (ev.data instanceof ArrayBuffer) return term.write(new Uint8Array(ev.data));
      let msg: { op?: string; session_id?: string; exit_code?: number; exit_signal?: string; error?: { message?: string } };
      try {
        msg = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      if (msg.op === 'ready') {
        sessionId = msg.session_id;
        setStatus({ kind: 'connected', sessionId: msg.session_id ?? '' });
        term.focus();
      } else if (msg.op === 'end') {
        ended = true;
        setStatus({ kind: 'ended', ...(sessionId ? { sessionId } : {}), ...(msg.exit_code !== undefined ? { exitCode: msg.exit_code } : {}), ...(msg.exit_signal ? { exitSignal: msg.exit_signal } : {}) });
      } else if (msg.op === 'error') {
        if (!sessionId) {
          ended = true;
          setStatus({ kind: 'failed', message: msg.error?.message ?? 'The session could not start.' });
        } else term.write(`\r\n\x1b[31m${msg.error?.message ?? 'error'}\x1b[0m\r\n`);
      }
    };
    ws.onclose = (ev) => {
      if (ended) return;
      ended = true;
      // A refused handshake gives no frame: say what most likely happened.
      setStatus(
        ev.code === 4401
          ? { kind: 'failed', message: 'Your viewer session has ended. Sign in again.' }
          : sessionId
            ? { kind: 'ended', sessionId }
            : { kind: 'failed', message: 'The terminal could not be opened (no access to this target, locked, or the gateway is unreachable).' },
      );
    };
    const input = term.onData((d) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      const bytes = enc.encode(d);
      for (let i = 0; i < bytes.length; i += MAX_FRAME) ws.send(bytes.subarray(i, i + MAX_FRAME));
    });
    const resize = term.onResize(({ cols, rows }) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ op: 'resize', cols, rows }));
    });
    const onWindow = () => fit.fit();
    addEventListener('resize', onWindow);
    return () => {
      removeEventListener('resize', onWindow);
      input.dispose();
      resize.dispose();
      ws.close();
      term.dispose();
    };
  }, [target, attempt]);

  const label = `${target.account}@${target.server}`;
  return (
    <section class="panel web-terminal" aria-label={`Terminal ${label}`}>
      <div class="terminal-bar">
        <strong>{label}</strong>
        <span class="muted small">
          {target.host}:{target.port}
          {target.os ? ` · ${target.os}` : ''}
        </span>
        <span class="terminal-status" role="status">
          {status.kind === 'connecting' && 'Connecting…'}
          {status.kind === 'connected' && `Connected · session ${status.sessionId} · recorded`}
          {status.kind === 'ended' &&
            `Session ended${status.exitCode !== undefined ? ` (exit code ${status.exitCode})` : status.exitSignal ? ` (signal ${status.exitSignal})` : ''}`}
          {status.kind === 'failed' && status.message}
        </span>
        <span class="spacer" />
        {(status.kind === 'ended' || status.kind === 'failed') && (
          <button class="btn btn-small" onClick={() => setAttempt((n) => n + 1)}>
            Connect again
          </button>
        )}
        <button class="btn btn-small" onClick={onClose}>
          {status.kind === 'connected' || status.kind === 'connecting' ? 'Disconnect' : 'Close'}
        </button>
      </div>
      <div class="terminal-box" ref={box} />
    </section>
  );
}

export function WebTerminal(_props: { me: Me }) {
  const [targets, setTargets] = useState<{ available: boolean; items: Target[] } | undefined>();
  const [error, setError] = useState('');
  const [open, setOpen] = useState<Target | undefined>();
  const load = () => {
    setError('');
    api.get<{ available: boolean; items: Target[] }>('/api/terminal/targets').then(setTargets, (e) => setError(describeError(e)));
  };
  useEffect(load, []);

  const columns: Column<Target>[] = [
    { id: 'server', label: 'Server Name', render: (t) => t.server },
    { id: 'account', label: 'Account', render: (t) => t.account },
    { id: 'os', label: 'Server OS', render: (t) => t.os ?? '' },
    { id: 'host', label: 'Host', render: (t) => t.host },
    { id: 'port', label: 'Port', render: (t) => String(t.port) },
    {
      id: 'open',
      label: 'Open',
      render: (t) => (
        <button class="btn btn-small btn-primary" onClick={() => setOpen(t)} aria-label={`Connect to ${t.account}@${t.server}`}>
          Connect
        </button>
      ),
    },
  ];
  return (
    <>
      <PageHeader title="Web Terminal" subtitle="Open a shell on a server you have SSH access to. Every session is recorded and can be ended by security staff." />
      {error && <ErrorBox message={error} onRetry={load} />}
      {!error && !targets && <Loading />}
      {targets && !targets.available && <Empty>The gateway has no SSH listener, so there is no web terminal.</Empty>}
      {targets?.available && !targets.items.length && <Empty>You have no SSH targets. An admin can give you access on the Users page.</Empty>}
      {targets?.available && targets.items.length > 0 && !open && <DataTable caption="SSH targets you may open" columns={columns} rows={targets.items} rowKey={(t) => `${t.server}\u0000${t.account}`} />}
      {open && <Session target={open} onClose={() => setOpen(undefined)} />}
    </>
  );
}
