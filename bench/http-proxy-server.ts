// The http-proxy baseline target: the classic Node reverse proxy with a keep-alive agent, run as
// its own process by bench/http.ts (`node dist/bench/http-proxy-server.js PORT TARGET_URL`).
import http from 'node:http';
import httpProxy from 'http-proxy';

const [portArg, target] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || !target) {
  process.stderr.write('usage: http-proxy-server.js PORT TARGET_URL\n');
  process.exit(2);
}

// Like nginx's `keepalive 64`: reuse upstream connections, keep up to 64 idle.
const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 64 });
const proxy = httpProxy.createProxyServer({ target, agent });
proxy.on('error', (err, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`bad gateway: ${err.message}\n`);
  } else res.destroy();
});

const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 75_000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`http-proxy listening on 127.0.0.1:${port} -> ${target}\n`));

const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  agent.destroy();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
