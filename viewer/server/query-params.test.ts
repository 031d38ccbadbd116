import t, { type Test } from 'tap';
import fc from 'fast-check';
import { parseRequestQuery, parseSearch, parseTime } from './query-params.js';
import { SgError } from '../../gateway/core/errors.js';

const P = (s: string) => new URLSearchParams(s);

function badParam(t: Test, fn: () => unknown, param: string, msg?: string) {
  try {
    fn();
    t.fail(`expected SG_ERR_BAD_PARAM for ${param}${msg ? ` (${msg})` : ''}`);
  } catch (e) {
    t.ok(e instanceof SgError, 'an SgError');
    t.equal((e as SgError).code, 'SG_ERR_BAD_PARAM', msg ?? 'code');
    t.equal((e as SgError).details?.param, param, `names ${param}${msg ? ` (${msg})` : ''}`);
  }
}

t.test('empty query is the default search', async (t) => {
  t.same(parseRequestQuery(P('')), {});
});

t.test('every filter', async (t) => {
  const q = parseRequestQuery(P('realm=admin&from=2025-10-27T21:13:37%2B03:00&to=2025-10-28&q=api%2Flogout&source=api&method=get&limit=25&cursor=abc_-1&sort=time&order=desc'));
  t.same(q, {
    realm: 'admin',
    from: Date.UTC(2025, 9, 27, 18, 13, 37),
    to: Date.UTC(2025, 9, 29) - 1,
    q: 'api/logout',
    source: 'API',
    method: 'GET',
    limit: 25,
    cursor: 'abc_-1',
    order: 'desc',
  });
});

t.test('every kind has its own filters, sorts and orders', async (t) => {
  t.same(parseSearch('requests', P('sort=url&order=asc&action=delete&login=alice&email=a%40x.io&ip=%3A%3Affff%3A10.0.0.1')), { sort: 'url', order: 'asc', action: 'delete', login: 'alice', email: 'a@x.io', ip: '10.0.0.1' });
  t.same(parseSearch('sessions', P('protocol=SSH&os=Debian&connected_from=web&state=open&sort=seq&q=srv')), { protocol: 'ssh', os: 'Debian', connected_from: 'web', state: 'open', sort: 'seq', q: 'srv' });
  t.same(parseSearch('activity', P('action=terminate&initiator=system&types=activity,http.request&sort=initiator')), { action: 'terminate', initiator: 'system', types: ['activity', 'http.request'], sort: 'initiator' });
  t.same(parseSearch('transfers', P('direction=upload&result=failed&server=web1&path=%2Fetc%2F&types=file.transfer&session_id=S1&sort=bytes')), { direction: 'upload', result: 'failed', server: 'web1', path: '/etc/', types: ['file.transfer'], session_id: 'S1', sort: 'bytes' });
  t.same(parseSearch('timeline', P('email=alice%40example.com&order=asc')), { email: 'alice@example.com', order: 'asc' });
  t.same(parseSearch('sessions', P('sort=time')), {}, 'sort=time is the default, left out');
});

t.test('bad parameters of the other kinds', async (t) => {
  badParam(t, () => parseSearch('sessions', P('realm=admin')), 'realm', 'requests-only parameter');
  badParam(t, () => parseSearch('sessions', P('protocol=telnet')), 'protocol');
  badParam(t, () => parseSearch('sessions', P('sort=password')), 'sort');
  badParam(t, () => parseSearch('activity', P('types=activity,bogus')), 'types');
  badParam(t, () => parseSearch('activity', P('action=a%20b')), 'action');
  badParam(t, () => parseSearch('transfers', P('direction=sideways')), 'direction');
  badParam(t, () => parseSearch('transfers', P('path=a%00b')), 'path', 'NUL');
  badParam(t, () => parseSearch('requests', P('ip=10.0.0.300')), 'ip');
  badParam(t, () => parseSearch('timeline', P('')), 'login', 'no identity');
  badParam(t, () => parseSearch('timeline', P('login=a&ip=10.0.0.1')), 'login', 'two identities');
  badParam(t, () => parseSearch('timeline', P('q=x')), 'q', 'not a timeline parameter');
});

t.test('time forms', async (t) => {
  t.equal(parseTime('from', '1700000000000', 'start'), 1700000000000);
  t.equal(parseTime('from', '2025-10-27T21:13:37Z', 'start'), Date.UTC(2025, 9, 27, 21, 13, 37));
  t.equal(parseTime('from', '2025-10-27T21:13:37.5+0100', 'start'), Date.UTC(2025, 9, 27, 20, 13, 37, 500));
  t.equal(parseTime('from', '2025-10-27 21:13-05:30', 'start'), Date.UTC(2025, 9, 28, 2, 43));
  t.equal(parseTime('from', '2025-10-27', 'start'), Date.UTC(2025, 9, 27));
  t.equal(parseTime('to', '2025-10-27', 'end'), Date.UTC(2025, 9, 28) - 1);
  t.equal(parseTime('to', '2024-02-29', 'end'), Date.UTC(2024, 2, 1) - 1, 'leap day');
  t.equal(parseTime('from', '2025-10-27', 'start', true), new Date(2025, 9, 27).getTime(), 'local dates for the CLI');
  t.equal(parseTime('to', '2025-10-27', 'end', true), new Date(2025, 9, 28).getTime() - 1);
});

t.test('bad values name the parameter', async (t) => {
  badParam(t, () => parseRequestQuery(P('from=yesterday')), 'from');
  badParam(t, () => parseRequestQuery(P('from=2025-10-27T21:13:37')), 'from', 'no offset');
  badParam(t, () => parseRequestQuery(P('to=2025-02-30')), 'to', 'no such day');
  badParam(t, () => parseRequestQuery(P('to=2025-13-01')), 'to', 'no such month');
  badParam(t, () => parseRequestQuery(P('to=2025-10-27T25:00Z')), 'to', 'hour 25');
  badParam(t, () => parseRequestQuery(P('from=2025-10-27T10:00%2B24:00')), 'from', 'offset 24h');
  badParam(t, () => parseRequestQuery(P('from=99999999999999999')), 'from', 'ms out of range');
  badParam(t, () => parseRequestQuery(P('from=-5')), 'from');
  badParam(t, () => parseRequestQuery(P('from=2025-10-28&to=2025-10-27')), 'from', 'from after to');
  badParam(t, () => parseRequestQuery(P('realm=a%20b')), 'realm');
  badParam(t, () => parseRequestQuery(P(`q=${'x'.repeat(257)}`)), 'q');
  badParam(t, () => parseRequestQuery(P('source=FTP')), 'source');
  badParam(t, () => parseRequestQuery(P('method=G%0DET')), 'method');
  for (const l of ['0', '501', '-1', '1.5', 'ten', '99999']) badParam(t, () => parseRequestQuery(P(`limit=${l}`)), 'limit', l);
  badParam(t, () => parseRequestQuery(P('cursor=a%20b')), 'cursor');
  badParam(t, () => parseRequestQuery(P('sort=password')), 'sort');
  badParam(t, () => parseRequestQuery(P('order=sideways')), 'order');
  badParam(t, () => parseRequestQuery(P('hide_me=maybe')), 'hide_me');
  badParam(t, () => parseRequestQuery(P('hide_me=1')), 'hide_me', 'no signed-in user');
  badParam(t, () => parseRequestQuery(P('realm=a&realm=b')), 'realm', 'repeated');
  badParam(t, () => parseRequestQuery(P('relam=admin')), 'relam', 'unknown');
  badParam(t, () => parseRequestQuery(P('%1b%5B31m=1')), '?[31m', 'unknown name is echoed without control characters');
});

t.test('q: 256 characters (not UTF-16 units), blank ignored, regex characters kept', async (t) => {
  t.equal(parseRequestQuery(P(`q=${encodeURIComponent('😀'.repeat(256))}`)).q, '😀'.repeat(256));
  t.equal(parseRequestQuery(P('q=%20%20')).q, undefined);
  t.equal(parseRequestQuery(P('q=')).q, undefined);
  t.equal(parseRequestQuery(P('q=.*%5B(')).q, '.*[(');
});

t.test('hide_me uses the signed-in user', async (t) => {
  const opts = { hideMe: { logins: ['puq'], ips: ['10.0.0.1'] } };
  t.same(parseRequestQuery(P('hide_me=1'), opts).hide, { logins: ['puq'], ips: ['10.0.0.1'] });
  t.same(parseRequestQuery(P('hide_me=true'), opts).hide, { logins: ['puq'], ips: ['10.0.0.1'] });
  t.equal(parseRequestQuery(P('hide_me=0'), opts).hide, undefined);
  t.equal(parseRequestQuery(P('hide_me=false')).hide, undefined, 'off needs no user');
});

t.test('property: never throws anything but SG_ERR_BAD_PARAM', async (t) => {
  const names = fc.constantFrom('realm', 'from', 'to', 'q', 'source', 'method', 'hide_me', 'limit', 'cursor', 'sort', 'order', 'x', '');
  fc.assert(
    fc.property(fc.array(fc.tuple(names, fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.integer().map(String), fc.date({ noInvalidDate: true }).map((d) => d.toISOString()))), { maxLength: 6 }), (pairs) => {
      const p = new URLSearchParams();
      for (const [k, v] of pairs) p.append(k, v);
      try {
        const q = parseRequestQuery(p, { hideMe: { logins: [], ips: [] } });
        if (q.limit !== undefined && !(q.limit >= 1 && q.limit <= 500)) return false;
        if (q.from !== undefined && q.to !== undefined && q.from > q.to) return false;
        return true;
      } catch (e) {
        return e instanceof SgError && e.code === 'SG_ERR_BAD_PARAM' && typeof e.details?.param === 'string';
      }
    }),
    { numRuns: 2000 },
  );
  t.pass('held');
});

t.test('property: ISO round trip', async (t) => {
  fc.assert(
    fc.property(fc.date({ min: new Date(0), max: new Date(253402300799999), noInvalidDate: true }), (d) => parseTime('from', d.toISOString(), 'start') === d.getTime()),
    { numRuns: 1000 },
  );
  t.pass('held');
});
