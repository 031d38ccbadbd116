import t from 'tap';
import fc from 'fast-check';
import { clientIp, normalizeIp, parseIp, TrustedProxies, MAX_XFF_HOPS } from './client-ip.js';
import { cidr } from '../../config/schema.js';

t.test('normalizeIp', async (t) => {
  const cases: [string, string][] = [
    ['1.2.3.4', '1.2.3.4'],
    [' 10.0.0.1 ', '10.0.0.1'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:7f00:1', '127.0.0.1'],
    ['0000:0000:0000:0000:0000:ffff:7f00:0001', '127.0.0.1'], // uWS's text form of an IPv4 peer
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // RFC 5952: first of equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero field is not compressed
    ['[::1]', '::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['[fe80::1%25eth0]', 'fe80::1'],
    ['1.2.3.4:8080', '1.2.3.4'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['::', '::'],
    // invalid: returned trimmed, untouched
    ['  not-an-ip ', 'not-an-ip'],
    ['127.1', '127.1'],
    ['0x7f.0.0.1', '0x7f.0.0.1'],
    ['01.2.3.4', '01.2.3.4'],
    ['256.1.1.1', '256.1.1.1'],
    ['::ffff:0x7f.1', '::ffff:0x7f.1'],
    ['1.2.3.4\r\nX: y', '1.2.3.4\r\nX: y'],
    ['', ''],
    ['[::1', '[::1'],
    ['[::1]x', '[::1]x'],
    ['fe80::1%', 'fe80::1%'],
    ['fe80::1%a b', 'fe80::1%a b'],
  ];
  for (const [input, want] of cases) t.equal(normalizeIp(input), want, JSON.stringify(input));
  // cached answers stay right
  t.equal(normalizeIp('::ffff:1.2.3.4'), '1.2.3.4');
  t.equal(normalizeIp('x'.repeat(5000)), 'x'.repeat(5000));
  t.equal(normalizeIp(undefined as unknown as string), '');
  t.equal(parseIp('1.2.3.4:99999'), undefined);
  t.equal(parseIp('[::1]:65536'), undefined);
  t.equal(parseIp('[::1]:65535')?.toString(), '::1');
});

t.test('normalizeIp is idempotent and canonical for generated addresses', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
      const n = normalizeIp(ip);
      return normalizeIp(n) === n && n === n.toLowerCase() && parseIp(n) !== undefined;
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.ipV4(), (ip) => normalizeIp('::ffff:' + ip) === ip && normalizeIp(`[::ffff:${ip}]`) === ip),
  );
  t.pass('properties hold');
});

t.test('TrustedProxies', async (t) => {
  const tp = new TrustedProxies(['10.0.0.0/8', '192.168.1.5', '2001:db8::/32', '::1', '::ffff:172.16.0.0/108']);
  t.equal(tp.size, 5);
  t.ok(tp.has('10.1.2.3'));
  t.ok(tp.has('::ffff:10.1.2.3'), 'v4 entry matches a v4-mapped peer');
  t.ok(tp.has('0000:0000:0000:0000:0000:ffff:0a00:0001'));
  t.ok(tp.has('192.168.1.5'));
  t.notOk(tp.has('192.168.1.6'), 'plain IP is /32');
  t.ok(tp.has('2001:db8:ffff::1'));
  t.notOk(tp.has('2001:db9::1'));
  t.ok(tp.has('::1'));
  t.notOk(tp.has('::2'), 'plain v6 is /128');
  t.ok(tp.has('172.16.5.5'), 'mapped v6 range covers v4 peers');
  t.notOk(tp.has('172.32.0.1'));
  t.notOk(tp.has('11.0.0.1'));
  t.notOk(tp.has('garbage'));
  t.notOk(tp.has('10.1'), 'short forms are not addresses');
  t.notOk(tp.has(''));
  t.notOk(new TrustedProxies([]).has('10.0.0.1'));
  for (const bad of ['10.0.0.0/33', '::/129', 'nope', '10.0.0.0/', '10.0.0.0/x', '[::1]', '1.2.3.4:80', '010.0.0.1', '10.1/16', '10.0.0.0/8/8']) {
    t.throws(() => new TrustedProxies([bad]), { code: 'SG_ERR_CONFIG_INVALID' }, bad);
  }
  const any6 = new TrustedProxies(['::/0']);
  t.ok(any6.has('2001:db8::1'));
  t.ok(any6.has('8.8.8.8'), '::/0 holds the mapped space, so every IPv4 peer');
  t.notOk(new TrustedProxies(['2001:db8::/32']).has('8.8.8.8'));
  t.ok(new TrustedProxies(['::ffff:0:0/96']).has('1.2.3.4'), 'the whole mapped space');
  const wide = new TrustedProxies(['::ffff:1.2.3.4/95']);
  t.ok(wide.has('8.8.8.8'), 'a mapped prefix shorter than /96 holds every IPv4 address');
  t.ok(wide.has('::fffe:1:2'));
  t.notOk(wide.has('2001:db8::1'));
  t.ok(new TrustedProxies(['fe80::1%eth0']).has('fe80::1'), 'zone id (accepted by the config) is dropped');
  const all = new TrustedProxies(['0.0.0.0/0']);
  t.ok(all.has('8.8.8.8'));
  t.notOk(all.has('2001:db8::1'), 'a v4 range does not cover native v6');
});

t.test('clientIp', async (t) => {
  const tp = new TrustedProxies(['10.0.0.0/8', '::1']);
  t.equal(clientIp('203.0.113.9', '1.1.1.1', tp), '203.0.113.9', 'untrusted peer: XFF ignored');
  t.equal(clientIp('::ffff:203.0.113.9', '1.1.1.1', tp), '203.0.113.9');
  t.equal(clientIp('10.0.0.2', undefined, tp), '10.0.0.2');
  t.equal(clientIp('10.0.0.2', '', tp), '10.0.0.2');
  t.equal(clientIp('10.0.0.2', '  ', tp), '10.0.0.2');
  t.equal(clientIp('10.0.0.2', '198.51.100.7', tp), '198.51.100.7');
  t.equal(clientIp('::ffff:10.0.0.2', '198.51.100.7', tp), '198.51.100.7', 'mapped trusted peer');
  t.equal(clientIp('10.0.0.2', '6.6.6.6, 198.51.100.7, 10.9.9.9', tp), '198.51.100.7', 'skips trusted hops, stops at first untrusted');
  t.equal(clientIp('10.0.0.2', '6.6.6.6,198.51.100.7,10.9.9.9', tp), '198.51.100.7');
  t.equal(clientIp('10.0.0.2', '6.6.6.6, 198.51.100.7, 10.9.9.9,', tp), '10.0.0.2', 'empty last entry stops the walk at the peer');
  t.equal(clientIp('10.0.0.2', '6.6.6.6, bogus, 10.9.9.9', tp), '10.9.9.9', 'malformed entry: last good hop');
  t.equal(clientIp('10.0.0.2', '6.6.6.6, , 10.9.9.9', tp), '10.9.9.9');
  t.equal(clientIp('10.0.0.2', '10.1.1.1, 10.2.2.2', tp), '10.1.1.1', 'all trusted: the leftmost');
  t.equal(clientIp('::1', '2001:DB8::5', tp), '2001:db8::5');
  t.equal(clientIp('::1', '[2001:db8::5]:1234', tp), '2001:db8::5');
  t.equal(clientIp('::1', '203.0.113.1:5555', tp), '203.0.113.1');
  t.equal(clientIp('::1', '::ffff:203.0.113.1', tp), '203.0.113.1');
  t.equal(clientIp('10.0.0.2', '127.1', tp), '10.0.0.2', 'short IPv4 forms are junk');
  t.equal(clientIp('10.0.0.2', '1.2.3.4\r\n', tp), '1.2.3.4', 'surrounding whitespace is trimmed');
  t.equal(clientIp('10.0.0.2', '1.2.3.4\u0000', tp), '10.0.0.2');
  t.equal(clientIp('not-ip', '1.2.3.4', tp), 'not-ip', 'a broken peer is reported as is');
  // two XFF headers joined by a comma act as one list
  t.equal(clientIp('10.0.0.2', ['5.5.5.5', '10.3.3.3'].join(', '), tp), '5.5.5.5');
  // hostile: a huge chain of trusted-looking hops is cut after MAX_XFF_HOPS
  const huge = Array.from({ length: 5000 }, () => '10.0.0.7').join(', ');
  t.equal(clientIp('10.0.0.2', '9.9.9.9, ' + huge, tp), '10.0.0.7');
  t.equal(clientIp('10.0.0.2', '9.9.9.9, ' + Array.from({ length: MAX_XFF_HOPS - 1 }, () => '10.0.0.7').join(', '), tp), '9.9.9.9');
  t.equal(clientIp('10.0.0.2', ','.repeat(100000), tp), '10.0.0.2');
});

t.test('clientIp properties', async (t) => {
  const trustedNets = ['10.0.0.0/8', 'fd00::/8'];
  const tp = new TrustedProxies(trustedNets);
  const trustedIp = fc.oneof(
    fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `10.${a}.${b}.${c}`),
    fc.ipV6().map((ip) => normalizeIp(ip)).map((ip) => 'fd' + (ip.startsWith('::') ? '00:' + ip.slice(1) : ip.replace(/^[0-9a-f]{1,4}/, '00'))).filter((ip) => parseIp(ip) !== undefined),
    fc.constant('::ffff:10.9.8.7'),
  );
  const anyIp = fc.oneof(fc.ipV4(), fc.ipV6(), trustedIp);
  // The peer and every XFF entry are the only possible answers, and with an untrusted hop
  // present, the answer is never a trusted proxy.
  fc.assert(
    fc.property(trustedIp, fc.array(anyIp, { maxLength: 12 }), fc.constantFrom(', ', ',', ' , '), (peer, chain, sep) => {
      const got = clientIp(peer, chain.join(sep), tp);
      const allowed = new Set([peer, ...chain].map(normalizeIp));
      if (!allowed.has(got)) return false;
      const hasUntrusted = chain.some((ip) => !tp.has(ip));
      if (hasUntrusted && tp.has(got)) return false;
      // and it is exactly the rightmost untrusted hop
      if (hasUntrusted) {
        const right = [...chain].reverse().find((ip) => !tp.has(ip))!;
        return got === normalizeIp(right);
      }
      return true;
    }),
    { numRuns: 3000 },
  );
  // An untrusted peer always wins, whatever the header says.
  fc.assert(
    fc.property(fc.ipV4().filter((ip) => !ip.startsWith('10.')), fc.string({ maxLength: 200 }), (peer, xff) => clientIp(peer, xff, tp) === peer),
  );
  // Hostile header text never throws and never yields something outside peer + header entries.
  fc.assert(
    fc.property(trustedIp, fc.array(fc.oneof(fc.string({ maxLength: 20 }), anyIp), { maxLength: 10 }), (peer, parts) => {
      const got = clientIp(peer, parts.join(','), tp);
      return [peer, ...parts].map(normalizeIp).includes(got);
    }),
    { numRuns: 2000 },
  );
  t.pass('properties hold');
});

t.test('property: every trusted_proxies entry the config accepts is usable', async (t) => {
  const bits = fc.integer({ min: 0, max: 140 });
  const entry = fc.oneof(
    fc.ipV4(),
    fc.ipV6(),
    fc.ipV4Extended(),
    fc.tuple(fc.ipV4(), bits).map(([a, b]) => `${a}/${b}`),
    fc.tuple(fc.ipV6(), bits).map(([a, b]) => `${a}/${b}`),
    fc.tuple(fc.ipV4(), bits).map(([a, b]) => `::ffff:${a}/${b}`),
    fc.ipV6().map((a) => `${a}%eth0`),
    fc.string({ maxLength: 20 }),
  );
  fc.assert(
    fc.property(entry, (v) => {
      if (!cidr.safeParse(v).success) return true;
      try {
        new TrustedProxies([v]);
        return true;
      } catch {
        return false;
      }
    }),
    { numRuns: 5000 },
  );
  t.pass('config and TrustedProxies agree');
});
