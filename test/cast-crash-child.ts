// Child for test/cast-repair.test.ts: records terminal output as fast as the disk takes it and
// reports, after each write, "W <bytes written> <keyframes>". The parent SIGKILLs it mid-stream.
// argv: <recordings dir> <session id>
import { pino } from 'pino';
import { CastWriter, preciseClock } from '../recorder/cast/index.js';

const [dir, sessionId] = process.argv.slice(2);
const w = new CastWriter({
  dir: dir!,
  sessionId: sessionId!,
  width: 80,
  height: 24,
  recordInput: false,
  clock: preciseClock,
  logger: pino({ level: 'silent' }),
  flushIntervalMs: 5,
  flushBytes: 4096,
  keyframeEveryBytes: 8192,
});
await w.ready();
let i = 0;
function burst(): void {
  for (let k = 0; k < 50; k++, i++) w.output(`\x1b[3${i % 8}mline ${i} ${'·'.repeat(i % 60)}\x1b[0m\r\n`);
  const s = w.stats();
  process.stdout.write(`W ${s.bytes_written} ${s.keyframes}\n`);
  setTimeout(burst, 1);
}
burst();
