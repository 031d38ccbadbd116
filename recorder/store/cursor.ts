// Page cursors: base64url of the key the next (older) page continues below. Opaque to clients;
// anything that is not exactly what encodeCursor produces is refused, so a cursor can never
// smuggle an arbitrary range start into a scan.
import { ID_RE } from '../../gateway/core/ids.js';
import { SgError } from '../../gateway/core/errors.js';

export function encodeCursor(id: string): string {
  return Buffer.from(id, 'latin1').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const bad = () => new SgError('SG_ERR_BAD_PARAM', 'malformed cursor', { details: { param: 'cursor' } });
  if (typeof cursor !== 'string' || cursor.length !== 24 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  const id = Buffer.from(cursor, 'base64url').toString('latin1');
  if (!ID_RE.test(id) || encodeCursor(id) !== cursor) throw bad();
  return id;
}
