// The composition root: builds every component from a validated config and owns their
// lifecycle. `sessiongate start` and the end-to-end tests both use startGateway().
import { mkdirSync, readFileSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import type { Config } from '../config/schema.js';
import type { Clock, Logger } from '../gateway/core/runtime.js';
import { systemClock } from '../gateway/core/runtime.js';
import { SessionRegistry } from '../gateway/core/registry.js';
import { AccessControl } from '../gateway/core/access.js';
import { Metrics } from '../gateway/core/metrics.js';
import type { Frontend } from '../gateway/core/frontend.js';
import { UserStore } from '../gateway/core/users.js';
import { SgError } from '../gateway/core/errors.js';
import { createHttpFrontend } from '../gateway/http/index.js';
import { createSshFrontend, type SshFrontend } from '../gateway/ssh/index.js';
import { recoverSessions } from '../gateway/ssh/recovery.js';
import { createFtpFrontend } from '../gateway/ftp/index.js';
import { Directory } from '../gateway/http/analysis/directory.js';
import { Recorder } from '../recorder/index.js';
import { loadIntegrityKey } from '../recorder/store/integrity.js';
import { BackupScheduler } from '../recorder/backup.js';
import { Retention } from '../recorder/store/retention.js';
import { ExportServices } from '../recorder/export/index.js';
import type { Emitter } from '../recorder/emitter.js';
import type { EventInput, SgEvent } from '../recorder/events.js';
import { createViewer } from '../viewer/server/index.js';
import { LiveCasts } from '../recorder/cast/index.js';

export interface Gateway {
  readonly config: Config;
  readonly logger: Logger;
  readonly recorder: Recorder;
  readonly registry: SessionRegistry;
  readonly access: AccessControl;
  readonly users: UserStore;
  readonly metrics: Metrics;
  readonly frontends: Frontend[];
  readonly viewer: ReturnType<typeof createViewer> | undefined;
  /** Base URL of each HTTP listener by name, and of the viewer. */
  urls(): { http: Record<string, string>; ssh: Record<string, string>; ftp: Record<string, string>; viewer?: string };
  /** Graceful stop: listeners first, then in-flight work up to graceMs, then the recorder flushes. */
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  logger?: Logger;
}

export function createLogger(cfg: Config['log']): Logger {
  return pino(
    { level: cfg.level, base: { app: 'sessiongate' }, redact: { paths: ['*.password', '*.cookie', '*.authorization', '*.token'], censor: '[REDACTED]' } },
    cfg.file ? pino.destination({ dest: cfg.file, mkdir: true, sync: false }) : pino.destination({ dest: 1, sync: false }),
  );
}

/** The key that hashes panel session keys: random per installation, kept in data_dir, 0600. */
function sessionKeySecret(dataDir: string): Buffer {
  const dir = join(dataDir, 'secrets');
  const file = join(dir, 'session-key');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(file)) writeFileSync(file, randomBytes(32), { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return readFileSync(file);
}

/** When recording is off (benchmarks only): accepts and discards, but stays honest about it. */
class NullEmitter implements Emitter {
  readonly mode = 'best_effort' as const;
  emit(): SgEvent | undefined {
    return undefined;
  }
  async emitDurable(e: EventInput): Promise<SgEvent> {
    return { ...e, id: '', ts: 0 } as SgEvent;
  }
  writable(): boolean {
    return true;
  }
}

export async function startGateway(config: Config, opts: StartOptions = {}): Promise<Gateway> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger(config.log);
  mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  const metrics = new Metrics();
  // The chain key lives outside data_dir (docs/store.md "Integrity"); created on first start.
  const integrityKey = config.audit.key_file ? loadIntegrityKey(config.audit.key_file, { dataDir: config.data_dir, create: true }) : undefined;
  if (!integrityKey) logger.warn('audit.key_file is not set: batches are digested but not signed (sessiongate verify cannot prove who wrote them)');
  const recorder = await Recorder.open({
    dataDir: config.data_dir,
    ...(integrityKey ? { integrityKey } : {}),
    audit: config.audit,
    clock,
    logger: logger.child({ component: 'recorder' }),
    observer: {
      queueDepth: (n) => metrics.recorderQueueDepth.set(n),
      flushed: (byType, ms) => {
        metrics.flushLatency.observe(ms / 1000);
        for (const [type, n] of Object.entries(byType)) metrics.eventsStored.inc({ type }, n);
      },
      lost: (n, reason) => metrics.eventsLost.inc({ reason }, n),
      gap: () => metrics.gaps.inc(),
    },
  });
  const frontends: Frontend[] = [];
  let viewer: ReturnType<typeof createViewer> | undefined;
  const emitter: Emitter = config.audit.enabled ? recorder : new NullEmitter();
  const registry = new SessionRegistry({ clock, emitter: recorder });
  const liveCasts = new LiveCasts();
  let webTerminal: SshFrontend | undefined;
  metrics.countLiveSessions = () => {
    const byProtocol: Record<string, number> = {};
    for (const s of registry.list()) byProtocol[s.protocol] = (byProtocol[s.protocol] ?? 0) + 1;
    return byProtocol;
  };
  const access = new AccessControl({ clock, db: recorder.store.openDb('access') });
  const users = new UserStore(recorder.store.openDb('users'), { clock });
  const directory = new Directory(config.directory);
  const secret = sessionKeySecret(config.data_dir);

  const buildServices = () => {
    const backups =
      config.backup.dir && config.backup.interval
        ? new BackupScheduler({
            dataDir: config.data_dir,
            dir: config.backup.dir,
            interval: config.backup.interval,
            keep: config.backup.keep,
            compact: config.backup.compact,
            clock,
            logger: logger.child({ component: 'backup' }),
            onActivity: (a) => recorder.emit({ type: 'activity', ...a }),
          })
        : undefined;

    const exportsSvc = new ExportServices(config.export, {
      store: recorder.store,
      subscribe: recorder.subscribe.bind(recorder),
      clock,
      logger: logger.child({ component: 'export' }),
      emitter: recorder,
      observer: {
        delivered: (name, n) => metrics.forwardDelivered.inc({ forwarder: name }, n),
        failed: (name) => metrics.forwardFailures.inc({ forwarder: name }),
        lag: (name, ms) => metrics.forwardLag.set({ forwarder: name }, ms / 1000),
      },
    });

    const { interval: retentionInterval, ...periods } = config.retention;
    const retention = Object.values(periods).some((v) => v !== undefined)
      ? new Retention({
          dbs: recorder.store.maintenanceDbs(),
          periods,
          interval: retentionInterval,
          ...(integrityKey ? { key: integrityKey } : {}),
          clock,
          logger: logger.child({ component: 'retention' }),
          emit: (ev) => recorder.emit(ev),
        })
      : undefined;

    return { backups, exportsSvc, retention };
  };
  // A bad background service closes the recorder again instead of leaving it half started.
  const { backups, exportsSvc, retention } = await Promise.resolve()
    .then(buildServices)
    .catch(async (e: unknown) => {
      await recorder.close().catch(() => undefined);
      throw e;
    });

  const closeAll = async (graceMs: number) => {
    await Promise.allSettled(frontends.map((f) => f.close(graceMs)));
    await viewer?.close().catch(() => undefined);
    await backups?.close().catch(() => undefined);
    await retention?.close().catch(() => undefined);
    await exportsSvc.close().catch(() => undefined);
    await recorder.close();
  };

  try {
    exportsSvc.start();
    for (const l of config.http) {
      const f = createHttpFrontend(l, {
        clock,
        logger: logger.child({ component: 'http', listener: l.name }),
        emitter,
        registry,
        access,
        directory,
        metrics,
        viewerCookieName: config.viewer.cookie_name,
        sessionKeySecret: secret,
      });
      frontends.push(f);
      await f.start();
    }
    if (config.ssh) await recoverSessions({ store: recorder.store, emitter: recorder, recordingsDir: join(config.data_dir, 'recordings'), logger: logger.child({ component: 'ssh' }) });
    for (const l of config.ssh?.listeners ?? []) {
      const f = createSshFrontend(l, config.ssh!, {
        clock,
        logger: logger.child({ component: 'ssh', listener: l.name }),
        emitter,
        registry,
        access,
        users,
        dataDir: config.data_dir,
        liveCasts,
      });
      frontends.push(f);
      await f.start();
      webTerminal ??= f;
    }
    for (const l of config.ftp?.listeners ?? []) {
      const f = createFtpFrontend(l, config.ftp!, {
        clock,
        logger: logger.child({ component: 'ftp', listener: l.name }),
        emitter,
        registry,
        access,
        directory,
      });
      frontends.push(f);
      await f.start();
    }
    if (config.viewer.enabled) {
      viewer = createViewer(config.viewer, {
        clock,
        logger: logger.child({ component: 'viewer' }),
        store: recorder.store,
        emitter: recorder,
        users,
        registry,
        access,
        metrics,
        health: () => {
          const s = recorder.stats();
          return { ok: s.writable, details: { recorder: s, live_sessions: registry.size() } };
        },
        sessionsDb: recorder.store.openDb('viewer_sessions'),
        commits: recorder,
        exportEncryption: config.export.encryption,
        recordingsDir: join(config.data_dir, 'recordings'),
        liveCasts,
        ...(webTerminal ? { webTerminal } : {}),
      });
      await viewer.start();
    }
  } catch (e) {
    // Never leave a half-started gateway behind.
    await closeAll(0).catch(() => undefined);
    throw e instanceof SgError ? e : new SgError('SG_ERR_LISTEN', `could not start: ${(e as Error).message}`, { cause: e });
  }

  backups?.start();
  retention?.start();
  recorder.emit({ type: 'activity', initiator: 'system', action: 'start', description: 'gateway started', details: { listeners: frontends.map((f) => `${f.protocol}:${f.name}`) } });

  let closing: Promise<void> | undefined;
  return {
    config,
    logger,
    recorder,
    registry,
    access,
    users,
    metrics,
    frontends,
    viewer,
    urls() {
      const http: Record<string, string> = {};
      const ssh: Record<string, string> = {};
      const ftp: Record<string, string> = {};
      for (const f of frontends) {
        const a = f.addresses()[0];
        const host = a && (a.host.includes(':') ? `[${a.host}]` : a.host);
        if (a && f.protocol === 'ssh') ssh[f.name] = `ssh://${host}:${a.port}`;
        else if (a && f.protocol === 'ftp') ftp[f.name] = `ftp://${host}:${a.port}`;
        else if (a) http[f.name] = `${a.tls ? 'https' : 'http'}://${host}:${a.port}`;
      }
      const va = viewer?.address();
      return { http, ssh, ftp, viewer: va ? `${va.tls ? 'https' : 'http'}://${va.host.includes(':') ? `[${va.host}]` : va.host}:${va.port}` : undefined };
    },
    close(graceMs = 5000) {
      closing ??= (async () => {
        recorder.emit({ type: 'activity', initiator: 'system', action: 'stop', description: 'gateway stopping' });
        await closeAll(graceMs);
      })();
      return closing;
    },
  };
}
