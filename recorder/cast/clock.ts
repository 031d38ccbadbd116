// A wall clock with sub-millisecond resolution for event times (Date.now() has 1 ms): the
// asciicast times are written with µs precision. Anchored once, so it never steps backwards.
import { performance } from 'node:perf_hooks';
import type { Clock } from '../../gateway/core/runtime.js';

const origin = Date.now() - performance.now();

export const preciseClock: Clock = { now: () => origin + performance.now() };
