// Runs a bench suite in-process the way `npm run bench` does, its output captured: the tests of
// the suites check the exit code, what it printed and the JSON result it wrote.
import { readdirSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import type { BenchIo } from '../../bench/lib/cli.js';

export async function runSuite(run: (argv: string[], io: BenchIo) => Promise<number>, argv: string[], out: string, suite: string): Promise<{ code: number; text: string; file: string | undefined }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let text = '';
  stdout.on('data', (d: Buffer) => (text += d));
  stderr.resume();
  const code = await run([...argv, '--out', out], { stdout, stderr });
  const file = readdirSync(out).find((f) => f.startsWith(`${suite}-`) && f.endsWith('.json'));
  return { code, text, file };
}
