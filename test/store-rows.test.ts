// Shaped rows (recorder/store/row-codec.ts): any event, of any kind, with any odd or unknown
// field, comes back from its stored bytes exactly as JSON would carry it; rows in the older map
// form still read; a row of an unknown shape is an error, never a wrong event.
import t from 'tap';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { KINDS, toStored, type Kind } from '../recorder/store/kinds.js';
import { SHAPE_V1, decodeRow, shapeRow } from '../recorder/store/row-codec.js';
import type { SgEvent } from '../recorder/events.js';
import { DB_OPTIONS } from '../recorder/store/lmdb-options.js';

const packr = new Packr({ useRecords: DB_OPTIONS.useRecords, mapsAsObjects: DB_OPTIONS.mapsAsObjects });
const TYPE: Record<Kind, string[]> = {
  requests: ['http.request'],
  sessions: ['session.start', 'session.end'],
  activity: ['activity', 'audit.gap'],
  transfers: ['file.transfer', 'ftp.command'],
  ssh: ['ssh.exec', 'ssh.forward'],
};
// Known names of every kind and some no list has, including ones JSON and JS treat specially.
const NAMES = ['ts', 'ip', 'user', 'client', 'session_id', 'url', 'status', 'seq', 'server', 'targets', 'details', 'reason', 'kind', 'path', 'command', 'pty', 'by_type', 'zz_new', '__proto__', 'constructor', 'toString', '0', ''];
const leaf = fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));
const value = fc.oneof(
  { weight: 4, arbitrary: leaf },
  { weight: 1, arbitrary: fc.array(leaf, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('name', 'email', 'role', 'login', 'os', 'x'), leaf, { maxKeys: 4 }) },
);
const userArb = fc.oneof(
  fc.record({ name: fc.string(), email: fc.string(), role: fc.string(), login: fc.string() }, { requiredKeys: [] }),
  value,
);

function eventArb(kind: Kind): fc.Arbitrary<SgEvent> {
  return fc.tuple(fc.constantFrom(...TYPE[kind]), fc.array(fc.tuple(fc.constantFrom(...NAMES), value), { maxLength: 8 }), fc.option(userArb, { nil: undefined })).map(([type, pairs, user]) => {
    const ev: Record<string, unknown> = { id: '01JNPBCT4N0000RC9T', type, ts: 1741285648533 };
    for (const [k, v] of pairs) {
      if (k === 'seq' && kind === 'sessions') continue;
      Object.defineProperty(ev, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
    if (user !== undefined) ev.user = user;
    return ev as unknown as SgEvent;
  });
}

/** What any reader of the event sees: JSON's view (undefined fields gone), keys sorted (the
 * stored form keeps fields, not their order; a field named `constructor` defeats tap's compare). */
const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

for (const kind of KINDS) {
  t.test(`${kind}: any event comes back from its shaped bytes`, async (t) => {
    fc.assert(
      fc.property(eventArb(kind), fc.option(fc.nat(), { nil: undefined }), (ev, seq) => {
        const s = kind === 'sessions' ? seq : undefined;
        const bytes = packr.pack(shapeRow(kind, ev, s));
        const back = decodeRow(kind, ev.id, packr.unpack(bytes));
        t.equal(json(back.ev), json(ev));
        t.equal(back.seq, s);
        t.equal(Object.getPrototypeOf(back.ev), Object.prototype, 'no key sets a prototype');
      }),
      { numRuns: 300 },
    );
  });
}

t.test('shape 1 layout: fields in list order, absent ones left out at the end, user as an array', async (t) => {
  const ev = { id: '01JNPBCT4N0000RC9T', type: 'http.request', ts: 5, ip: '10.0.0.1', user: { name: 'A', login: 'a' }, url: '/x', user_agent: undefined } as unknown as SgEvent;
  const row = shapeRow('requests', ev);
  t.strictSame(row.slice(0, 5), [SHAPE_V1, null, 5, '10.0.0.1', ['A', undefined, undefined, 'a']]);
  t.equal(row.length, 2 + 5 + 6, 'cut after url, the last field present');
  const odd = shapeRow('requests', { ...ev, user: { name: 'A', id: 7 }, extra: 1 } as unknown as SgEvent);
  t.strictSame(odd[1], ['user', { name: 'A', id: 7 }, 'extra', 1], 'a user with other fields goes to extras whole');
});

t.test('map-form rows written before shapes still read; unknown shapes are refused', async (t) => {
  const ev = { id: '01JNPBCT4N0000RC9T', type: 'session.start', ts: 5, session_id: 's1', protocol: 'ssh', connected_from: 'proxy' } as unknown as SgEvent;
  const old = packr.unpack(packr.pack({ ...toStored('sessions', ev), seq: 4 }));
  const back = decodeRow('sessions', ev.id, old);
  t.strictSame(back.ev, ev);
  t.equal(back.seq, 4);
  t.throws(() => decodeRow('requests', ev.id, [99, null, 1]), /unknown shape 99/);
});
