import { HealthServer, type HealthRoutes } from '../../adapters/metrics/health-server.js';
import { AlertMonitor } from '../alerts.js';
import type { Config } from '../config/codec.js';
import { selectRuns } from '../history.js';
import type { Logger } from '../logger.js';
import { alertNotifier, lostBy, startFromConfig, type Started } from '../run.js';
import { bindOrExplain } from '../start-error.js';

/**
 * How `run` ends, for supervisors and scripts: 0 stopped with nothing lost (what was released stays in a
 * durable source); 1 could not start, or the pipeline failed; 3 stopped, but updates from a source that
 * cannot take them back were lost; 130 a second signal cut the stop short.
 */
export const ExitCode = { ok: 0, failed: 1, lost: 3, interrupted: 130 } as const;

/** The routes of the observability server, answering "starting" until the pipeline is up. */
const routesOf = (started: () => Started | undefined): HealthRoutes => ({
  metrics: async () => {
    const running = started();
    if (!running) return { contentType: 'text/plain; version=0.0.4', body: '' };
    return { contentType: running.metrics.registry.contentType, body: await running.metrics.registry.metrics() };
  },
  readiness: () => started()?.readiness() ?? { pipeline: { ok: false, detail: 'starting' } },
  runs: async (query) => {
    const running = started();
    if (!running) return [];
    const limit = Number(query.get('limit') ?? 100);
    return selectRuns(await running.wiring.core.history.list(), { failed: query.get('failed') === '1', limit });
  },
});

/**
 * `qualtrics-automations run`: binds the observability server first (a taken port stops the start
 * before any input is taken), starts the pipeline, and runs until SIGINT or SIGTERM, or until its
 * source fails (then it closes everything and rejects with what failed).
 *
 * On a signal it stops taking input and ends every wait at once: what waited is released to its
 * source. Requests already sent get up to `shutdownGraceMs` to be answered. Resolves with the exit
 * code (see `ExitCode`); a second signal exits at once.
 */
export const runUntilSignalled = async (config: Config, logger: Logger, baseDir = process.cwd()): Promise<number> => {
  let started: Started | undefined;
  const health = await bindOrExplain('observability.port', config.observability, () =>
    HealthServer.start(
      config.observability,
      routesOf(() => started),
    ),
  );
  try {
    started = await startFromConfig(config, logger, baseDir);
  } catch (error) {
    await health.close();
    throw error;
  }
  const running = started;
  const origin = new URL(config.destination.url).origin;
  logger.info({ name: config.name, destination: origin, observability: health.url }, 'pipeline started');
  const notify = alertNotifier(config, logger);
  const alerts = new AlertMonitor(
    config.alerts,
    config.name,
    running.pipeline.ledger,
    running.wiring.valve,
    notify,
  ).start();

  let graceTimer: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    const { inFlight } = running.pipeline.ledger;
    logger.info(
      { signal, inFlight, graceMs: config.shutdownGraceMs },
      'stopping: no new input; waits end; requests sent may finish',
    );
    process.once(signal, () => {
      logger.warn({ signal, inFlight: running.pipeline.ledger.inFlight }, 'second signal: exiting now');
      process.exit(ExitCode.interrupted);
    });
    graceTimer = setTimeout(() => {
      const counts = running.pipeline.ledger.counts();
      if (running.wiring.durable) {
        logger.warn(
          { counts },
          `grace period over: ${counts.inFlight} update(s) still on the wire, left pending in the stream`,
        );
        process.exit(ExitCode.ok);
      }
      const lost = counts.inFlight + counts.released;
      logger.error(
        { counts, lost },
        `grace period over: ${lost} update(s) lost (a plain WebSocket cannot take them back)`,
      );
      process.exit(ExitCode.lost);
    }, config.shutdownGraceMs);
    graceTimer.unref();
    void running.stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let failure: unknown;
  await running.pipeline.done.catch((error: unknown) => (failure = error));
  // The same stop() a signal started (it runs once), or a first one if the source ended by itself.
  const stopped = await running.stop();
  alerts.stop();
  await health.close();
  clearTimeout(graceTimer);
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  if (failure !== undefined) throw failure;

  // One message whatever happened, for whoever parses the log; what it came to is in the fields.
  const { counts } = stopped;
  const lost = lostBy(stopped);
  if (lost > 0) {
    const detail = `${lost} update(s) lost (a plain WebSocket cannot take them back)`;
    logger.error({ counts, lost, detail }, 'pipeline stopped');
    return ExitCode.lost;
  }
  const left = counts.released;
  const detail = left > 0 ? `${left} update(s) left pending in the stream for the next start` : 'every update settled';
  logger.info({ counts, detail }, 'pipeline stopped');
  return ExitCode.ok;
};
