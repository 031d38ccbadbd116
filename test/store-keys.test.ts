// The writer builds posting keys' bytes itself (prefix once per field, plain terms appended) to
// put them in append mode: those bytes must be exactly what lmdb-js's own key encoder writes, or
// a lookup by key would miss the posting. Checked against the library over random terms.
import t from 'tap';
import fc from 'fast-check';
import * as lmdb from 'lmdb';
import { postingKeyBytes } from '../recorder/store/segments.js';
import { postingKey } from '../recorder/store/layout.js';
import { KINDS } from '../recorder/store/kinds.js';

const keyBytes = (lmdb as unknown as { keyValueToBuffer(k: unknown): Buffer }).keyValueToBuffer;

t.test('hand-built posting key bytes equal the library encoding', async (t) => {
  const term = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.stringMatching(/^[a-z0-9@._:\/-]{1,70}$/),
    fc.constantFrom('', ' ', '\x00', '\x04', '\x1b', '\x1c', 'a\x05b', 'é', '\u{1F600}', 'x'.repeat(63), 'x'.repeat(64), '\ud800'),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.constantFrom(...KINDS), fc.constantFrom('q', 'login', 'email', 'ip', 'method'), fc.array(term, { minLength: 1, maxLength: 20 }), (s, kind, field, terms) => {
      const build = postingKeyBytes(s);
      for (const tm of terms) {
        const mine = Buffer.from(build(kind, field, tm));
        const lib = Buffer.from(keyBytes(postingKey(kind, field, tm, s)));
        if (!mine.equals(lib)) throw new Error(`key bytes differ for ${JSON.stringify([s, kind, field, tm])}`);
      }
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 random key sets agree');
});
