// A terminal model for keyframes: @xterm/headless fed with the recorded output, serialized by
// @xterm/addon-serialize. Runs in the keyframe thread (a serialize can take ~100 ms).
//
// The addon restores the screen, the pen, the cursor and the modes, but not the scroll region
// (DECSTBM), the saved cursor (DECSC), the G0-G3 character sets or a hidden cursor: replaying a
// snapshot taken inside `less` or `mc` would then scroll or draw differently from the original.
// Those are read from xterm's internals (guarded: when a field is missing, that part is left
// out) and appended as escape sequences.
import xterm from '@xterm/headless';
import serializeAddon from '@xterm/addon-serialize';
import type { Terminal as XTerminal } from '@xterm/headless';

const { Terminal } = xterm;
const { SerializeAddon } = serializeAddon;

/** No scrollback: a keyframe is the screen (and the alternate screen), which is what a player shows. */
export function createTerminal(cols: number, rows: number): { term: XTerminal; serialize(): string } {
  const term = new Terminal({ cols, rows, scrollback: 0, allowProposedApi: true });
  const addon = new SerializeAddon();
  term.loadAddon(addon);
  return { term, serialize: () => addon.serialize() + stateExtras(term) };
}

export function writeAsync(term: XTerminal, data: string): Promise<void> {
  return new Promise((resolve) => term.write(data, resolve));
}

interface CoreInternals {
  _bufferService?: { buffer?: { scrollTop?: number; scrollBottom?: number; savedX?: number; savedY?: number; x?: number; y?: number } };
  _charsetService?: { glevel?: number; _charsets?: unknown[] };
  coreService?: { isCursorHidden?: boolean; decPrivateModes?: { origin?: boolean } };
}

const int = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Charset table object -> its designator, learnt once from a probe terminal. */
let designators: Map<unknown, string> | undefined;
const DESIGNATORS = '0AB4C5RQKYE6ZH7=`/';

/** Learns the charset designators by writing ESC ( d into a probe terminal: call once before
 * serializing (until then, snapshots leave the character sets out). */
export async function learnCharsets(): Promise<void> {
  const map = new Map<unknown, string>();
  const probe = new Terminal({ cols: 2, rows: 1, allowProposedApi: true });
  const cs = (probe as unknown as { _core?: CoreInternals })._core?._charsetService;
  for (const d of DESIGNATORS) {
    await writeAsync(probe, `\x1b(${d}`);
    const table = cs?._charsets?.[0];
    if (table !== undefined && table !== null && !map.has(table)) map.set(table, d);
  }
  probe.dispose();
  designators = map;
}

function stateExtras(term: XTerminal): string {
  const core = (term as unknown as { _core?: CoreInternals })._core;
  if (!core) return '';
  const buf = core._bufferService?.buffer;
  const origin = core.coreService?.decPrivateModes?.origin === true;
  let out = '';
  let moved = false;
  let top = 0;
  if (buf && int(buf.scrollTop) && int(buf.scrollBottom) && (buf.scrollTop !== 0 || buf.scrollBottom !== term.rows - 1)) {
    top = buf.scrollTop;
    out += `\x1b[${buf.scrollTop + 1};${buf.scrollBottom + 1}r`;
    moved = true;
  }
  // Row numbers of CUP are relative to the region top in origin mode.
  const cup = (y: number, x: number) => `\x1b[${(origin ? y - top : y) + 1};${x + 1}H`;
  if (buf && int(buf.savedX) && int(buf.savedY) && (buf.savedX !== 0 || buf.savedY !== 0) && (!origin || buf.savedY >= top)) {
    out += `${cup(buf.savedY, Math.min(buf.savedX, term.cols - 1))}\x1b7`;
    moved = true;
  }
  if (moved && buf && int(buf.x) && int(buf.y)) out += cup(buf.y, Math.min(buf.x, term.cols - 1));
  const cs = core._charsetService;
  if (cs && Array.isArray(cs._charsets) && designators) {
    const known = designators;
    cs._charsets.forEach((table, g) => {
      const d = table ? known.get(table) : undefined;
      if (d && d !== 'B' && g < 4) out += `\x1b${'()*+'[g]}${d}`;
    });
    if (cs.glevel === 1) out += '\x0e';
    else if (cs.glevel === 2) out += '\x1bn';
    else if (cs.glevel === 3) out += '\x1bo';
  }
  if (core.coreService?.isCursorHidden === true) out += '\x1b[?25l';
  return out;
}
