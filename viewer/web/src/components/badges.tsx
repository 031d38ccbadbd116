// The seeds' labels: API blue, WEB green, GET green, POST orange; other methods and actions get
// their own colours so a change stands out from a read.

export function SourceBadge({ source }: { source: unknown }) {
  const s = String(source ?? '').toUpperCase();
  if (!s) return <span class="muted">—</span>;
  return <span class={`badge badge-${s === 'API' ? 'api' : s === 'WEB' ? 'web' : 'other'}`}>{s}</span>;
}

const METHOD_CLASS: Record<string, string> = { GET: 'get', HEAD: 'get', POST: 'post', PUT: 'put', PATCH: 'put', DELETE: 'delete' };

export function MethodBadge({ method }: { method: unknown }) {
  const m = String(method ?? '').toUpperCase();
  if (!m) return <span class="muted">—</span>;
  return <span class={`badge badge-${METHOD_CLASS[m] ?? 'other'}`}>{m}</span>;
}

const ACTION_CLASS: Record<string, string> = {
  create: 'create',
  update: 'update',
  delete: 'delete',
  login: 'login',
  logout: 'login',
  login_failed: 'delete',
  terminate: 'delete',
  lock: 'delete',
  unlock: 'update',
};

export function ActionBadge({ action }: { action: unknown }) {
  const a = String(action ?? '');
  if (!a) return <span class="muted">—</span>;
  return <span class={`badge badge-action-${ACTION_CLASS[a] ?? 'other'}`}>{a.replace(/_/g, ' ')}</span>;
}

export function TypeBadge({ type }: { type: string }) {
  const label: Record<string, string> = {
    'http.request': 'Panel',
    'session.start': 'Session start',
    'session.end': 'Session end',
    'file.transfer': 'Transfer',
    'ftp.command': 'FTP',
    'ssh.exec': 'SSH exec',
    'ssh.forward': 'SSH forward',
    activity: 'Activity',
    'audit.gap': 'Audit gap',
  };
  return <span class={`badge badge-type-${type.replace(/\W/g, '-')}`}>{label[type] ?? type}</span>;
}
