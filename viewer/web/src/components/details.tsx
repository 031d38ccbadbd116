// The details view of one stored event: every field, read through GET /api/events/:id (which
// records that the auditor looked at it). Values are rendered as text, never as markup.
import { useEffect, useState } from 'preact/hooks';
import { api, describeError, type SgEvent } from '../api.js';
import { formatTime } from '../format.js';
import { Dialog } from './dialog.js';
import { ErrorBox, Loading } from './states.js';
import { IdentityLink } from './identity.js';

function flatten(v: unknown, prefix: string, out: [string, unknown][]): void {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.push([prefix, v]);
}

function show(k: string, v: unknown) {
  if (k === 'ts' && typeof v === 'number') return formatTime(v);
  if (k === 'ip') return <IdentityLink kind="ip" value={v} />;
  if (k === 'user.email') return <IdentityLink kind="email" value={v} />;
  if (k === 'user.login') return <IdentityLink kind="login" value={v} />;
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

export function EventDetails({ id, onClose }: { id: string; onClose: () => void }) {
  const [ev, setEv] = useState<SgEvent | undefined>();
  const [error, setError] = useState('');
  useEffect(() => {
    api.get<{ event: SgEvent }>(`/api/events/${encodeURIComponent(id)}`).then(
      (r) => setEv(r.event ?? (r as unknown as SgEvent)),
      (e) => setError(describeError(e)),
    );
  }, [id]);
  const rows: [string, unknown][] = [];
  if (ev) flatten(ev, '', rows);
  return (
    <Dialog title="Details" onClose={onClose} wide>
      {error ? (
        <ErrorBox message={error} />
      ) : !ev ? (
        <Loading />
      ) : (
        <dl class="details">
          {rows.map(([k, v]) => (
            <div key={k} class="details-row">
              <dt>{k}</dt>
              <dd>{show(k, v)}</dd>
            </div>
          ))}
        </dl>
      )}
    </Dialog>
  );
}
