// The SSH bench at a tiny size: a real sshd, the real gateway CLI, the OpenSSH client, an ssh2
// Client for the echo and a generated recording replayed through the viewer; it finishes and
// writes its JSON with a figure for every part and every bar.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOptions, percentile, run, stats } from '../bench/ssh.js';
import { prng } from '../bench/ssh-cast.js';
import { requireTool } from './helpers/interop.js';
import { runSuite } from './helpers/bench.js';

t.test('options and statistics', async (t) => {
  const o = parseOptions([]);
  t.equal(o.mb, 200);
  t.equal(o.rounds, 3);
  t.same(o.ciphers, ['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com']);
  t.equal(o.replayMb, 1024);
  t.same(o.parts, ['throughput', 'echo', 'connect', 'replay']);
  t.equal(parseOptions(['--no-pty']).pty, false);
  t.same(parseOptions(['--parts', 'replay,echo']).parts, ['echo', 'replay'], 'parts in their own order');
  t.equal(parseOptions(['--profile']).keep, true, '--profile keeps the temp dir (the profile is there)');
  t.throws(() => parseOptions(['--parts', 'nope']), /unknown part/);
  t.throws(() => parseOptions(['--mb', '0']), /--mb/);
  t.throws(() => parseOptions(['--ciphers', 'a b']), /bad cipher/);
  t.throws(() => parseOptions(['--nope']), /unknown option/);
  t.equal(percentile([1, 2, 3, 4], 50), 2);
  t.match(stats([5, 1, 3]), { n: 3, min: 1, p50: 3, max: 5 });
  const a = prng(7);
  const b = prng(7);
  t.same([a(), a(), a()], [b(), b(), b()], 'the generator is seeded');
});

t.test('a small run end to end', async (t) => {
  if (!requireTool(t, 'sshd') || !requireTool(t, 'ssh')) return;
  const out = t.testdir();
  const { code, text, file } = await runSuite(run, ['--mb', '2', '--rounds', '1', '--ciphers', 'aes128-gcm@openssh.com', '--echo', '10', '--connects', '1', '--replay-mb', '2', '--anchor-mb', '1', '--replay-runs', '1'], out, 'ssh');
  if (code !== 0) t.comment(text);
  t.equal(code, 0, 'exit 0 (no --strict)');
  t.ok(file, 'JSON result written');
  const r = JSON.parse(readFileSync(join(out, file!), 'utf8')) as {
    suite: string;
    throughput: { summary: { variant: string; direct_best: number; gateway_best: number; ratio_best: number }[] };
    echo: { direct: { p50: number }; gateway: { p50: number }; added_p95_ms: number };
    connect: Record<string, { ratio_p50: number }>;
    replay: { big: { first_frame: { max: number } }; anchor: { first_frame: { max: number } } };
    gateway_recordings: { count: number; lost_events: number };
    bars: { what: string; value?: number; pass?: boolean }[];
  };
  t.equal(r.suite, 'ssh');
  t.same(
    r.throughput.summary.map((s) => s.variant),
    ['download aes128-gcm@openssh.com', 'upload aes128-gcm@openssh.com', 'pty download aes128-gcm@openssh.com (recorded)'],
  );
  for (const s of r.throughput.summary) t.ok(s.direct_best > 0 && s.gateway_best > 0 && s.ratio_best > 0, `${s.variant}: figures on both sides`);
  t.ok(r.echo.direct.p50 > 0 && r.echo.gateway.p50 > 0, 'echo measured on both sides');
  t.same(Object.keys(r.connect), ['default key exchange', 'curve25519-sha256 both']);
  t.ok(r.replay.big.first_frame.max > 0 && r.replay.anchor.first_frame.max > 0, 'replay measured on both recordings');
  t.ok(r.gateway_recordings.count >= 2, 'the gateway recorded the pty sessions (the pty transfer and the echo)');
  t.equal(r.bars.length, 5, 'throughput (exec, pty), echo, replay first frame and seek');
  for (const b of r.bars) t.type(b.value, 'number', `${b.what}: measured`);
  t.match(text, /DESIGN\.md bars/);
});
