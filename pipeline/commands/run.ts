import { HealthServer, type HealthRoutes } from '../../adapters/metrics/health-server.js';
import { AlertMonitor } from '../alerts.js';
import { JournalFillMonitor } from '../journal-fill.js';
import type { Config } from '../config/codec.js';
import { selectRuns } from '../history.js';
import type { Logger } from '../logger.js';
import { type LedgerCounts, totalCounts } from '../../operators/model/ledger.js';
import { alertNotifier, lostBy, startFromConfig, type Started } from '../run.js';
import { bindOrExplain } from '../start-error.js';
import { AccessGate } from '../console/access-gate.js';
import { type ConsoleWatch, watchForConsole } from '../console/console-model.js';
import { consoleRoutes } from '../console/console-routes.js';

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
    // One flow with `?flow=`, else every flow's runs, newest first, each naming its flow.
    const wanted = query.get('flow');
    const flows = running.flows.filter(({ flow }) => wanted === null || flow.name === wanted);
    const lists = await Promise.all(
      flows.map(async ({ flow, wiring }) =>
        (await wiring.core.history.list()).map((entry) => ({ ...entry, flow: flow.name })),
      ),
    );
    const merged = lists.flat().sort((a, b) => b.at.localeCompare(a.at));
    return selectRuns(merged, { failed: query.get('failed') === '1', limit });
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
  let watch: ConsoleWatch | undefined;
  const gate = await AccessGate.open(config.access);
  const health = await bindOrExplain('observability.port', config.observability, () =>
    HealthServer.start(config.observability, {
      ...routesOf(() => started),
      handle: consoleRoutes(gate, () => watch?.model),
    }),
  );
  try {
    started = await startFromConfig(config, logger, baseDir);
  } catch (error) {
    await health.close();
    throw error;
  }
  const running = started;
  watch = watchForConsole(config, running, logger);
  const consoleWatch = watch;
  const destinations = Object.fromEntries(
    running.flows.map(({ flow }) => [flow.name, new URL(flow.destination.url).origin]),
  );
  const destination = config.singleFlowForm ? Object.values(destinations)[0] : destinations;
  logger.info(
    // The config's name is the logger's own `name` already.
    { destination, observability: health.url, console: `${health.url}/`, access: !gate.isOpen },
    'pipeline started',
  );
  const alerts = running.flows.map(({ flow, pipeline, wiring }) => {
    const flowLogger = config.singleFlowForm ? logger : logger.child({ flow: flow.name });
    // One flow: its alerts carry the config's name, as before flows; with several, the flow's.
    const name = config.singleFlowForm ? config.name : flow.name;
    const monitor = new AlertMonitor(
      flow.alerts,
      name,
      pipeline.ledger,
      wiring.core.valve,
      consoleWatch.notifierOf(flow.name, alertNotifier(flow, flowLogger)),
    ).start();
    const shown = consoleWatch.model.flows.find((candidate) => candidate.flow === flow);
    if (shown) shown.alerts = monitor;
    return monitor;
  });
  // With a bounded journal, a person hears it is filling before the intake has to refuse anything.
  const { redis } = running.wiring.shared;
  const { journal } = config;
  const journalFill =
    redis && journal?.maxLength !== undefined
      ? new JournalFillMonitor({
          length: () => redis.xlen(journal.stream),
          maxLength: journal.maxLength,
          pipeline: config.name,
          notify: alertNotifier(running.flows[0]!.flow, logger),
        }).start()
      : undefined;
  const counts = (): LedgerCounts => totalCounts(running.flows.map(({ pipeline }) => pipeline.ledger.counts()));

  /**
   * Exits with `code` once the history gathered so far is written and the stores are closed, or after a
   * few seconds at most. Exiting while the embedded store (LMDB) is writing can leave the process hanging
   * for good, its main thread waiting on a worker that waits on it (lmdb-js issue #336): closing the
   * store first lets its writes finish.
   */
  const exitWhenClosed = (code: number): void => {
    const closed = running
      .flushHistory()
      .catch(() => {})
      .then(() => running.wiring.close())
      .catch(() => {});
    const atMost = new Promise((resolve) => setTimeout(resolve, 3_000));
    void Promise.race([closed, atMost]).then(() => process.exit(code));
  };

  let graceTimer: NodeJS.Timeout | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    const { inFlight } = counts();
    logger.info(
      { signal, inFlight, graceMs: config.shutdownGraceMs },
      'stopping: no new input; waits end; requests sent may finish',
    );
    process.once(signal, () => {
      logger.warn({ signal, inFlight: counts().inFlight }, 'second signal: exiting now');
      exitWhenClosed(ExitCode.interrupted);
    });
    graceTimer = setTimeout(() => {
      const now = counts();
      if (running.flows.every(({ wiring }) => wiring.durable)) {
        logger.warn(
          { counts: now },
          `grace period over: ${now.inFlight} update(s) still on the wire, left pending in the stream`,
        );
        exitWhenClosed(ExitCode.ok);
        return;
      }
      const lost = Math.max(
        0,
        ...running.flows.map(({ pipeline }) => pipeline.ledger.inFlight + pipeline.ledger.counts().released),
      );
      logger.error(
        { counts: now, lost },
        `grace period over: ${lost} update(s) lost (a plain WebSocket cannot take them back)`,
      );
      exitWhenClosed(ExitCode.lost);
    }, config.shutdownGraceMs);
    graceTimer.unref();
    void running.stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let failure: unknown;
  await running.done.catch((error: unknown) => {
    failure = error;
  });
  // The same stop() a signal started (it runs once), or a first one if the source ended by itself.
  const stopped = await running.stop();
  for (const monitor of alerts) monitor.stop();
  consoleWatch.stop();
  journalFill?.stop();
  await health.close();
  clearTimeout(graceTimer);
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  if (failure !== undefined) throw failure;

  // One message whatever happened, for whoever parses the log; what it came to is in the fields.
  const total = totalCounts(stopped.flows.map(({ counts: c }) => c));
  const fields = config.singleFlowForm
    ? { counts: total }
    : { counts: total, flows: Object.fromEntries(stopped.flows.map(({ flow, counts: c }) => [flow, c])) };
  const lost = lostBy(stopped);
  if (lost > 0) {
    const detail = `${lost} update(s) lost (a plain WebSocket cannot take them back)`;
    logger.error({ ...fields, lost, detail }, 'pipeline stopped');
    return ExitCode.lost;
  }
  const left = total.released;
  const detail = left > 0 ? `${left} update(s) left pending in the stream for the next start` : 'every update settled';
  logger.info({ ...fields, detail }, 'pipeline stopped');
  return ExitCode.ok;
};
