// asciinema-player in the viewer (DESIGN "Dependencies": replay). Two sources:
// - a recording, through its keyframe index (`/api/recordings/:id/index`, format "segmented"):
//   the player fetches only the segment around the position, so the first frame and a seek cost
//   one index and one segment whatever the recording's size;
// - a live recording, over the `/api/recordings/:id/live` WebSocket in its `v2.asciicast` mode.
// The player's own control bar has play/pause and the timeline (click or drag to seek); the
// toolbar here adds speed (the player takes speed only at creation: changing it starts a new
// player at the same time). The player renders text with DOM nodes and sets styles through
// CSSOM only, so it runs under the viewer's CSP; its WebAssembly terminal needs
// `script-src 'wasm-unsafe-eval'` (docs/api.md "Response headers").
import type * as AsciinemaPlayer from 'asciinema-player';
import { useEffect, useRef, useState } from 'preact/hooks';
import './player.css';

export type Player = AsciinemaPlayer.Player;

/** Mounts a player in `el` once the player's chunk has loaded; the returned function disposes it. */
function mount(el: HTMLElement, src: unknown, opts: AsciinemaPlayer.Options, ready: (p: Player) => void, failed: (e: unknown) => void): () => void {
  let player: Player | undefined;
  let gone = false;
  import('./player-lib.js').then((lib) => {
    if (gone) return;
    player = lib.create(src as AsciinemaPlayer.Source, el, opts);
    ready(player);
  }, failed);
  return () => {
    gone = true;
    player?.dispose();
    el.replaceChildren();
  };
}

const FONT = 'ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace';
const quiet = { log() {}, debug() {}, info() {}, warn() {}, error() {} };

export const SPEEDS = [0.5, 1, 2, 4, 8];

function clock(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const t = Math.floor(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h ? `${h}:${pad(m)}:${pad(t % 60)}` : `${pad(m)}:${pad(t % 60)}`;
}

/** A recorded session: segmented source, the player's control bar, and play/pause/speed/time above it. */
export function RecordingPlayer({ id }: { id: string }) {
  const box = useRef<HTMLDivElement>(null);
  const player = useRef<Player | undefined>();
  const [speed, setSpeed] = useState(1);
  const [playing, setPlaying] = useState(false);
  const [time, setTime] = useState(0);
  const [duration, setDuration] = useState<number | undefined>();
  const [error, setError] = useState('');
  // Where a new player (speed change) starts, and whether it plays at once.
  const resume = useRef({ at: 0, play: false });

  useEffect(() => {
    setError('');
    const src = { url: `/api/recordings/${encodeURIComponent(id)}/index`, format: 'segmented' };
    let tick: ReturnType<typeof setInterval> | undefined;
    const dispose = mount(
      box.current!,
      src,
      {
        speed,
        startAt: resume.current.at,
        autoPlay: resume.current.play,
        preload: true,
        fit: 'width',
        controls: true,
        terminalFontFamily: FONT,
        logger: { ...quiet, error: (...a: unknown[]) => setError(String(a.find((x) => x instanceof Error) ?? a[0] ?? 'the player failed')) },
      },
      (p) => {
        player.current = p;
        // A paused player shows nothing until it plays: show the frame it resumes from.
        if (!resume.current.play && resume.current.at > 0) void p.seek(resume.current.at);
        p.addEventListener('play', () => setPlaying(true));
        p.addEventListener('playing', () => setPlaying(true));
        p.addEventListener('pause', () => setPlaying(false));
        p.addEventListener('ended', () => setPlaying(false));
        tick = setInterval(() => {
          void Promise.resolve(p.getCurrentTime()).then((t) => typeof t === 'number' && setTime(t));
          void Promise.resolve(p.getDuration()).then((d) => typeof d === 'number' && setDuration(d));
        }, 250);
      },
      (e) => setError(String(e)),
    );
    return () => {
      clearInterval(tick);
      player.current = undefined;
      dispose();
    };
  }, [id, speed]);

  const changeSpeed = async (s: number) => {
    // The position now (the displayed time may be up to one tick old, e.g. right after a seek).
    const p = player.current;
    const at = p ? await Promise.resolve(p.getCurrentTime()) : time;
    resume.current = { at: typeof at === 'number' ? at : time, play: playing };
    setSpeed(s);
  };

  return (
    <div class="player">
      <div class="toolbar player-bar">
        <button type="button" class="btn btn-primary player-toggle" onClick={() => void (playing ? player.current?.pause() : player.current?.play())}>
          {playing ? 'Pause' : 'Play'}
        </button>
        <span class="player-time" aria-label="Position">
          {clock(time)} / {clock(duration ?? NaN)}
        </span>
        <label class="inline">
          Speed
          <select aria-label="Speed" value={String(speed)} onChange={(e) => void changeSpeed(Number(e.currentTarget.value))}>
            {SPEEDS.map((s) => (
              <option key={s} value={String(s)}>
                {s}×
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && (
        <p class="field-error" role="alert">
          The recording cannot be played: {error}
        </p>
      )}
      <div class="player-box" ref={box} data-testid="player" />
    </div>
  );
}

/** A recording being written, watched live (read-only). `onEnded` when the recording ends. */
export function LivePlayer({ id, onEnded }: { id: string; onEnded?: () => void }) {
  const box = useRef<HTMLDivElement>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/recordings/${encodeURIComponent(id)}/live`;
    // bufferTime 0: show output as it arrives (no smoothing delay).
    return mount(
      box.current!,
      { driver: 'websocket', url, bufferTime: 0 },
      { autoPlay: true, fit: 'width', controls: false, terminalFontFamily: FONT, logger: quiet },
      (p) => p.addEventListener('ended', () => onEnded?.()),
      (e) => setError(String(e)),
    );
  }, [id]);
  return (
    <>
      {error && (
        <p class="field-error" role="alert">
          The live view cannot start: {error}
        </p>
      )}
      <div class="player-box player-live" ref={box} data-testid="live-player" />
    </>
  );
}
