import type { FlowConfig } from '../config/codec.js';
import { rateGroupOf } from '../config/codec.js';
import {
  type ConsoleFlow,
  type ConsoleModel,
  type FlowState,
  pendingOf,
  sharesPlainFeed,
  stateOf,
} from './console-flows.js';
import { emptyTally, type MinuteTally } from './minute-counts.js';

/** One flow's line on the overview. */
export interface FlowSummary {
  readonly name: string;
  readonly running: ConsoleFlow | undefined;
  readonly state: FlowState;
  readonly host: string;
  readonly lastHour: MinuteTally;
  readonly lastDay: MinuteTally;
  readonly inFlight: number;
  readonly alerts: readonly string[];
  /** Requests of its whole rate-limit group in the last 60 seconds, against the group's quota per minute. */
  readonly rate: { readonly used: number; readonly perMinute: number; readonly group: string };
  /** The other running flows when they all read one plain WebSocket feed (no journal): a pause holds them too. */
  readonly feedSharedWith: readonly string[];
}

export const summaryOf = (model: ConsoleModel, flow: FlowConfig): FlowSummary => {
  const running = model.flows.find((candidate) => candidate.flow === flow);
  const { requests, perSeconds } = flow.destination.rateLimit;
  return {
    name: flow.name,
    running,
    state: stateOf(running, model),
    host: new URL(flow.destination.url).host,
    lastHour: running?.minutes.total(60) ?? emptyTally(),
    lastDay: running?.minutes.total(24 * 60) ?? emptyTally(),
    inFlight: running?.ledger.inFlight ?? 0,
    alerts: running?.alerts?.firing ?? [],
    rate: {
      // The whole group's quota is shared: every flow of the group counts, over the last 60 seconds.
      used: model.flows
        .filter((other) => rateGroupOf(other.flow.destination) === rateGroupOf(flow.destination))
        .reduce((sum, other) => sum + other.minutes.requestsInLastMinute(), 0),
      perMinute: Math.round((requests * 60) / perSeconds),
      group: rateGroupOf(flow.destination),
    },
    feedSharedWith: sharesPlainFeed(model)
      ? model.flows.filter((other) => other !== running).map((other) => other.flow.name)
      : [],
  };
};

/** The flow's chart: per minute, activated / excluded / failed, with times in seconds (what uPlot plots). */
export const seriesOf = (running: ConsoleFlow, minutes: number) => {
  const { start, tallies } = running.minutes.series(minutes);
  return {
    time: tallies.map((_, i) => (start + i * 60_000) / 1000),
    activated: tallies.map((t) => t.delivered),
    excluded: tallies.map((t) => t.excluded),
    failed: tallies.map((t) => t.failed),
  };
};

/** Requests by how long the destination took to answer, per histogram bucket (not cumulative). */
export const latencyOf = async (
  model: ConsoleModel,
  flow: string,
): Promise<Array<{ readonly upTo: string; readonly count: number }>> => {
  const { values } = await model.metrics.latency.get();
  // prom-client types a histogram's labels without `le`, which its bucket samples carry.
  const buckets = values
    .map(({ labels, value, metricName }) => ({ labels: labels as Record<string, string | number>, value, metricName }))
    .filter(({ labels, metricName }) => labels.flow === flow && metricName?.endsWith('_bucket') && 'le' in labels);
  let below = 0;
  return buckets.map(({ labels, value }) => {
    const count = value - below;
    below = value;
    return { upTo: labels.le === '+Inf' ? 'longer' : `≤ ${Number(labels.le) * 1000} ms`, count };
  });
};

/** The backlog: updates held by the pipeline, and those waiting in its consumer group (if it reads one). */
export const backlogOf = async (model: ConsoleModel, running: ConsoleFlow) => ({
  inFlight: running.ledger.inFlight,
  pending: await pendingOf(model, running.flow),
  deadLetters: await running.core.deadLetters.size(),
});
