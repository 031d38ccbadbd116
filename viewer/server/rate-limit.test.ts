import t from 'tap';
import { FailureRateLimiter } from './rate-limit.js';

t.test('sliding window per key', async (t) => {
  const now = { t: 0 };
  const l = new FailureRateLimiter({ clock: { now: () => now.t }, maxAttempts: 3, windowMs: 60_000 });
  const keys = ['ip:1.2.3.4', 'user:alice'];
  t.equal(l.retryAfter(keys), 0);
  l.fail(keys);
  now.t = 10_000;
  l.fail(keys);
  now.t = 20_000;
  t.equal(l.retryAfter(keys), 0, 'two failures: still allowed');
  l.fail(keys);
  t.equal(l.retryAfter(keys), 40_000, 'third failure blocks until the first leaves the window');
  t.equal(l.retryAfter(['ip:1.2.3.4']), 40_000);
  t.equal(l.retryAfter(['ip:5.6.7.8']), 0, 'other IPs unaffected');
  now.t = 60_000;
  t.equal(l.retryAfter(keys), 0, 'first failure expired');
  l.fail(keys);
  t.equal(l.retryAfter(keys), 10_000);
  l.reset('user:alice');
  t.equal(l.retryAfter(['user:alice']), 0);
  l.refund(['ip:1.2.3.4']);
  t.equal(l.retryAfter(['ip:1.2.3.4']), 0, 'refund takes back the newest charge');
});

t.test('memory stays bounded under a flood of keys', async (t) => {
  const l = new FailureRateLimiter({ clock: { now: () => 0 }, maxAttempts: 5, windowMs: 60_000, maxKeys: 1000 });
  for (let i = 0; i < 10_000; i++) l.fail([`ip:${i}`]);
  t.ok(l.size() <= 1000, `size ${l.size()}`);
  l.fail(['ip:x', 'ip:x']);
  t.throws(() => new FailureRateLimiter({ clock: { now: () => 0 }, maxAttempts: 0, windowMs: 1 }), { code: 'SG_ERR_CONFIG_INVALID' });
});
