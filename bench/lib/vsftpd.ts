// One vsftpd set-up for the tests (test/helpers/vsftpd.ts) and the FTP bench (bench/ftp.ts): its
// own config file in a temp dir, in the foreground on a free loopback port with its own passive
// port range. Anonymous logins only, with writes in `pub/`, and a password check:
// secure_email_list_enable accepts only the "e-mail" passwords listed in its file, so a wrong
// password gets a real 530 at PASS while no system account or PAM service is created. vsftpd
// refuses a chroot root the anonymous user can write to: the root stays root-owned, and `pub/`
// (owned by the `ftp` system user) is where writes go.
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { HOST, freePort } from './net.js';

export const VSFTPD_BINS = ['/usr/sbin/vsftpd', '/usr/bin/vsftpd'];

/** `count` consecutive loopback ports that are free now, in 20000-59999. */
export async function freePortRange(count: number): Promise<{ from: number; to: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const from = 20000 + Math.floor(Math.random() * 40000);
    let ok = true;
    for (let p = from; p < from + count && ok; p++) ok = await canBind(p);
    if (ok) return { from, to: from + count - 1 };
  }
  throw new Error('no free port range found');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}

/** The `ftp` system user vsftpd runs anonymous sessions as. */
export function ftpIds(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ftp:'));
  if (!line) throw new Error('vsftpd needs the `ftp` system user (created by the vsftpd package)');
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** Waits for a 220 greeting; `dead()` names why to stop early (the process exited). */
export async function waitForBanner(port: number, ms: number, dead: () => string | undefined = () => undefined): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const why = dead();
    if (why) throw new Error(why);
    const ok = await new Promise<boolean>((r) => {
      const c = net.connect(port, HOST);
      c.once('data', (d) => {
        c.destroy();
        r(d.toString().startsWith('220'));
      });
      c.on('error', () => r(false));
      c.setTimeout(1000, () => (c.destroy(), r(false)));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing answered 220 on ${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface VsftpdOptions {
  /** The one password vsftpd accepts (for `anonymous` and `ftp`). */
  password: string;
  /** PORT/EPRT allowed (tests drive active mode; the bench does not). */
  active: boolean;
  /** anon_max_rate in bytes/s (transfers slow enough to watch). */
  maxRate?: number;
  /** Explicit FTPS, required for logins and data, with session reuse on data connections. */
  tls?: { cert: string; key: string };
  idleTimeoutS?: number;
  dataTimeoutS?: number;
}

export interface VsftpdSetup {
  /** The config file to start vsftpd with. */
  cfg: string;
  port: number;
  root: string;
  pub: string;
}

/** Writes the root, `pub/`, the password file and the config into `dir` (which must exist). */
export async function prepareVsftpd(dir: string, o: VsftpdOptions): Promise<VsftpdSetup> {
  const root = join(dir, 'root');
  const pub = join(root, 'pub');
  mkdirSync(pub, { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(root, 0o755);
  const ids = ftpIds();
  chownSync(pub, ids.uid, ids.gid);
  chmodSync(pub, 0o755);
  const emptyDir = '/var/run/vsftpd/empty';
  if (!existsSync(emptyDir)) mkdirSync(emptyDir, { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, 'email_passwords'), `${o.password}\n`, { mode: 0o644 });
  const port = await freePort();
  const pasv = await freePortRange(20);
  const cfg = join(dir, 'vsftpd.conf');
  writeFileSync(
    cfg,
    [
      'listen=YES',
      'listen_ipv6=NO',
      'background=NO',
      `listen_address=${HOST}`,
      `listen_port=${port}`,
      'anonymous_enable=YES',
      'local_enable=NO',
      'write_enable=YES',
      'anon_upload_enable=YES',
      'anon_mkdir_write_enable=YES',
      'anon_other_write_enable=YES',
      `anon_root=${root}`,
      'anon_umask=022',
      'no_anon_password=NO',
      'secure_email_list_enable=YES',
      `email_password_file=${join(dir, 'email_passwords')}`,
      'pasv_enable=YES',
      `pasv_min_port=${pasv.from}`,
      `pasv_max_port=${pasv.to}`,
      `port_enable=${o.active ? 'YES' : 'NO'}`,
      'connect_from_port_20=NO',
      'seccomp_sandbox=NO',
      `secure_chroot_dir=${emptyDir}`,
      'xferlog_enable=NO',
      'dirmessage_enable=NO',
      'use_localtime=NO',
      'max_clients=50',
      'max_per_ip=50',
      ...(o.maxRate ? [`anon_max_rate=${o.maxRate}`] : []),
      ...(o.tls
        ? ['ssl_enable=YES', `rsa_cert_file=${o.tls.cert}`, `rsa_private_key_file=${o.tls.key}`, 'allow_anon_ssl=YES', 'force_anon_logins_ssl=YES', 'force_anon_data_ssl=YES', 'require_ssl_reuse=YES']
        : []),
      `idle_session_timeout=${o.idleTimeoutS ?? 120}`,
      `data_connection_timeout=${o.dataTimeoutS ?? 60}`,
      'accept_timeout=30',
      'connect_timeout=30',
      '',
    ].join('\n'),
  );
  return { cfg, port, root, pub };
}
