// Servers the tests start (sshd, vsftpd) must not outlive the test process: a teardown does not
// run when tap kills a file that ran over its time, and those daemons then kept listening for
// good. Each is started under a small shell that holds the read end of a pipe from this process
// and stops the daemon when the pipe closes, which the kernel does however this process ends.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Test } from 'tap';
import { TIE_SCRIPT } from '../../bench/lib/procs.js';

export interface TiedProcess {
  /** The shell; `daemon` exits when it does. */
  proc: ChildProcess;
  /** Resolves with the daemon's exit status once the shell has stopped it. */
  exited: Promise<void>;
  stop(): void;
}

export function spawnTied(t: Test, bin: string, args: string[]): TiedProcess {
  const proc = spawn('/bin/sh', ['-c', TIE_SCRIPT, bin, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.stdin!.end();
  };
  t.teardown(async () => {
    stop();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  });
  return { proc, exited, stop };
}
