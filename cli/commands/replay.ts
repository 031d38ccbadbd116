// `sessiongate replay ID`: plays a recorded terminal session in this terminal, with its timing (or
// all at once with --cat), from any point through the keyframe index (--from). The replay is
// itself recorded as `activity` (action `replay`): reading evidence leaves a trace.
import { join } from 'node:path';
import { SgError } from '../../gateway/core/errors.js';
import { CastReader, findCast, SESSION_ID_RE } from '../../recorder/cast/index.js';
import { parseArgs, type CliIo } from '../io.js';
import { UsageError, checkFlags, openCliStore, terminalSafe } from './common.js';

const USAGE = `usage: sessiongate replay ID [--config FILE] [--speed N] [--idle-limit SECONDS] [--from SECONDS] [--cat]

Plays the recording of session ID (as in Server Session Logs) in this terminal.
--speed N          play N times faster (0.1-100, default 1)
--idle-limit S     shorten pauses longer than S seconds to S (default 2; 0 = keep them)
--from S           start S seconds in, from the nearest keyframe (no need to read what is before)
--cat              write the whole output at once, without timing
The recording is a terminal stream: it may hold any escape sequence the session printed.
`;

function number(v: string | true | undefined, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v === true || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number from ${min} to ${max}`);
  return n;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, ['cat', 'help', 'h']);
  if (flags.help || flags.h) {
    io.stdout.write(USAGE);
    return 0;
  }
  let speed: number, idle: number, from: number;
  try {
    checkFlags(flags, ['config', 'speed', 'idle-limit', 'from'], ['cat']);
    if (positionals.length !== 1) throw new UsageError('give one session ID');
    if (!SESSION_ID_RE.test(positionals[0]!)) throw new UsageError(`"${terminalSafe(positionals[0]!.slice(0, 64))}" is not a session ID`);
    speed = number(flags.speed, 'speed', 0.1, 100, 1);
    idle = number(flags['idle-limit'], 'idle-limit', 0, 86_400, 2);
    from = number(flags.from, 'from', 0, 1e9, 0);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr.write(`sessiongate replay: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  const id = positionals[0]!;
  const cli = await openCliStore(flags.config, io);
  try {
    const file = findCast(join(cli.config.data_dir, 'recordings'), id);
    if (!file) throw new SgError('SG_ERR_NOT_FOUND', `no recording of session ${id}`);
    const reader = await CastReader.open(file);
    try {
      const meta = reader.meta();
      await cli.record({ action: 'replay', description: `replayed the recording of session ${id} in a terminal`, targets: [{ kind: 'recording', id }], details: { from, speed, cat: flags.cat === true } });
      const s = await reader.seek(from);
      const h = reader.header();
      io.stderr.write(`replaying ${id}: ${h.width}x${h.height}, ${meta.duration.toFixed(1)} s${from ? `, from ${from} s` : ''}${meta.complete ? '' : ' (incomplete: the session was interrupted)'}\n`);
      if (s.snapshot) io.stdout.write(s.snapshot);
      let prev = s.base + s.startAt;
      for await (const e of s.events) {
        if (e.code !== 'o') continue;
        if (e.t < s.base + s.startAt) {
          io.stdout.write(e.data); // fast-forward from the keyframe to --from: no waiting
          continue;
        }
        if (flags.cat !== true) {
          let wait = e.t - prev;
          if (idle > 0) wait = Math.min(wait, idle);
          if (wait > 0) await new Promise((r) => setTimeout(r, (wait * 1000) / speed));
        }
        prev = e.t;
        io.stdout.write(e.data);
      }
      io.stderr.write('\nend of recording\n');
    } finally {
      await reader.close();
    }
    return 0;
  } catch (e) {
    if (e instanceof SgError && (e.code === 'SG_ERR_NOT_FOUND' || e.code === 'SG_ERR_RECORDING_INVALID')) {
      io.stderr.write(`sessiongate replay: ${e.message} (${e.code})\n`);
      return 1;
    }
    throw e;
  } finally {
    await cli.close();
  }
}
