// The only way front ends hand audit data to the recorder (DESIGN: gateway -> recorder only
// through Emitter / Recorder). "Emit an audit event" is kept apart from "record a session
// stream" (recorder/cast, a later issue), as Teleport keeps its emitter and recorder apart.
import type { EventInput, SgEvent } from './events.js';

export type AuditMode = 'best_effort' | 'strict';

export interface Emitter {
  readonly mode: AuditMode;
  /**
   * Best effort: never blocks, never throws on the data path. The event is queued and
   * committed within one flush interval. Returns the stored event (with id/ts filled in),
   * or undefined when it was dropped (queue full: counted, and an `audit.gap` is stored).
   */
  emit(event: EventInput): SgEvent | undefined;
  /**
   * Resolves once the event is committed to disk; rejects with SG_ERR_STORE_UNAVAILABLE when
   * the store cannot write. `audit.mode: strict` front ends await this before going on.
   */
  emitDurable(event: EventInput): Promise<SgEvent>;
  /** False while the store cannot write (strict mode answers 503 / refuses sessions then). */
  writable(): boolean;
}
