// Shared gate for every login name taken from client-controlled input (Basic, form, JWT, headers):
// control and invisible formatting characters would let a client forge or hide log lines.

/** Longest login we keep; longer ones are refused rather than cut (a cut name is a different name). */
export const MAX_LOGIN_LENGTH = 256;

// C0/C1 controls, DEL, line/paragraph separators, format chars (bidi overrides, zero-width) and
// lone surrogates (not text: they cannot be stored or shown faithfully).
const BAD_CHARS = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/** The trimmed login, or undefined when empty, too long or holding control/format characters. */
export function cleanLogin(raw: string | undefined): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const s = raw.trim();
  if (s.length === 0 || s.length > MAX_LOGIN_LENGTH) return undefined;
  if (BAD_CHARS.test(s)) return undefined;
  return s;
}

/** Same rules for display fields (name, email, client, type): longer limit, undefined when unusable. */
export function cleanField(raw: unknown, max = 512): string | undefined {
  if (typeof raw === 'number' && Number.isFinite(raw)) raw = String(raw);
  if (typeof raw !== 'string') return undefined;
  const s = raw.trim();
  if (s.length === 0 || s.length > max) return undefined;
  if (BAD_CHARS.test(s)) return undefined;
  return s;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes as UTF-8, falling back to Latin-1 (old clients) instead of producing U+FFFD. */
export function decodeText(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  }
}

/** Header values arrive as Latin-1 strings; a UTF-8 name sent raw is re-read as UTF-8 when it is valid. */
export function headerText(value: string): string {
  if (!/[\u0080-\u00ff]/.test(value) || /[^\u0000-\u00ff]/.test(value)) return value;
  try {
    return utf8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}

/** Percent-decoding that never throws: bad escapes stay as they are; `plus` turns `+` into a space. */
export function percentDecode(s: string, plus: boolean): string {
  if (plus && s.includes('+')) s = s.replace(/\+/g, ' ');
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    // Decode byte-wise, keeping malformed escapes literally, then read the bytes as text.
    const bytes: number[] = [];
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 0x25 && i + 2 < s.length && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
        bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
        i += 2;
      } else if (c < 0x80) {
        bytes.push(c);
      } else {
        const cp = s.codePointAt(i)!;
        for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) bytes.push(b);
        if (cp > 0xffff) i++;
      }
    }
    return decodeText(Uint8Array.from(bytes));
  }
}
