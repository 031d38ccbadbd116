// `sessiongate check-config FILE`: the same loader `start` uses, so "OK" here means the gateway
// will accept the file. Problems go to stderr one per line as FILE:LINE: KEY: MESSAGE (the shape
// editors and CI annotate), warnings likewise with "warning:" before the message.
import { ConfigError, formatConfigIssue, loadConfig, type LoadedConfig } from '../../config/loader.js';
import { formatAddress } from '../../config/semantic.js';
import { parseArgs, type CliIo } from '../io.js';

const USAGE = `usage: sessiongate check-config FILE

Validates a config file (YAML) and exits:
  0  the file is valid (warnings, if any, are printed on stderr)
  1  the file is missing, unreadable or invalid: every problem is printed as FILE:LINE: KEY: MESSAGE
  2  usage error
`;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** One line: listeners with their addresses and route counts, the viewer, audit mode, data_dir, SSH and FTP listeners. */
export function summarize(loaded: LoadedConfig): string {
  const c = loaded.config;
  const routes = c.http.reduce((n, l) => n + l.routes.length, 0);
  const listeners = c.http.map((l) => `${l.name} ${l.tls ? 'https' : 'http'}://${formatAddress(l.listen)} (${plural(l.routes.length, 'route')})`);
  const parts = [`${plural(c.http.length, 'HTTP listener')}${listeners.length ? `: ${listeners.join(', ')}` : ''}`, plural(routes, 'route')];
  parts.push(c.viewer.enabled ? `viewer ${c.viewer.tls ? 'https' : 'http'}://${formatAddress(c.viewer.listen)}` : 'viewer disabled');
  parts.push(c.audit.enabled ? `audit ${c.audit.mode}` : 'audit OFF (benchmark only)');
  parts.push(`data_dir ${c.data_dir}`);
  const ssh = c.ssh?.listeners ?? [];
  if (ssh.length) parts.push(`${plural(ssh.length, 'SSH listener')}: ${ssh.map((l) => `${l.name} ssh://${formatAddress(l.listen)}`).join(', ')} (${plural(c.ssh!.targets.length, 'target')})`);
  const ftp = c.ftp?.listeners ?? [];
  if (ftp.length) parts.push(`${plural(ftp.length, 'FTP listener')}: ${ftp.map((l) => `${l.name} ftp://${formatAddress(l.listen)}${l.tls ? ' (FTPS)' : ''}`).join(', ')} (${plural(c.ftp!.servers.length, 'server')})`);
  if (c.demo) parts.push(`demo panel ${formatAddress(c.demo.panel_listen)}`);
  return parts.join('; ');
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, ['help', 'h']);
  if (flags.help || flags.h) {
    io.stdout.write(USAGE);
    return 0;
  }
  const unknown = Object.keys(flags);
  if (unknown.length || positionals.length !== 1) {
    const why = unknown.length ? `unknown option --${unknown[0]}` : positionals.length ? 'expected exactly one FILE' : 'missing FILE';
    io.stderr.write(`sessiongate check-config: ${why}\n\n${USAGE}`);
    return 2;
  }
  const file = positionals[0]!;

  let loaded: LoadedConfig;
  try {
    loaded = await loadConfig(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const issue of e.issues) io.stderr.write(formatConfigIssue(file, issue) + '\n');
    io.stderr.write(`${file}: ${plural(e.issues.length, 'problem')} (${e.code}); the gateway would refuse this file\n`);
    return 1;
  }
  for (const w of loaded.warnings) io.stderr.write(formatConfigIssue(file, w, 'warning') + '\n');
  io.stdout.write(`${file}: OK\n${summarize(loaded)}\n`);
  return 0;
}
