// SSH sessions in the viewer, in real Chromium: a real sshd behind the gateway, the real OpenSSH
// client; Server Session Logs finds the session by server and by client IP with seed 003's
// columns, the Live page's SSH tab lists a live shell and ends it. Screenshots in test-results/ui/.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as pty from 'node-pty';
import { startTestGateway, tempDir } from './helpers/gateway.js';
import { keygen, sshArgs, startSshd, viewerSshYaml } from './helpers/sshd.js';
import { launchChromium, screenshot, signIn } from './helpers/browser.js';

const ADMIN_PW = 'ssh-ui-admin-password';

function exec(args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const p = spawn('ssh', args, { stdio: ['ignore', 'ignore', 'ignore'] });
    p.on('close', resolve);
  });
}

t.test('SSH sessions in the viewer', async (t) => {
  const sshd = await startSshd(t);
  if (!sshd) return;
  const browser = await launchChromium(t);
  if (!browser) return;
  const dir = tempDir('sg-ssh-ui-');
  const key = keygen(dir, 'alice_key');
  const { gw } = await startTestGateway(t, viewerSshYaml(sshd));
  const port = gw.frontends.find((f) => f.protocol === 'ssh')!.addresses()[0]!.port;
  const viewer = gw.urls().viewer!;
  await gw.users.add({ name: 'ada', role: 'admin', email: 'ada@example.com', password: ADMIN_PW });
  await gw.users.add({ name: 'alice', role: 'auditor', email: 'alice@example.com', password: 'alice-password-1234' });
  await gw.users.setSshAccess('alice', { ssh_keys: [key.pub], targets: [{ server: 'web1', account: 'root' }] });
  t.equal(await exec([...sshArgs(port, key.file), 'alice@127.0.0.1', 'true']), 0, 'an SSH session through the gateway');

  const page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  await signIn(page, viewer, 'ada', ADMIN_PW);

  await t.test('Server Session Logs: seed 003 columns, found by server and by client IP', async (t) => {
    await page.goto(`${viewer}/session-logs`);
    await page.locator('table.data tbody tr').first().waitFor();
    const heads = (await page.locator('table.data thead th').allInnerTexts()).map((h) => h.replace(/[↕▲▼]/g, '').trim());
    t.same(heads.slice(0, 14), ['No', 'Action At', 'Name', 'Email', 'Role', 'Account', 'Server Name', 'Server OS', 'Host', 'Port', 'Protocol', 'Client IP', 'Client Name', 'Connected From'], "seed 003's columns in its order");
    const row = await page.locator('table.data tbody tr').first().innerText();
    for (const v of ['alice', 'alice@example.com', 'auditor', 'root', 'web1', 'Debian 12', '127.0.0.1', String(sshd.port), 'SSH', 'OpenSSH', 'Proxy']) t.match(row, v, `shows ${v}`);
    await page.getByRole('searchbox', { name: 'Search' }).fill('web1');
    await page.waitForURL(/q=web1/);
    await page.locator('table.data tbody tr').first().waitFor();
    t.equal(await page.locator('table.data tbody tr').count(), 1, 'found by server name');
    await page.getByRole('searchbox', { name: 'Search' }).fill('127.0.0');
    await page.waitForURL(/q=127\.0\.0/);
    await page.locator('table.data tbody tr').first().waitFor();
    t.equal(await page.locator('table.data tbody tr').count(), 1, 'found by client IP prefix');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByLabel('Protocol').selectOption('ftp');
    await page.getByText('No session matches these filters.').waitFor();
    await page.getByLabel('Protocol').selectOption('ssh');
    await page.locator('table.data tbody tr').first().waitFor();
    await screenshot(page, 'ssh-01-session-logs');
    // Action At opens the session's playback page (test/viewer-replay-ui.test.ts plays one).
    await page.getByRole('link', { name: /^\d{4}-\d\d-\d\d/ }).first().click();
    await page.locator('.replay-info').getByText(/^SSH-2\.0-OpenSSH/).waitFor();
    await page.getByText('This session has no recording').waitFor();
    await screenshot(page, 'ssh-02-session-record');
    await page.getByRole('button', { name: 'Close' }).click();
    await page.waitForURL(/\/session-logs\?/);
  });

  await t.test('Live Sessions, SSH tab: a live shell is listed and ended from the page', async (t) => {
    const term = pty.spawn('ssh', [...sshArgs(port, key.file, ['-tt']), 'alice@127.0.0.1'], { cols: 80, rows: 24 });
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    let shown = '';
    term.onData((d) => (shown += d));
    term.write('echo $((6*7))x\r');
    for (let i = 0; i < 100 && !shown.includes('42x'); i++) await new Promise((r) => setTimeout(r, 100));
    await page.goto(`${viewer}/live?tab=ssh`);
    const row = page.locator('table.data tbody tr', { hasText: 'alice' });
    await row.waitFor();
    t.match(await row.innerText(), /root[\s\S]*web1/, 'account and server shown');
    await row.getByRole('checkbox').check();
    await page.getByRole('button', { name: /Remove Selected/ }).click();
    await page.getByRole('dialog', { name: 'Remove selected sessions' }).getByLabel(/Reason/).fill('ui: end the ssh session');
    await screenshot(page, 'ssh-03-live-remove');
    await page.getByRole('button', { name: 'OK' }).click();
    await page.getByText('1 session ended.').waitFor();
    await exited;
    t.match(shown, 'terminated by ada: ui: end the ssh session', 'the user saw who ended it and why');
    await screenshot(page, 'ssh-04-live-removed');
  });
});
