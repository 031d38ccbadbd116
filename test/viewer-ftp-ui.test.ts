// FTP sessions in the viewer, in real Chromium: a real vsftpd behind the real gateway, real FTP
// clients (basic-ftp, and a raw control connection where the exact 421 matters). The Transfers
// page finds an upload and a download by path and by filters; the Live page's FTP tab shows a
// rate-limited download with seed 004's columns and ends it (Remove Selected, reason, OK); Server
// Session Logs lists FTP sessions under Protocol FTP and Action At opens the session's command and
// transfer log. A recorded file name that is markup shows as text. Screenshots in test-results/ui/.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { Client } from 'basic-ftp';
import { startTestGateway } from './helpers/gateway.js';
import { freePortRange, RawFtp, startVsftpd } from './helpers/vsftpd.js';
import { until } from './helpers/poll.js';
import { collectErrors, launchChromium, screenshot, signIn } from './helpers/browser.js';
import { parseEpsv } from '../gateway/ftp/replies.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- recorded rows are checked field by field */
// Code passed to page.evaluate runs in the browser; the project compiles without the DOM library.
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any

const ADMIN_PW = 'ftp-ui-admin-password';
const RATE = 256 * 1024;
const XSS = '<img src=x onerror=alert(1)>.txt';

const clean = (heads: string[]) => heads.map((h) => h.replace(/[↕▲▼]/g, '').trim());

t.test('FTP sessions and transfers in the viewer', async (t) => {
  const vs = await startVsftpd(t, { maxRate: RATE });
  if (!vs) return;
  const browser = await launchChromium(t);
  if (!browser) return;
  const range = await freePortRange(20);
  const { gw } = await startTestGateway(
    t,
    `data_dir: \${DATA}
viewer: { listen: 127.0.0.1:0 }
directory:
  - { login: ftp, realm: ftp, name: Web Owner, email: owner@example.com, client: Acme Ltd, type: domain-admin }
ftp:
  listeners:
    - { name: ftp, listen: 127.0.0.1:0, passive_ports: ${range.from}-${range.to} }
  servers:
    - { name: files, host: 127.0.0.1, port: ${vs.port}, domain: files.example.com }
`,
  );
  const port = gw.frontends.find((f) => f.protocol === 'ftp')!.addresses()[0]!.port;
  const viewer = gw.urls().viewer!;
  await gw.users.add({ name: 'ada', role: 'admin', email: 'ada@example.com', password: ADMIN_PW });
  const pub = join(vs.root, 'pub');
  writeFileSync(join(pub, 'big.bin'), randomBytes(8 * 1024 * 1024));
  const sessions = async () => {
    await gw.recorder.flush();
    return gw.recorder.store.query('sessions', { protocol: 'ftp', limit: 50 }).items as any[];
  };

  // Real FTP traffic: an upload, its download, and a file whose name is markup.
  const report = randomBytes(150_000);
  {
    const client = new Client(10_000);
    t.teardown(() => client.close());
    await client.access({ host: '127.0.0.1', port, user: 'ftp', password: vs.password });
    await client.cd('pub');
    await client.uploadFrom(Readable.from([report]), 'report-q3.csv');
    let got = 0;
    await client.downloadTo(
      new Writable({
        write(chunk: Buffer, _e, cb) {
          got += chunk.length;
          cb();
        },
      }),
      'report-q3.csv',
    );
    t.equal(got, report.length, 'downloaded through the gateway what was uploaded');
    await client.uploadFrom(Readable.from([Buffer.from('x')]), XSS);
    client.close();
  }
  const uploadSession = await until('the client session to end', async () => (await sessions()).find((s) => s.end));

  const page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  const alerts: string[] = [];
  page.on('dialog', (d) => {
    alerts.push(d.message());
    void d.dismiss();
  });
  await signIn(page, viewer, 'ada', ADMIN_PW);
  // From here on (the sign-in page's own 401 for GET /api/me is expected).
  const errors = collectErrors(page);
  const rows = page.locator('table.data tbody tr');

  await t.test('Transfers: found by path, by filters; names that are markup are text', async (t) => {
    await page.getByRole('link', { name: 'Transfers' }).click();
    await page.waitForURL(/\/transfers$/);
    await rows.first().waitFor();
    t.same(clean(await page.locator('table.data thead th').allInnerTexts()).slice(0, 9), ['Date', 'User', 'Protocol', 'Server', 'Direction', 'Path', 'Size', 'Duration', 'Result'], 'columns');
    t.equal(await rows.count(), 3, 'two uploads and a download (no FTP commands, no listings)');
    await page.getByRole('searchbox', { name: 'Search' }).fill('report-q3');
    await page.waitForURL(/q=report-q3/);
    await until('two rows', async () => (await rows.count()) === 2 || undefined);
    const texts = await rows.allInnerTexts();
    for (const x of texts) for (const v of ['Web Owner', 'owner@example.com', '127.0.0.1', 'FTP', 'files', '/pub/report-q3.csv', '146 KB', 'OK']) t.match(x, v, `a row shows ${v}`);
    t.ok(texts.some((x) => /upload/.test(x)) && texts.some((x) => /download/.test(x)), 'the upload and the download');
    await page.getByLabel('Direction').selectOption('download');
    await until('one row', async () => (await rows.count()) === 1 || undefined);
    t.match(await rows.first().innerText(), /download[\s\S]*\/pub\/report-q3\.csv/, 'direction filter: the download');
    await page.getByLabel('Result').selectOption('ok');
    await page.getByLabel('Protocol').selectOption('ftp');
    await page.waitForURL(/protocol=ftp/);
    await rows.first().waitFor();
    t.equal(await rows.count(), 1, 'protocol FTP and result ok keep it');
    await page.getByLabel('Preset range').selectOption('Last hour');
    await page.waitForURL(/from=\d+/);
    await rows.first().waitFor();
    t.equal(await rows.count(), 1, 'the last hour keeps it');
    await screenshot(page, 'ftp-01-transfers-filtered');
    await page.getByLabel('Protocol').selectOption('sftp');
    await page.getByText('No transfer matches these filters.').waitFor();
    t.pass('protocol SFTP: none');
    await page.goto(`${viewer}/transfers?q=${encodeURIComponent('onerror')}`);
    await rows.first().waitFor();
    t.equal(await rows.count(), 1, 'the markup-named file, found by a piece of its name');
    t.match(await rows.first().innerText(), `/pub/${XSS}`, 'shown as text');
    t.equal(await page.locator('table.data img').count(), 0, 'no element made of it');
    await page.locator('table.data tbody tr button.linklike').first().click();
    await page.getByRole('dialog', { name: 'Details' }).getByText('file.transfer').waitFor();
    await screenshot(page, 'ftp-02-transfers-markup-name');
    await page.keyboard.press('Escape');
    // A transfer leads to its session: an FTP session's command and transfer log.
    await rows.first().getByRole('link', { name: 'Session' }).click();
    await page.waitForURL(/\/session-logs\/[^/?]+\/log$/);
    await page.getByText('Session commands and transfers').first().waitFor();
    await page.locator('.panel').getByText(`/pub/${XSS}`).first().waitFor();
    t.pass("the row's Session link opens that session's command and transfer log (the address is replaced, not kept)");
    t.equal(await page.locator('.panel img').count(), 0, 'the markup name is text there too');
    await page.goto(`${viewer}/session-logs/open?session=NoSuchSession1`);
    await page.getByText('This session was not recorded').waitFor();
    t.pass('an unknown session id: said so');
    await page.goto(`${viewer}/session-logs/open?session=${encodeURIComponent('<b>x</b>')}`);
    await page.locator('.error, [role="alert"]').first().waitFor();
    t.match(await page.locator('.error, [role="alert"]').first().innerText(), /"<b>x<\/b>" is not a session id/, 'a malformed id: said so, with no request');
    t.equal(await page.locator('b').filter({ hasText: /^x$/ }).count(), 0, 'and shows it as text');
  });

  await t.test('Live Sessions, FTP tab: seed 004 columns, Remove Selected ends a running download with 421', async (t) => {
    const c = await RawFtp.connect(port);
    t.teardown(() => c.close());
    t.equal((await c.login('ftp', vs.password)).code, 230, 'logged in');
    t.equal((await c.cmd('CWD pub')).code, 250);
    t.equal((await c.cmd('TYPE I')).code, 200);
    const data = net.connect(parseEpsv(await c.cmd('EPSV'))!, '127.0.0.1');
    let received = 0;
    data.on('data', (d: Buffer) => (received += d.length));
    data.on('error', () => undefined);
    t.equal((await c.cmd('RETR big.bin')).code, 150, 'the download runs (rate-limited)');
    await until('bytes moving', () => gw.registry.list({ protocol: 'ftp' }).find((x) => (x.details?.bytes as number) > 0));

    await page.getByRole('link', { name: 'Live Sessions' }).click();
    await page.getByRole('tab', { name: /FTP sessions/ }).click();
    await page.waitForURL(/tab=ftp/);
    const row = rows.filter({ hasText: 'big.bin' });
    await row.waitFor();
    t.same(
      clean(await page.locator('table.data').first().locator('thead th').allInnerTexts()).slice(1),
      ['Type', 'Status', 'FTP user login', 'Domain name', 'Current location', 'File name', 'Speed (KB/s)', 'Progress, %', 'IP address', 'Logon time', 'Idle time'],
      "seed 004's columns in its order, after the selection box",
    );
    // Speed and progress move while the file does (asked again every 2 s).
    const cells = async () => (await row.locator('td').allInnerTexts()).slice(1).map((x) => x.trim());
    const first = await cells();
    t.same([first[0]!.toLowerCase(), ...first.slice(1, 6)], ['domain-admin', 'downloading', 'ftp', 'files.example.com', '/pub', 'big.bin'], 'type, status, login, domain, location, file');
    t.match(first[6], /^\d+(\.\d)?$/, `speed in KB/s (${first[6]})`);
    t.ok(Number(first[6]) > 0 && Number(first[6]) < 4 * RATE / 1024, 'speed near the rate limit');
    t.match(first[7], /^\d+(\.\d)?$/, `progress in % (${first[7]})`);
    t.equal(first[8], '127.0.0.1', 'IP address');
    t.match(first[9], /^\d+s$/, 'logon time: time since login');
    const later = await until('progress to move', async () => {
      const now = await cells();
      return Number(now[7]) > Number(first[7]) ? now : undefined;
    });
    t.ok(Number(later[7]) < 100, `progress rose on the page (${first[7]} -> ${later[7]})`);
    await screenshot(page, 'ftp-03-live-ftp-tab');
    await row.getByRole('checkbox').check();
    await page.getByRole('button', { name: /Remove Selected \(1\)/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Remove selected sessions' });
    await dialog.getByLabel(/Reason/).fill('ui: large download outside the window');
    await screenshot(page, 'ftp-04-live-remove');
    await dialog.getByRole('button', { name: 'OK' }).click();
    await page.getByText('1 session ended.').waitFor();
    const r = await c.reply();
    t.equal(r.code, 421, 'the client is told 421');
    t.match(r.lines[0], 'Session terminated by ada: ui: large download outside the window', 'with who and why');
    t.ok(await c.closedWithin(3000), 'control connection closed');
    t.ok(received < 8 * 1024 * 1024, `the download was cut (${received} bytes)`);
    await page.getByText('No ftp sessions right now.').waitFor();
    await screenshot(page, 'ftp-05-live-removed');
    const ended = await until('session.end', async () => (await sessions()).find((s) => s.end?.reason === 'terminated'));
    t.match(ended.end, { terminated_by: 'ada', terminate_reason: 'ui: large download outside the window' }, 'session.end records who and why');
  });

  await t.test('Server Session Logs, Protocol FTP: Action At opens the command and transfer log', async (t) => {
    await page.getByRole('link', { name: 'Session Logs' }).click();
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByLabel('Protocol').selectOption('ftp');
    await page.waitForURL(/protocol=ftp/);
    await until('two FTP sessions', async () => (await rows.count()) === 2 || undefined);
    const all = await rows.allInnerTexts();
    t.ok(all.every((x) => /\bFTP\b/.test(x) && /Web Owner/.test(x) && /files/.test(x) && /Proxy/.test(x)), 'FTP sessions with user, server, connected from');
    t.match(all[0], /terminated/, 'the ended download, newest first');
    await screenshot(page, 'ftp-06-session-logs-ftp');

    // The uploading session: its STOR/RETR commands and its transfers, in time order.
    await rows.filter({ hasText: 'client exit' }).getByRole('link', { name: /^\d{4}-\d\d-\d\d/ }).click();
    await page.waitForURL(new RegExp(`/session-logs/${uploadSession.start.id}/log\\?`));
    await page.getByRole('heading', { name: 'Session commands and transfers' }).waitFor();
    const info = page.locator('.replay-info');
    await info.getByText('files.example.com').or(info.getByText('Web Owner')).first().waitFor();
    t.match(await info.innerText(), /Protocol\s+FTP[\s\S]*Client IP\s+127\.0\.0\.1[\s\S]*End Reason\s+client exit/, 'session information on top');
    const log = page.locator('.session-events table.data tbody tr');
    await log.first().waitFor();
    const lines = await log.allInnerTexts();
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    const stor = at(/STOR report-q3\.csv[\s\S]*\/pub[\s\S]*226/);
    const up = at(/upload[\s\S]*\/pub\/report-q3\.csv[\s\S]*OK[\s\S]*146 KB/);
    const retr = at(/RETR report-q3\.csv/);
    const down = at(/download[\s\S]*\/pub\/report-q3\.csv/);
    t.ok(stor >= 0 && up >= 0 && retr >= 0 && down >= 0, 'STOR, RETR and both transfers listed');
    t.ok(at(/^[\s\S]*USER ftp/) < stor && stor < retr, 'in time order');
    t.ok(!lines.some((l) => l.includes(vs.password)), 'no password shown');
    t.ok(lines.some((l) => l.includes(`STOR ${XSS}`)) && lines.some((l) => l.includes(`/pub/${XSS}`)), 'the markup-named file as text');
    t.equal(await page.locator('.session-events img').count(), 0, 'no element made of it');
    await page.getByLabel('Show').selectOption('file.transfer');
    await until('transfers only', async () => {
      const l = await log.allInnerTexts();
      return l.length > 0 && l.every((x) => /transfer/i.test(x)) ? true : undefined;
    });
    await page.getByLabel('Show').selectOption('');
    await log.filter({ hasText: 'STOR report-q3.csv' }).waitFor();
    await screenshot(page, 'ftp-07-session-log');
    await page.getByRole('button', { name: 'Close' }).click();
    await page.waitForURL(/\/session-logs\?.*protocol=ftp/);

    // The terminated session's log: who ended it and the cut transfer.
    await rows.filter({ hasText: 'terminated' }).getByRole('link', { name: /^\d{4}-\d\d-\d\d/ }).click();
    await page.getByText('terminated by ada: ui: large download outside the window').waitFor();
    await log.filter({ hasText: 'RETR big.bin' }).waitFor();
    await log.filter({ hasText: /download[\s\S]*\/pub\/big\.bin[\s\S]*aborted/ }).waitFor();
    t.pass('the cut download is in its log as aborted');
    await screenshot(page, 'ftp-08-session-log-terminated');

    // The playback address of an FTP session (a link from elsewhere) shows the same log.
    await page.goto(`${viewer}/session-logs/${uploadSession.start.id}/replay`);
    await page.getByText('This session has no recording').waitFor();
    await log.filter({ hasText: 'STOR report-q3.csv' }).waitFor();
    t.pass('the playback page of an FTP session lists its commands and transfers');
  });

  t.same(alerts, [], 'no script ran from recorded names');
  t.same(errors, [], 'no console errors');
});
