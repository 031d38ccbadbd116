// The one small interface every protocol front end implements (like Warpgate's
// ProtocolServer): the start command builds front ends from config and drives them
// through this interface only.

export interface BoundAddress {
  host: string;
  port: number;
  tls: boolean;
}

export interface Frontend {
  /** `http`, `ssh`, `ftp`. */
  readonly protocol: string;
  /** The listener's name from config. */
  readonly name: string;
  /** Binds the listener. Rejects (SG_ERR_LISTEN) if it cannot. */
  start(): Promise<void>;
  /** Where it listens (port resolved when config said 0). Valid after start(). */
  addresses(): BoundAddress[];
  /** Stop accepting, let in-flight work finish up to `graceMs`, then cut the rest. Idempotent. */
  close(graceMs?: number): Promise<void>;
}
