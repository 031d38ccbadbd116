// recorder/cast: terminal recordings as asciicast v2 files with a keyframe index (docs/recordings.md).
// Front ends write through CastWriter; the viewer replays through CastReader; the gateway runs
// repairCasts on start.
export { CastWriter } from './writer.js';
export type { CastRecording, CastWriterStats } from './writer.js';
export type { CastWriterOptions, CastGap } from './writer-options.js';
export type { CastListener, CastSubscription, SubscribeOptions } from './live.js';
export { CastReader } from './reader.js';
export { LiveCasts } from './live-casts.js';
export type { CastEvent, CastMeta, CastSeek, Keyframe, PlayerIndex } from './reader.js';
export { repairCasts } from './repair.js';
export { findCast } from './find.js';
export type { RepairedCast } from './repair.js';
export { KeyframeThread, keyframeThread } from './keyframe-thread.js';
export type { Snapshot } from './keyframe-thread.js';
export type { IdxMarker, IdxKeyframe, IdxEnd } from './index-file.js';
export { MAX_SIZE, MIN_SIZE, SESSION_ID_RE, castRelPath, clampSize } from './format.js';
export type { CastHeader, CastCode } from './format.js';
export { preciseClock } from './clock.js';
