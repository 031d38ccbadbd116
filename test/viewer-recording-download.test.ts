// Encrypted recording downloads (`export.encryption`), through a real viewer over a real store and
// a real recording, proven with the real gpg: a passphrase is traded for a one-time ticket
// (POST, never in a URL); the download is an OpenPGP file that `gpg --decrypt` opens to the
// recording's bytes; the ticket works once, for its own recording and its own session; the
// download is recorded as an export. `off` refuses tickets; `optional` serves both ways.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { CastWriter } from '../recorder/cast/index.js';
import { manualClock, silentLogger } from './fixtures/recorder-helpers.js';
import { toolPath } from './helpers/interop.js';
import { startHarness, type Harness } from '../viewer/server/test-harness.js';
import type { ExportEncryptionMode } from '../config/schema.js';

const PASSPHRASE = 'correct horse battery staple';

async function harness(t: Test, mode: ExportEncryptionMode): Promise<Harness> {
  return startHarness({ dir: t.testdir(), teardown: (fn) => t.teardown(fn), exportEncryption: mode });
}

async function recording(h: Harness, id: string): Promise<Buffer> {
  const clock = manualClock(Date.now());
  const w = new CastWriter({ dir: join(h.dir, 'recordings'), sessionId: id, width: 80, height: 24, recordInput: false, clock, logger: silentLogger() });
  for (let i = 0; i < 200; i++) {
    clock.advance(10);
    w.output(`line ${i} of the session \x1b[1mbold\x1b[0m ünïcödé\r\n`);
  }
  const rec = await w.close('client_exit');
  return readFileSync(rec.file);
}

async function download(h: Harness, path: string, cookie: string): Promise<{ status: number; type: string; disposition: string; body: Buffer }> {
  const r = await request(`${h.base}${path}`, { headers: { cookie } });
  return { status: r.statusCode, type: String(r.headers['content-type']), disposition: String(r.headers['content-disposition']), body: Buffer.from(await r.body.arrayBuffer()) };
}

function gpgDecrypt(t: Test, data: Buffer, passphrase: string): Buffer | undefined {
  const gpg = toolPath('gpg');
  if (!gpg) {
    t.comment('SKIP: gpg is not installed: the encrypted download is not decrypted here');
    return undefined;
  }
  const home = mkdtempSync(join(tmpdir(), 'sg-gpg-'));
  chmodSync(home, 0o700);
  try {
    writeFileSync(join(home, 'in.gpg'), data);
    return execFileSync(gpg, ['--homedir', home, '--batch', '--yes', '--quiet', '--no-symkey-cache', '--pinentry-mode', 'loopback', '--passphrase', passphrase, '--decrypt', join(home, 'in.gpg')], { stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    try {
      execFileSync('gpgconf', ['--homedir', home, '--kill', 'all'], { stdio: 'ignore' });
    } catch {
      /* no agent */
    }
    rmSync(home, { recursive: true, force: true });
  }
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('export.encryption required: a ticket, then an OpenPGP download gpg opens', async (t) => {
  const h = await harness(t, 'required');
  const u = await h.addUser('aud', 'auditor');
  const s = await h.login(u.name, u.password);
  const plain = await recording(h, 'REC-1');
  await recording(h, 'REC-2');

  const refused = await h.call('GET', '/api/recordings/REC-1/download', { session: s });
  t.match(refused, { status: 403, json: { error: { code: 'SG_ERR_ENCRYPTION_REQUIRED', message: /download-tickets/ } } }, 'a plain download is refused');

  const short = await h.call('POST', '/api/recordings/REC-1/download-tickets', { session: s, json: { passphrase: 'short' } });
  t.match(short, { status: 400, json: { error: { code: 'SG_ERR_BAD_PARAM', param: 'passphrase' } } }, 'a short passphrase is refused');
  const extra = await h.call('POST', '/api/recordings/REC-1/download-tickets', { session: s, json: { passphrase: PASSPHRASE, format: 'csv' } });
  t.match(extra, { status: 400, json: { error: { param: 'format' } } }, 'unknown fields are refused');
  const none = await h.call('POST', '/api/recordings/NOPE/download-tickets', { session: s, json: { passphrase: PASSPHRASE } });
  t.equal(none.status, 404, 'no ticket for a recording that does not exist');
  const noCsrf = await h.call('POST', '/api/recordings/REC-1/download-tickets', { session: s, csrf: null, json: { passphrase: PASSPHRASE } });
  t.equal(noCsrf.status, 403, 'the CSRF rule applies');

  const issued = await h.call('POST', '/api/recordings/REC-1/download-tickets', { session: s, json: { passphrase: PASSPHRASE } });
  t.equal(issued.status, 201);
  const ticket = issued.json.ticket as string;
  t.match(ticket, /^[A-Za-z0-9_-]{43}$/);

  const other = await h.call('POST', '/api/recordings/REC-2/download-tickets', { session: s, json: { passphrase: PASSPHRASE } });
  const wrong = await download(h, `/api/recordings/REC-1/download?ticket=${other.json.ticket}`, s.cookie);
  t.equal(wrong.status, 404, "a ticket for another recording does not open this one (and is used up)");
  t.equal((await download(h, `/api/recordings/REC-2/download?ticket=${other.json.ticket}`, s.cookie)).status, 404, 'tried once');

  const u2 = await h.addUser('aud2', 'auditor');
  const s2 = await h.login(u2.name, u2.password);
  const t2 = (await h.call('POST', '/api/recordings/REC-1/download-tickets', { session: s2, json: { passphrase: PASSPHRASE } })).json.ticket;
  t.equal((await download(h, `/api/recordings/REC-1/download?ticket=${t2}`, s.cookie)).status, 403, "another session's ticket is refused");

  const enc = await download(h, `/api/recordings/REC-1/download?ticket=${ticket}`, s.cookie);
  t.equal(enc.status, 200);
  t.equal(enc.type, 'application/pgp-encrypted');
  t.match(enc.disposition, /filename="REC-1\.cast\.gpg"/);
  t.notOk(enc.body.includes(Buffer.from('line 1 of the session')), 'not plaintext');
  const out = gpgDecrypt(t, enc.body, PASSPHRASE);
  if (out) t.equal(sha(out), sha(plain), 'gpg --decrypt gives the recording byte for byte');
  t.equal((await download(h, `/api/recordings/REC-1/download?ticket=${ticket}`, s.cookie)).status, 404, 'a ticket works once');

  const exports = (await h.activity('export')).filter((a) => a.details?.kind === 'recording');
  t.equal(exports.length, 1, 'one export recorded');
  t.match(exports[0], { initiator: 'aud', targets: [{ kind: 'recording', id: 'REC-1' }], details: { encrypted: true, encryption: { format: 'openpgp' }, bytes: plain.length } });
  t.notOk(JSON.stringify(h.committed).includes(PASSPHRASE), 'the passphrase is stored nowhere');
});

t.test('export.encryption off refuses tickets', async (t) => {
  const off = await harness(t, 'off');
  const u = await off.addUser('aud', 'auditor');
  const s = await off.login(u.name, u.password);
  const plain = await recording(off, 'REC-3');
  t.match(await off.call('POST', '/api/recordings/REC-3/download-tickets', { session: s, json: { passphrase: PASSPHRASE } }), { status: 403, json: { error: { code: 'SG_ERR_ENCRYPTION_OFF' } } });
  const d = await download(off, '/api/recordings/REC-3/download', s.cookie);
  t.equal(sha(d.body), sha(plain), 'the plain download');
});

t.test('export.encryption optional serves both', async (t) => {
  const opt = await harness(t, 'optional');
  const u2 = await opt.addUser('aud', 'auditor');
  const s2 = await opt.login(u2.name, u2.password);
  const plain2 = await recording(opt, 'REC-4');
  t.equal(sha((await download(opt, '/api/recordings/REC-4/download', s2.cookie)).body), sha(plain2), 'optional: plain');
  const tk = (await opt.call('POST', '/api/recordings/REC-4/download-tickets', { session: s2, json: { passphrase: PASSPHRASE } })).json.ticket;
  const enc = await download(opt, `/api/recordings/REC-4/download?ticket=${tk}`, s2.cookie);
  t.equal(enc.type, 'application/pgp-encrypted', 'optional: encrypted');
  const out = gpgDecrypt(t, enc.body, PASSPHRASE);
  if (out) t.equal(sha(out), sha(plain2));
});
