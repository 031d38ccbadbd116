// One-time tickets for encrypted downloads. The browser POSTs the filters and the passphrase
// (JSON body: never in a URL, never in an access log), gets a ticket, then navigates to
// `GET /api/export?ticket=...` so the file streams to disk instead of into a blob in memory.
// A ticket is 256 random bits, kept only in memory and only as its SHA-256 (like sessions),
// bound to the viewer session that made it, valid 60 s, good for one download; its passphrase
// is dropped (and its bytes wiped) when it is used, replaced or expires.
import { createHash, randomBytes } from 'node:crypto';
import { SgError } from '../../gateway/core/errors.js';
import type { Clock } from '../../gateway/core/runtime.js';

export const TICKET_TTL_MS = 60_000;
/** Outstanding tickets per session; a new one past this replaces the oldest. */
export const TICKETS_PER_SESSION = 4;
const TICKET_RE = /^[A-Za-z0-9_-]{43}$/;

export interface TicketGrant<P> {
  /** What to export (checked when the ticket was made). */
  plan: P;
  /** UTF-8 bytes; the holder wipes them once the key is derived. */
  passphrase: Buffer;
}

interface Entry<P> extends TicketGrant<P> {
  session: string;
  expires_at: number;
  timer: NodeJS.Timeout;
}

export class ExportTickets<P> {
  private readonly byHash = new Map<string, Entry<P>>();

  constructor(private readonly clock: Clock) {}

  /** A new ticket for `session` (the ViewerSession hash). */
  issue(session: string, plan: P, passphrase: string): { ticket: string; expires_at: number } {
    this.sweep();
    const mine = [...this.byHash.entries()].filter(([, e]) => e.session === session);
    for (const [hash] of mine.slice(0, Math.max(0, mine.length - TICKETS_PER_SESSION + 1))) this.drop(hash);
    const ticket = randomBytes(32).toString('base64url');
    const hash = hashTicket(ticket);
    const expires_at = this.clock.now() + TICKET_TTL_MS;
    // Gone in real time too, even when nobody asks again (the injected clock may not move).
    const timer = setTimeout(() => this.drop(hash), TICKET_TTL_MS + 1000);
    timer.unref();
    this.byHash.set(hash, { session, plan, passphrase: Buffer.from(passphrase, 'utf8'), expires_at, timer });
    return { ticket, expires_at };
  }

  /**
   * The grant behind `ticket` for `session`; gone after this call whatever the outcome (a
   * ticket is tried once). Unknown, used and expired tickets: 404 SG_ERR_EXPORT_TICKET;
   * another session's: 403, same code.
   */
  take(ticket: string, session: string): TicketGrant<P> {
    const [hash, e] = this.find(ticket, session, true);
    clearTimeout(e.timer);
    this.byHash.delete(hash);
    return { plan: e.plan, passphrase: e.passphrase };
  }

  /** What `take` would export, leaving the ticket in place (HEAD requests). */
  peek(ticket: string, session: string): P {
    return this.find(ticket, session, false)[1].plan;
  }

  private find(ticket: string, session: string, consume: boolean): [string, Entry<P>] {
    this.sweep();
    const hash = TICKET_RE.test(ticket) ? hashTicket(ticket) : undefined;
    const e = hash === undefined ? undefined : this.byHash.get(hash);
    if (hash === undefined || !e) throw new SgError('SG_ERR_EXPORT_TICKET', 'no such export ticket: it was used, expired (60 s) or never issued; ask for a new one (POST /api/export/tickets)');
    if (e.session !== session) {
      // Someone else holds this ticket: it is burnt for everyone.
      if (consume) this.drop(hash);
      throw new SgError('SG_ERR_EXPORT_TICKET', 'this export ticket belongs to another viewer session', { status: 403 });
    }
    return [hash, e];
  }

  get size(): number {
    return this.byHash.size;
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [hash, e] of this.byHash) if (e.expires_at <= now) this.drop(hash);
  }

  private drop(hash: string): void {
    const e = this.byHash.get(hash);
    if (!e) return;
    clearTimeout(e.timer);
    e.passphrase.fill(0);
    this.byHash.delete(hash);
  }
}

function hashTicket(ticket: string): string {
  return createHash('sha256').update(ticket).digest('base64url');
}
