import t from 'tap';
import { newId, idTime, idFloor, idCeil, ID_RE } from './ids.js';

t.test('ids sort by time and are unique', async (t) => {
  const ids = Array.from({ length: 10000 }, () => newId());
  t.equal(new Set(ids).size, ids.length);
  t.same([...ids].sort(), ids);
  for (const id of ids.slice(0, 10)) t.match(id, ID_RE);
  const ms = Date.now() + 5_000;
  const id = newId(ms + 10_000_000);
  t.equal(idTime(id), ms + 10_000_000);
  t.ok(idFloor(ms) < idCeil(ms));
});
