// The login of HTTP Basic auth. The password is never turned into a string: the decoded bytes
// are searched for the colon, only the login part is decoded, and the buffer is wiped.
import { cleanLogin, decodeText } from './login-text.js';

const BASIC = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i;

/** The Basic auth login, or undefined (no Basic header, bad base64, no colon, unusable login). */
export function basicLogin(authorization: string | undefined): string | undefined {
  if (typeof authorization !== 'string' || authorization.length < 7 || authorization.length > 16 * 1024) return undefined;
  const m = BASIC.exec(authorization);
  if (!m || m[1]!.length % 4 === 1) return undefined;
  const bytes = Buffer.from(m[1]!, 'base64');
  try {
    const colon = bytes.indexOf(0x3a);
    if (colon <= 0) return undefined;
    return cleanLogin(decodeText(bytes.subarray(0, colon)));
  } finally {
    bytes.fill(0);
  }
}
