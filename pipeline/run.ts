import got from 'got';
import type { Check } from '../adapters/metrics/health-server.js';
import { messageOf } from '../operators/model/errors.js';
import { Ledger, type LedgerCounts } from '../operators/model/ledger.js';
import type { AlertEvent } from './alerts.js';
import { loadChain } from './chain.js';
import type { Config, FlowConfig } from './config/codec.js';
import { CREDIT } from './credit.js';
import { recordHistory } from './history-writer.js';
import type { Logger } from './logger.js';
import { maskIdentity } from './mask.js';
import { PipelineMetrics, type FlowMetrics } from './metrics.js';
import { startPipeline, type RunningPipeline } from './runner.js';
import { enabledFlows } from './config/flow-choice.js';
import { describeRefusal, withoutRefusedFlows } from './governance/refusals.js';
import { surveyedChain, UnseenPaths } from './governance/unseen-paths.js';
import { wire, type FlowWiring, type Wiring } from './wire.js';

/** One flow of a running process: its config, its pipeline (and ledger), its wiring and its metrics. */
export interface RunningFlow {
  readonly flow: FlowConfig;
  readonly pipeline: RunningPipeline;
  readonly wiring: FlowWiring;
  readonly metrics: FlowMetrics;
}

export interface Started {
  readonly flows: readonly RunningFlow[];
  readonly wiring: Wiring;
  readonly metrics: PipelineMetrics;
  /** Resolves once every flow's pipeline is done; rejects as soon as one fails. */
  readonly done: Promise<unknown>;
  /** The checks behind `/readyz`: each flow's source and intake, Redis, the shared intake. */
  readiness(): Record<string, Check>;
  /**
   * Stops taking input, ends every wait (what waited is released to its source), lets requests already
   * sent finish, closes the adapters. Runs once; later calls share it.
   */
  stop(): Promise<Stopped>;
  /** Writes the run history gathered so far (see `HistoryWriter`), as an exit that cannot wait for `stop` must. */
  flushHistory(): Promise<void>;
}

/** How a process stopped: each flow's final counts, and what of them its source cannot give back. */
export interface Stopped {
  readonly flows: ReadonlyArray<{ readonly flow: string; readonly counts: LedgerCounts }>;
  /** Messages received and lost while closing the intake (from a plain feed, not yet journaled). */
  readonly lostInClosing: number;
  /** Released updates stay in a durable source for the next start; from any other they are lost. */
  readonly durable: boolean;
}

/**
 * How many received updates a stop lost: released ones from a source that cannot give them back. With a
 * shared feed every message is in every flow, and one not settled by all of them is not acknowledged:
 * the flow that left the most unsettled says how many messages that is.
 */
export const lostBy = ({ flows, lostInClosing, durable }: Stopped): number =>
  lostInClosing + (durable ? 0 : Math.max(0, ...flows.map(({ counts }) => counts.released + counts.inFlight)));

export interface PauseWords {
  readonly paused: string;
  readonly resumed: string;
}

/**
 * How a flow's pause is told: with a journal or a stream it stops only that flow's reading (the intake
 * goes on storing, and the updates wait there); from a plain feed it pauses the intake itself.
 */
export const pauseWordsOf = (config: Pick<Config, 'journal' | 'source'>): PauseWords => {
  const waitsIn = config.journal ? 'journal' : config.source.redisStream ? 'stream' : undefined;
  return waitsIn
    ? { paused: `flow paused (updates wait in the ${waitsIn})`, resumed: 'flow resumed' }
    : { paused: 'intake paused', resumed: 'intake resumed' };
};

/**
 * Logs a flow's failures (and, at debug, every outcome), records its history, reports its pauses.
 * Exported for the hot-path benchmark, which attaches exactly what a running process does.
 */
export const watchFlow = (
  ledger: Ledger,
  { history, valve }: Pick<FlowWiring['core'], 'history' | 'valve'>,
  logger: Logger,
  historyWrites: Array<{ settled(): Promise<void> }>,
  words: PauseWords,
  nameOf: ((identityKey: string) => Promise<string>) | undefined,
): void => {
  ledger.settlements$.subscribe(({ outcome, origin, identity }) => {
    // At info, an outcome other than a failure logs nothing: build no fields for it.
    if (outcome.kind !== 'failed' && !logger.isLevelEnabled('debug')) return;
    const fields = { ...outcome, position: origin.position, identity: maskIdentity(identity) };
    if (outcome.kind === 'failed') logger.warn(fields, 'not delivered');
    else logger.debug(fields, outcome.kind);
  });
  // Writes still under way when stopping are waited for, so the last outcomes reach the history.
  historyWrites.push(
    recordHistory(
      ledger.settlements$,
      history,
      (error) => logger.warn({ error: messageOf(error) }, 'recording the run history failed'),
      { nameOf },
    ),
  );
  ledger.hookErrors$.subscribe((error) =>
    logger.error({ error: messageOf(error) }, "fault outside any one update's outcome"),
  );
  valve.changes$.subscribe((change) => {
    // Backpressure is the pipeline working as meant; a rejected destination needs a person.
    const level = change.reason === CREDIT ? 'debug' : 'error';
    if (change.kind === 'closed')
      logger[level]({ reason: change.reason, fix: change.message }, `${words.paused}: ${change.message}`);
    else logger[level === 'error' ? 'info' : 'debug']({ reason: change.reason }, words.resumed);
  });
};

/**
 * The config with every flow that breaks a data-usage policy turned off, each refusal logged; none left is an error.
 */
const governed = (config: Config, logger: Logger): Config => {
  const { config: allowed, refused } = withoutRefusedFlows(config);
  for (const refusal of refused)
    logger.error({ flow: refusal.flow.name, problems: refusal.problems }, describeRefusal(refusal));
  if (refused.length > 0 && enabledFlows(allowed).length === 0)
    throw new Error(`no flow may start: ${refused.flatMap(({ problems }) => problems).join('; ')}`);
  return allowed;
};

/**
 * Wires a config's adapters and starts a pipeline for each enabled flow, each with its own ledger,
 * chain, stores and valve, fed by the intake they share; logs every failure (and, at debug, every
 * outcome), each log line naming its flow.
 */
export const startFromConfig = async (
  configAsWritten: Config,
  logger: Logger,
  baseDir = process.cwd(),
): Promise<Started> => {
  const config = governed(configAsWritten, logger);
  const flows = enabledFlows(config);
  const at = (flow: FlowConfig): string =>
    config.singleFlowForm ? 'operators' : `flows[${config.flows.indexOf(flow)}].operators`;
  const chains = await Promise.all(flows.map((flow) => loadChain(flow, baseDir, 'config', at(flow))));
  const metrics = new PipelineMetrics();
  const books = flows.map((flow) => ({ flow, ledger: new Ledger(), metrics: metrics.forFlow(flow.name) }));
  const wiring = await wire(config, logger, books, (status) => metrics.intakeAnswered(status));
  metrics.watchIntake(wiring.intakePauses.changes$);
  const historyWrites: Array<{ settled(): Promise<void> }> = [];
  const flushHistory = async (): Promise<void> =>
    void (await Promise.all(historyWrites.map((recorder) => recorder.settled())));
  const pauseWords = pauseWordsOf(config);
  const running = wiring.flows.map((flowWiring, index): RunningFlow => {
    const { flow, ledger, metrics: flowMetrics } = books[index]!;
    const { deadLetters } = flowWiring.core;
    flowMetrics.watchDeadLetters(() => deadLetters.size()).watch(ledger, flowWiring.core.valve);
    const flowLogger = config.singleFlowForm ? logger : logger.child({ flow: flow.name });
    const survey = new UnseenPaths(
      flow.attributes.map(({ source }) => source),
      (unseen, looked) =>
        flowLogger.warn(
          { unseen },
          `mapped source path(s) ${unseen.join(', ')} not in any of the first ${looked} updates: a typo in attributes[].source?`,
        ),
    );
    const pipeline = startPipeline({
      ledger,
      sourceName: flowWiring.sourceName,
      source: flowWiring.source,
      chain: surveyedChain(chains[index]!, survey),
      context: flowWiring.core.context,
    });
    const flowRun = { flow, pipeline, wiring: flowWiring, metrics: flowMetrics };
    const { identityHasher } = flowWiring.core;
    const nameOf = (key: string) => identityHasher.hash(key);
    watchFlow(ledger, flowWiring.core, flowLogger, historyWrites, pauseWords, nameOf);
    return flowRun;
  });
  let stopping: Promise<Stopped> | undefined;
  return {
    flows: running,
    wiring,
    metrics,
    done: Promise.all(running.map(({ pipeline }) => pipeline.done)),
    readiness: () => {
      const { redis } = wiring.shared;
      const checks: Record<string, Check> = {};
      // The WebSocket intake's own pauses in front of a journal: they stop input for every flow.
      const intakePauses = [...wiring.intakePauses.reasons.entries()].map(([r, m]) => `${r}: ${m}`);
      if (!config.singleFlowForm)
        checks.intake = {
          ok: intakePauses.length === 0,
          detail: intakePauses.length === 0 ? 'taking input' : `paused (${intakePauses.join('; ')})`,
        };
      if (redis) checks.redis = { ok: redis.status === 'ready', detail: `connection ${redis.status}` };
      const feed = wiring.feedHealth;
      if (feed) checks.feed = { ok: feed.connected, detail: feed.why };
      for (const { flow, wiring: flowWiring } of running) {
        const paused = [...flowWiring.core.valve.reasons.entries(), ...wiring.intakePauses.reasons.entries()].map(
          ([reason, message]) => `${reason}: ${message}`,
        );
        const health = flowWiring.sourceHealth;
        // One flow: the checks keep the names they had before flows (`source`, `intake`).
        const name = (check: string): string => (config.singleFlowForm ? check : `${flow.name}.${check}`);
        checks[name('source')] = { ok: health.connected, detail: health.why };
        checks[name('intake')] = {
          ok: paused.length === 0,
          detail: paused.length === 0 ? 'taking input' : `paused (${paused.join('; ')})`,
        };
      }
      return checks;
    },
    flushHistory,
    stop: () =>
      (stopping ??= (async () => {
        const lostInClosing = await wiring.closeIntake();
        const stopped = running.map(({ pipeline }) => pipeline.stop());
        // Every wait ends now; only requests already sent take their time (the grace period).
        wiring.shared.stop();
        // A source that failed has torn its chain down already: count what there is.
        const counts = await Promise.all(
          stopped.map((done, index) => done.catch(() => running[index]!.pipeline.ledger.counts())),
        );
        await flushHistory();
        await wiring.close();
        metrics.stop();
        return {
          flows: running.map(({ flow }, index) => ({ flow: flow.name, counts: counts[index]! })),
          lostInClosing,
          durable: running.every(({ wiring: flowWiring }) => flowWiring.durable),
        };
      })()),
  };
};

/** Announces a flow's alert in the log and, with `alerts.webhook`, as a JSON POST (failures are logged, not fatal). */
export const alertNotifier =
  (flow: FlowConfig, logger: Logger) =>
  (event: AlertEvent): void => {
    if (event.state === 'firing')
      logger.error({ alert: event.alert, state: event.state }, `alert: ${event.alert}: ${event.summary}`);
    else logger.info({ alert: event.alert, state: event.state }, `alert resolved: ${event.alert}: ${event.summary}`);
    const { webhook } = flow.alerts;
    if (!webhook) return;
    got
      // A redirect is not followed (an alert names flows and counts; it goes where configured, nowhere else).
      .post(webhook, {
        json: event,
        timeout: { request: 5000 },
        retry: { limit: 2, methods: ['POST'] },
        followRedirect: false,
      })
      .then(({ statusCode, headers }) => {
        if (statusCode >= 300)
          logger.warn(
            { alert: event.alert, status: statusCode, location: headers.location },
            `alerts.webhook answered ${statusCode}: the alert was not posted (redirects are not followed)`,
          );
      })
      .catch((error: unknown) =>
        logger.warn({ alert: event.alert, error: messageOf(error) }, 'could not post the alert to alerts.webhook'),
      );
  };
