// Download of one recording (seed 003: the Download button, and with "Export a file with
// Encryption" required an encryption dialog first). Plain: a link to
// `/api/recordings/:id/download`. Encrypted: the passphrase (typed twice) is POSTed for a one-time
// ticket, then the browser downloads `?ticket=...`: the passphrase never appears in a URL. The
// file is OpenPGP, opened with `gpg --decrypt`.
import { useState } from 'preact/hooks';
import { api, describeError, queryString } from '../api.js';
import { Dialog } from './dialog.js';
import { DownloadStatus, PassphraseFields, download, type Encryption } from './export-dialog.js';

function EncryptDialog({ id, required, onClose }: { id: string; required: boolean; onClose: () => void }) {
  const [pass, setPass] = useState('');
  const [pass2, setPass2] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    if (pass.length < 12) return setError('Use a passphrase of at least 12 characters.');
    if (pass !== pass2) return setError('The two passphrases differ.');
    setBusy(true);
    try {
      const t = await api.post<{ ticket: string }>(`/api/recordings/${encodeURIComponent(id)}/download-tickets`, { passphrase: pass });
      download(`/api/recordings/${encodeURIComponent(id)}/download${queryString({ ticket: t.ticket })}`);
      setDone(true);
      setPass('');
      setPass2('');
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title="Download encrypted" onClose={onClose}>
      <form onSubmit={submit} class="form">
        {required ? <p class="notice">Downloads must be encrypted on this gateway.</p> : <p class="muted">The recording is encrypted with your passphrase before it leaves the gateway.</p>}
        <PassphraseFields pass={pass} pass2={pass2} setPass={setPass} setPass2={setPass2}>
          The file is OpenPGP-encrypted (AES-256). Open it with <code>gpg --decrypt FILE.cast.gpg &gt; FILE.cast</code>, then play it with <code>asciinema play FILE.cast</code>.
        </PassphraseFields>
        <DownloadStatus error={error} done={done} />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>
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

/** The Download button(s) for a recording, as `export.encryption` allows. */
export function RecordingDownload({ id, encryption, primary }: { id: string; encryption: Encryption; primary?: boolean }) {
  const [encrypting, setEncrypting] = useState(false);
  const cls = `btn${primary ? ' btn-primary' : ''}`;
  const plain = () => download(`/api/recordings/${encodeURIComponent(id)}/download`);
  return (
    <>
      {encryption === 'required' ? (
        <button type="button" class={cls} onClick={() => setEncrypting(true)}>
          Download
        </button>
      ) : (
        <button type="button" class={cls} onClick={plain}>
          Download
        </button>
      )}
      {encryption === 'optional' && (
        <button type="button" class="btn" onClick={() => setEncrypting(true)}>
          Download encrypted…
        </button>
      )}
      {encrypting && <EncryptDialog id={id} required={encryption === 'required'} onClose={() => setEncrypting(false)} />}
    </>
  );
}
