// Users (admins only): the people who use Sessiongate. Create, change role, reset password,
// remove. A generated password is shown once, to hand over; the server never shows it again.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, describeError, type Me, type Role } from '../api.js';
import { Confirm, Dialog, FormFooter } from '../components/dialog.js';
import { PageHeader } from '../components/layout.js';
import { Empty, ErrorBox, Loading } from '../components/states.js';
import { DataTable, type Column } from '../components/table.js';
import { formatTime } from '../format.js';

interface ViewerUser {
  name: string;
  email?: string;
  role?: Role | null;
  panel_identities?: string[];
  ssh_keys?: string[];
  targets?: string[];
  created_at?: number;
  password_changed_at?: number;
}

const ROLES: Role[] = ['admin', 'auditor', 'security'];

export function Users({ me }: { me: Me }) {
  const [users, setUsers] = useState<ViewerUser[] | undefined>();
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [creating, setCreating] = useState(false);
  const [removing, setRemoving] = useState<ViewerUser | undefined>();
  const [resetting, setResetting] = useState<ViewerUser | undefined>();
  const [editing, setEditing] = useState<ViewerUser | undefined>();
  const [secret, setSecret] = useState<{ name: string; password: string } | undefined>();
  const load = useCallback(async () => {
    try {
      setUsers((await api.get<{ items: ViewerUser[] }>('/api/users')).items);
      setError('');
    } catch (e) {
      setError(describeError(e));
    }
  }, []);
  useEffect(() => void load(), [load]);

  const changeRole = async (u: ViewerUser, role: string) => {
    try {
      await api.patch(`/api/users/${encodeURIComponent(u.name)}`, { role: role || null });
      setNotice(`${u.name} is now ${role || 'without a role (cannot sign in)'}.`);
    } catch (e) {
      setNotice(describeError(e));
    }
    void load();
  };

  const columns: Column<ViewerUser>[] = [
    { id: 'name', label: 'Name', render: (u) => <strong>{u.name}</strong> },
    { id: 'email', label: 'Email', render: (u) => u.email ?? <span class="muted">—</span> },
    {
      id: 'role',
      label: 'Role',
      render: (u) => (
        <select aria-label={`Role of ${u.name}`} value={u.role ?? ''} onChange={(e) => void changeRole(u, e.currentTarget.value)} disabled={u.name === me.user.name}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
          <option value="">no role</option>
        </select>
      ),
    },
    { id: 'panel', label: 'Panel identities', render: (u) => (u.panel_identities?.length ? u.panel_identities.join(', ') : <span class="muted">—</span>) },
    {
      id: 'ssh',
      label: 'SSH access',
      render: (u) =>
        u.targets?.length || u.ssh_keys?.length ? (
          <span>
            {(u.targets ?? []).join(', ') || 'no targets'}
            <span class="muted small"> · {u.ssh_keys?.length ?? 0} key(s)</span>
          </span>
        ) : (
          <span class="muted">—</span>
        ),
    },
    { id: 'created', label: 'Created', render: (u) => formatTime(u.created_at) },
    {
      id: 'actions',
      label: '',
      className: 'col-actions',
      render: (u) => (
        <span class="stack">
          <button type="button" class="btn btn-small" onClick={() => setEditing(u)}>
            Edit
          </button>
          <button type="button" class="btn btn-small" onClick={() => setResetting(u)}>
            Reset password
          </button>
          <button type="button" class="btn btn-small btn-danger" onClick={() => setRemoving(u)} disabled={u.name === me.user.name}>
            Remove
          </button>
        </span>
      ),
    },
  ];

  return (
    <section>
      <PageHeader
        title="Users"
        subtitle="Who may use Sessiongate, and with which role: admin (everything), auditor (read, replay, export), security (live sessions, terminate, lock)."
        actions={
          <button type="button" class="btn btn-primary" onClick={() => setCreating(true)}>
            Add user
          </button>
        }
      />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {error ? <ErrorBox message={error} onRetry={() => void load()} /> : !users ? <Loading /> : !users.length ? <Empty>No users.</Empty> : <DataTable caption="Users" columns={columns} rows={users} rowKey={(u) => u.name} />}
      {creating && (
        <CreateUser
          onClose={() => setCreating(false)}
          onCreated={(name, password) => {
            setCreating(false);
            if (password) setSecret({ name, password });
            setNotice(`User ${name} created.`);
            void load();
          }}
        />
      )}
      {editing && (
        <EditUser
          user={editing}
          onClose={() => setEditing(undefined)}
          onSaved={() => {
            setNotice(`${editing.name} updated.`);
            setEditing(undefined);
            void load();
          }}
        />
      )}
      {removing && (
        <Confirm
          title="Remove user"
          danger
          message={<>Remove {removing.name}? Their sessions end at once. Their recorded activity stays.</>}
          confirmLabel="Remove"
          onCancel={() => setRemoving(undefined)}
          onConfirm={async () => {
            try {
              await api.del(`/api/users/${encodeURIComponent(removing.name)}`);
              setNotice(`User ${removing.name} removed.`);
            } catch (e) {
              setNotice(describeError(e));
            }
            setRemoving(undefined);
            void load();
          }}
        />
      )}
      {resetting && (
        <Confirm
          title="Reset password"
          message={<>Give {resetting.name} a new generated password? Their current sessions end.</>}
          confirmLabel="Reset"
          onCancel={() => setResetting(undefined)}
          onConfirm={async () => {
            try {
              const r = await api.post<{ password?: string }>(`/api/users/${encodeURIComponent(resetting.name)}/password`, {});
              if (r.password) setSecret({ name: resetting.name, password: r.password });
            } catch (e) {
              setNotice(describeError(e));
            }
            setResetting(undefined);
          }}
        />
      )}
      {secret && (
        <Dialog title="Password" onClose={() => setSecret(undefined)}>
          <p>
            The password of <strong>{secret.name}</strong> is shown only now. Hand it over safely.
          </p>
          <p>
            <code class="secret" data-testid="generated-password">
              {secret.password}
            </code>
          </p>
          <div class="dialog-actions">
            <button type="button" class="btn btn-primary" onClick={() => setSecret(undefined)}>
              Done
            </button>
          </div>
        </Dialog>
      )}
    </section>
  );
}

function CreateUser(props: { onClose: () => void; onCreated: (name: string, password?: string) => void }) {
  const [f, setF] = useState({ name: '', email: '', role: 'auditor', password: '' });
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      const r = await api.post<{ password?: string }>('/api/users', { name: f.name.trim(), role: f.role, ...(f.email.trim() ? { email: f.email.trim() } : {}), ...(f.password ? { password: f.password } : {}) });
      props.onCreated(f.name.trim(), r.password);
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <Dialog title="Add user" onClose={props.onClose}>
      <form class="form" onSubmit={submit}>
        <label>
          User name
          <input name="name" required maxLength={64} pattern="[A-Za-z0-9_.\-]+" value={f.name} onInput={(e) => setF({ ...f, name: e.currentTarget.value })} />
        </label>
        <label>
          Email
          <input name="email" type="email" maxLength={254} value={f.email} onInput={(e) => setF({ ...f, email: e.currentTarget.value })} />
        </label>
        <label>
          Role
          <select name="role" value={f.role} onChange={(e) => setF({ ...f, role: e.currentTarget.value })}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <label>
          Password <span class="muted small">(leave empty to generate one)</span>
          <input name="password" type="password" autocomplete="new-password" minLength={12} value={f.password} onInput={(e) => setF({ ...f, password: e.currentTarget.value })} />
        </label>
        <FormFooter error={error} onCancel={props.onClose} submitLabel="Create" />
      </form>
    </Dialog>
  );
}

/** Email and the panel logins that are this user's own (what Hide Me leaves out). */
function EditUser(props: { user: ViewerUser; onClose: () => void; onSaved: () => void }) {
  const [email, setEmail] = useState(props.user.email ?? '');
  const [ids, setIds] = useState((props.user.panel_identities ?? []).join(', '));
  const [targets, setTargets] = useState((props.user.targets ?? []).join(', '));
  const [keys, setKeys] = useState((props.user.ssh_keys ?? []).join('\n'));
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      const panel_identities = ids
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      const list = (v: string, sep: RegExp) =>
        v
          .split(sep)
          .map((x) => x.trim())
          .filter(Boolean);
      await api.patch(`/api/users/${encodeURIComponent(props.user.name)}`, { email: email.trim() || null, panel_identities, targets: list(targets, /,/), ssh_keys: list(keys, /\n/) });
      props.onSaved();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <Dialog title={`Edit ${props.user.name}`} onClose={props.onClose}>
      <form class="form" onSubmit={submit}>
        <label>
          Email
          <input name="email" type="email" maxLength={254} value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label>
          Panel identities <span class="muted small">(panel logins that are this user's own, comma separated: Hide Me leaves them out)</span>
          <input name="panel_identities" value={ids} onInput={(e) => setIds(e.currentTarget.value)} />
        </label>
        <label>
          SSH targets <span class="muted small">(SERVER:ACCOUNT, comma separated: what this user may reach through the SSH gateway)</span>
          <input name="targets" value={targets} onInput={(e) => setTargets(e.currentTarget.value)} />
        </label>
        <label>
          SSH public keys <span class="muted small">(one per line, as in authorized_keys)</span>
          <textarea name="ssh_keys" value={keys} onInput={(e) => setKeys(e.currentTarget.value)} />
        </label>
        <FormFooter error={error} onCancel={props.onClose} submitLabel="Save" />
      </form>
    </Dialog>
  );
}
