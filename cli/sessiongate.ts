#!/usr/bin/env node
import { main } from './main.js';

const argv = process.argv.slice(2);
main(argv, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }).then(
  (code) => {
    process.exitCode = code;
    // A stopped gateway has closed everything; should a stray handle remain, do not hang.
    if (argv[0] === 'start') setTimeout(() => process.exit(code), 500).unref();
  },
  (e: unknown) => {
    process.stderr.write(`sessiongate: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  },
);
