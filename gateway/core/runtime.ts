// What every component gets injected: a clock (tests control time) and a logger (pino).
import type { Logger } from 'pino';

export type { Logger };

export interface Clock {
  /** ms since epoch */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface Deps {
  clock: Clock;
  logger: Logger;
}
