// Session playback and live watch in the viewer, in real Chromium: a real sshd behind the gateway,
// the real OpenSSH client (through node-pty for the live shell). Server Session Logs' Action At
// opens the playback page: session info (seed 003), asciinema-player over the keyframe index
// (never the whole file), play, seek on the timeline, speed, Close back to the same list. A
// recording over viewer.replay_max_bytes gets the seed's message and Download, which with
// export.encryption required asks a passphrase twice and gives a file gpg opens to the recording.
// Live Sessions' Watch shows a live shell as it is typed. Terminal output is text, never markup.
// Screenshots in test-results/ui/.
import t from 'tap';
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pty from 'node-pty';
import { findCast } from '../recorder/cast/index.js';
import { startTestGateway, tempDir } from './helpers/gateway.js';
import { keygen, sshArgs, startSshd, targetYaml } from './helpers/sshd.js';
import { collectErrors, launchChromium, screenshot, signIn } from './helpers/browser.js';
import { toolPath } from './helpers/interop.js';

const ADMIN_PW = 'replay-ui-admin-password';
const PASSPHRASE = 'correct horse battery staple';

function ssh(args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const p = spawn('ssh', args, { stdio: ['ignore', 'ignore', 'ignore'] });
    p.on('close', resolve);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('session playback and live watch in the viewer', async (t) => {
  const sshd = await startSshd(t);
  if (!sshd) return;
  const browser = await launchChromium(t);
  if (!browser) return;
  const dir = tempDir('sg-replay-ui-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const key = keygen(dir, 'alice_key');
  const { gw, dataDir } = await startTestGateway(
    t,
    `data_dir: \${DATA}
viewer: { listen: 127.0.0.1:0, replay_max_bytes: 1MB }
export: { encryption: required }
ssh:
  listeners:
    - { name: ssh, listen: 127.0.0.1:0 }
  targets:
${targetYaml(sshd, 'web1', { os: 'Debian 12' })}${targetYaml(sshd, 'bulk1', { os: 'Debian 12' })}${targetYaml(sshd, 'long1')}`,
  );
  const port = gw.frontends.find((f) => f.protocol === 'ssh')!.addresses()[0]!.port;
  const viewer = gw.urls().viewer!;
  await gw.users.add({ name: 'ada', role: 'admin', email: 'ada@example.com', password: ADMIN_PW });
  await gw.users.add({ name: 'alice', role: 'auditor', email: 'alice@example.com', password: 'alice-password-1234' });
  await gw.users.setSshAccess('alice', {
    ssh_keys: [key.pub],
    targets: [
      { server: 'web1', account: 'root' },
      { server: 'bulk1', account: 'root' },
      { server: 'long1', account: 'root' },
    ],
  });
  // A short session whose late output is only on screen near the end, with markup in it.
  const script = 'echo EARLY-$((3*3)); sleep 1.5; seq 1 5; sleep 1.5; echo "<img src=x onerror=alert(1)>"; echo LATE-$((40+2)); sleep 1.5; echo bye-$((1+1))';
  t.equal(await ssh([...sshArgs(port, key.file, ['-tt']), 'alice:root@web1@127.0.0.1', script]), 0, 'a recorded session on web1');
  // A recording over the 1 MB replay limit.
  t.equal(await ssh([...sshArgs(port, key.file, ['-tt']), 'alice:root@bulk1@127.0.0.1', 'seq 1 250000']), 0, 'a large session on bulk1');
  // Long enough for keyframes (one per 256 KB of output): replay reads segments, never the whole file.
  t.equal(await ssh([...sshArgs(port, key.file, ['-tt']), 'alice:root@long1@127.0.0.1', 'for i in 1 2 3 4 5; do seq 1 20000; sleep 0.2; done; echo END-OF-LONG-$((5*5)); sleep 1; echo done']), 0, 'a session with keyframes on long1');

  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));
  /** Bytes of each recording response (index, segments, cast) by path. */
  const fetched: [string, number][] = [];
  page.on('response', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith('/api/recordings/')) void r.body().then((b) => fetched.push([path, b.length]), () => {});
  });
  let alerted = false;
  page.on('dialog', (d) => {
    alerted = true;
    void d.dismiss();
  });
  await signIn(page, viewer, 'ada', ADMIN_PW);
  // From here on (the sign-in page's own 401 for GET /api/me is expected).
  const errors = collectErrors(page);
  page.on('response', (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`));

  const term = page.locator('[data-testid=player] .ap-term-text');
  /** The list's row count once it settles on `n` (a search re-renders after the URL changes). */
  const rowCount = async (n: number) => {
    await page.waitForFunction((n) => document.querySelectorAll('table.data tbody tr').length === n, n, { timeout: 5000 }).catch(() => {});
    return page.locator('table.data tbody tr').count();
  };

  await t.test('Action At opens the playback: session info, the player, play, seek, speed, Close', async (t) => {
    await page.goto(`${viewer}/session-logs`);
    await page.getByRole('searchbox', { name: 'Search' }).fill('web1');
    await page.waitForURL(/q=web1/);
    t.equal(await rowCount(1), 1, 'found by server name');
    await page.getByRole('searchbox', { name: 'Search' }).fill('127.0.0.1');
    await page.waitForURL(/q=127\.0\.0\.1/);
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByLabel('Server OS').fill('Debian 12');
    await page.getByLabel('Server OS').press('Tab');
    await page.waitForURL(/os=Debian/);
    const row = page.locator('table.data tbody tr', { hasText: 'web1' });
    await row.waitFor();
    t.equal(await rowCount(2), 2, 'both sessions found by client IP and server OS');
    const listUrl = page.url();
    await row.getByRole('link', { name: /^\d{4}-\d\d-\d\d/ }).click();
    await page.waitForURL(/\/session-logs\/[^/]+\/replay\?/);
    t.match(page.url(), /q=127\.0\.0\.1/, "the list's filters ride along");

    const info = page.getByRole('definition');
    await page.getByText('Session Record').waitFor();
    const infoText = await page.locator('.replay-info').innerText();
    for (const v of ['Name', 'alice', 'Email', 'alice@example.com', 'Role', 'auditor', 'Account', 'root', 'Server Name', 'web1', 'Server OS', 'Debian 12', 'Host', '127.0.0.1', 'Port', String(sshd.port), 'Protocol', 'SSH', 'Client IP', 'Client Name', 'OpenSSH', 'Connected From', 'Proxy', 'Action At', 'Ended At', 'Duration', 'End Reason', /(client|upstream) exit/, 'Size', 'SHA-256']) {
      t.match(infoText, v, `session info shows ${v}`);
    }
    t.ok(await info.count(), 'as a definition list');
    await page.locator('.hash').waitFor();
    t.match(await page.locator('.hash').innerText(), /^[0-9a-f]{64}$/, 'the recording SHA-256');

    await term.waitFor();
    await page.locator('[data-testid=player] .ap-progressbar').waitFor();
    await screenshot(page, 'replay-01-player');
    t.notMatch(await term.innerText(), 'LATE-42', 'late output is not on screen at the start');
    await page.locator('.player-toggle', { hasText: 'Play' }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid=player] .ap-term-text')?.textContent?.includes('EARLY-9'));
    await page.locator('.player-toggle', { hasText: 'Pause' }).waitFor();
    await page.waitForFunction(() => !document.querySelector('.player-time')?.textContent?.startsWith('00:00 '));
    t.pass('plays: the first output shows and the time runs');
    await page.locator('.player-toggle', { hasText: 'Pause' }).click();
    await page.locator('.player-toggle', { hasText: 'Play' }).waitFor();
    t.notMatch(await term.innerText(), 'LATE-42', 'paused before the late output');

    // Seek: a click on the timeline near its end.
    await page.locator('[data-testid=player] .ap-progressbar').scrollIntoViewIfNeeded();
    const bar = await page.locator('[data-testid=player] .ap-progressbar').boundingBox();
    await page.mouse.click(bar!.x + bar!.width * 0.94, bar!.y + bar!.height / 2);
    await page.waitForFunction(() => document.querySelector('[data-testid=player] .ap-term-text')?.textContent?.includes('LATE-42'), undefined, { timeout: 10_000 });
    t.pass('a click near the end of the timeline shows output from late in the session');
    const shown = await term.innerText();
    t.match(shown, '<img src=x onerror=alert(1)>', 'markup in the recording is shown as text');
    t.equal(await page.locator('[data-testid=player] img').count(), 0, 'and never becomes an element');
    await screenshot(page, 'replay-02-seeked');

    await page.getByLabel('Speed').selectOption('4');
    await page.waitForFunction(() => document.querySelector('[data-testid=player] .ap-term-text')?.textContent?.includes('LATE-42'), undefined, { timeout: 10_000 });
    t.equal(await page.getByLabel('Speed').inputValue(), '4', 'speed 4×, at the same position');
    await page.locator('.player-toggle', { hasText: 'Play' }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid=player] .ap-term-text')?.textContent?.includes('bye-2'), undefined, { timeout: 10_000 });
    t.pass('plays on at 4× to the end');

    t.ok(requests.some((p) => /\/api\/recordings\/[^/]+\/index$/.test(p)), 'the player reads the keyframe index');
    t.ok(requests.some((p) => /\/api\/recordings\/[^/]+\/segments\/\d+$/.test(p)), 'and segments');
    t.notOk(requests.some((p) => /\/cast$/.test(p)), 'never the whole file');

    await page.getByRole('button', { name: 'Close' }).click();
    await page.waitForURL((u) => u.pathname === '/session-logs');
    t.equal(page.url(), listUrl, 'Close returns to the list with its filters');
    t.equal(await page.getByRole('searchbox', { name: 'Search' }).inputValue(), '127.0.0.1');
    t.equal(await rowCount(2), 2, 'the same rows');
  });

  await t.test('a long recording starts and seeks through its keyframe index, not the file', async (t) => {
    await page.goto(`${viewer}/session-logs?q=long1`);
    const row = page.locator('table.data tbody tr', { hasText: 'long1' });
    await row.waitFor();
    fetched.length = 0;
    await row.getByRole('link', { name: /^\d{4}-\d\d-\d\d/ }).click();
    await term.waitFor();
    const id = (await page.locator('.replay-info code').innerText()).trim();
    const file = findCast(join(dataDir, 'recordings'), id)!;
    const size = readFileSync(file).length;
    const keyframes = readFileSync(`${file}.idx`, 'utf8').split('\n').filter((l) => l.startsWith('{"t":')).length;
    t.ok(keyframes >= 2, `the recording has keyframes (${keyframes})`);
    await page.locator('[data-testid=player] .ap-progressbar').scrollIntoViewIfNeeded();
    await page.waitForFunction(() => document.querySelector('.player-time')?.textContent?.includes('/ 00:0'), undefined, { timeout: 10_000 });
    const bar = await page.locator('[data-testid=player] .ap-progressbar').boundingBox();
    await page.mouse.click(bar!.x + bar!.width * 0.95, bar!.y + bar!.height / 2);
    await page.waitForFunction(() => document.querySelector('[data-testid=player] .ap-term-text')?.textContent?.includes('END-OF-LONG-25'), undefined, { timeout: 10_000 });
    t.pass('a seek to the end shows the last output');
    await screenshot(page, 'replay-03-long-seeked');
    const segs = fetched.filter(([p]) => /\/segments\/\d+$/.test(p)).map(([p]) => Number(p.split('/').pop()));
    t.ok(segs.some((n) => n >= 2), `a later segment was read (${segs.join(', ')})`);
    const total = fetched.reduce((n, [, b]) => n + b, 0);
    t.ok(total < size, `read ${total} of ${size} bytes: segments, not the whole recording`);
    t.notOk(fetched.some(([p]) => p.endsWith('/cast')), 'never the cast itself');
  });

  await t.test('over viewer.replay_max_bytes: the seed message, and an encrypted Download gpg opens', async (t) => {
    await page.goto(`${viewer}/session-logs?q=bulk1`);
    const row = page.locator('table.data tbody tr', { hasText: 'bulk1' });
    await row.waitFor();
    await row.getByRole('link', { name: /^\d{4}-\d\d-\d\d/ }).click();
    await page.getByText('The file exceeds 1MB, and the session cannot be replayed directly.').waitFor();
    await page.getByText('To view this session, download the file and play it locally.').waitFor();
    t.equal(await page.locator('[data-testid=player]').count(), 0, 'no player');
    await screenshot(page, 'replay-04-too-large');
    const id = (await page.locator('.replay-info code').innerText()).trim();
    const file = findCast(join(dataDir, 'recordings'), id);
    t.ok(file, 'the recording is on disk');

    await page.getByRole('button', { name: 'Download', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Download encrypted' });
    await dialog.getByText('Downloads must be encrypted on this gateway.').waitFor();
    await dialog.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
    await dialog.getByLabel('Repeat passphrase').fill('something else entirely');
    await dialog.getByRole('button', { name: 'Download' }).click();
    await dialog.getByText('The two passphrases differ.').waitFor();
    await dialog.getByLabel('Repeat passphrase').fill(PASSPHRASE);
    await screenshot(page, 'replay-05-passphrase');
    const [dl] = await Promise.all([page.waitForEvent('download'), dialog.getByRole('button', { name: 'Download' }).click()]);
    t.match(dl.suggestedFilename(), /\.cast\.gpg$/, 'an OpenPGP file');
    t.notOk(requests.some((p) => p.includes(encodeURIComponent(PASSPHRASE)) || p.includes(PASSPHRASE)), 'the passphrase is in no URL');
    const gpg = toolPath('gpg');
    if (!gpg) t.comment('SKIP: gpg is not installed: the encrypted download is not decrypted here');
    else {
      const home = mkdtempSync(join(tmpdir(), 'sg-gpg-'));
      t.teardown(() => rmSync(home, { recursive: true, force: true }));
      const passFile = join(home, 'pass');
      writeFileSync(passFile, `${PASSPHRASE}\n`, { mode: 0o600 });
      const out = execFileSync(gpg, ['--homedir', home, '--batch', '--yes', '--quiet', '--pinentry-mode', 'loopback', '--passphrase-file', passFile, '--decrypt', (await dl.path())!], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
      t.equal(createHash('sha256').update(out).digest('hex'), createHash('sha256').update(readFileSync(file!)).digest('hex'), 'gpg decrypts it to the recording, byte for byte');
    }
    await page.keyboard.press('Escape');
  });

  await t.test('Live Sessions: Watch shows a live shell as it is typed; terminate from the view', async (t) => {
    const shell = pty.spawn('ssh', [...sshArgs(port, key.file, ['-tt']), 'alice:root@web1@127.0.0.1'], { cols: 100, rows: 30 });
    const exited = new Promise<number>((r) => shell.onExit((e) => r(e.exitCode)));
    t.teardown(() => {
      try {
        shell.kill();
      } catch {
        /* gone */
      }
    });
    let seen = '';
    shell.onData((d) => (seen += d));
    shell.write('echo before-$((2+3))\r');
    for (let i = 0; i < 100 && !seen.includes('before-5'); i++) await sleep(100);

    await page.goto(`${viewer}/live?tab=ssh`);
    const row = page.locator('table.data tbody tr', { hasText: 'alice' });
    await row.waitFor();
    await row.getByRole('button', { name: /^Watch/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Watch live session' });
    const live = dialog.locator('[data-testid=live-player] .ap-term-text');
    await live.waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid=live-player] .ap-term-text')?.textContent?.includes('before-5'), undefined, { timeout: 10_000 });
    t.pass('the screen as it is when the watch starts');

    shell.write('echo WATCH-$((6*7))\r');
    await page.waitForFunction(() => document.querySelector('[data-testid=live-player] .ap-term-text')?.textContent?.includes('WATCH-42'), undefined, { timeout: 10_000 });
    t.pass('typed output appears in the watch view');
    shell.write("echo '<img src=x onerror=alert(2)>'\r");
    await page.waitForFunction(() => (document.querySelector('[data-testid=live-player] .ap-term-text')?.textContent?.match(/<img src=x onerror=alert\(2\)>/g)?.length ?? 0) >= 2, undefined, { timeout: 10_000 });
    t.equal(await dialog.locator('[data-testid=live-player] img').count(), 0, 'markup is shown as text');
    await screenshot(page, 'replay-06-live-watch');

    await dialog.getByRole('button', { name: 'Terminate…' }).click();
    await dialog.getByLabel(/Reason/).fill('ui: ended while watching');
    await dialog.getByRole('button', { name: 'End the session' }).click();
    await exited;
    t.match(seen, 'terminated by ada: ui: ended while watching', 'the user saw who ended it and why');
    await dialog.getByText('The session has ended.').waitFor({ timeout: 10_000 });
    await screenshot(page, 'replay-07-live-ended');
    await dialog.getByRole('button', { name: 'Close' }).last().click();
    await page.getByText('1 session ended.').waitFor();
  });

  t.notOk(alerted, 'no script from a recording ever ran');
  t.same(errors, [], 'no page errors (CSP included)');
});
