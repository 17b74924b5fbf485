import { HealthServer, type Check } from '../adapters/metrics/health-server.js';
import { Ledger, type LedgerCounts } from '../operators/model/ledger.js';
import type { Config } from './config/codec.js';
import { operatorsFor } from './compose.js';
import { CREDIT } from './credit.js';
import type { Logger } from './logger.js';
import { maskIdentity } from './mask.js';
import { runEntryOf, selectRuns } from './history.js';
import { AlertMonitor, type AlertEvent } from './alerts.js';
import { loadPlugins } from './plugins.js';
import got from 'got';
import { PipelineMetrics } from './metrics.js';
import { startPipeline, type RunningPipeline } from './runner.js';
import { wire, type Wiring } from './wire.js';

export interface Started {
  readonly pipeline: RunningPipeline;
  readonly wiring: Wiring;
  readonly metrics: PipelineMetrics;
  /** The checks behind `/readyz`: source connected, Redis connected, intake not paused. */
  readiness(): Record<string, Check>;
  /** Stops taking input, lets everything in flight settle, closes the adapters. Runs once; later calls share it. */
  stop(): Promise<LedgerCounts>;
}

/** Wires a config's adapters, starts its pipeline and logs every failure (and, at debug, every outcome). */
export const startFromConfig = async (config: Config, logger: Logger, baseDir = process.cwd()): Promise<Started> => {
  const plugins = await loadPlugins(config.operators, baseDir);
  const ledger = new Ledger();
  const metrics = new PipelineMetrics();
  const wiring = await wire(config, logger, ledger, metrics);
  const deadLetters = wiring.core.deadLetters;
  metrics.watchDeadLetters(() => deadLetters.size());
  metrics.watch(ledger, wiring.valve, wiring.journalChanges$);
  const pipeline = startPipeline({ ledger, sourceName: wiring.sourceName, source: wiring.source, operators: operatorsFor(config, wiring.context, plugins) });
  pipeline.ledger.settlements$.subscribe(({ outcome, origin, identity }) => {
    const fields = { ...outcome, position: origin.position, identity: maskIdentity(identity) };
    if (outcome.kind === 'failed') logger.warn(fields, 'not delivered');
    else logger.debug(fields, outcome.kind);
  });
  const { history } = wiring.core;
  let stopping: Promise<LedgerCounts> | undefined;
  // Writes still under way when stopping are waited for, so the last outcomes reach the history.
  const historyWrites = new Set<Promise<void>>();
  pipeline.ledger.settlements$.subscribe((settlement) => {
    const write = Promise.resolve(history.add(runEntryOf(settlement))).catch((error: unknown) =>
      logger.warn({ error: (error as Error).message }, 'recording the run history failed'),
    );
    historyWrites.add(write);
    void write.finally(() => historyWrites.delete(write));
  });
  pipeline.ledger.hookErrors$.subscribe((error) => logger.error({ error: (error as Error).message }, 'settling an envelope failed'));
  wiring.valve.changes$.subscribe((change) => {
    // Backpressure is the pipeline working as meant; a rejected destination needs a person.
    const level = change.reason === CREDIT ? 'debug' : 'error';
    if (change.kind === 'closed') logger[level]({ reason: change.reason, fix: change.message }, `intake paused: ${change.message}`);
    else logger[level === 'error' ? 'info' : 'debug']({ reason: change.reason }, 'intake resumed');
  });
  return {
    pipeline,
    wiring,
    metrics,
    readiness: () => {
      const { redis } = wiring.core;
      const paused = [...wiring.valve.reasons.entries()].map(([reason, message]) => `${reason}: ${message}`);
      return {
        source: { ok: wiring.sourceHealth.connected, detail: wiring.sourceHealth.why },
        ...(redis ? { redis: { ok: redis.status === 'ready', detail: `connection ${redis.status}` } } : {}),
        intake: { ok: paused.length === 0, detail: paused.length === 0 ? 'taking input' : `paused (${paused.join('; ')})` },
      };
    },
    stop: () =>
      (stopping ??= (async () => {
        await wiring.closeIntake();
        const counts = await pipeline.stop();
        await Promise.all(historyWrites);
        await wiring.close();
        metrics.stop();
        return counts;
      })()),
  };
};

/** Announces an alert in the log and, with `alerts.webhook`, as a JSON POST (failures are logged, not fatal). */
export const alertNotifier =
  (config: Config, logger: Logger) =>
  (event: AlertEvent): void => {
    if (event.state === 'firing') logger.error({ alert: event.alert, state: event.state }, `alert: ${event.alert}: ${event.summary}`);
    else logger.info({ alert: event.alert, state: event.state }, `alert resolved: ${event.alert}: ${event.summary}`);
    const { webhook } = config.alerts;
    if (!webhook) return;
    got
      .post(webhook, { json: event, timeout: { request: 5000 }, retry: { limit: 2, methods: ['POST'] } })
      .catch((error: unknown) => logger.warn({ alert: event.alert, error: (error as Error).message }, 'could not post the alert to alerts.webhook'));
  };

/**
 * `qualtrics-automations run`: serves /metrics, /healthz and /readyz, and runs until SIGINT or SIGTERM.
 * Then it stops taking input and lets what is in flight settle for up to `shutdownGraceMs`: settled
 * updates are acknowledged; what is still in flight after that stays pending in its stream for the
 * next start (from a plain WebSocket it is lost, and logged as such). A second signal exits at once.
 */
export const runUntilSignalled = async (config: Config, logger: Logger, baseDir = process.cwd()): Promise<LedgerCounts> => {
  const started = await startFromConfig(config, logger, baseDir);
  const health = await HealthServer.start(config.observability, {
    metrics: async () => ({ contentType: started.metrics.registry.contentType, body: await started.metrics.registry.metrics() }),
    readiness: () => started.readiness(),
    runs: async (query) =>
      selectRuns(await started.wiring.core.history.list(), { failed: query.get('failed') === '1', limit: Number(query.get('limit') ?? 100) }),
  });
  logger.info({ name: config.name, destination: new URL(config.destination.url).origin, observability: health.url }, 'pipeline started');
  const alerts = new AlertMonitor(config.alerts, config.name, started.pipeline.ledger, started.wiring.valve, alertNotifier(config, logger)).start();
  let graceTimer: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    const { inFlight } = started.pipeline.ledger;
    logger.info({ signal, inFlight, graceMs: config.shutdownGraceMs }, 'stopping: no new input; letting in-flight updates settle');
    process.once(signal, () => {
      logger.warn({ signal, inFlight: started.pipeline.ledger.inFlight }, 'second signal: exiting now');
      process.exit(130);
    });
    graceTimer = setTimeout(() => {
      const left = started.pipeline.ledger.inFlight;
      const where = started.wiring.sourceName.startsWith('websocket') ? 'lost (a plain WebSocket cannot take them back)' : 'left pending in the stream for the next start';
      logger.warn({ inFlight: left, graceMs: config.shutdownGraceMs }, `grace period over: ${left} update(s) not settled, ${where}`);
      process.exit(0);
    }, config.shutdownGraceMs);
    graceTimer.unref();
    void started.stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  await started.pipeline.done;
  // The same stop() the signal started (it is run once), or, if the source ended by itself, a first one.
  const counts = await started.stop();
  alerts.stop();
  await health.close();
  clearTimeout(graceTimer);
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  logger.info({ counts }, 'pipeline stopped');
  return counts;
};
