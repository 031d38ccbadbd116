// Sign-in. There is no default account: the first admin comes from `sessiongate users add`, or
// the demo prints its generated password.
import { useState } from 'preact/hooks';
import { describeError, signIn, type Me } from '../api.js';

export function SignIn({ onSignedIn, message }: { onSignedIn: (me: Me) => void; message?: string }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      onSignedIn(await signIn(name.trim(), password));
    } catch (err) {
      setError(describeError(err));
      setPassword('');
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin" id="main">
      <form class="signin-card form" onSubmit={submit} aria-label="Sign in">
        <div class="brand big">
          <span class="brand-mark" aria-hidden="true" />
          Sessiongate
        </div>
        <h1>Sign in</h1>
        {message && (
          <p class="notice" role="status">
            {message}
          </p>
        )}
        <label>
          User name
          <input name="name" autocomplete="username" required maxLength={256} value={name} onInput={(e) => setName(e.currentTarget.value)} autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" required maxLength={1024} value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        {error && (
          <p class="field-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="btn btn-primary btn-block" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="muted small">
          No account yet? An administrator creates one under Users, or on the gateway host with <code>sessiongate users add NAME --role admin</code>.
        </p>
      </form>
    </main>
  );
}
