// Export passphrases: the rules (long enough to protect evidence, typeable back at gpg's prompt)
// and reading one from a file. A passphrase is never logged, recorded or written anywhere; no
// message here ever contains it.
import { readFileSync } from 'node:fs';
import { SgError } from '../../gateway/core/errors.js';

export const MIN_PASSPHRASE_CHARS = 12;
export const MAX_PASSPHRASE_CHARS = 1024;
/** C0/C1 controls and line separators: gpg's --passphrase-file reads the first line only. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

function bad(param: string, msg: string): SgError {
  return new SgError('SG_ERR_BAD_PARAM', `${param}: ${msg}`, { details: { param } });
}

/** SG_ERR_BAD_PARAM naming `param` unless the passphrase has 12-1024 characters and no controls. */
export function checkPassphrase(passphrase: string, param = 'passphrase'): void {
  const chars = [...passphrase].length;
  if (chars < MIN_PASSPHRASE_CHARS) throw bad(param, `at least ${MIN_PASSPHRASE_CHARS} characters`);
  if (chars > MAX_PASSPHRASE_CHARS) throw bad(param, `at most ${MAX_PASSPHRASE_CHARS} characters`);
  if (CONTROL.test(passphrase)) throw bad(param, 'must not contain control characters or line breaks');
}

/**
 * The passphrase in `file`: its UTF-8 text without one trailing newline (as `gpg
 * --passphrase-file` reads it), checked. SG_ERR_BAD_PARAM naming `param` otherwise.
 */
export function readPassphraseFile(file: string, param: string): string {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new SgError('SG_ERR_BAD_PARAM', `${param}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { details: { param } });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw bad(param, `${file} is not UTF-8 text`);
  } finally {
    buf.fill(0);
  }
  const passphrase = text.replace(/\r?\n$/, '');
  checkPassphrase(passphrase, param);
  return passphrase;
}
