// One pass over a request head: framing validation BEFORE anything is forwarded, plus the few
// header values the proxy needs later. uWebSockets.js accepts things it should not (two
// Content-Length headers, a 100 KB header, an 8 KB+ URL), so the limits and the framing rules
// are enforced here, identically for both engines.
import type { ErrorCode } from '../core/errors.js';
import type { RequestHead } from './engines/engine.js';

export interface HeadLimits {
  maxHeaderBytes: number;
  maxUrlBytes: number;
  maxHeaders: number;
  /** 0 = no limit. */
  maxBodyBytes: number;
}

/** Why a head was refused: the record's `error`, the status and the SG_ERR_* code. */
export interface HeadProblem {
  error: 'bad_request' | 'smuggling' | 'header_too_large' | 'url_too_long' | 'body_too_large';
  status: number;
  code: ErrorCode;
  detail: string;
}

/** Method names longer than this are refused (real ones are <= 12 chars; PROPPATCH, MKCALENDAR...). */
export const MAX_METHOD_LENGTH = 32;

// RFC 9110 tchar: ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

function isDigits(s: string): boolean {
  if (s.length === 0 || s.length > 15) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** `chunked`, case-insensitive, optional surrounding whitespace: the only transfer coding accepted. */
function isChunked(v: string): boolean {
  const t = v.length === 7 ? v : v.trim();
  return t.length === 7 && t.toLowerCase() === 'chunked';
}

/** The outcome of scanning one head. Fields are raw header values (several copies joined). */
export class HeadScan {
  problem: HeadProblem | undefined = undefined;
  host: string | undefined = undefined;
  /** -1 when absent. */
  contentLength = -1;
  chunked = false;
  cookie: string | undefined = undefined;
  authorization: string | undefined = undefined;
  accept: string | undefined = undefined;
  userAgent: string | undefined = undefined;
  contentType: string | undefined = undefined;
  xff: string | undefined = undefined;
  xfProto: string | undefined = undefined;
  xfHost: string | undefined = undefined;
  connection: string | undefined = undefined;
  upgrade: string | undefined = undefined;

  /** True when the request has a body to read (non-zero Content-Length or chunked). */
  get hasBody(): boolean {
    return this.chunked || this.contentLength > 0;
  }
}

const REQUEST_LINE_EXTRA = ' HTTP/1.1\r\n'.length + 1;

function problem(error: HeadProblem['error'], detail: string): HeadProblem {
  switch (error) {
    case 'url_too_long':
      return { error, status: 414, code: 'SG_ERR_URL_TOO_LONG', detail };
    case 'header_too_large':
      return { error, status: 431, code: 'SG_ERR_HEADER_TOO_LARGE', detail };
    case 'body_too_large':
      return { error, status: 413, code: 'SG_ERR_BODY_TOO_LARGE', detail };
    case 'smuggling':
      return { error, status: 400, code: 'SG_ERR_SMUGGLING', detail };
    default:
      return { error, status: 400, code: 'SG_ERR_BAD_REQUEST', detail };
  }
}

/**
 * Validates the head and collects the values the proxy uses. Checks, in order: method token
 * (<= 32 chars), origin-form target, URL length, header count, header bytes (request line
 * included, counted in chars: one per byte for latin1 heads), then framing: exactly zero or one
 * Content-Length of plain digits, Transfer-Encoding only `chunked` and never with Content-Length,
 * one Host, one Authorization. A declared body over the limit is refused before it is read.
 */
export function scanHead(head: RequestHead, limits: HeadLimits): HeadScan {
  const s = new HeadScan();
  const { method, target, headers } = head;
  if (method.length > MAX_METHOD_LENGTH || !isToken(method)) {
    s.problem = problem('bad_request', 'invalid method');
    return s;
  }
  if (target.charCodeAt(0) !== 0x2f /* / */) {
    s.problem = problem('bad_request', 'request target is not origin-form');
    return s;
  }
  if (target.length > limits.maxUrlBytes) {
    s.problem = problem('url_too_long', `request target over ${limits.maxUrlBytes} bytes`);
    return s;
  }
  const n = headers.length >> 1;
  if (n > limits.maxHeaders) {
    s.problem = problem('header_too_large', `more than ${limits.maxHeaders} header fields`);
    return s;
  }
  let bytes = method.length + target.length + REQUEST_LINE_EXTRA;
  let clCount = 0;
  let teCount = 0;
  let hostCount = 0;
  let authCount = 0;
  let clValue = '';
  let teOk = true;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    bytes += name.length + value.length + 4;
    switch (name) {
      case 'host':
        hostCount++;
        s.host = value;
        break;
      case 'content-length':
        clCount++;
        clValue = value;
        break;
      case 'transfer-encoding':
        teCount++;
        if (!isChunked(value)) teOk = false;
        break;
      case 'cookie':
        s.cookie = s.cookie === undefined ? value : `${s.cookie}; ${value}`;
        break;
      case 'authorization':
        authCount++;
        s.authorization = value;
        break;
      case 'accept':
        s.accept = s.accept === undefined ? value : `${s.accept}, ${value}`;
        break;
      case 'user-agent':
        s.userAgent = value;
        break;
      case 'content-type':
        s.contentType = value;
        break;
      case 'x-forwarded-for':
        s.xff = s.xff === undefined ? value : `${s.xff}, ${value}`;
        break;
      case 'x-forwarded-proto':
        s.xfProto = value;
        break;
      case 'x-forwarded-host':
        s.xfHost = value;
        break;
      case 'connection':
        s.connection = s.connection === undefined ? value : `${s.connection}, ${value}`;
        break;
      case 'upgrade':
        s.upgrade = value;
        break;
    }
  }
  if (bytes > limits.maxHeaderBytes) {
    s.problem = problem('header_too_large', `request head over ${limits.maxHeaderBytes} bytes`);
    return s;
  }
  if (clCount > 1) {
    s.problem = problem('smuggling', 'more than one Content-Length');
    return s;
  }
  if (teCount > 0 && clCount > 0) {
    s.problem = problem('smuggling', 'both Content-Length and Transfer-Encoding');
    return s;
  }
  if (teCount > 1 || !teOk) {
    s.problem = problem('smuggling', 'Transfer-Encoding other than a single "chunked"');
    return s;
  }
  if (clCount === 1) {
    const v = clValue.length > 0 && (clValue.charCodeAt(0) === 0x20 || clValue.charCodeAt(clValue.length - 1) === 0x20) ? clValue.trim() : clValue;
    if (!isDigits(v)) {
      s.problem = problem('smuggling', 'invalid Content-Length');
      return s;
    }
    s.contentLength = Number(v);
  }
  s.chunked = teCount === 1;
  if (hostCount > 1) {
    s.problem = problem('bad_request', 'more than one Host');
    return s;
  }
  if (authCount > 1) {
    s.problem = problem('bad_request', 'more than one Authorization');
    return s;
  }
  if (limits.maxBodyBytes > 0 && s.contentLength > limits.maxBodyBytes) {
    s.problem = problem('body_too_large', `Content-Length over ${limits.maxBodyBytes} bytes`);
    return s;
  }
  return s;
}

/** Host header without port, lowercase, no trailing dot; `[v6]` keeps its brackets. */
export function hostOnly(host: string | undefined): string {
  if (!host) return '';
  let h = host;
  if (h.charCodeAt(0) === 0x5b /* [ */) {
    const close = h.indexOf(']');
    h = close === -1 ? h : h.slice(0, close + 1);
  } else {
    const colon = h.indexOf(':');
    if (colon !== -1) h = h.slice(0, colon);
  }
  if (h.charCodeAt(h.length - 1) === 0x2e /* . */) h = h.slice(0, -1);
  // Lowercasing allocates; most Host headers are already lowercase.
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return h.toLowerCase();
  }
  return h;
}
