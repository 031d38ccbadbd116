// `sessiongate <command> [...]`: each command lives in cli/commands/<name>.ts and exports
// `run(argv, io) => exit code`, so commands load only what they need.
import { SgError } from '../gateway/core/errors.js';
import type { CliIo } from './io.js';

const COMMANDS: Record<string, { file: string; help: string }> = {
  start: { file: 'start', help: 'start [--config FILE]            run the gateway' },
  'check-config': { file: 'check-config', help: 'check-config FILE                validate a config file' },
  users: { file: 'users', help: 'users add|list|remove|passwd|role  manage viewer users' },
  search: { file: 'search', help: 'search [filters]                 search recorded requests' },
  export: { file: 'export', help: 'export --kind K --format F       export a search as CSV/NDJSON with a manifest' },
  verify: { file: 'verify', help: 'verify [--config FILE] [--json]   check the integrity chain of the store' },
  backup: { file: 'backup', help: 'backup [DIR] [--config FILE]     hot copy of the store into DIR' },
  replay: { file: 'replay', help: 'replay ID [--from S] [--speed N]  play a recorded terminal session here' },
};

function usage(): string {
  return 'usage: sessiongate <command> [options]\n\ncommands:\n' + Object.values(COMMANDS).map((c) => `  ${c.help}`).join('\n') + '\n';
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    io.stdout.write(usage());
    return cmd ? 0 : 2;
  }
  const entry = COMMANDS[cmd];
  if (!entry) {
    io.stderr.write(`sessiongate: unknown command "${cmd}"\n\n${usage()}`);
    return 2;
  }
  const mod = (await import(`./commands/${entry.file}.js`)) as { run(argv: string[], io: CliIo): Promise<number> };
  try {
    return await mod.run(rest, io);
  } catch (e) {
    if (e instanceof SgError) {
      io.stderr.write(`sessiongate ${cmd}: ${e.code}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

