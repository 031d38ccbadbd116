// The keyframe thread (one per process, shared by every CastWriter): keeps one headless terminal
// per live recording and, on request, brings it up to a byte offset of the .cast and serializes
// it. It reads the output from the file itself (already on disk when asked), so the writers never
// copy output to it and nothing buffers here beyond one read chunk: a thread that falls behind
// just reads more at its next request. A recording it has never seen (first request, or a
// restarted thread) is replayed from its header. Requests are handled one at a time, in order.
import { parentPort } from 'node:worker_threads';
import { closeSync, openSync, readSync } from 'node:fs';
import { LineSplitter, READ_CHUNK, type RawLine } from './lines.js';
import { parseEvent, parseHeader, parseResize } from './format.js';
import { createTerminal, learnCharsets, writeAsync } from './snapshot.js';

export type KeyframeRequest =
  | { op: 'snapshot'; seq: number; file: string; upTo: number }
  | { op: 'release'; file: string }
  | { op: 'stall'; seq: number; ms: number; gate: SharedArrayBuffer };

export type KeyframeReply =
  | { seq: number; ok: true; snapshot?: string; cols?: number; rows?: number }
  | { seq: number; ok: false; error: string };

interface Model {
  fd: number;
  pos: number;
  term: ReturnType<typeof createTerminal>;
}

const models = new Map<string, Model>();
/** Output is handed to xterm in pieces of about this size (one write callback each). */
const WRITE_BATCH = 256 * 1024;

function readChunk(fd: number, pos: number, len: number): Buffer {
  const buf = Buffer.allocUnsafe(len);
  const n = readSync(fd, buf, 0, len, pos);
  return buf.subarray(0, n);
}

function openModel(file: string): Model {
  const fd = openSync(file, 'r');
  try {
    const split = new LineSplitter(0);
    for (let pos = 0; ; ) {
      const chunk = readChunk(fd, pos, 64 * 1024);
      if (chunk.length === 0) throw new Error('the recording has no header line');
      pos += chunk.length;
      const first = split.push(chunk)[0];
      if (!first) continue;
      const h = parseHeader(first.text);
      if (!h) throw new Error('the recording header is not asciicast v2');
      return { fd, pos: Buffer.byteLength(first.text) + 1, term: createTerminal(h.width, h.height) };
    }
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Feeds the lines in [model.pos, upTo) to the terminal: `o` as output, `r` as a resize. */
async function advance(m: Model, upTo: number): Promise<void> {
  const split = new LineSplitter(m.pos);
  let pending = '';
  const feed = async (lines: RawLine[]) => {
    for (const l of lines) {
      const ev = parseEvent(l.text);
      if (!ev) continue;
      if (ev.code === 'o') {
        pending += ev.data;
        if (pending.length >= WRITE_BATCH) {
          await writeAsync(m.term.term, pending);
          pending = '';
        }
      } else if (ev.code === 'r') {
        const size = parseResize(ev.data);
        if (!size) continue;
        // xterm parses writes asynchronously: the output before a resize must land first.
        if (pending) await writeAsync(m.term.term, pending);
        pending = '';
        m.term.term.resize(size[0], size[1]);
      }
    }
  };
  for (let pos = m.pos; pos < upTo; ) {
    const chunk = readChunk(m.fd, pos, Math.min(READ_CHUNK, upTo - pos));
    if (chunk.length === 0) break;
    pos += chunk.length;
    await feed(split.push(chunk));
  }
  if (pending) await writeAsync(m.term.term, pending);
  m.pos = split.consumed;
}

function release(file: string): void {
  const m = models.get(file);
  if (!m) return;
  models.delete(file);
  m.term.term.dispose();
  closeSync(m.fd);
}

async function handle(req: KeyframeRequest): Promise<KeyframeReply | undefined> {
  if (req.op === 'release') {
    release(req.file);
    return undefined;
  }
  if (req.op === 'stall') {
    // Fault injection: answer first (the fault fired), then block this thread until the gate
    // is opened (Atomics.notify from the main thread) or `ms` pass.
    parentPort!.postMessage({ seq: req.seq, ok: true } satisfies KeyframeReply);
    const gate = new Int32Array(req.gate);
    if (Atomics.load(gate, 0) === 0) Atomics.wait(gate, 0, 0, req.ms);
    return undefined;
  }
  try {
    let m = models.get(req.file);
    if (!m) {
      m = openModel(req.file);
      models.set(req.file, m);
    }
    if (req.upTo < m.pos) throw new Error(`offset ${req.upTo} is behind the terminal model (${m.pos})`);
    await advance(m, req.upTo);
    if (m.pos !== req.upTo) throw new Error(`the recording ends at ${m.pos}, before ${req.upTo}`);
    return { seq: req.seq, ok: true, snapshot: m.term.serialize(), cols: m.term.term.cols, rows: m.term.term.rows };
  } catch (e) {
    // A model that failed half-way is not trusted again: the next request replays from the header.
    release(req.file);
    return { seq: req.seq, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

if (parentPort) {
  const port = parentPort;
  let chain: Promise<unknown> = learnCharsets();
  port.on('message', (req: KeyframeRequest) => {
    chain = chain.then(async () => {
      const reply = await handle(req);
      if (reply) port.postMessage(reply);
    });
  });
}
