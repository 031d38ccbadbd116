// nginx as the origin (a fixed 1 KB body) and as the reference proxy, each with its own prefix
// dir, config, pid and logs inside the run's temp dir: nothing touches the system's nginx.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Child, ProcessSet } from './procs.js';
import { HOST } from './net.js';

/** The origin's body: exactly 1024 printable bytes (safe inside an nginx string literal). */
export const ORIGIN_BODY = Buffer.from(('sessiongate-bench-' + 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(30)).slice(0, 1023) + '\n');

function common(dir: string): string {
  // Temp paths inside the prefix: nginx would otherwise try /var/lib/nginx.
  return `pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
worker_processes 1;
events { worker_connections 4096; }`;
}

function httpCommon(dir: string): string {
  return `access_log off;
  client_body_temp_path ${join(dir, 'tmp', 'body')};
  proxy_temp_path ${join(dir, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(dir, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(dir, 'tmp', 'scgi')};
  # Every target keeps client connections open for the whole run (nginx's default closes one
  # after 1000 requests; the gateway never does), so the comparison is about proxying only.
  keepalive_requests 1000000;
  keepalive_timeout 75s;`;
}

export function originConf(dir: string, port: number): string {
  if (ORIGIN_BODY.length !== 1024 || /["\\$]/.test(ORIGIN_BODY.toString())) throw new Error('origin body must be 1024 plain bytes');
  return `# Sessiongate bench: origin serving a fixed 1 KB body.
${common(dir)}
http {
  ${httpCommon(dir)}
  server {
    listen ${HOST}:${port};
    location / {
      default_type text/plain;
      return 200 "${ORIGIN_BODY.toString().replace('\n', '\\n')}";
    }
  }
}
`;
}

export function proxyConf(dir: string, port: number, originPort: number): string {
  return `# Sessiongate bench: nginx as the reference reverse proxy (1 worker, upstream keep-alive).
${common(dir)}
http {
  ${httpCommon(dir)}
  upstream origin {
    server ${HOST}:${originPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen ${HOST}:${port};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** Writes the config into `dir` and starts `nginx -p dir -c nginx.conf -g 'daemon off;'`. */
export function startNginx(procs: ProcessSet, name: string, dir: string, conf: string): Child {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  return procs.spawn(name, 'nginx', ['-p', dir, '-c', file, '-e', join(dir, 'error.log'), '-g', 'daemon off;']);
}
