// A tiny FTP server for the demo (`npm start`): something real for the FTP gateway to sit in front
// of on a fresh machine, without vsftpd. Passive mode only (PASV/EPSV; the gateway always uses
// passive mode toward servers), binary, over a temp directory seeded with a few files that is
// removed at close. Logins: `anonymous`/`ftp` (any password) and `demo` / `demo-ftp-pass` (the demo
// server's own fixed password, like the demo panel's: loopback only, not Sessiongate's).
// Commands: USER PASS SYST FEAT PWD CWD CDUP TYPE PASV EPSV LIST NLST RETR STOR SIZE REST MKD RMD
// DELE RNFR RNTO NOOP QUIT. Not for anything but the demo.
import net from 'node:net';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, promises as fsp, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';

export const DEMO_FTP_USERS: Record<string, string | undefined> = { anonymous: undefined, ftp: undefined, demo: 'demo-ftp-pass' };

export interface DemoFtpServer {
  port: number;
  root: string;
  close(): Promise<void>;
}

function seed(root: string): void {
  mkdirSync(join(root, 'pub'), { recursive: true });
  mkdirSync(join(root, 'incoming'), { recursive: true });
  writeFileSync(join(root, 'README.txt'), 'Sessiongate demo FTP server. Everything you do here is recorded by the gateway.\n');
  writeFileSync(join(root, 'pub', 'price-list.csv'), 'plan,price\nbasic,5\npro,15\nbusiness,40\n');
  const big = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 10)) & 0xff;
  writeFileSync(join(root, 'pub', 'backup-4MB.bin'), big);
}

export async function startDemoFtpServer(opts: { host: string; port: number }): Promise<DemoFtpServer> {
  const root = mkdtempSync(join(tmpdir(), 'sg-demo-ftp-'));
  seed(root);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    session(sock, root, opts.host);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    root,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          rmSync(root, { recursive: true, force: true });
          r();
        });
      }),
  };
}

function session(sock: net.Socket, root: string, host: string): void {
  let user: string | undefined;
  let authed = false;
  let cwd = '/';
  let rest = 0;
  let renameFrom: string | undefined;
  let pasv: { server: net.Server; conn: Promise<net.Socket> } | undefined;
  let buf = '';
  let chain = Promise.resolve();
  const say = (code: number, text: string): void => {
    if (sock.writable) sock.write(`${code} ${text}\r\n`);
  };
  /** Virtual path -> real path inside root (never outside it). */
  const real = (p: string) => join(root, posix.resolve(cwd, p || '.'));
  const vpath = (p: string) => posix.resolve(cwd, p || '.');
  const openPasv = async (): Promise<number> => {
    pasv?.server.close();
    const server = net.createServer();
    const conn = new Promise<net.Socket>((resolve) => server.once('connection', (s) => (server.close(), resolve(s))));
    await new Promise<void>((r) => server.listen(0, host, r));
    pasv = { server, conn };
    return (server.address() as net.AddressInfo).port;
  };
  const withData = async (fn: (d: net.Socket) => Promise<void>) => {
    if (!pasv) return say(425, 'Use PASV or EPSV first.');
    const p = pasv;
    pasv = undefined;
    say(150, 'Opening data connection.');
    const d = await Promise.race([p.conn, new Promise<undefined>((r) => setTimeout(r, 10_000))]);
    if (!d) {
      p.server.close();
      return say(425, "Can't open data connection.");
    }
    try {
      await fn(d);
      say(226, 'Transfer complete.');
    } catch {
      d.destroy();
      say(426, 'Connection closed; transfer aborted.');
    }
  };
  const pipeEnd = (from: NodeJS.ReadableStream, to: NodeJS.WritableStream) =>
    new Promise<void>((resolve, reject) => {
      from.on('error', reject);
      to.on('error', reject);
      to.on('finish', resolve);
      from.pipe(to);
    });

  const handle = async (line: string): Promise<void> => {
    const sp = line.indexOf(' ');
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? '' : line.slice(sp + 1);
    if (!authed && !['USER', 'PASS', 'QUIT', 'SYST', 'FEAT', 'NOOP'].includes(verb)) return void say(530, 'Please login with USER and PASS.');
    switch (verb) {
      case 'USER':
        user = arg;
        return void say(331, 'Please specify the password.');
      case 'PASS': {
        const known = user !== undefined && Object.hasOwn(DEMO_FTP_USERS, user);
        if (known && (DEMO_FTP_USERS[user!] === undefined || DEMO_FTP_USERS[user!] === arg)) {
          authed = true;
          return void say(230, 'Login successful.');
        }
        return void say(530, 'Login incorrect.');
      }
      case 'SYST':
        return void say(215, 'UNIX Type: L8');
      case 'FEAT':
        sock.write('211-Features:\r\n EPSV\r\n PASV\r\n REST STREAM\r\n SIZE\r\n211 End\r\n');
        return;
      case 'NOOP':
        return void say(200, 'NOOP ok.');
      case 'TYPE':
        return void say(200, `Switching to ${/^a/i.test(arg) ? 'ASCII' : 'Binary'} mode.`);
      case 'PWD':
        return void say(257, `"${cwd.replace(/"/g, '""')}" is the current directory`);
      case 'CWD':
      case 'CDUP': {
        const to = verb === 'CDUP' ? posix.dirname(cwd) : vpath(arg);
        const st = await fsp.stat(join(root, to)).catch(() => undefined);
        if (!st?.isDirectory()) return void say(550, 'Failed to change directory.');
        cwd = to;
        return void say(250, 'Directory successfully changed.');
      }
      case 'PASV': {
        const port = await openPasv();
        return void say(227, `Entering Passive Mode (${host.split('.').join(',')},${port >> 8},${port & 255}).`);
      }
      case 'EPSV':
        return void say(229, `Entering Extended Passive Mode (|||${await openPasv()}|)`);
      case 'SIZE': {
        const st = await fsp.stat(real(arg)).catch(() => undefined);
        return void (st?.isFile() ? say(213, String(st.size)) : say(550, 'Could not get file size.'));
      }
      case 'REST':
        rest = /^\d+$/.test(arg) ? Number(arg) : 0;
        return void say(350, `Restart position accepted (${rest}).`);
      case 'LIST':
      case 'NLST': {
        const dir = real(arg.split(' ').filter((w) => !w.startsWith('-')).join(' '));
        const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => undefined);
        if (!entries) return void say(550, 'Failed to open directory.');
        const lines = await Promise.all(
          entries.map(async (e) => {
            if (verb === 'NLST') return e.name;
            const st = await fsp.stat(join(dir, e.name));
            const d = st.mtime.toUTCString().split(' ');
            return `${e.isDirectory() ? 'drwxr-xr-x' : '-rw-r--r--'}    1 ftp      ftp      ${String(st.size).padStart(10)} ${d[2]} ${d[1]} ${d[4]!.slice(0, 5)} ${e.name}`;
          }),
        );
        return withData((d) => new Promise<void>((r) => d.end(lines.map((l) => `${l}\r\n`).join(''), () => r())));
      }
      case 'RETR': {
        const p = real(arg);
        const st = await fsp.stat(p).catch(() => undefined);
        if (!st?.isFile()) return void say(550, 'Failed to open file.');
        const start = rest;
        rest = 0;
        return withData((d) => pipeEnd(createReadStream(p, { start }), d));
      }
      case 'STOR': {
        if (!arg) return void say(501, 'STOR needs a file name.');
        const p = real(arg);
        const start = rest;
        rest = 0;
        return withData((d) => pipeEnd(d, createWriteStream(p, start ? { flags: 'r+', start } : {})));
      }
      case 'MKD':
        await fsp.mkdir(real(arg)).then(
          () => say(257, `"${vpath(arg)}" created`),
          () => say(550, 'Create directory operation failed.'),
        );
        return;
      case 'RMD':
        await fsp.rmdir(real(arg)).then(
          () => say(250, 'Remove directory operation successful.'),
          () => say(550, 'Remove directory operation failed.'),
        );
        return;
      case 'DELE':
        await fsp.unlink(real(arg)).then(
          () => say(250, 'Delete operation successful.'),
          () => say(550, 'Delete operation failed.'),
        );
        return;
      case 'RNFR':
        renameFrom = real(arg);
        return void say(350, 'Ready for RNTO.');
      case 'RNTO':
        if (!renameFrom) return void say(503, 'RNFR required first.');
        await fsp.rename(renameFrom, real(arg)).then(
          () => say(250, 'Rename successful.'),
          () => say(550, 'Rename failed.'),
        );
        return;
      case 'QUIT':
        say(221, 'Goodbye.');
        sock.end();
        return;
      default:
        return void say(502, 'Command not implemented.');
    }
  };

  sock.on('error', () => undefined);
  sock.on('close', () => pasv?.server.close());
  sock.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    if (buf.length > 8192) return void sock.destroy();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      chain = chain.then(() => handle(line)).catch(() => void say(451, 'Local error.'));
    }
  });
  say(220, 'Sessiongate demo FTP server ready.');
}
