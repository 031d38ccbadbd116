// One proxied request, from head to record. Written once above the engine adapter: admission
// (framing, route, session, identity, refusals), forwarding through undici's low-level dispatch
// API with backpressure both ways, the answer back to the client, panel-session bookkeeping,
// and exactly one `http.request` event when it is over (answered, failed, or aborted).
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ErrorCode } from '../core/errors.js';
import type { HttpAction, HttpSource, IdentitySource } from '../../recorder/events.js';
import { clientIp } from '../core/client-ip.js';
import { requestAction, requestSource } from './analysis/classify.js';
import type { Identity } from './analysis/identity.js';
import { extractSessionKey, setCookieValue } from './analysis/session-key.js';
import type { BodyListener, HeaderList, RequestHead, ServerExchange, UpgradeExchange, UpgradeOutcome } from './engines/engine.js';
import { filterResponseHeaders, responseHeaderGetter, upstreamRequestHeaders, type FilteredResponse } from './headers.js';
import { gatewayAnswer, reasonPhrase, TEXTS, type PageText } from './pages.js';
import type { PanelSession } from './panel-sessions.js';
import type { HttpProxy } from './proxy.js';
import { hostOnly, scanHead, type HeadScan } from './request-head.js';
import type { CompiledRoute } from './routes.js';
import { classifyUpstreamError, describeError, isTimeout } from './upstream-errors.js';

const EMPTY = Buffer.alloc(0);

/** Why the gateway answered itself (before or instead of the upstream). */
export interface Refusal {
  status: number;
  code: ErrorCode;
  error: string;
  text: PageText;
  close: boolean;
  extraHeaders?: HeaderList;
}

class ClientAbortedError extends Error {
  readonly code = 'SG_CLIENT_ABORTED';
  constructor() {
    super('client aborted');
  }
}

class BodyTooLargeError extends Error {
  readonly code = 'SG_BODY_TOO_LARGE';
  constructor() {
    super('request body over the limit');
  }
}

/**
 * The request body as undici reads it: fed by the engine, pausing the client when undici (that is,
 * the upstream) does not keep up, resuming it when undici reads again.
 */
export class BodyStream extends Readable {
  private clientPaused = false;

  constructor(private readonly ex: ServerExchange) {
    super({ highWaterMark: 64 * 1024 });
  }

  feed(chunk: Buffer, last: boolean): void {
    if (this.destroyed) return;
    if (chunk.length > 0 && !this.push(chunk) && !last && !this.clientPaused) {
      this.clientPaused = true;
      this.ex.pauseBody();
    }
    if (last) this.push(null);
  }

  override _read(): void {
    if (this.clientPaused) {
      this.clientPaused = false;
      this.ex.resumeBody();
    }
  }
}

/**
 * What every request (plain or upgrade) knows, the admission checks, and the record. Subclasses
 * drive the upstream side.
 */
export abstract class RequestContext {
  readonly ts: number;
  readonly t0: number;
  readonly scan: HeadScan;
  route: CompiledRoute | undefined = undefined;
  ip = '';
  trustedPeer = false;
  source: HttpSource = 'WEB';
  action: HttpAction = 'view';
  /** Hash of the request's own session key. */
  hash: string | undefined = undefined;
  session: PanelSession | undefined = undefined;
  /** Identity from the request itself (JWT, Basic). */
  reqIdentity: Identity | undefined = undefined;
  /** Identity for the record (request, response, or carried by the session). */
  identity: Identity | undefined = undefined;
  identitySource: IdentitySource | undefined = undefined;
  status = 0;
  bytesIn = 0;
  bytesOut = 0;
  error: string | undefined = undefined;
  upstreamMs: number | undefined = undefined;
  finished = false;
  /** The socket peer, normalised (computed once: admission and X-Forwarded-For both use it). */
  private peer: string | undefined = undefined;

  constructor(
    readonly proxy: HttpProxy,
    readonly head: RequestHead,
  ) {
    this.ts = proxy.clock.now();
    this.t0 = performance.now();
    proxy.begin();
    this.scan = scanHead(head, proxy.limits);
  }

  /** Runs every check before forwarding; a Refusal means the upstream must never see this request. */
  protected admit(bodyPending: boolean): Refusal | undefined {
    const p = this.proxy;
    const scan = this.scan;
    const head = this.head;
    if (p.trusted.size > 0) {
      this.trustedPeer = p.trusted.has(head.peer);
      this.ip = clientIp(head.peer, scan.xff, p.trusted);
    } else {
      this.ip = this.peerIp();
    }
    if (scan.problem) {
      const pr = scan.problem;
      this.source = p.fallbackSource(head.target, scan);
      p.refused(pr.error);
      p.logger.debug({ ip: this.ip, reason: pr.detail }, 'request refused');
      return { status: pr.status, code: pr.code, error: pr.error, text: TEXTS[pr.error], close: true };
    }
    const route = p.routes.match(scan.host, head.target);
    if (route === undefined) {
      this.source = p.fallbackSource(head.target, scan);
      p.refused('no_route');
      return { status: 404, code: 'SG_ERR_NO_ROUTE', error: 'no_route', text: TEXTS.no_route(hostOnly(scan.host)), close: bodyPending };
    }
    this.route = route;
    const cfg = route.cfg;
    this.source = requestSource(cfg, head.target, scan.authorization, scan.accept);
    this.action = requestAction(cfg, head.method, head.target);
    const key = extractSessionKey(cfg.session, scan.cookie, scan.authorization);
    if (key !== undefined) {
      const hash = p.hasher.hash(key);
      this.hash = hash;
      if (p.access.isSessionRevoked(hash)) {
        p.refused('revoked');
        // Clearing the dead cookie lets the browser start a fresh session (a lock keeps a person out).
        const extra = route.clearSessionCookie && this.source === 'WEB' ? ['set-cookie', route.clearSessionCookie] : undefined;
        return this.refusal('revoked', bodyPending, extra);
      }
      this.session = p.sessions.get(hash);
    }
    this.reqIdentity = route.identity.fromRequest({ authorization: scan.authorization, cookie: scan.cookie });
    if (this.reqIdentity) {
      this.identity = this.reqIdentity;
      this.identitySource = this.reqIdentity.source;
    } else if (this.session?.identity) {
      this.identity = this.session.identity;
      this.identitySource = 'session';
    }
    if (p.access.check({ ip: this.ip, login: this.identity?.login, email: this.identity?.email })) {
      p.refused('locked');
      return this.refusal('locked', bodyPending);
    }
    if (this.hash !== undefined) this.session = p.sessions.touch(this.hash, this.ip, { realm: route.realm, route: route.name });
    return undefined;
  }

  /** The request head as the upstream gets it (hop-by-hop removed, X-Forwarded-* set, viewer cookie gone). */
  protected upstreamHeaders(): string[] {
    const scan = this.scan;
    return upstreamRequestHeaders(this.head.headers, {
      preserveHost: this.route!.cfg.preserve_host,
      viewerCookie: this.proxy.viewerCookieName,
      peerIp: this.peerIp(),
      trustedPeer: this.trustedPeer,
      proto: this.proxy.scheme,
      host: scan.host,
      connection: scan.connection,
      xff: scan.xff,
      xfProto: scan.xfProto,
      xfHost: scan.xfHost,
    });
  }

  protected peerIp(): string {
    return (this.peer ??= this.proxy.peerIp(this.head.peer));
  }

  /** Revoked and locked: 401 JSON for API clients, a 403 page for browsers. */
  protected refusal(error: 'revoked' | 'locked', close: boolean, extraHeaders?: HeaderList): Refusal {
    const api = this.source === 'API';
    const code: ErrorCode = error === 'revoked' ? 'SG_ERR_SESSION_REVOKED' : 'SG_ERR_LOCKED';
    return { status: api ? 401 : 403, code, error, text: TEXTS[error], close, extraHeaders };
  }

  protected answerFor(r: Refusal): ReturnType<typeof gatewayAnswer> {
    const a = gatewayAnswer(this.source, r.status, r.code, r.text, r.extraHeaders);
    this.status = a.status;
    this.error = r.error;
    // HEAD answers carry no body (the engines would otherwise send one).
    if (this.head.method === 'HEAD') a.body = EMPTY;
    this.bytesOut = a.body.length;
    return a;
  }

  /** Something threw inside the gateway: answer 500 if still possible, and record it. */
  abstract internalError(): void;

  /** Records the request once; called when it is over in any way. */
  protected finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.proxy.end(this);
  }

  /** panel_session for the record: the session's stable id, or the hash of the request's own key. */
  get panelSession(): string | undefined {
    return this.session?.id ?? this.hash;
  }
}

/** A plain HTTP request: the BodyListener the engine feeds, and the undici handler for the answer. */
export class ProxyExchange extends RequestContext implements BodyListener, Dispatcher.DispatchHandler {
  private bodyStream: BodyStream | undefined = undefined;
  private formChunks: Buffer[] | undefined = undefined;
  private formBytes = 0;
  private formLogin: string | undefined = undefined;
  private bodyEnded: boolean;
  private dispatched = false;
  private awaitFirstChunk = false;
  /** The gateway answered (refusal, upstream error): later upstream/body events are ignored. */
  private answered = false;
  private clientGone = false;
  private headGiven = false;
  private abortUpstream: ((err?: Error) => void) | undefined = undefined;
  private resumeUpstream: (() => void) | undefined = undefined;
  private upstreamPaused = false;
  private tUp = 0;

  constructor(
    proxy: HttpProxy,
    head: RequestHead,
    private readonly ex: ServerExchange,
    private readonly expectsBody: boolean,
  ) {
    super(proxy, head);
    this.bodyEnded = !expectsBody;
  }

  /** Admission, then forwarding (or buffering of the login form first). */
  start(): void {
    const refusal = this.admit(!this.bodyEnded);
    if (refusal) return this.answer(refusal);
    const route = this.route!;
    if (this.expectsBody && route.identity.wantsFormBody(this.head.method, this.head.target)) {
      this.formChunks = [];
      return;
    }
    if (this.expectsBody) this.bodyStream = new BodyStream(this.ex);
    // A chunked body is forwarded once its first chunk parsed: a broken first chunk-size line
    // (the engine cuts the connection) then never reaches the upstream.
    if (this.scan.chunked) this.awaitFirstChunk = true;
    else this.forward(this.bodyStream ?? null);
  }

  // ---- BodyListener (client side) ----

  onBody(chunk: Buffer, last: boolean): void {
    if (last) this.bodyEnded = true;
    if (this.answered || this.clientGone) return;
    this.bytesIn += chunk.length;
    const max = this.proxy.limits.maxBodyBytes;
    if (max > 0 && this.bytesIn > max) return this.bodyTooLarge();
    if (this.formChunks !== undefined) {
      if (chunk.length > 0) this.formChunks.push(chunk);
      this.formBytes += chunk.length;
      if (last) this.formReady(true);
      else if (this.formBytes > this.route!.identity.formMaxBody) this.formReady(false);
      return;
    }
    if (this.awaitFirstChunk) {
      this.awaitFirstChunk = false;
      this.forward(this.bodyStream!);
    }
    this.bodyStream?.feed(chunk, last);
  }

  onAborted(): void {
    if (this.clientGone || this.finished) return;
    this.clientGone = true;
    if (this.error === undefined) this.error = this.proxy.cutting ? 'gateway_shutdown' : 'client_aborted';
    if (this.status === 0) this.status = 499;
    this.abortUpstream?.(new ClientAbortedError());
    this.bodyStream?.destroy();
    this.finish();
  }

  onWritable(): void {
    if (this.upstreamPaused) {
      this.upstreamPaused = false;
      this.resumeUpstream?.();
    }
  }

  // ---- undici dispatch handler (upstream side) ----

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.answered || this.clientGone) abort(new ClientAbortedError());
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // 1xx (103 Early Hints...) are not passed on; the final answer follows.
    if (statusCode < 200) return true;
    if (this.answered || this.clientGone) return false;
    const p = this.proxy;
    const route = this.route!;
    this.status = statusCode;
    this.upstreamMs = performance.now() - this.tUp;
    p.observeUpstream(route, this.upstreamMs);
    this.resumeUpstream = resume;
    const f = filterResponseHeaders(rawHeaders, route.identityHeaders, p.addsDate);
    this.afterResponse(statusCode, f);
    const m = this.head.method;
    const isHead = m === 'HEAD';
    const noBody = isHead || statusCode === 204 || statusCode === 304;
    this.headGiven = true;
    this.ex.head(statusCode, statusText || reasonPhrase(statusCode), f.headers, noBody ? -1 : f.contentLength, noBody, isHead ? f.contentLength : -1);
    if (!noBody) scheduleFlush(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.answered || this.clientGone) return true;
    this.bytesOut += chunk.length;
    if (this.ex.write(chunk)) return true;
    this.upstreamPaused = true;
    return false;
  }

  onComplete(): void {
    if (this.answered || this.clientGone || this.finished) return;
    this.answered = true;
    if (!this.bodyEnded) {
      // The upstream answered without reading the whole upload: the rest is drained and dropped,
      // and a client paused for backpressure is let go so the connection can serve the next request.
      this.bodyStream?.destroy();
      this.ex.resumeBody();
    }
    this.ex.end();
    this.finish();
  }

  onError(err: Error): void {
    if (this.finished || this.clientGone) return;
    if (this.answered) return;
    if (this.proxy.cutting) {
      // Shutdown after the grace period: the pools are destroyed under in-flight requests.
      this.answered = true;
      this.error = 'gateway_shutdown';
      if (this.status === 0) this.status = 499;
      this.ex.abort();
      return this.finish();
    }
    if (!this.headGiven) {
      const f = classifyUpstreamError(err);
      if (f.error !== 'bad_request') this.proxy.upstreamFailed(this.route!, err, f.error);
      this.answer({ status: f.status, code: f.code, error: f.error, text: TEXTS[f.error], close: !this.bodyEnded });
      return;
    }
    // The answer had begun: the client can only learn of the failure by a cut connection.
    this.answered = true;
    this.error = isTimeout(err) ? 'upstream_timeout' : 'upstream_aborted';
    this.proxy.logger.warn({ route: this.route!.name, err: describeError(err) }, 'upstream answer broken off');
    this.ex.abort();
    this.finish();
  }

  /** Only called by the undici handler contract for upgrades; plain requests never upgrade. */
  onUpgrade(): void {
    this.onError(new Error('unexpected upgrade'));
  }

  /** The head goes out even when the body is slow to start (called on the next loop turn). */
  flushHeadNow(): void {
    if (!this.answered && !this.clientGone && this.bytesOut === 0) this.ex.flushHead();
  }

  internalError(): void {
    if (this.finished) return;
    if (this.headGiven || this.answered) {
      this.answered = true;
      this.error = 'internal';
      this.ex.abort();
      return this.finish();
    }
    this.answer({ status: 500, code: 'SG_ERR_INTERNAL', error: 'internal', text: TEXTS.internal, close: true });
  }

  // ---- internals ----

  private forward(body: Buffer | BodyStream | null): void {
    const route = this.route!;
    const headers = this.upstreamHeaders();
    this.dispatched = true;
    this.tUp = performance.now();
    route.pool.dispatch({ path: route.upstreamPath(this.head.target), method: this.head.method, headers, body }, this);
  }

  private formReady(complete: boolean): void {
    const chunks = this.formChunks!;
    this.formChunks = undefined;
    const route = this.route!;
    if (!complete) {
      // Too big to be a login form: forward it untouched, streaming, without looking for a login.
      const s = new BodyStream(this.ex);
      this.bodyStream = s;
      for (const c of chunks) s.feed(c, false);
      this.forward(s);
      return;
    }
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    this.formLogin = route.identity.formLogin(this.scan.contentType, body);
    if (this.formLogin !== undefined && this.proxy.access.check({ ip: this.ip, login: this.formLogin })) {
      this.proxy.refused('locked');
      this.identity = { login: this.formLogin, verified: false, source: 'form' };
      this.identitySource = 'form';
      return this.answer(this.refusal('locked', false));
    }
    this.forward(body);
  }

  private bodyTooLarge(): void {
    this.proxy.refused('body_too_large');
    if (!this.headGiven) {
      this.answer({ status: 413, code: 'SG_ERR_BODY_TOO_LARGE', error: 'body_too_large', text: TEXTS.body_too_large, close: true });
      return;
    }
    // Marked answered first: destroying the body makes undici report an error synchronously.
    this.answered = true;
    this.error = 'body_too_large';
    const err = new BodyTooLargeError();
    this.bodyStream?.destroy(err);
    this.abortUpstream?.(err);
    this.ex.abort();
    this.finish();
  }

  /**
   * The gateway's own answer; the upstream request (if any) is abandoned. Answers that close the
   * connection go out on the next turn: uWS parses bytes left after a refused head (a smuggled
   * second request) right after the handler returns, and a still-pending response makes it drop
   * the connection instead of handing that request over.
   */
  private answer(r: Refusal): void {
    this.answered = true;
    if (this.dispatched) this.abortUpstream?.(new ClientAbortedError());
    this.bodyStream?.destroy();
    const a = this.answerFor(r);
    const close = r.close || this.proxy.closing;
    if (close) setImmediate(sendLater, this.ex, a, close);
    else if (!this.clientGone) this.ex.respond(a.status, a.reason, a.headers, a.body, false);
    this.finish();
  }

  /** Identity from the answer, and what the answer does to the panel session (login, rotation, logout). */
  private afterResponse(status: number, f: FilteredResponse): void {
    const p = this.proxy;
    const route = this.route!;
    if (route.hasIdentity) {
      const resp = route.identity.fromResponse(status, responseHeaderGetter(f), this.formLogin, this.reqIdentity);
      if (resp) {
        this.identity = resp;
        this.identitySource = resp.source;
      }
    }
    let s = this.session;
    let ended = false;
    if (route.sessionCookie !== undefined && f.setCookies !== undefined) {
      const v = setCookieValue(f.setCookies, route.sessionCookie, p.clock.now());
      if (v === null) {
        if (s) p.sessions.end(s);
        ended = true;
      } else if (typeof v === 'string' && v.length > 0) {
        const h = p.hasher.hash(v);
        if (s) p.sessions.rotate(s, h);
        else s = p.sessions.touch(h, this.ip, { realm: route.realm, route: route.name });
      }
    }
    if (s === undefined) return;
    this.session = s;
    if (ended) return;
    const id = this.identity;
    // A refused login attempt is recorded (who tried) but never bound to the session.
    if (id !== undefined && id.login && this.identitySource !== 'session' && (id.source !== 'form' || id.verified)) p.sessions.learn(s, id);
    if (this.action === 'logout' && status < 400) p.sessions.end(s);
  }
}

// Heads whose body has not started are flushed once undici has parsed what the current socket
// read holds (a microtask: it runs after the whole read is processed, so a head and a body that
// arrived together still go out in one write). Not setImmediate: a pending immediate stops the
// loop from waiting in epoll, so every turn serves fewer requests and costs more per request.
let toFlush: ProxyExchange[] = [];
function flushHeads(): void {
  const list = toFlush;
  toFlush = [];
  for (const x of list) x.flushHeadNow();
}
function scheduleFlush(x: ProxyExchange): void {
  if (toFlush.push(x) === 1) queueMicrotask(flushHeads);
}

function sendLater(ex: ServerExchange, a: ReturnType<typeof gatewayAnswer>, close: boolean): void {
  // respond() is a no-op on an exchange whose client is gone.
  ex.respond(a.status, a.reason, a.headers, a.body, close);
}

/** An upgrade request (WebSocket): admission like any request, then the engine relays it. */
export class UpgradeCall extends RequestContext {
  constructor(
    proxy: HttpProxy,
    head: RequestHead,
    private readonly up: UpgradeExchange,
  ) {
    super(proxy, head);
  }

  start(): void {
    const refusal = this.admit(false);
    if (refusal) {
      // Deferred like ProxyExchange.answer(): bytes after a refused head must not become a request.
      const a = this.answerFor(refusal);
      setImmediate(() => this.up.respond(a.status, a.reason, a.headers, a.body));
      return this.finish();
    }
    const route = this.route!;
    const scan = this.scan;
    const headers = this.upstreamHeaders();
    const proto = scan.upgrade?.trim().toLowerCase();
    this.up.onAborted = () => {
      if (this.finished) return;
      this.status = this.status || 499;
      this.error = this.proxy.cutting ? 'gateway_shutdown' : 'client_aborted';
      this.finish();
    };
    this.up.relay(
      {
        origin: route.origin,
        path: route.upstreamPath(this.head.target),
        headers,
        upgrade: proto === 'websocket' ? 'websocket' : undefined,
        dispatcher: route.pool,
        connectTimeoutMs: route.cfg.timeouts.connect,
        headersTimeoutMs: route.cfg.timeouts.headers,
        dropResponseHeaders: route.identityHeaders,
        source: this.source,
      },
      (o: UpgradeOutcome) => this.done(o),
    );
  }

  internalError(): void {
    if (this.finished) return;
    const a = this.answerFor({ status: 500, code: 'SG_ERR_INTERNAL', error: 'internal', text: TEXTS.internal, close: true });
    try {
      this.up.respond(a.status, a.reason, a.headers, a.body);
    } finally {
      this.finish();
    }
  }

  private done(o: UpgradeOutcome): void {
    if (this.finished) return;
    this.status = o.status;
    if (o.error) this.error = o.error;
    if (o.upstreamMs !== undefined) {
      this.upstreamMs = o.upstreamMs;
      this.proxy.observeUpstream(this.route!, o.upstreamMs);
    }
    this.bytesOut = o.bytesOut ?? 0;
    if (o.error === 'upstream_unavailable' || o.error === 'upstream_timeout') this.proxy.upstreamFailed(this.route!, undefined, o.error);
    this.finish();
  }
}
