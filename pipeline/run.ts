import type { Config } from './config/codec.js';
import { operatorsFor } from './compose.js';
import type { Logger } from './logger.js';
import { maskIdentity } from './mask.js';
import { startPipeline, type RunningPipeline } from './runner.js';
import { wire, type Wiring } from './wire.js';
import { Ledger, type LedgerCounts } from '../operators/model/ledger.js';
import { CREDIT } from './credit.js';

export interface Started {
  readonly pipeline: RunningPipeline;
  readonly wiring: Wiring;
  /** Stops taking input, lets everything in flight settle, closes the adapters. */
  stop(): Promise<LedgerCounts>;
}

/** Wires a config's adapters, starts its pipeline and logs every failure (and, at debug, every outcome). */
export const startFromConfig = async (config: Config, logger: Logger): Promise<Started> => {
  const ledger = new Ledger();
  const wiring = await wire(config, logger, ledger);
  const pipeline = startPipeline({ ledger, sourceName: wiring.sourceName, source: wiring.source, operators: operatorsFor(config, wiring.context) });
  pipeline.ledger.settlements$.subscribe(({ outcome, origin, identity }) => {
    const fields = { ...outcome, position: origin.position, identity: maskIdentity(identity) };
    if (outcome.kind === 'failed') logger.warn(fields, 'not delivered');
    else logger.debug(fields, outcome.kind);
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
    stop: async () => {
      await wiring.closeIntake();
      const counts = await pipeline.stop();
      await wiring.close();
      return counts;
    },
  };
};

/**
 * `qualtrics-automations run`: runs until SIGINT or SIGTERM, then stops taking input, lets what is in
 * flight settle and resolves with the final counts. A second signal exits at once.
 */
export const runUntilSignalled = async (config: Config, logger: Logger): Promise<LedgerCounts> => {
  const started = await startFromConfig(config, logger);
  logger.info({ name: config.name, destination: new URL(config.destination.url).origin }, 'pipeline started');
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info({ signal, inFlight: started.pipeline.ledger.inFlight }, 'stopping: no new input; letting in-flight updates settle');
    process.once(signal, () => {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    });
    void started.stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const counts = await started.pipeline.done;
  await started.wiring.close();
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  logger.info({ counts }, 'pipeline stopped');
  return counts;
};
