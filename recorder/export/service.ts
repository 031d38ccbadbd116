// What the gateway starts from `export` config: the scheduled export and one forwarder per
// destination, as one unit with start/close (cli/app.ts wires it to the Recorder).
import type { ExportConfig } from '../../config/schema.js';
import type { Clock, Logger } from '../../gateway/core/runtime.js';
import type { Emitter } from '../emitter.js';
import type { Subscribe } from './feed.js';
import { Forwarder, type ForwarderObserver, type ForwarderStats } from './forward/forwarder.js';
import { ScheduledExport } from './schedule.js';
import type { ExportStore } from './source.js';

export interface ExportServicesDeps {
  store: ExportStore;
  /** Recorder.subscribe (bound). */
  subscribe: Subscribe;
  clock: Clock;
  logger: Logger;
  /** Records scheduled runs as `activity`. */
  emitter?: Pick<Emitter, 'emit'>;
  observer?: ForwarderObserver;
}

export class ExportServices {
  readonly schedule: ScheduledExport | undefined;
  readonly forwarders: readonly Forwarder[];
  private started = false;

  /** Validates everything (SG_ERR_CONFIG_INVALID) before anything starts. */
  constructor(cfg: ExportConfig, deps: ExportServicesDeps) {
    this.schedule = cfg.schedule ? new ScheduledExport(cfg.schedule, deps, { encryption: cfg.encryption }) : undefined;
    this.forwarders = cfg.forward.map((f) => new Forwarder(f, deps));
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.schedule?.start();
    for (const f of this.forwarders) f.start();
  }

  stats(): ForwarderStats[] {
    return this.forwarders.map((f) => f.stats());
  }

  async close(): Promise<void> {
    await Promise.all([this.schedule?.close(), ...this.forwarders.map((f) => f.close())]);
  }
}
