// Every process the bench starts goes through one ProcessSet, so each is stopped by its PID at
// the end, on errors and on Ctrl-C. Output goes to files in the run's temp dir (no pipes to
// drain, and the last lines are at hand when a process dies).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `/bin/sh -c TIE_SCRIPT daemon args...` runs the daemon and stops it when the shell's stdin (a pipe
 * from this process) reaches EOF, which the kernel causes however this process ends: a daemon
 * started for a bench or a test never outlives it, even after a SIGKILL.
 */
export const TIE_SCRIPT = '"$0" "$@" <&- & p=$!; trap "kill $p 2>/dev/null; exit 0" TERM; read _; kill $p 2>/dev/null; wait $p';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  name: string;
  pid: number;
  proc: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  exited: Promise<Exit>;
  /** Set once it has exited. */
  exit?: Exit;
  stdoutFile: string;
  stderrFile: string;
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export class ProcessSet {
  private readonly live = new Map<number, Child>();
  private seq = 0;
  private stopping: Promise<void> | undefined;

  constructor(private readonly logDir: string) {}

  spawn(name: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): Child {
    if (this.stopping) throw new Error(`not starting ${name}: the bench is stopping`);
    const base = join(this.logDir, `${String(++this.seq).padStart(2, '0')}-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}`);
    const stdoutFile = `${base}.out`;
    const stderrFile = `${base}.err`;
    const out = openSync(stdoutFile, 'w');
    const err = openSync(stderrFile, 'w');
    let proc: ChildProcess;
    try {
      proc = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', out, err] });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    const exited = new Promise<Exit>((resolve) => {
      proc.once('error', () => resolve({ code: -1, signal: null }));
      proc.once('exit', (code, signal) => resolve({ code, signal }));
    });
    if (proc.pid === undefined) throw new Error(`could not start ${name} (${cmd}): ${tail(stderrFile) || 'spawn failed'}`);
    const child: Child = { name, pid: proc.pid, proc, exited, stdoutFile, stderrFile };
    this.live.set(proc.pid, child);
    void exited.then((e) => {
      child.exit = e;
      this.live.delete(child.pid);
    });
    return child;
  }

  /** SIGTERM by PID, then SIGKILL after `graceMs`. Resolves once the process has exited. */
  async stop(child: Child, graceMs = 10_000): Promise<Exit> {
    if (child.exit) return child.exit;
    signal(child.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        signal(child.pid, 'SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([child.exited, killed]);
    clearTimeout(timer);
    return child.exited;
  }

  /** Stops every process still running (newest first: clients before the servers they use). */
  stopAll(graceMs = 10_000): Promise<void> {
    this.stopping ??= (async () => {
      const list = [...this.live.values()].reverse();
      await Promise.all(list.map((c) => this.stop(c, graceMs)));
    })();
    return this.stopping;
  }

  get running(): Child[] {
    return [...this.live.values()];
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** The last lines of a log file, for error messages. */
export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Waits for a child's exit, killing it by PID when it outlives `timeoutMs`. */
export async function waitExit(procs: ProcessSet, child: Child, timeoutMs: number): Promise<Exit & { timedOut: boolean }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const r = await Promise.race([child.exited, timeout]);
  clearTimeout(timer);
  if (r === 'timeout') return { ...(await procs.stop(child, 2_000)), timedOut: true };
  return { ...r, timedOut: false };
}
