// A data connection on which no byte moved for `stallMs` is cut (the listener's data_timeout).
// The relays only count bytes; this reads the count on a timer, never per chunk.

/** Calls onStall once when read() has not changed for stallMs; returns the function that stops watching. */
export function watchStall(read: () => number, stallMs: number, onStall: () => void): () => void {
  let last = read();
  let lastMove = Date.now();
  const timer = setInterval(
    () => {
      const now = Date.now();
      const total = read();
      if (total !== last) {
        last = total;
        lastMove = now;
      } else if (now - lastMove >= stallMs) {
        clearInterval(timer);
        onStall();
      }
    },
    Math.max(50, Math.min(stallMs / 2, 1000)),
  );
  timer.unref();
  return () => clearInterval(timer);
}
