// `npm run bench -- <suite> [options]`: dispatches to one benchmark suite.
import { fileURLToPath } from 'node:url';

const SUITES: Record<string, { load: () => Promise<{ run(argv: string[]): Promise<number> }>; help: string }> = {
  http: { load: () => import('./http.js'), help: 'http [--duration 10] [--connections 50]   HTTP proxy throughput/latency vs nginx, http-proxy, direct' },
  recorder: { load: () => import('./recorder.js'), help: 'recorder [--events 200000] [--rates 10000,0]   recording cost on the main thread, per store writer' },
  ftp: { load: () => import('./ftp.js'), help: 'ftp [--mb 200] [--rounds 3] [--directions download,upload]   FTP gateway vs direct vsftpd: download and upload throughput with curl (EPSV)' },
  store: { load: () => import('./store.js'), help: 'store [--events 1000000] [--sqlite on|off]   store ingest, size and first-page latency vs SQLite FTS5' },
  ssh: { load: () => import('./ssh.js'), help: 'ssh [--mb 200] [--rounds 3] [--replay-mb 1024] [--parts throughput,echo,connect,replay]   SSH gateway vs direct sshd: throughput, keystroke echo, connect; replay of a 1 GB recording' },
  viewer: { load: () => import('./viewer.js'), help: 'viewer [--events 10000000] [--store DIR] [--runs 10]   time to first rendered page in Chromium (Admin/Client Sessions, search) vs an empty store; bundle size' },
};

export async function main(argv: string[]): Promise<number> {
  const [suite, ...rest] = argv;
  const entry = suite ? SUITES[suite] : undefined;
  if (!entry) {
    const list = Object.values(SUITES)
      .map((s) => `  ${s.help}`)
      .join('\n');
    (suite && suite !== '--help' && suite !== '-h' ? process.stderr : process.stdout).write(
      `${suite && !suite.startsWith('-') ? `unknown suite "${suite}"\n\n` : ''}usage: npm run bench -- <suite> [options]\n\nsuites:\n${list}\n`,
    );
    return suite === '--help' || suite === '-h' ? 0 : 2;
  }
  return (await entry.load()).run(rest);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
