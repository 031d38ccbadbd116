// The web terminal page in real Chromium: a real sshd behind the gateway; the user types in the
// browser's terminal (xterm.js over /api/terminal), sees the output, and finds that session in
// Server Session Logs as connected from Web with the browser as client name. Screenshots in
// test-results/ui/.
import t from 'tap';
import { startTestGateway } from './helpers/gateway.js';
import { startSshd, viewerSshYaml } from './helpers/sshd.js';
import { collectErrors, launchChromium, screenshot, signIn } from './helpers/browser.js';

t.test('web terminal page', async (t) => {
  const sshd = await startSshd(t);
  if (!sshd) return;
  const browser = await launchChromium(t);
  if (!browser) return;
  const { gw } = await startTestGateway(t, viewerSshYaml(sshd));
  const viewer = gw.urls().viewer!;
  await gw.users.add({ name: 'alice', role: 'auditor', email: 'alice@example.com', password: 'alice-password-1234' });
  await gw.users.setSshAccess('alice', { targets: [{ server: 'web1', account: 'root' }] });

  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const errors = collectErrors(page);
  await signIn(page, viewer, 'alice', 'alice-password-1234');

  let sessionId = '';
  await t.test('type in the terminal and see the output', async (t) => {
    await page.getByRole('link', { name: 'Terminal' }).click();
    const row = page.locator('table.data tbody tr', { hasText: 'web1' });
    await row.waitFor();
    t.match(await row.innerText(), /web1[\s\S]*root[\s\S]*Debian 12/, 'the target the user may open');
    await screenshot(page, 'term-01-targets');
    await page.getByRole('button', { name: 'Connect to root@web1' }).click();
    const status = page.getByRole('status');
    await status.getByText(/Connected · session/).waitFor();
    sessionId = /session (\S+)/.exec(await status.innerText())![1]!;
    await page.keyboard.type('echo "web-$((6*7))-term <b>x</b>"\n');
    const screen = page.locator('.terminal-box .xterm-rows');
    await screen.getByText('web-42-term <b>x</b>').waitFor();
    await page.keyboard.type('stty size\n');
    await page.waitForFunction(() => /\n\d+ \d+\s*\n/.test((document.querySelector('.terminal-box .xterm-rows') as HTMLElement).innerText));
    const size = /\n(\d+) (\d+)\s*\n/.exec(await screen.innerText())!;
    t.ok(Number(size[2]) > 80 && Number(size[1]) > 20, `the shell has the box's size (${size[1]} rows x ${size[2]} cols)`);
    t.equal(await page.locator('.terminal-box b').count(), 0, 'output is text: no element made of it');
    await screenshot(page, 'term-02-typed');
    t.ok(gw.registry.list().some((s) => s.id === `ssh:${sessionId}`), 'listed live');
    await page.keyboard.type('exit 5\n');
    await status.getByText('Session ended (exit code 5)').waitFor();
    await screenshot(page, 'term-03-ended');
  });

  await t.test('the session is in Server Session Logs as connected from Web', async (t) => {
    // Session Logs is for admins and auditors: alice is an auditor.
    await page.goto(`${viewer}/session-logs`);
    const row = page.locator('table.data tbody tr').first();
    await row.waitFor();
    const text = await row.innerText();
    for (const v of ['alice', 'root', 'web1', 'Debian 12', '127.0.0.1', 'Web', 'Mozilla']) t.match(text, v, `shows ${v}`);
    await screenshot(page, 'term-04-session-logs');
  });

  t.same(errors.filter((e) => !/status of 401/.test(e)), [], 'no page errors and no CSP violations (the 401 of /api/me before sign-in aside)');
});
