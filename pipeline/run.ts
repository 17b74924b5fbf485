import { messageOf } from '../operators/model/errors.js';
import type { Check } from '../adapters/metrics/health-server.js';
import { Ledger, type LedgerCounts } from '../operators/model/ledger.js';
import type { Config } from './config/codec.js';
import { loadChain } from './chain.js';
import { CREDIT } from './credit.js';
import type { Logger } from './logger.js';
import { maskIdentity } from './mask.js';
import { runEntryOf } from './history.js';
import type { AlertEvent } from './alerts.js';
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
  /**
   * Stops taking input, ends every wait (what waited is released to its source), lets requests already
   * sent finish, closes the adapters. Runs once; later calls share it.
   */
  stop(): Promise<Stopped>;
}

/** How a pipeline stopped: its final counts, and what of them its source cannot give back. */
export interface Stopped {
  readonly counts: LedgerCounts;
  /** Messages received and lost while closing the intake (from a plain feed, not yet journaled). */
  readonly lostInClosing: number;
  /** Released updates stay in a durable source for the next start; from any other they are lost. */
  readonly durable: boolean;
}

/** How many received updates a stop lost: released ones from a source that cannot give them back. */
export const lostBy = ({ counts, lostInClosing, durable }: Stopped): number =>
  lostInClosing + (durable ? 0 : counts.released + counts.inFlight);

/** Wires a config's adapters, starts its pipeline and logs every failure (and, at debug, every outcome). */
export const startFromConfig = async (config: Config, logger: Logger, baseDir = process.cwd()): Promise<Started> => {
  const chain = await loadChain(config, baseDir);
  const ledger = new Ledger();
  const metrics = new PipelineMetrics();
  const wiring = await wire(config, logger, ledger, metrics);
  const deadLetters = wiring.core.deadLetters;
  metrics.watchDeadLetters(() => deadLetters.size());
  metrics.watch(ledger, wiring.valve, wiring.intakePauses.changes$);
  const pipeline = startPipeline({
    ledger,
    sourceName: wiring.sourceName,
    source: wiring.source,
    chain,
    context: wiring.context,
  });
  pipeline.ledger.settlements$.subscribe(({ outcome, origin, identity }) => {
    const fields = { ...outcome, position: origin.position, identity: maskIdentity(identity) };
    if (outcome.kind === 'failed') logger.warn(fields, 'not delivered');
    else logger.debug(fields, outcome.kind);
  });
  const { history } = wiring.core;
  let stopping: Promise<Stopped> | undefined;
  // Writes still under way when stopping are waited for, so the last outcomes reach the history.
  const historyWrites = new Set<Promise<void>>();
  pipeline.ledger.settlements$.subscribe((settlement) => {
    const write = Promise.resolve(history.add(runEntryOf(settlement))).catch((error: unknown) =>
      logger.warn({ error: messageOf(error) }, 'recording the run history failed'),
    );
    historyWrites.add(write);
    void write.finally(() => historyWrites.delete(write));
  });
  pipeline.ledger.hookErrors$.subscribe((error) =>
    logger.error({ error: messageOf(error) }, "fault outside any one update's outcome"),
  );
  wiring.valve.changes$.subscribe((change) => {
    // Backpressure is the pipeline working as meant; a rejected destination needs a person.
    const level = change.reason === CREDIT ? 'debug' : 'error';
    if (change.kind === 'closed')
      logger[level]({ reason: change.reason, fix: change.message }, `intake paused: ${change.message}`);
    else logger[level === 'error' ? 'info' : 'debug']({ reason: change.reason }, 'intake resumed');
  });
  return {
    pipeline,
    wiring,
    metrics,
    readiness: () => {
      const { redis } = wiring.core;
      // The pipeline's own pauses and the WebSocket intake's in front of a journal: either stops input.
      const reasons = [...wiring.valve.reasons.entries(), ...wiring.intakePauses.reasons.entries()];
      const paused = reasons.map(([reason, message]) => `${reason}: ${message}`);
      return {
        source: { ok: wiring.sourceHealth.connected, detail: wiring.sourceHealth.why },
        ...(redis ? { redis: { ok: redis.status === 'ready', detail: `connection ${redis.status}` } } : {}),
        intake: {
          ok: paused.length === 0,
          detail: paused.length === 0 ? 'taking input' : `paused (${paused.join('; ')})`,
        },
      };
    },
    stop: () =>
      (stopping ??= (async () => {
        const lostInClosing = await wiring.closeIntake();
        const stopped = pipeline.stop();
        // Every wait ends now; only requests already sent take their time (the grace period).
        wiring.core.stop();
        // A source that failed has torn the chain down already: count what there is.
        const counts = await stopped.catch(() => ledger.counts());
        await Promise.all(historyWrites);
        await wiring.close();
        metrics.stop();
        return { counts, lostInClosing, durable: wiring.durable };
      })()),
  };
};

/** Announces an alert in the log and, with `alerts.webhook`, as a JSON POST (failures are logged, not fatal). */
export const alertNotifier =
  (config: Config, logger: Logger) =>
  (event: AlertEvent): void => {
    if (event.state === 'firing')
      logger.error({ alert: event.alert, state: event.state }, `alert: ${event.alert}: ${event.summary}`);
    else logger.info({ alert: event.alert, state: event.state }, `alert resolved: ${event.alert}: ${event.summary}`);
    const { webhook } = config.alerts;
    if (!webhook) return;
    got
      .post(webhook, { json: event, timeout: { request: 5000 }, retry: { limit: 2, methods: ['POST'] } })
      .catch((error: unknown) =>
        logger.warn({ alert: event.alert, error: messageOf(error) }, 'could not post the alert to alerts.webhook'),
      );
  };
