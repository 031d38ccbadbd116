// uWebSockets.js glue for the viewer: copy what a handler needs out of the stack-allocated
// HttpRequest, read a bounded body, and write one complete reply — never to an aborted
// response, always corked (the reply is written after async work) and always with the
// security headers. Handlers above this file see plain objects and never touch uWS.
import { STATUS_CODES } from 'node:http';
import type { HttpRequest, HttpResponse } from '@trufflesuite/uws-js-unofficial';
import { SgError } from '../../gateway/core/errors.js';

export const MAX_BODY_BYTES = 64 * 1024;

export interface ViewerRequest {
  /** As sent (methods are case-sensitive). */
  method: string;
  /** Path without the query string, as sent (not decoded). */
  path: string;
  /** Raw query string without `?`. */
  query: string;
  /** Lowercase names; repeated headers joined (`, `, or `; ` for cookie). */
  headers: Map<string, string>;
  /** Socket peer address. */
  peer: string;
}

export interface Reply {
  status: number;
  /** Extra headers; a name may repeat (Set-Cookie). */
  headers?: [string, string][];
  contentType?: string;
  body?: string | Buffer;
  /** Close the connection after this reply (the client may still be sending a body). */
  close?: boolean;
  /**
   * A body produced after the headers are sent (exports), chunked, instead of `body`. `write`
   * resolves when the client can take more (backpressure) and rejects once the client is
   * gone; `signal` aborts then too. If the producer throws mid-body the connection is closed
   * without the final chunk, so the client sees a truncated response, never a complete one.
   */
  stream?: (write: (chunk: Buffer) => Promise<void>, signal: AbortSignal) => Promise<void>;
}

// Scripts only from the viewer itself. Inline styles are allowed because the web terminal
// (xterm.js) colours and sizes its cells through <style> elements and style attributes; nothing
// recorded ever becomes markup (Preact and asciinema-player render it as text).
// 'wasm-unsafe-eval' lets the page compile WebAssembly: asciinema-player (replay, live watch)
// bundles its terminal as WebAssembly. It allows no JavaScript eval and no foreign script.
const SECURITY_HEADERS: [string, string][] = [
  ['Content-Security-Policy', "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"],
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'no-referrer'],
  ['X-Frame-Options', 'DENY'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  // Nothing the viewer serves may be cached: it is audit evidence or a session.
  ['Cache-Control', 'no-store'],
  ['Pragma', 'no-cache'],
];
const HSTS: [string, string] = ['Strict-Transport-Security', 'max-age=31536000'];

/** Everything the handler needs, copied while `req` is valid (it is stack-allocated). */
export function snapshotRequest(res: HttpResponse, req: HttpRequest): ViewerRequest {
  const headers = new Map<string, string>();
  req.forEach((k, v) => {
    const prev = headers.get(k);
    headers.set(k, prev === undefined ? v : `${prev}${k === 'cookie' ? '; ' : ', '}${v}`);
  });
  const method = typeof req.getCaseSensitiveMethod === 'function' ? req.getCaseSensitiveMethod() : req.getMethod().toUpperCase();
  return { method, path: req.getUrl(), query: req.getQuery() ?? '', headers, peer: Buffer.from(res.getRemoteAddressAsText()).toString('latin1') };
}

/**
 * Reads the request body up to `limit` bytes. Rejects with SG_ERR_BODY_TOO_LARGE as soon as
 * the declared or received size passes the limit (the caller answers and closes).
 */
export function readBody(res: HttpResponse, declaredLength: string | undefined, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (declaredLength !== undefined && (!/^\d{1,15}$/.test(declaredLength) || Number(declaredLength) > limit)) {
      reject(tooLarge(limit));
      // Stop buffering: whatever else arrives is dropped by the close that follows the reply.
      res.onData(() => {});
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    res.onData((chunk, isLast) => {
      if (failed) return;
      size += chunk.byteLength;
      if (size > limit) {
        failed = true;
        reject(tooLarge(limit));
        return;
      }
      // uWS neuters the ArrayBuffer when this callback returns: copy it.
      if (chunk.byteLength > 0) chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
  });
}

function tooLarge(limit: number): SgError {
  return new SgError('SG_ERR_BODY_TOO_LARGE', `request body larger than ${limit} bytes`);
}

/** Writes the reply unless the client went away. `head`: headers only (HEAD requests). */
export function writeReply(res: HttpResponse, state: { aborted: boolean }, reply: Reply, opts: { tls: boolean; head: boolean }): void {
  if (state.aborted) return;
  state.aborted = true; // a response is written once
  if (reply.stream && !opts.head) {
    writeStream(res, reply, reply.stream, opts.tls);
    return;
  }
  const body = reply.body ?? '';
  res.cork(() => {
    writeHead(res, reply, opts.tls);
    if (opts.head) res.endWithoutBody(reply.stream ? undefined : Buffer.byteLength(body), reply.close === true);
    else res.end(body, reply.close === true);
  });
}

function writeHead(res: HttpResponse, reply: Reply, tls: boolean): void {
  res.writeStatus(`${reply.status} ${STATUS_CODES[reply.status] ?? 'Unknown'}`);
  for (const [k, v] of SECURITY_HEADERS) res.writeHeader(k, v);
  if (tls) res.writeHeader(HSTS[0], HSTS[1]);
  if (reply.contentType) res.writeHeader('Content-Type', reply.contentType);
  for (const [k, v] of reply.headers ?? []) res.writeHeader(k, safeHeaderValue(v));
}

/** Chunked body with backpressure: a chunk uWS could not send waits for onWritable. */
function writeStream(res: HttpResponse, reply: Reply, produce: NonNullable<Reply['stream']>, tls: boolean): void {
  const ac = new AbortController();
  let drained: (() => void) | undefined;
  // Replaces the catch-all's handler: from now on a client going away aborts the producer.
  res.onAborted(() => {
    ac.abort(new SgError('SG_ERR_INTERNAL', 'client went away'));
    drained?.();
  });
  res.onWritable(() => {
    drained?.();
    return true;
  });
  res.cork(() => writeHead(res, reply, tls));
  const write = async (chunk: Buffer): Promise<void> => {
    ac.signal.throwIfAborted();
    let ok = true;
    res.cork(() => {
      ok = res.write(chunk);
    });
    if (ok) return;
    await new Promise<void>((resolve) => (drained = resolve));
    drained = undefined;
    ac.signal.throwIfAborted();
  };
  produce(write, ac.signal).then(
    () => {
      if (!ac.signal.aborted) res.cork(() => res.end(undefined, reply.close === true));
    },
    () => {
      if (!ac.signal.aborted) res.close();
    },
  );
}

/** Header values come from our own code, but never let a CR/LF/NUL through whatever the source. */
function safeHeaderValue(v: string): string {
  return /[\r\n\0]/.test(v) ? v.replace(/[\r\n\0]/g, ' ') : v;
}
