// Constant memory: 50,000 events (~100 MB of NDJSON) exported through a slow destination,
// plain and encrypted (OpenPGP). The store is paged and every chunk waits for the destination,
// so the process grows by a small bounded amount, not by the size of the export (the bound is
// generous: a shared 2-core machine, and V8 frees lazily).
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import pino from 'pino';
import { mintId } from '../recorder/event-id.js';
import type { HttpRequestEvent } from '../recorder/events.js';
import { runExport } from '../recorder/export/query-export.js';
import { streamSink } from '../recorder/export/writer.js';
import { Store } from '../recorder/store/store.js';

setFlagsFromString('--expose-gc');

/** Anonymous resident memory (Linux): RSS without file-backed pages. LMDB reads through a memory
 * map, so plain RSS also counts the store's pages the export touched (page cache, not ours). */
function anonRss(): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}
const gc = runInNewContext('gc') as () => void;

const N = 50_000;
const PAD = 'p'.repeat(1800);

t.test('50k events export in bounded memory, plain and encrypted, hash and count right', async (t) => {
  const store = Store.open({ dir: join(t.testdir(), 'store'), logger: pino({ level: 'silent' }) });
  t.teardown(() => store.close());
  const T0 = Math.ceil(Date.now() / 86_400_000) * 86_400_000 + 1500 * 86_400_000;
  for (let b = 0; b < N; b += 5000) {
    const batch: HttpRequestEvent[] = [];
    for (let i = b; i < b + 5000; i++) {
      const ts = T0 + i;
      batch.push({ id: mintId(ts, Date.now()), ts, type: 'http.request', realm: 'admin', listener: 'l', route: 'r', source: 'WEB', method: 'GET', url: `https://p.example.com/${i}`, status: 200, bytes_in: 0, bytes_out: 1, duration_ms: 1, action: 'view', identity_verified: true, user_agent: PAD });
    }
    const r = await store.writeBatch(batch);
    t.equal(r.stored, 5000);
  }

  for (const encrypted of [false, true]) {
    gc();
    await new Promise((r) => setTimeout(r, 100));
    gc();
    const base = anonRss();
    const baseRss = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, anonRss())), 10);

    // A slow reader: a small buffer that drains a little later, so backpressure is in play.
    const hash = createHash('sha256');
    let bytes = 0;
    let waits = 0;
    const dest = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        bytes += chunk.length;
        waits++;
        setTimeout(cb, waits % 20 === 0 ? 1 : 0);
      },
    });
    const encrypt = encrypted ? { encrypt: { passphrase: 'memory test passphrase', fileName: 'requests.ndjson' } } : {};
    const res = await runExport(store, { kind: 'requests', format: 'ndjson', query: {} }, streamSink(dest), { createdAt: Date.now(), ...encrypt });
    clearInterval(sampler);
    peak = Math.max(peak, anonRss());
    const rssNow = process.memoryUsage().rss;
    const what = encrypted ? 'encrypted' : 'plain';

    t.equal(res.manifest.complete, true, what);
    t.equal(res.manifest.count, N);
    t.equal(res.manifest.bytes, bytes, `${what}: manifest bytes = bytes written`);
    t.equal(res.manifest.sha256, hash.digest('hex'), `${what}: manifest sha256 = bytes written`);
    if (encrypted) t.ok(res.manifest.plaintext_bytes! > 90 * 1024 * 1024 && bytes > res.manifest.plaintext_bytes!, 'encrypted: the whole export, plus OpenPGP framing');
    t.ok(bytes > 90 * 1024 * 1024, `the export is large (${(bytes / 1048576).toFixed(0)} MiB)`);
    const grew = (peak - base) / 1048576;
    t.comment(`${what}: anonymous RSS ${(base / 1048576).toFixed(0)} MiB -> peak ${(peak / 1048576).toFixed(0)} MiB (+${grew.toFixed(1)} MiB) for ${(bytes / 1048576).toFixed(0)} MiB exported; RSS with the store's mapped pages ${(baseRss / 1048576).toFixed(0)} -> ${(rssNow / 1048576).toFixed(0)} MiB`);
    t.ok(grew < 60, `${what}: memory grew by ${grew.toFixed(1)} MiB, far less than the ${(bytes / 1048576).toFixed(0)} MiB exported`);
  }
});
