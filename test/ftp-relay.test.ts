// The FTP data relays (gateway/ftp/data.ts relayData): the native one (native-relay.ts, the
// addon built from native/data-relay.c) and the JavaScript one, driven through the same cases with real loopback TCP sockets:
// bytes exact both ways, half-close passed on, counters while moving, abort, stall, a side reset,
// a side destroyed by its owner, and the cases that must fall back to JavaScript (TLS, bytes
// already read).
import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { relayData, type Relay } from '../gateway/ftp/data.js';
import { nativeRelayAddon, startNativeRelay } from '../gateway/ftp/native-relay.js';

const requireInterop = process.env.SESSIONGATE_REQUIRE_INTEROP === '1';
const addon = nativeRelayAddon();
if (!addon.native) {
  if (requireInterop) t.fail(`the native data relay must be built here: ${addon.why}`);
  else t.comment(`SKIP native relay cases: ${addon.why}`);
}

/** A connected pair of sockets: `near` (the gateway's side, paused) and `far` (the peer's). */
async function pair(): Promise<{ near: net.Socket; far: net.Socket; close: () => void }> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const far = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const [near] = (await once(server, 'connection')) as [net.Socket];
  await once(far, 'connect');
  server.close();
  return { near, far, close: () => (near.destroy(), far.destroy()) };
}

/** Everything a socket reads until EOF (or close), hashed. */
function drain(s: net.Socket): Promise<{ bytes: number; sha: string; ended: boolean }> {
  const h = createHash('sha256');
  let bytes = 0;
  let ended = false;
  s.on('data', (d: Buffer) => {
    bytes += d.length;
    h.update(d);
  });
  s.on('end', () => (ended = true));
  s.on('error', () => {});
  return gone(s).then(() => ({ bytes, sha: h.digest('hex'), ended }));
}

/** The peer saw its connection end: an EOF (the sockets are half-open capable) or a close. */
const gone = (s: net.Socket): Promise<void> => new Promise((r) => (s.once('end', () => r()), s.once('close', () => r())));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const kinds: { name: string; native: boolean }[] = [
  ...(addon.native ? [{ name: 'native', native: true }] : []),
  { name: 'javascript', native: false },
];
const isNative = (r: Relay) => r.constructor.name === 'NativeRelay';

for (const kind of kinds) {
  t.test(`${kind.name}: a download and an upload arrive whole, half-close passed on`, async (t) => {
    for (const upload of [false, true]) {
      const c = await pair();
      const s = await pair();
      const relay = relayData(c.near, s.near, { stallMs: 5_000, native: kind.native, upload });
      t.equal(isNative(relay), kind.native, 'the relay asked for');
      const file = randomBytes(24 * 1024 * 1024 + 17);
      const sender = upload ? c.far : s.far;
      const receiver = upload ? s.far : c.far;
      const got = drain(receiver);
      // The receiver closes its end once it has read the EOF, as an FTP peer does.
      receiver.on('end', () => receiver.end());
      sender.on('data', () => {});
      sender.end(file);
      const r = await relay.done;
      const g = await got;
      t.equal(g.bytes, file.length, `${upload ? 'upload' : 'download'}: every byte`);
      t.equal(g.sha, sha(file), 'the same bytes');
      t.ok(g.ended, 'the EOF reached the receiver');
      t.same({ down: r.down, up: r.up, clean: r.clean }, upload ? { down: 0, up: file.length, clean: true } : { down: file.length, up: 0, clean: true }, 'counted and clean');
      t.ok(c.near.destroyed && s.near.destroyed, 'the gateway sockets are released');
      c.close();
      s.close();
    }
  });

  t.test(`${kind.name}: settledDown comes once the download is handed over, before the client closes`, async (t) => {
    const c = await pair();
    const s = await pair();
    const relay = relayData(c.near, s.near, { stallMs: 5_000, native: kind.native, upload: false });
    const got = drain(c.far);
    s.far.end(Buffer.alloc(1 << 20, 7));
    const settled = await relay.settledDown;
    t.equal(settled.down, 1 << 20, 'all bytes handed over');
    let doneYet = false;
    void relay.done.then(() => (doneYet = true));
    await new Promise((r) => setTimeout(r, 100));
    t.notOk(doneYet, 'the relay still waits for the client to close');
    c.far.end();
    const r = await relay.done;
    t.ok(r.clean, 'clean once the client closed');
    t.equal((await got).bytes, 1 << 20);
    s.close();
  });

  t.test(`${kind.name}: counters move during a slow transfer; abort cuts both sides`, async (t) => {
    const c = await pair();
    const s = await pair();
    const relay = relayData(c.near, s.near, { stallMs: 5_000, native: kind.native, upload: false });
    const got = drain(c.far);
    const sGone = gone(s.far);
    s.far.on('error', () => {});
    s.far.on('data', () => {});
    const chunk = Buffer.alloc(64 * 1024, 1);
    const timer = setInterval(() => s.far.write(chunk), 20);
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 120));
      seen.push(relay.down);
    }
    t.ok(seen[3]! > seen[0]! && seen[0]! > 0, `the count rises while bytes move (${seen.join(', ')})`);
    relay.abort();
    const r = await relay.done;
    clearInterval(timer);
    t.notOk(r.clean, 'an aborted relay is not clean');
    t.ok(r.down >= seen[3]!, 'the final count is at least the last one read');
    const g = await got;
    t.ok(g.bytes <= r.down, 'the client got no more than was counted');
    await sGone;
    t.pass('the server side was closed too');
  });

  t.test(`${kind.name}: a stalled data connection is cut after stallMs`, async (t) => {
    const c = await pair();
    const s = await pair();
    const relay = relayData(c.near, s.near, { stallMs: 300, native: kind.native, upload: false });
    void drain(c.far);
    s.far.on('error', () => {});
    s.far.write(Buffer.alloc(1000));
    const t0 = Date.now();
    const r = await relay.done;
    const took = Date.now() - t0;
    t.notOk(r.clean, 'cut, not clean');
    t.equal(r.down, 1000, 'the bytes before the stall counted');
    t.ok(took >= 250 && took < 5_000, `cut after the stall time (${took} ms)`);
    c.close();
    s.close();
  });

  t.test(`${kind.name}: a reset from the client mid-transfer ends the relay, not clean`, async (t) => {
    const c = await pair();
    const s = await pair();
    const relay = relayData(c.near, s.near, { stallMs: 5_000, native: kind.native, upload: false });
    s.far.on('error', () => {});
    c.far.on('error', () => {});
    s.far.on('data', () => {});
    let first = true;
    c.far.on('data', () => {
      if (!first) return;
      first = false;
      c.far.resetAndDestroy();
    });
    const big = Buffer.alloc(8 << 20, 3);
    s.far.write(big);
    const r = await relay.done;
    t.notOk(r.clean, 'not clean');
    t.ok(r.down > 0 && r.down <= big.length, `some bytes moved before the reset (${r.down})`);
    s.close();
  });

  t.test(`${kind.name}: the session closing one socket itself ends the relay`, async (t) => {
    const c = await pair();
    const s = await pair();
    // A download: the client's socket is the one the JavaScript relay does not swap (withBigReads).
    const relay = relayData(c.near, s.near, { stallMs: 5_000, native: kind.native, upload: false });
    const serverGone = gone(s.far);
    s.far.on('error', () => {});
    c.far.on('error', () => {});
    c.near.destroy();
    const r = await Promise.race([relay.done, new Promise<'hung'>((res) => setTimeout(() => res('hung'), 3_000))]);
    t.not(r, 'hung', 'the relay ended');
    if (r !== 'hung') t.notOk(r.clean, 'not clean');
    await serverGone;
    t.pass('the server side is closed as well');
    c.close();
    s.close();
  });
}

t.test('falls back to JavaScript for TLS sockets and for sockets with bytes already read', { skip: !addon.native && 'no native addon' }, async (t) => {
  const c = await pair();
  const s = await pair();
  // Bytes already inside JavaScript cannot be handed to the native relay.
  s.far.write('early');
  const onReadable = () => {};
  s.near.on('readable', onReadable);
  await once(s.near, 'readable');
  s.near.off('readable', onReadable);
  t.ok(s.near.readableLength > 0, 'bytes wait inside JavaScript');
  const withBuffered = relayData(c.near, s.near, { stallMs: 1_000, native: true, upload: false });
  t.notOk(isNative(withBuffered), 'buffered bytes: the JavaScript relay');
  const got = drain(c.far);
  c.far.on('end', () => c.far.end());
  s.far.end(' and late');
  await withBuffered.done;
  t.equal((await got).bytes, 'early and late'.length, 'the buffered bytes were relayed first');
  s.close();

  const p = await pair();
  const q = await pair();
  const fakeTls = new tls.TLSSocket(p.near);
  const viaTls = relayData(fakeTls, q.near, { stallMs: 300, native: true, upload: false });
  t.notOk(isNative(viaTls), 'a TLS side: the JavaScript relay');
  viaTls.abort();
  await viaTls.done;
  p.close();
  q.close();
});

t.test('the native addon refuses bad arguments with SG_ERR_NATIVE_RELAY', { skip: !addon.native && 'no native addon' }, async (t) => {
  const n = addon.native!;
  t.throws(() => n.start(-1, 3, () => {}), { code: 'SG_ERR_NATIVE_RELAY' }, 'a negative descriptor');
  t.throws(() => (n.start as unknown as (a: string) => unknown)('x'), { code: 'SG_ERR_NATIVE_RELAY' }, 'not a descriptor');
  t.throws(() => n.counters({} as object), { code: 'SG_ERR_NATIVE_RELAY' }, 'not a handle');
  t.throws(() => n.start(987654, 987655, () => {}), { code: 'SG_ERR_NATIVE_RELAY' }, 'a closed descriptor (dup fails)');
});

t.test('a native relay that cannot start (no thread, no descriptor) leaves the sockets to the JavaScript relay', { skip: !addon.native && 'no native addon' }, async (t) => {
  const c = await pair();
  const s = await pair();
  const real = addon.native!;
  let fired: Error | undefined;
  // Failure injection: start() throws as the addon does when pthread_create or dup fails.
  const failing = { ...real, start: () => { throw Object.assign(new Error('pthread_create: Resource temporarily unavailable'), { code: 'SG_ERR_NATIVE_RELAY' }); } };
  const none = startNativeRelay(c.near, s.near, 1_000, failing, (e) => (fired = e));
  t.match(fired, { code: 'SG_ERR_NATIVE_RELAY' }, 'the injected fault fired');
  t.equal(none, undefined, 'no native relay');
  const relay = relayData(c.near, s.near, { stallMs: 2_000, native: false, upload: false });
  const got = drain(c.far);
  c.far.on('end', () => c.far.end());
  const file = randomBytes(3 << 20);
  s.far.end(file);
  const r = await relay.done;
  const g = await got;
  t.equal(g.sha, sha(file), 'the same sockets still carry the file whole in JavaScript');
  t.ok(r.clean, 'clean');
  s.close();
});
