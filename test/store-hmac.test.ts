// hmacSha256 (recorder/store/integrity.ts) is HMAC-SHA-256 byte for byte: cursor tags made
// before it (with createHmac) still verify, and any key and message give node:crypto's answer.
import t from 'tap';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { hmacSha256 } from '../recorder/store/integrity.js';

t.test('equals createHmac for keys of 0..100 bytes and any message', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 3000 }), (key, msg) => {
      const k = Buffer.from(key);
      t.equal(hmacSha256(k, msg).toString('hex'), createHmac('sha256', k).update(msg).digest('hex'));
      // The pads are cached per key object: a second call must give the same answer.
      t.equal(hmacSha256(k, msg).toString('hex'), createHmac('sha256', k).update(msg).digest('hex'));
    }),
    { numRuns: 300 },
  );
});
