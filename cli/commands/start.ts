// `sessiongate start [--config FILE]`: load and fully validate the config (a broken file never
// starts a half-configured gateway), start everything, print where it listens, and stop
// gracefully on SIGTERM/SIGINT so that every queued record is flushed.
import { loadConfig, formatConfigIssue } from '../../config/loader.js';
import { startGateway, createLogger } from '../app.js';
import { generatePassword } from '../../gateway/core/users.js';
import { bootstrapUsers } from '../bootstrap-users.js';
import { parseArgs, type CliIo } from '../io.js';

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { flags } = parseArgs(argv);
  const file = typeof flags.config === 'string' ? flags.config : 'config/demo.yaml';
  const loaded = await loadConfig(file);
  const { config } = loaded;
  const logger = createLogger(config.log);
  for (const w of loaded.warnings) {
    const line = formatConfigIssue(loaded.file, w, 'warning');
    io.stderr.write(line + '\n');
    logger.warn({ key: w.key, line: w.line }, line);
  }

  let demoPanel: { port: number; close(): Promise<void> } | undefined;
  if (config.demo) {
    const { startDemoPanel } = await import('../../demo/panel/index.js');
    demoPanel = await startDemoPanel({ host: config.demo.panel_listen.host, port: config.demo.panel_listen.port, logger: logger.child({ component: 'demo-panel' }) });
  }
  let demoFtp: { port: number; close(): Promise<void> } | undefined;
  if (config.demo?.ftp_listen) {
    const { startDemoFtpServer } = await import('../../demo/ftp-server.js');
    demoFtp = await startDemoFtpServer(config.demo.ftp_listen);
  }

  const gw = await startGateway(config, { logger });
  let firstRun: string[];
  try {
    firstRun = await bootstrapUsers(config, gw.users);
  } catch (e) {
    await gw.close();
    await demoPanel?.close();
    await demoFtp?.close();
    throw e;
  }
  const urls = gw.urls();
  const lines = ['', 'Sessiongate is running.', ...firstRun];
  for (const [name, url] of Object.entries(urls.http)) lines.push(`  panel listener "${name}": ${url}/`);
  for (const [name, url] of Object.entries(urls.ssh)) lines.push(`  SSH listener "${name}":   ${url}`);
  for (const [name, url] of Object.entries(urls.ftp)) lines.push(`  FTP listener "${name}":   ${url}`);
  if (urls.viewer) lines.push(`  viewer and API:          ${urls.viewer}/  (metrics: ${urls.viewer}/metrics)`);
  if (config.demo && config.demo.print_credentials) {
    // The demo's viewer admin gets a fresh generated password on every start: no default password exists.
    const password = generatePassword();
    const name = 'demo-admin';
    if (gw.users.get(name)) await gw.users.setPassword(name, password);
    else await gw.users.add({ name, role: 'admin', email: 'demo-admin@localhost', password, panel_identities: ['puq'] });
    lines.push('', `  demo viewer sign-in: ${name} / ${password}   (generated now; changes on every demo start)`);
    const demoTarget = config.ssh?.targets.find((t) => t.type === 'local');
    const sshPort = Object.values(urls.ssh)[0]?.split(':').pop();
    if (demoTarget && sshPort) {
      await gw.users.setSshAccess(name, { targets: [{ server: demoTarget.name, account: demoTarget.accounts[0]!.name }] });
      lines.push(`  demo SSH (a recorded shell on this machine): ssh -p ${sshPort} ${name}@127.0.0.1   (same password)`);
    }
    if (demoFtp && Object.keys(urls.ftp).length) {
      const u = Object.values(urls.ftp)[0]!;
      lines.push(`  demo FTP (the bundled demo FTP server behind the gateway): curl --user demo:demo-ftp-pass ${u}/pub/   (or anonymous; lftp -u demo ${u.replace('ftp://', '')})`);
    }
    lines.push(`  search from the terminal: npm run sessiongate -- search --config ${file}`);
  }
  if (config.demo?.traffic) {
    const first = Object.values(urls.http)[0];
    if (first) {
      const { runDemoTraffic } = await import('../../demo/traffic.js');
      const r = await runDemoTraffic(first);
      lines.push(`  demo traffic: ${r.requests} panel requests sent through the gateway${r.failed ? ` (${r.failed} failed)` : ''}; open the viewer to see them`);
    }
  }
  lines.push('', 'Stop with Ctrl-C (SIGINT) or SIGTERM: queued records are flushed before exit.', '');
  io.stdout.write(lines.join('\n') + '\n');
  logger.info({ urls }, 'started');

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'stopping');
      void gw
        .close()
        .then(() => demoPanel?.close())
        .then(() => demoFtp?.close())
        .then(
          () => {
            logger.info('stopped');
            logger.flush?.();
            resolve(0);
          },
          (e: unknown) => {
            logger.error({ err: e }, 'error while stopping');
            resolve(1);
          },
        );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
