// The recorder's public API: the only code that writes audit data (DESIGN: gateway -> recorder
// only through Emitter / Recorder; viewer -> recorder for queries).
export { Recorder, RETRY_MIN_MS, RETRY_MAX_MS, DEFAULT_CLOSE_TIMEOUT_MS } from './recorder.js';
export type { RecorderOptions, RecorderStats, CommitListener } from './recorder.js';
export { Store, STORE_WRITERS, SCHEMA_VERSION, DEFAULT_SCAN_BUDGET, eventProblem, isDiskFull } from './store/store.js';
export type { StoreOptions, StoreWriter, WriteResult, KvDatabase } from './store/store.js';
export { KINDS, KIND_OF_TYPE, kindOf, isEventType } from './store/kinds.js';
export type { Kind } from './store/kinds.js';
export { encodeCursor, decodeCursor } from './store/cursor.js';
export { LIMIT_DEFAULT, LIMIT_MAX, Q_MAX } from './store/query-parse.js';
export { mintId, MAX_TS } from './event-id.js';
export type { Emitter, AuditMode } from './emitter.js';
export type * from './events.js';
export { EVENT_TYPES } from './events.js';
export type * from './store/types.js';
