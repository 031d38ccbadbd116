// Export of the filtered view. The browser downloads the file itself (a normal navigation, so a
// big export streams to disk). Encrypted exports first trade the passphrase for a one-time ticket
// (POST), so the passphrase never appears in a URL; the file is OpenPGP, opened with `gpg -d`.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { api, describeError, queryString } from '../api.js';
import { Dialog } from './dialog.js';

export type Encryption = 'off' | 'optional' | 'required';

/** Starts a download by navigation (a big file streams to disk, not into memory). */
export function download(href: string): void {
  const a = document.createElement('a');
  a.href = href;
  a.download = '';
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
}

export function ExportDialog(props: { kind: string; filters: Record<string, string | number | boolean | undefined>; encryption: Encryption; onClose: () => void }) {
  const [format, setFormat] = useState<'csv' | 'ndjson'>('csv');
  const [encrypt, setEncrypt] = useState(props.encryption === 'required');
  const [pass, setPass] = useState('');
  const [pass2, setPass2] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const filters: Record<string, string> = {};
  for (const [k, v] of Object.entries(props.filters)) if (v !== undefined && v !== '' && v !== false) filters[k] = v === true ? '1' : String(v);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    if (encrypt) {
      if (pass.length < 12) return setError('Use a passphrase of at least 12 characters.');
      if (pass !== pass2) return setError('The two passphrases differ.');
    }
    setBusy(true);
    try {
      if (encrypt) {
        const t = await api.post<{ ticket: string }>('/api/export/tickets', { kind: props.kind, format, ...filters, passphrase: pass });
        download(`/api/export${queryString({ ticket: t.ticket })}`);
      } else download(`/api/export${queryString({ kind: props.kind, format, ...filters })}`);
      setDone(true);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title="Export" onClose={props.onClose}>
      <form onSubmit={submit} class="form">
        <p class="muted">Every event that matches the current filters, newest first. The export is recorded in the Activity Log with its SHA-256.</p>
        <fieldset class="radio-row">
          <legend>Format</legend>
          <label>
            <input type="radio" name="format" value="csv" checked={format === 'csv'} onChange={() => setFormat('csv')} /> CSV
          </label>
          <label>
            <input type="radio" name="format" value="ndjson" checked={format === 'ndjson'} onChange={() => setFormat('ndjson')} /> NDJSON
          </label>
        </fieldset>
        {props.encryption === 'optional' && (
          <label class="check">
            <input type="checkbox" name="encrypt" checked={encrypt} onChange={(e) => setEncrypt(e.currentTarget.checked)} /> Encrypt with a passphrase
          </label>
        )}
        {props.encryption === 'required' && <p class="notice">Exports must be encrypted on this gateway.</p>}
        {encrypt && (
          <>
            <PassphraseFields pass={pass} pass2={pass2} setPass={setPass} setPass2={setPass2}>
              The file is OpenPGP-encrypted (AES-256). Open it with <code>gpg --decrypt FILE.gpg &gt; FILE</code>.
            </PassphraseFields>
          </>
        )}
        <DownloadStatus error={error} done={done} />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={props.onClose}>
            Close
          </button>
          <button type="submit" class="btn btn-primary" disabled={busy}>
            Download
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** A passphrase typed twice, and how to open the encrypted file (children). */
export function PassphraseFields(props: { pass: string; pass2: string; setPass: (v: string) => void; setPass2: (v: string) => void; children: ComponentChildren }) {
  return (
    <>
      <label>
        Passphrase
        <input type="password" name="passphrase" autocomplete="new-password" value={props.pass} onInput={(e) => props.setPass(e.currentTarget.value)} minLength={12} required />
      </label>
      <label>
        Repeat passphrase
        <input type="password" name="passphrase2" autocomplete="new-password" value={props.pass2} onInput={(e) => props.setPass2(e.currentTarget.value)} required />
      </label>
      <p class="muted small">{props.children}</p>
    </>
  );
}

/** A download dialog's error or "started" line. */
export function DownloadStatus({ error, done }: { error: string; done: boolean }) {
  return (
    <>
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
      {done && <p class="notice">The download has started.</p>}
    </>
  );
}
