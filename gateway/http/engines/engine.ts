// The small seam between the proxy logic (written once, in gateway/http) and the HTTP server
// under it: uWebSockets.js (fast, default) or node:http (fallback). An engine parses requests,
// hands each one to the proxy as a RequestHead plus a ServerExchange to answer through, and
// feeds the request body to the BodyListener the proxy returns. Everything an engine does not
// decide itself (routing, headers, identity, recording) lives above this interface.
import type { Dispatcher } from 'undici';
import type { HttpSource } from '../../../recorder/events.js';
import type { BoundAddress } from '../../core/frontend.js';

/** Flat header pairs `[name, value, name, value, ...]`. Values may be raw bytes (upstream answers). */
export type HeaderList = (string | Buffer)[];

export interface RequestHead {
  /** As received (case preserved). */
  readonly method: string;
  /** Request target as received: path and `?query`, one char per byte (latin1). */
  readonly target: string;
  /** Flat `[name, value, ...]`, names lowercase, values one char per byte (latin1). */
  readonly headers: string[];
  /** Socket peer address (text, as the engine reports it). */
  readonly peer: string;
}

/** What the proxy gives back per request: the engine calls it with body bytes and socket events. */
export interface BodyListener {
  /** Request body bytes; `last` marks the end (possibly with an empty chunk). The chunk is owned. */
  onBody(chunk: Buffer, last: boolean): void;
  /** The client went away before the response ended. The exchange must not be used after this. */
  onAborted(): void;
  /** The response became writable again after write() returned false. */
  onWritable(): void;
}

export interface ServerExchange {
  /** Stop / restart reading the request body (backpressure towards the client). */
  pauseBody(): void;
  resumeBody(): void;
  /**
   * Sets the response head; it is written together with the first write()/end() (uWS corks them
   * into one syscall). `bodyLength` >= 0 frames the body with Content-Length, -1 streams it
   * (chunked). `noBody` (HEAD, 204, 304): no body is ever sent; `reportedLength` >= 0 is then sent
   * as Content-Length (a HEAD answer's length). Headers never contain framing or hop-by-hop fields.
   */
  head(status: number, reason: string, headers: HeaderList, bodyLength: number, noBody: boolean, reportedLength: number): void;
  /** Writes the head now if the engine can (a stream that starts slowly). May be a no-op. */
  flushHead(): void;
  /** Body bytes; false means stop until the listener's onWritable(). The chunk must not be reused. */
  write(chunk: Buffer): boolean;
  /** Ends the response (writes the head first if needed). */
  end(): void;
  /** A complete response in one go (the gateway's own pages); `close` closes the connection after it. */
  respond(status: number, reason: string, headers: HeaderList, body: Buffer, close: boolean): void;
  /** Cuts the connection now: the client sees a truncated response. */
  abort(): void;
}

/** An upgrade request (WebSocket, or anything carrying `Upgrade`) awaiting the proxy's decision. */
export interface UpgradeExchange {
  /** Refuse the upgrade with a normal response (the connection closes after it). */
  respond(status: number, reason: string, headers: HeaderList, body: Buffer): void;
  /** Connect the client to the upstream as planned; `done` reports the handshake outcome once. */
  relay(plan: UpgradePlan, done: (outcome: UpgradeOutcome) => void): void;
  /** Set by the proxy: called when the client goes away before the handshake completes. */
  onAborted?: () => void;
}

export interface UpgradePlan {
  /** Upstream origin (`http://host:port`) and the path to request there. */
  origin: string;
  path: string;
  /** Request headers for the upstream: hop-by-hop removed, X-Forwarded-* set, no `upgrade`/`connection`. */
  headers: string[];
  /** The protocol asked for in `Upgrade` (lowercase, e.g. `websocket`), or undefined for a plain request. */
  upgrade: string | undefined;
  /** The route's upstream pool. */
  dispatcher: Dispatcher;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  /** Response header names (lowercase) the client must not see: identity headers. */
  dropResponseHeaders: ReadonlySet<string>;
  /** WEB or API: the form of the gateway's own error answer if the handshake fails. */
  source: HttpSource;
}

export interface UpgradeOutcome {
  /** 101 when upgraded; else the status the client got (499 when it left first). */
  status: number;
  /** Set when the gateway answered itself or the handshake failed. */
  error?: string;
  upstreamMs?: number;
  bytesOut?: number;
}

export interface EngineHandlers {
  /** Called for every request. `expectsBody`: the request announced a body (Content-Length > 0 or
   *  Transfer-Encoding); the engine then delivers it through onBody(), ending with `last`. */
  request(head: RequestHead, ex: ServerExchange, expectsBody: boolean): BodyListener;
  upgrade(head: RequestHead, up: UpgradeExchange): void;
}

export interface Engine {
  readonly kind: 'uws' | 'node';
  /** True when the server writes its own Date header (uWS): the upstream's is then dropped. */
  readonly addsDate: boolean;
  listen(): Promise<BoundAddress>;
  /** Stop accepting new connections; open ones keep working. */
  stopAccepting(): void;
  /** Cut every connection now (HTTP, WebSocket and tunnels). */
  closeAll(): void;
}
