// Encrypted exports (export.encryption), proven with the real gpg: what Sessiongate writes,
// `gpg --decrypt` opens, byte for byte the unencrypted export of the same filter — through the
// viewer's ticket flow, the CLI and the scheduled export, for an empty export and one of many
// partial-length chunks. A wrong passphrase or one flipped byte makes gpg fail. Tickets are
// single use, expire, belong to one session; `required` refuses plain exports, `off` refuses
// tickets; the passphrase never reaches a log, a record or the store's files.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t, { type Test } from 'tap';
import pino from 'pino';
import { request } from 'undici';
import { exportScheduleSchema } from '../config/schema.js';
import type { KvDb } from '../gateway/core/access.js';
import type { ActivityEvent, HttpRequestEvent } from '../recorder/events.js';
import type { ExportManifest } from '../recorder/export/manifest.js';
import { createOpenPgpEncryptor } from '../recorder/export/openpgp-encrypt.js';
import { ScheduledExport } from '../recorder/export/schedule.js';
import { ExportServices } from '../recorder/export/service.js';
import { Recorder } from '../recorder/index.js';
import { Store } from '../recorder/store/store.js';
import { createViewer } from '../viewer/server/index.js';
import { runCli, startHarness, type Harness, type SignedIn } from '../viewer/server/test-harness.js';
import { audit, httpEvent, oneOfEach } from './fixtures/recorder-helpers.js';
import { requireTool } from './helpers/interop.js';
import { parseCsv } from './helpers/export.js';

const DAY = 86_400_000;
let nextBase = Math.ceil(Date.now() / DAY) * DAY + 1200 * DAY;
const PASSPHRASE = 'Correct horse — battery staple ✓';
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const silent = pino({ level: 'silent' });

// ---------- gpg ----------

interface Gpg {
  /** `gpg --batch --yes --pinentry-mode loopback --passphrase-file F --decrypt FILE`: exit code and plaintext. */
  decrypt(file: string, passphrase?: string): Promise<{ code: number; out: Buffer; err: string }>;
}

/** gpg with its own GNUPGHOME (0700), agent stopped at teardown; undefined when gpg is missing (skipped). */
function gpgFor(t: Test): Gpg | undefined {
  const bin = requireTool(t, 'gpg');
  if (!bin) return undefined;
  // Short and outside the test dir (t.testdir() may be recreated; the agent's socket path is bounded).
  const home = mkdtempSync(join(tmpdir(), 'sg-gpg-'));
  chmodSync(home, 0o700);
  t.teardown(async () => {
    await new Promise<void>((res) => execFile('gpgconf', ['--homedir', home, '--kill', 'all'], () => res()));
    rmSync(home, { recursive: true, force: true });
  });
  let n = 0;
  return {
    decrypt(file, passphrase = PASSPHRASE) {
      const pw = join(home, `pw-${++n}`);
      writeFileSync(pw, `${passphrase}\n`, { mode: 0o600 });
      const out = join(home, `out-${n}`);
      // --no-symkey-cache: every call proves its own passphrase, none is remembered by the agent.
      const args = ['--batch', '--yes', '--no-symkey-cache', '--pinentry-mode', 'loopback', '--passphrase-file', pw, '--output', out, '--decrypt', file];
      return new Promise((res) => {
        execFile(bin, args, { env: { ...process.env, GNUPGHOME: home, LC_ALL: 'C' } }, (err, _stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
          let data = Buffer.alloc(0);
          try {
            data = readFileSync(out);
          } catch {
            /* nothing written */
          }
          res({ code, out: data, err: String(stderr) });
        });
      });
    },
  };
}

// ---------- the encryptor alone ----------

t.test('the encryptor: gpg opens every size, across partial-length chunk boundaries', async (t) => {
  const gpg = gpgFor(t);
  if (!gpg) return;
  const dir = t.testdir();
  // chunkBits 9: 512-byte chunks, so small sizes land on, before and after each boundary.
  const sizes: [number, number][] = [[0, 9], [1, 9], [500, 9], [505, 9], [506, 9], [507, 9], [1023, 9], [1024, 9], [1025, 9], [100_000, 9], [0, 16], [65_536, 16], [200_000, 16]];
  for (const [size, bits] of sizes) {
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 31 + (i >> 9)) & 0xff;
    const file = join(dir, `x-${size}-${bits}.gpg`);
    const enc = await createOpenPgpEncryptor({ passphrase: PASSPHRASE, fileName: 'x.csv', date: Date.now(), chunkBits: bits });
    const pieces = Array.from({ length: Math.ceil(size / 777) }, (_, i) => data.subarray(i * 777, (i + 1) * 777));
    await pipeline(Readable.from(pieces), enc, createWriteStream(file));
    const r = await gpg.decrypt(file);
    t.equal(r.code, 0, `${size} bytes in 2^${bits} chunks: gpg exit 0 (${r.err.trim()})`);
    t.ok(r.out.equals(data), `${size} bytes in 2^${bits} chunks: the same bytes back`);
  }
});

// ---------- viewer ----------

type Mode = 'off' | 'optional' | 'required';

/**
 * The harness's viewer replaced by one with `export.encryption: mode` and a logger whose every
 * line is kept (the passphrase must never be in one).
 */
async function viewerWith(t: Test, mode: Mode): Promise<{ h: Harness; logs: string[]; aud: SignedIn }> {
  const h = await startHarness({ dir: t.testdir(), teardown: (fn) => t.teardown(fn) });
  const logs: string[] = [];
  const logger = pino({ level: 'trace' }, { write: (s: string) => void logs.push(s) });
  await h.viewer.close();
  const viewer = createViewer(h.config.viewer, {
    clock: h.clock,
    logger,
    store: h.recorder.store,
    emitter: h.recorder,
    users: h.users,
    registry: h.registry,
    access: h.access,
    metrics: h.metrics,
    health: () => h.health,
    sessionsDb: h.recorder.store.openDb('viewer_sessions') as unknown as KvDb,
    exportEncryption: mode,
  });
  await viewer.start();
  h.viewer = viewer;
  h.port = viewer.address().port;
  h.base = `http://127.0.0.1:${h.port}`;
  const u = await h.addUser('aud', 'auditor');
  return { h, logs, aud: await h.login(u.name, u.password) };
}

function fill(h: Harness, n: number, pad = ''): HttpRequestEvent[] {
  const T0 = nextBase;
  nextBase += 10 * DAY;
  const events = Array.from({ length: n }, (_, i) =>
    httpEvent(T0 + i * 1000, {
      realm: i % 3 ? 'client' : 'admin',
      url: i === 5 ? 'https://panel.example.com/x?q==cmd|"/C calc"!A0,\n"next"' : `https://panel.example.com/p/${i}${pad}`,
      ip: `10.0.${(i >> 8) & 255}.${i & 255}`,
      user: { name: i === 9 ? 'Ünïcødé ✓ 🚀' : `User ${i % 17}`, email: `u${i % 17}@example.com`, login: `u${i % 17}` },
    }),
  );
  for (const e of events) h.recorder.emit(e);
  return events;
}

async function download(h: Harness, path: string, s: SignedIn): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  const r = await request(`${h.base}${path}`, { headers: { cookie: s.cookie } });
  return { status: r.statusCode, headers: r.headers, body: Buffer.from(await r.body.arrayBuffer()) };
}

async function ticketFor(h: Harness, s: SignedIn, body: Record<string, unknown>): Promise<string> {
  const r = await h.call('POST', '/api/export/tickets', { session: s, json: { passphrase: PASSPHRASE, ...body } });
  if (r.status !== 201) throw new Error(`ticket: ${r.status} ${r.text}`);
  return r.json.ticket as string;
}

async function manifestOf(h: Harness, s: SignedIn, id: unknown): Promise<ExportManifest> {
  return (await h.call('GET', `/api/export/${String(id)}/manifest`, { session: s })).json as ExportManifest;
}

t.test('viewer, optional: ticket download = the plain export, encrypted; gpg opens it; manifest and record say so', async (t) => {
  const gpg = gpgFor(t);
  if (!gpg) return;
  const { h, aud, logs } = await viewerWith(t, 'optional');
  const events = fill(h, 1200);
  await h.recorder.flush();

  const me = await h.call('GET', '/api/me', { session: aud });
  t.same(me.json.settings, { export_encryption: 'optional' }, '/api/me tells the UI what to offer');

  const plain = await download(h, '/api/export?format=csv&realm=admin', aud);
  t.equal(plain.status, 200);
  const t0 = Date.now();
  const res = await h.call('POST', '/api/export/tickets', { session: aud, json: { format: 'csv', realm: 'admin', passphrase: PASSPHRASE } });
  t.equal(res.status, 201, res.text);
  t.same(Object.keys(res.json).sort(), ['expires_at', 'ticket']);
  t.match(res.json.ticket, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');
  t.equal(res.json.expires_at, h.clock.now() + 60_000, 'valid 60 s');
  t.ok(Date.now() - t0 < 1000);

  const enc = await download(h, `/api/export?ticket=${res.json.ticket}`, aud);
  t.equal(enc.status, 200);
  t.equal(enc.headers['content-type'], 'application/pgp-encrypted');
  t.match(String(enc.headers['content-disposition']), /^attachment; filename="sessiongate-requests-\d{8}T\d{6}\.\d{3}Z\.csv\.gpg"$/);
  t.equal(enc.body[0], 0xc3, 'starts with the SKESK packet (new format, tag 3)');
  t.notOk(enc.body.includes(Buffer.from('panel.example.com')), 'no plaintext in the file');

  const file = join(h.dir, 'download.csv.gpg');
  writeFileSync(file, enc.body);
  const d = await gpg.decrypt(file);
  t.equal(d.code, 0, d.err);
  t.ok(d.out.equals(plain.body), 'gpg --decrypt gives exactly the unencrypted export of the same filter');
  t.equal(parseCsv(d.out.toString('utf8')).length, events.filter((e) => e.realm === 'admin').length + 1);

  const man = await manifestOf(h, aud, enc.headers['x-sessiongate-export-id']);
  t.equal(man.sha256, sha(enc.body), 'sha256: the file as written (encrypted)');
  t.equal(man.bytes, enc.body.length);
  t.equal(man.plaintext_sha256, sha(d.out), 'plaintext_sha256: what gpg gives back');
  t.equal(man.plaintext_bytes, d.out.length);
  t.same(man.encryption, { format: 'openpgp', cipher: 'AES-256', s2k: 'iterated-salted-sha256' });
  t.match(man.file, /\.csv\.gpg$/);
  t.equal(man.complete, true);

  const acts = await h.activity('export');
  t.equal(acts.length, 2);
  t.notOk(acts[0]!.details?.encrypted, 'the plain export is recorded as plain');
  t.match(acts[1], { id: enc.headers['x-sessiongate-export-id'], initiator: 'aud', description: /encrypted/, details: { encrypted: true, encryption: { format: 'openpgp' }, complete: true, query: { realm: 'admin' } } });

  t.notOk(logs.join('').includes(PASSPHRASE), 'the passphrase is in no log line');
  t.notOk(JSON.stringify(h.committed).includes(PASSPHRASE), 'nor in any stored event');
  await h.recorder.flush();
  for (const f of filesUnder(h.dir)) t.equal(readFileSync(f).indexOf(Buffer.from(PASSPHRASE, 'utf8')), -1, `nor in ${f.slice(h.dir.length)}`);
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));
}

t.test('viewer: an empty export and a large one (many partial chunks) decrypt to the plain bytes', async (t) => {
  const gpg = gpgFor(t);
  if (!gpg) return;
  const { h, aud } = await viewerWith(t, 'optional');
  fill(h, 50_000, '/' + 'x'.repeat(100));
  await h.recorder.flush();
  const cases: { name: string; body: Record<string, string> }[] = [
    { name: 'empty', body: { format: 'ndjson', q: 'no-such-thing-anywhere' } },
    { name: 'large', body: { format: 'csv', order: 'asc' } },
  ];
  for (const c of cases) {
    const ticket = await ticketFor(h, aud, c.body);
    const enc = await download(h, `/api/export?ticket=${ticket}`, aud);
    t.equal(enc.status, 200, c.name);
    const file = join(h.dir, `${c.name}.gpg`);
    writeFileSync(file, enc.body);
    const d = await gpg.decrypt(file);
    t.equal(d.code, 0, `${c.name}: ${d.err}`);
    const man = await manifestOf(h, aud, enc.headers['x-sessiongate-export-id']);
    t.equal(man.plaintext_sha256, sha(d.out), `${c.name}: plaintext_sha256 matches gpg's output`);
    t.equal(man.sha256, sha(enc.body), `${c.name}: sha256 matches the file`);
    const plain = await download(h, `/api/export?${new URLSearchParams(c.body)}`, aud);
    t.equal(plain.status, 200);
    t.ok(d.out.equals(plain.body), `${c.name}: identical to the unencrypted export of the same filter (${d.out.length} bytes)`);
    if (c.name === 'empty') t.equal(d.out.length, 0, 'NDJSON of nothing is empty');
    else {
      t.ok(enc.body.length > 5 * 1024 * 1024, `several MB (${enc.body.length})`);
      // After the 15-byte SKESK: the SEIPD packet (0xD2) opens with a 2^16 partial body length.
      t.same([enc.body[15], enc.body[16]], [0xd2, 0xe0 + 16], `partial body lengths: about ${Math.round(enc.body.length / 65_536)} chunks`);
      t.equal(man.count, 50_000);
    }
  }
});

t.test('gpg refuses a wrong passphrase and a file with one byte flipped (MDC)', async (t) => {
  const gpg = gpgFor(t);
  if (!gpg) return;
  const { h, aud } = await viewerWith(t, 'optional');
  fill(h, 2000);
  await h.recorder.flush();
  const enc = await download(h, `/api/export?ticket=${await ticketFor(h, aud, { format: 'ndjson' })}`, aud);
  t.ok(enc.body.length > 70_000, 'more than one chunk');
  const file = join(h.dir, 'e.gpg');
  writeFileSync(file, enc.body);
  t.equal((await gpg.decrypt(file)).code, 0, 'the right passphrase opens it');
  const wrong = await gpg.decrypt(file, 'not the passphrase at all');
  t.not(wrong.code, 0, `wrong passphrase: gpg exits ${wrong.code}`);
  t.equal(wrong.out.length, 0, 'and writes nothing');
  // Offset 5000 is inside the first 64 KiB chunk of encrypted data (not a length header).
  for (const at of [5000, enc.body.length - 10]) {
    const bad = Buffer.from(enc.body);
    bad[at] = bad[at]! ^ 0x01;
    const badFile = join(h.dir, `flip-${at}.gpg`);
    writeFileSync(badFile, bad);
    const r = await gpg.decrypt(badFile);
    t.not(r.code, 0, `byte ${at} flipped: gpg exits ${r.code}`);
  }
});

t.test('required: plain GET refused 403 SG_ERR_ENCRYPTION_REQUIRED; tickets work', async (t) => {
  const { h, aud } = await viewerWith(t, 'required');
  fill(h, 10);
  await h.recorder.flush();
  t.same((await h.call('GET', '/api/me', { session: aud })).json.settings, { export_encryption: 'required' });
  for (const m of ['GET', 'HEAD']) {
    const r = await h.call(m, '/api/export?format=csv', { session: aud });
    t.equal(r.status, 403, m);
    if (m === 'GET') t.equal(r.json.error.code, 'SG_ERR_ENCRYPTION_REQUIRED');
  }
  t.equal((await h.call('GET', '/api/export', { session: aud })).json.error.code, 'SG_ERR_ENCRYPTION_REQUIRED', 'no parameters either');
  const ok = await download(h, `/api/export?ticket=${await ticketFor(h, aud, {})}`, aud);
  t.equal(ok.status, 200);
  t.equal(ok.headers['content-type'], 'application/pgp-encrypted');
  t.equal((await h.activity('export')).length, 1, 'only the encrypted export happened');
});

t.test('off: tickets refused 403 SG_ERR_ENCRYPTION_OFF; plain exports as before', async (t) => {
  const { h, aud } = await viewerWith(t, 'off');
  t.same((await h.call('GET', '/api/me', { session: aud })).json.settings, { export_encryption: 'off' });
  const post = await h.call('POST', '/api/export/tickets', { session: aud, json: { passphrase: PASSPHRASE } });
  t.equal(post.status, 403);
  t.equal(post.json.error.code, 'SG_ERR_ENCRYPTION_OFF');
  const get = await h.call('GET', `/api/export?ticket=${'A'.repeat(43)}`, { session: aud });
  t.equal(get.status, 403);
  t.equal(get.json.error.code, 'SG_ERR_ENCRYPTION_OFF');
  t.equal((await h.call('GET', '/api/export?format=csv', { session: aud })).status, 200);
});

t.test('tickets: single use, expire after 60 s, bound to their session; HEAD does not use one up', async (t) => {
  const { h, aud } = await viewerWith(t, 'optional');
  fill(h, 5);
  await h.recorder.flush();

  const once = await ticketFor(h, aud, { format: 'ndjson' });
  const head = await h.call('HEAD', `/api/export?ticket=${once}`, { session: aud });
  t.equal(head.status, 200, 'HEAD: the headers');
  t.equal(head.headers['content-type'], 'application/pgp-encrypted');
  t.equal((await download(h, `/api/export?ticket=${once}`, aud)).status, 200, 'first use');
  const again = await h.call('GET', `/api/export?ticket=${once}`, { session: aud });
  t.equal(again.status, 404, 'second use');
  t.equal(again.json.error.code, 'SG_ERR_EXPORT_TICKET');

  const late = await ticketFor(h, aud, {});
  h.clock.t += 60_001;
  const expired = await h.call('GET', `/api/export?ticket=${late}`, { session: aud });
  t.equal(expired.status, 404, 'expired on the injected clock');
  t.equal(expired.json.error.code, 'SG_ERR_EXPORT_TICKET');
  const inTime = await ticketFor(h, aud, {});
  h.clock.t += 59_000;
  t.equal((await download(h, `/api/export?ticket=${inTime}`, aud)).status, 200, 'used within 60 s');

  // Another signed-in user, and the same user's other session.
  const other = await h.addUser('adm', 'admin');
  const so = await h.login(other.name, other.password);
  const second = await h.login('aud', 'aud-long-enough-pw');
  for (const [who, s] of [['another user', so], ['another session of the same user', second]] as const) {
    const tk = await ticketFor(h, aud, {});
    const r = await h.call('GET', `/api/export?ticket=${tk}`, { session: s });
    t.equal(r.status, 403, who);
    t.equal(r.json.error.code, 'SG_ERR_EXPORT_TICKET', who);
    const burnt = await h.call('GET', `/api/export?ticket=${tk}`, { session: aud });
    t.equal(burnt.status, 404, `${who}: a ticket shown by someone else is burnt`);
  }

  const five = [];
  for (let i = 0; i < 5; i++) five.push(await ticketFor(h, aud, {}));
  t.equal((await h.call('HEAD', `/api/export?ticket=${five[0]}`, { session: aud })).status, 404, 'a fifth ticket of a session replaces the oldest');
  for (const tk of five.slice(1)) t.equal((await h.call('HEAD', `/api/export?ticket=${tk}`, { session: aud })).status, 200, 'the newest four stay');

  const unknown = await h.call('GET', `/api/export?ticket=${'B'.repeat(43)}`, { session: aud });
  t.equal(unknown.status, 404);
  t.equal(unknown.json.error.code, 'SG_ERR_EXPORT_TICKET');
  t.equal((await h.call('GET', '/api/export?ticket=nope', { session: aud })).json.error.code, 'SG_ERR_EXPORT_TICKET');
  const mixed = await h.call('GET', `/api/export?ticket=${await ticketFor(h, aud, {})}&format=csv`, { session: aud });
  t.equal(mixed.status, 400, 'a ticket comes alone');
  t.equal(mixed.json.error.param, 'ticket');
  t.equal((await h.call('GET', `/api/export?ticket=${once}`)).json.error.code, 'SG_ERR_AUTH_REQUIRED', 'signed out: 401 first');
});

t.test('tickets: bad requests are 400 naming the field; roles and CSRF as every POST', async (t) => {
  const { h, aud, logs } = await viewerWith(t, 'optional');
  const cases: [Record<string, unknown>, string][] = [
    [{}, 'passphrase'],
    [{ passphrase: 'short-11chr' }, 'passphrase'],
    [{ passphrase: 'twelve chars' + '\n' }, 'passphrase'],
    [{ passphrase: 42 }, 'passphrase'],
    [{ passphrase: 'x'.repeat(1025) }, 'passphrase'],
    [{ passphrase: PASSPHRASE, format: 'xml' }, 'format'],
    [{ passphrase: PASSPHRASE, from: 'yesterday' }, 'from'],
    [{ passphrase: PASSPHRASE, limit: '5' }, 'limit'],
    [{ passphrase: PASSPHRASE, realm: 5 }, 'realm'],
    [{ passphrase: PASSPHRASE, bogus: '1' }, 'bogus'],
    [{ passphrase: PASSPHRASE, ticket: 'x' }, 'ticket'],
  ];
  for (const [body, param] of cases) {
    const r = await h.call('POST', '/api/export/tickets', { session: aud, json: body });
    t.equal(r.status, 400, JSON.stringify(body).slice(0, 60));
    t.equal(r.json.error.code, 'SG_ERR_BAD_PARAM');
    t.equal(r.json.error.param, param);
  }
  t.equal((await h.call('POST', '/api/export/tickets', { session: aud, json: { passphrase: 'exactly12chr' } })).status, 201, '12 characters are enough');
  t.equal((await h.call('POST', '/api/export/tickets', { session: aud, json: { passphrase: '✓'.repeat(12) } })).status, 201, 'characters, not bytes');
  const noCsrf = await h.call('POST', '/api/export/tickets', { session: aud, csrf: null, json: { passphrase: PASSPHRASE } });
  t.equal(noCsrf.json.error.code, 'SG_ERR_CSRF');
  const sec = await h.addUser('sec', 'security');
  const ss = await h.login(sec.name, sec.password);
  t.equal((await h.call('POST', '/api/export/tickets', { session: ss, json: { passphrase: PASSPHRASE } })).json.error.code, 'SG_ERR_FORBIDDEN');
  t.notOk(logs.join('').includes(PASSPHRASE), 'no passphrase in the logs');
  t.notOk(logs.join('').includes('short-11chr'), 'not even a refused one');
});

// ---------- CLI ----------

const testDirs = new WeakMap<Test, string>();

async function cliSetup(t: Test, encryption: Mode, n = 700) {
  const T0 = nextBase;
  nextBase += 10 * DAY;
  // One fixture dir per test (t.testdir() starts it afresh), one subdirectory per setup.
  if (!testDirs.has(t)) testDirs.set(t, t.testdir());
  const dir = join(testDirs.get(t)!, encryption);
  mkdirSync(dir);
  const config = join(dir, 'sessiongate.yaml');
  writeFileSync(config, `data_dir: ./data\nexport:\n  encryption: ${encryption}\n`);
  const events = Array.from({ length: n }, (_, i) => httpEvent(T0 + i * 1000, { realm: i % 2 ? 'client' : 'admin', url: `https://panel.example.com/p/${i}`, user: { name: `User ${i}`, login: `u${i}` } }));
  const store = Store.open({ dir: join(dir, 'data', 'store'), logger: silent });
  await store.writeBatch(events);
  await store.close();
  const pw = join(dir, 'pw');
  writeFileSync(pw, `${PASSPHRASE}\n`, { mode: 0o600 });
  const activity = async (): Promise<ActivityEvent[]> => {
    const s = Store.open({ dir: join(dir, 'data', 'store'), logger: silent, readOnly: true });
    try {
      return [...s.iterateAll()].filter((e): e is ActivityEvent => e.type === 'activity' && e.action === 'export');
    } finally {
      await s.close();
    }
  };
  return { dir, config, pw, events, activity };
}

t.test('CLI: --encrypt --passphrase-file writes FILE.gpg that gpg opens to the plain export', async (t) => {
  const gpg = gpgFor(t);
  if (!gpg) return;
  const { dir, config, pw, activity } = await cliSetup(t, 'optional');
  const plain = join(dir, 'plain.csv');
  t.equal((await runCli(['export', '--config', config, '--kind', 'requests', '--format', 'csv', '--realm', 'admin', '--out', plain])).code, 0);
  const out = join(dir, 'enc.csv');
  const r = await runCli(['export', '--config', config, '--kind', 'requests', '--format', 'csv', '--realm', 'admin', '--out', out, '--encrypt', '--passphrase-file', pw]);
  t.equal(r.code, 0, r.err);
  t.match(r.err, /gpg --decrypt .*enc\.csv\.gpg > .*enc\.csv/, 'says how to open it');
  const file = `${out}.gpg`;
  t.equal(statSync(file).mode & 0o777, 0o600);
  const man = JSON.parse(readFileSync(`${file}.manifest.json`, 'utf8')) as ExportManifest;
  const bytes = readFileSync(file);
  t.equal(man.sha256, sha(bytes));
  t.equal(man.file, file);
  t.same(man.encryption, { format: 'openpgp', cipher: 'AES-256', s2k: 'iterated-salted-sha256' });
  const d = await gpg.decrypt(file);
  t.equal(d.code, 0, d.err);
  t.ok(d.out.equals(readFileSync(plain)), 'identical to the unencrypted CLI export');
  t.equal(man.plaintext_sha256, sha(d.out));
  t.notOk(r.err.includes(PASSPHRASE));

  // The environment variable, to stdout (manifest on stderr); an empty result.
  const s = await runCliBytes(['export', '--config', config, '--kind', 'requests', '--format', 'ndjson', '-q', 'nothing-matches-this', '--encrypt'], { SESSIONGATE_EXPORT_PASSPHRASE: PASSPHRASE });
  t.equal(s.code, 0, s.err);
  const sm = JSON.parse(s.err) as ExportManifest;
  t.equal(sm.sha256, sha(s.out));
  writeFileSync(join(dir, 'stdout.gpg'), s.out);
  const ds = await gpg.decrypt(join(dir, 'stdout.gpg'));
  t.equal(ds.code, 0, ds.err);
  t.equal(ds.out.length, 0, 'an empty export decrypts to nothing');
  t.equal(sm.plaintext_sha256, sha(ds.out));

  const acts = await activity();
  t.equal(acts.length, 3);
  t.match(acts[1], { initiator: 'cli', details: { encrypted: true, encryption: { format: 'openpgp' }, out: file } });
  t.notOk(JSON.stringify(acts).includes(PASSPHRASE), 'never recorded');
});

/** runCli with stdout kept as bytes (an encrypted export on stdout is binary). */
async function runCliBytes(argv: string[], env: Record<string, string>): Promise<{ code: number; out: Buffer; err: string }> {
  const { PassThrough } = await import('node:stream');
  const { main } = await import('../cli/main.js');
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  let err = '';
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await main(argv, { stdout, stderr, stdin: Readable.from([]), env: { USER: 'tester', ...env } });
  await new Promise((r) => setImmediate(r));
  return { code, out: Buffer.concat(out), err };
}

t.test('CLI: required refuses a plain export (exit 2), off refuses --encrypt, bad passphrases fail', async (t) => {
  const req = await cliSetup(t, 'required', 3);
  const plain = await runCli(['export', '--config', req.config, '--kind', 'requests', '--format', 'csv', '--out', join(req.dir, 'x.csv')]);
  t.equal(plain.code, 2);
  t.match(plain.err, /export\.encryption is required.*--encrypt/);
  t.same(readdirSync(req.dir).filter((f) => f.startsWith('x.csv')), [], 'no file');
  t.equal((await runCli(['export', '--config', req.config, '--kind', 'requests', '--format', 'csv', '--out', join(req.dir, 'y.csv.gpg'), '--encrypt', '--passphrase-file', req.pw])).code, 0);
  t.ok(statSync(join(req.dir, 'y.csv.gpg')).size > 0, 'a name ending in .gpg is kept');

  const off = await cliSetup(t, 'off', 3);
  const enc = await runCli(['export', '--config', off.config, '--kind', 'requests', '--format', 'csv', '--encrypt', '--passphrase-file', off.pw]);
  t.equal(enc.code, 2);
  t.match(enc.err, /export\.encryption is off/);

  const usage: [string[], Record<string, string>][] = [
    [['--encrypt'], {}],
    [['--passphrase-file', req.pw], {}],
    [['--encrypt', '--passphrase-file'], {}],
  ];
  for (const [extra, env] of usage) {
    const r = await runCli(['export', '--config', req.config, '--kind', 'requests', '--format', 'csv', ...extra], { env });
    t.equal(r.code, 2, extra.join(' '));
    t.match(r.err, /usage: sessiongate export/);
  }
  const short = join(req.dir, 'short');
  writeFileSync(short, 'eleven-char\n', { mode: 0o600 });
  const s = await runCli(['export', '--config', req.config, '--kind', 'requests', '--format', 'csv', '--encrypt', '--passphrase-file', short]);
  t.equal(s.code, 1);
  t.match(s.err, /SG_ERR_BAD_PARAM: passphrase-file: at least 12 characters/);
  const e = await runCli(['export', '--config', req.config, '--kind', 'requests', '--format', 'csv', '--encrypt'], { env: { SESSIONGATE_EXPORT_PASSPHRASE: 'too short' } });
  t.equal(e.code, 1);
  t.match(e.err, /SG_ERR_BAD_PARAM: SESSIONGATE_EXPORT_PASSPHRASE: at least 12/);
  const missing = await runCli(['export', '--config', req.config, '--kind', 'requests', '--format', 'csv', '--encrypt', '--passphrase-file', join(req.dir, 'nope')]);
  t.equal(missing.code, 1);
  t.match(missing.err, /SG_ERR_BAD_PARAM: passphrase-file: cannot read/);
});

// ---------- scheduled ----------

t.test('scheduled: with passphrase_file every file is .gpg, gpg opens it, manifests hash both', async (t) => {
  const gpg = gpgFor(t);
  if (!gpg) return;
  const root = t.testdir();
  const rec = await Recorder.open({ dataDir: join(root, 'data'), audit: audit({ flush_interval: 5 }), clock: { now: () => Date.now() }, logger: silent });
  t.teardown(() => rec.close());
  for (let i = 0; i < 3; i++) for (const e of oneOfEach(i)) rec.emit(e);
  await rec.flush();
  const pw = join(root, 'pw');
  writeFileSync(pw, `${PASSPHRASE}\n`, { mode: 0o600 });
  const dir = join(root, 'exports');
  const sched = new ScheduledExport(exportScheduleSchema.parse({ dir, interval: '1h', passphrase_file: pw }), { store: rec.store, clock: { now: () => Date.now() }, logger: silent, emitter: rec }, { encryption: 'optional' });
  t.teardown(() => sched.close());
  const stored = [...rec.store.iterateAll()].map((e) => e.id).sort();
  const report = await sched.runOnce();
  t.notOk(report.error, report.error ?? 'the run worked');
  t.equal(report.files.length, 5);
  const ids: string[] = [];
  for (const f of report.files) {
    t.match(f.file, /^(requests|sessions|activity|transfers|ssh)-begin-\d{8}T\d{6}\.\d{3}Z\.ndjson\.gpg$/);
    const path = join(dir, f.file);
    const bytes = readFileSync(path);
    const man = JSON.parse(readFileSync(`${path}.manifest.json`, 'utf8')) as ExportManifest;
    t.equal(man.sha256, sha(bytes), `${f.file}: sha256 of the file`);
    t.equal(f.sha256, man.sha256);
    const d = await gpg.decrypt(path);
    t.equal(d.code, 0, d.err);
    t.equal(man.plaintext_sha256, sha(d.out), `${f.file}: plaintext_sha256 of what gpg gives`);
    const lines = d.out.toString('utf8').trim().split('\n');
    t.equal(lines.length, man.count);
    ids.push(...lines.map((l) => (JSON.parse(l) as { id: string }).id));
  }
  t.same(ids.sort(), stored, 'every event stored before the run, once');
  await rec.flush();
  const act = [...rec.store.iterateAll()].filter((e): e is ActivityEvent => e.type === 'activity' && e.action === 'export');
  t.match(act[0], { initiator: 'system', details: { scheduled: true, encrypted: true, encryption: { format: 'openpgp' } } });
  t.notOk(JSON.stringify(act).includes(PASSPHRASE));
});

t.test('scheduled: required without passphrase_file, off with one, or a bad file: refused before start', async (t) => {
  const root = t.testdir();
  const rec = await Recorder.open({ dataDir: join(root, 'data'), audit: audit({ flush_interval: 5 }), clock: { now: () => Date.now() }, logger: silent });
  t.teardown(() => rec.close());
  const deps = { store: rec.store, subscribe: rec.subscribe.bind(rec), clock: { now: () => Date.now() }, logger: silent };
  const short = join(root, 'short');
  writeFileSync(short, 'too short\n', { mode: 0o600 });
  const good = join(root, 'good');
  writeFileSync(good, PASSPHRASE, { mode: 0o600 });
  const dir = join(root, 'exports');
  const cases: [Record<string, unknown>, Mode, RegExp][] = [
    [{ dir }, 'required', /passphrase_file: required/],
    [{ dir, passphrase_file: good }, 'off', /encryption is off/],
    [{ dir, passphrase_file: short }, 'optional', /at least 12 characters/],
    [{ dir, passphrase_file: join(root, 'nope') }, 'required', /cannot read/],
  ];
  for (const [schedule, encryption, message] of cases) {
    let err: unknown;
    try {
      new ExportServices({ encryption, schedule: exportScheduleSchema.parse(schedule), forward: [] }, deps);
    } catch (e) {
      err = e;
    }
    t.match(err, { code: 'SG_ERR_CONFIG_INVALID', details: { key: 'export.schedule.passphrase_file' }, message }, `${encryption} ${JSON.stringify(schedule).slice(0, 50)}`);
    t.notOk(String((err as Error)?.message).includes(PASSPHRASE));
  }
  t.ok(new ExportServices({ encryption: 'required', schedule: exportScheduleSchema.parse({ dir, passphrase_file: good }), forward: [] }, deps), 'required with a good file starts');
});
