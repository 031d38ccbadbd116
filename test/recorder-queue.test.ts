// ChunkQueue against an array model (fast-check): push / peek / drop across chunk boundaries.
import t from 'tap';
import fc from 'fast-check';
import { ChunkQueue } from '../recorder/queue.js';

type Op = { k: 'push'; n: number } | { k: 'drop'; n: number } | { k: 'peek'; n: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('push' as const), n: fc.integer({ min: 0, max: 3000 }) }),
  fc.record({ k: fc.constant('drop' as const), n: fc.integer({ min: 0, max: 3000 }) }),
  fc.record({ k: fc.constant('peek' as const), n: fc.integer({ min: 0, max: 3000 }) }),
);

t.test('behaves like an array', async (t) => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const q = new ChunkQueue<number>();
      let model: number[] = [];
      let next = 0;
      for (const o of ops) {
        if (o.k === 'push') {
          for (let i = 0; i < o.n; i++) {
            q.push(next);
            model.push(next++);
          }
        } else if (o.k === 'drop') {
          q.drop(o.n);
          model = model.slice(o.n);
        } else if (JSON.stringify(q.peek(o.n)) !== JSON.stringify(model.slice(0, o.n))) return false;
        if (q.length !== model.length) return false;
      }
      return JSON.stringify([...q]) === JSON.stringify(model);
    }),
    { numRuns: 300 },
  );
  t.pass('model held');
});
