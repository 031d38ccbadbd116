import t from 'tap';
import { Directory } from './directory.js';

t.test('Directory', async (t) => {
  const d = new Directory([
    { login: 'Alice', name: 'Alice Smith', email: 'alice@example.com', client: 'Acme', type: 'client' },
    { login: 'alice', realm: 'admin', name: 'Alice (admin)', type: 'admin' },
    { login: 'ALICE', name: 'second realm-less entry' },
    { login: 'alice', realm: 'admin', name: 'second admin entry' },
    { login: 'bob', realm: 'admin', email: 'bob@example.com' },
    { login: 'jürgen', name: 'Jürgen' },
  ]);
  t.equal(d.size, 3);
  t.same(d.lookup('alice', 'client'), { name: 'Alice Smith', email: 'alice@example.com', client: 'Acme', type: 'client' });
  t.same(d.lookup('ALICE', 'client'), d.lookup('alice', 'client'), 'case-insensitive');
  t.same(d.lookup('alice', 'admin'), { name: 'Alice (admin)', type: 'admin' }, 'realm-specific entry wins');
  t.same(d.lookup(' alice ', 'other'), { name: 'Alice Smith', email: 'alice@example.com', client: 'Acme', type: 'client' });
  t.same(d.lookup('bob', 'admin'), { email: 'bob@example.com' });
  t.equal(d.lookup('bob', 'client'), undefined, 'realm-only entry does not leak to other realms');
  t.same(d.lookup('JÜRGEN', 'x'), { name: 'Jürgen' });
  t.equal(d.lookup('carol', 'client'), undefined);
  t.equal(d.lookup('', 'client'), undefined);
  t.equal(d.lookup(undefined as unknown as string, 'client'), undefined);
  t.equal(d.lookup('__proto__', 'client'), undefined);
  t.equal(d.lookup('constructor', 'client'), undefined);
  t.ok(Object.isFrozen(d.lookup('alice', 'client')), 'records are shared and frozen');
  t.equal(new Directory([]).lookup('alice', 'x'), undefined);
  t.equal(new Directory().size, 0);
});
