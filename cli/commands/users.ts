// `sessiongate users add|list|remove|passwd|role`: manage viewer users in the store, also while
// the gateway runs. No default passwords: without --password-stdin a random one is generated
// and shown once. Every change is an `activity` event with initiator `cli`; no password ever
// reaches a record or a log.
import { SgError } from '../../gateway/core/errors.js';
import { systemClock } from '../../gateway/core/runtime.js';
import type { KvDb } from '../../gateway/core/access.js';
import { UserStore, generatePassword, validateRole, type User } from '../../gateway/core/users.js';
import { parseArgs, type CliIo } from '../io.js';
import { UsageError, checkFlags, jsonLine, openCliStore, repeatedFlag, terminalSafe, type CliStore } from './common.js';

const USAGE = `usage: sessiongate users <command> [--config FILE]

  add NAME --role admin|auditor|security|none [--email E] [--panel-identity LOGIN ...] [--password-stdin]
  list [--json]
  remove NAME
  passwd NAME [--password-stdin]
  role NAME admin|auditor|security|none
  ssh NAME [--key "ssh-ed25519 AAAA... comment" ...] [--target SERVER:ACCOUNT ...] [--no-keys] [--no-targets]

Without --password-stdin a random password is generated and printed once.
--panel-identity may repeat: panel logins that are this person's (the viewer's "Hide Me").
ssh sets what the user may do on the SSH gateway: --key (repeat) replaces their public keys,
--target (repeat) the target accounts they may reach (names from the config's ssh.targets);
--no-keys / --no-targets clear them. Without either, it shows the current access.
`;

async function readPassword(io: CliIo): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of io.stdin) {
    const b = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
    size += b.length;
    if (size > 4096) throw new SgError('SG_ERR_BAD_PASSWORD', 'password on stdin is longer than 4096 bytes');
    chunks.push(b);
  }
  // One trailing newline is the shell's (`echo pw |`), not the password's.
  const pw = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (!pw) throw new SgError('SG_ERR_BAD_PASSWORD', 'no password on stdin');
  return pw;
}

function row(u: User): string[] {
  return [u.name, u.role ?? '-', u.email ?? '-', u.panel_identities.join(',') || '-', new Date(u.created_at).toISOString()].map(terminalSafe);
}

function table(users: User[]): string {
  const header = ['NAME', 'ROLE', 'EMAIL', 'PANEL IDENTITIES', 'CREATED'];
  const rows = users.map(row);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((cells) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

interface Sub {
  args: number;
  flags: string[];
  booleans?: string[];
  run(cli: CliStore, users: UserStore, pos: string[], flags: Record<string, string | true>, argv: string[], io: CliIo): Promise<number>;
}

/** A password from stdin, or a generated one to print once. */
async function passwordFor(flags: Record<string, string | true>, io: CliIo): Promise<{ password: string; generated: boolean }> {
  if (flags['password-stdin']) return { password: await readPassword(io), generated: false };
  return { password: generatePassword(), generated: true };
}

function showGenerated(io: CliIo, name: string, password: string): void {
  io.stdout.write(`password for ${terminalSafe(name)}: ${password}\n(shown once: store it now; change it with "sessiongate users passwd ${terminalSafe(name)}")\n`);
}

const SUBCOMMANDS: Record<string, Sub> = {
  add: {
    args: 1,
    flags: ['role', 'email', 'panel-identity'],
    booleans: ['password-stdin'],
    async run(cli, users, [name], flags, argv, io) {
      if (flags.role === undefined) throw new UsageError('--role is required (admin, auditor, security, or none for a user who cannot sign in to the viewer)');
      const role = validateRole(flags.role);
      const { password, generated } = await passwordFor(flags, io);
      const user = await users.add({ name: name!, role, email: flags.email as string | undefined, password, panel_identities: repeatedFlag(argv, 'panel-identity') });
      await cli.record({
        action: 'create',
        description: `created viewer user ${user.name} (role ${user.role ?? 'none'})`,
        targets: [{ kind: 'user', id: user.name }],
        details: { role: user.role ?? null, email: user.email, panel_identities: user.panel_identities, password_source: generated ? 'generated' : 'stdin' },
      });
      io.stdout.write(`created user ${terminalSafe(user.name)} (role ${user.role ?? 'none'})\n`);
      if (generated) showGenerated(io, user.name, password);
      return 0;
    },
  },
  list: {
    args: 0,
    flags: [],
    booleans: ['json'],
    async run(_cli, users, _pos, flags, _argv, io) {
      const list = users.list();
      if (flags.json) for (const u of list) io.stdout.write(jsonLine(u));
      else io.stdout.write(list.length ? table(list) : 'no users\n');
      return 0;
    },
  },
  remove: {
    args: 1,
    flags: [],
    async run(cli, users, [name], _flags, _argv, io) {
      const user = await users.remove(name!);
      await cli.record({ action: 'delete', description: `removed viewer user ${user.name}`, targets: [{ kind: 'user', id: user.name }], details: { role: user.role ?? null } });
      io.stdout.write(`removed user ${terminalSafe(user.name)}\n`);
      return 0;
    },
  },
  passwd: {
    args: 1,
    flags: [],
    booleans: ['password-stdin'],
    async run(cli, users, [name], flags, _argv, io) {
      if (!users.get(name!)) throw new SgError('SG_ERR_USER_NOT_FOUND', `no user "${terminalSafe(name).slice(0, 64)}"`);
      const { password, generated } = await passwordFor(flags, io);
      const user = await users.setPassword(name!, password);
      await cli.record({ action: 'update', description: `changed the password of viewer user ${user.name}`, targets: [{ kind: 'user', id: user.name }], details: { field: 'password', password_source: generated ? 'generated' : 'stdin' } });
      io.stdout.write(`password changed for ${terminalSafe(user.name)} (their viewer sessions have ended)\n`);
      if (generated) showGenerated(io, user.name, password);
      return 0;
    },
  },
  ssh: {
    args: 1,
    flags: ['key', 'target', 'no-keys', 'no-targets'],
    booleans: ['no-keys', 'no-targets'],
    async run(cli, users, [name], flags, argv, io) {
      const keys = flags['no-keys'] ? [] : repeatedFlag(argv, 'key');
      const targets = flags['no-targets']
        ? []
        : repeatedFlag(argv, 'target').map((t) => {
            const m = /^([^:]+):(.+)$/.exec(t);
            if (!m) throw new UsageError(`--target ${terminalSafe(t)}: use SERVER:ACCOUNT`);
            return { server: m[1]!, account: m[2]! };
          });
      const change: { ssh_keys?: string[]; targets?: { server: string; account: string }[] } = {};
      if (flags['no-keys'] || keys.length) change.ssh_keys = keys;
      if (flags['no-targets'] || targets.length) change.targets = targets;
      let user = users.get(name!);
      if (!user) throw new SgError('SG_ERR_USER_NOT_FOUND', `no user "${terminalSafe(name!.slice(0, 64))}"`);
      if (Object.keys(change).length) {
        user = await users.setSshAccess(name!, change);
        await cli.record({
          action: 'update',
          description: `set the SSH access of viewer user ${user.name}`,
          targets: [{ kind: 'user', id: user.name }],
          details: { fields: Object.keys(change), keys: user.ssh_keys.length, targets: user.targets.map((t) => `${t.server}:${t.account}`) },
        });
      }
      io.stdout.write(`${terminalSafe(user.name)}: ${user.ssh_keys.length} SSH key(s); targets: ${user.targets.map((t) => terminalSafe(`${t.server}:${t.account}`)).join(', ') || '-'}\n`);
      return 0;
    },
  },
  role: {
    args: 2,
    flags: [],
    async run(cli, users, [name, role], _flags, _argv, io) {
      const before = users.get(name!);
      const user = await users.setRole(name!, validateRole(role));
      await cli.record({
        action: 'update',
        description: `set the role of viewer user ${user.name} to ${user.role ?? 'none'}`,
        targets: [{ kind: 'user', id: user.name }],
        details: { field: 'role', from: before?.role ?? null, to: user.role ?? null },
      });
      io.stdout.write(`role of ${terminalSafe(user.name)}: ${user.role ?? 'none'}\n`);
      return 0;
    },
  },
};

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [subName, ...rest] = argv;
  if (!subName || subName === '-h' || subName === '--help' || subName === 'help') {
    io.stdout.write(USAGE);
    return subName ? 0 : 2;
  }
  const sub = SUBCOMMANDS[subName];
  const booleans = sub?.booleans ?? [];
  const { flags, positionals } = parseArgs(rest, booleans);
  try {
    if (!sub) throw new UsageError(`unknown users command "${terminalSafe(subName)}"`);
    checkFlags(flags, ['config', ...sub.flags], booleans);
    if (positionals.length !== sub.args) throw new UsageError(`users ${subName} takes ${sub.args === 0 ? 'no arguments' : sub.args === 1 ? 'NAME' : 'NAME ROLE'}`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr.write(`sessiongate users: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  const cli = await openCliStore(flags.config, io);
  try {
    const users = new UserStore(cli.store.openDb('users') as unknown as KvDb, { clock: systemClock, logger: cli.logger });
    return await sub.run(cli, users, positionals, flags, rest, io);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr.write(`sessiongate users: ${e.message}\n\n${USAGE}`);
    return 2;
  } finally {
    await cli.close();
  }
}
