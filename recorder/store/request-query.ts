// Kept for callers of the first store API: request queries are planned in plans.ts now.
import type { HttpRequestEvent } from '../events.js';
import type { QueryPlan } from './query-engine.js';

export { LIMIT_DEFAULT, LIMIT_MAX, Q_MAX, normaliseIp } from './query-parse.js';
export { requestsPlan as parseRequestQuery } from './plans.js';
export type ParsedRequestQuery = QueryPlan<HttpRequestEvent>;
