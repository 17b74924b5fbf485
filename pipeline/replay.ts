import { map, merge, type Observable } from 'rxjs';
import type { InboundMessage } from '../adapters/inbound-message.js';
import { nextId, idTime } from '../adapters/redis/stream-entries.js';
import { redisStreamRangeSource, streamRange } from '../adapters/redis/stream-range-source.js';
import { Ledger, type LedgerCounts, totalCounts } from '../operators/model/ledger.js';
import type { ChainLink } from './chain.js';
import type { Config, FlowConfig } from './config/codec.js';
import type { Logger } from './logger.js';
import { startPipeline } from './runner.js';
import { type FlowCore, wireFlowCore, wireShared } from './wire.js';
import { fanOut } from './intake/fan-out.js';
import { recordHistory } from './history-writer.js';
import { messageOf } from '../operators/model/errors.js';
import { copyWith } from '../operators/model/copy-with.js';

const STREAM_ID = /^\d+(-\d+)?$/;

/**
 * A replay bound: a stream id (`1732860000000-0`, or just milliseconds), an ISO time, or nothing
 * (`-` for the start, `+` for the end). A time becomes the first (`from`) or last (`to`) id of its ms.
 */
export const parseBound = (value: string | undefined, side: 'from' | 'to'): string => {
  if (value === undefined || value === '') return side === 'from' ? '-' : '+';
  if (STREAM_ID.test(value)) return value;
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new Error(
      `--${side}: expected a stream id (like 1732860000000-0) or an ISO time, got ${JSON.stringify(value)}`,
    );
  // An id of only milliseconds means the first entry of that ms as a start and the last as an end.
  return String(ms);
};

export interface ReplayRequest {
  readonly stream: string;
  readonly from: string;
  readonly to: string;
  /** The entry field holding the update's JSON. */
  readonly field: string;
}

/** Where a replay stands: what it read and what became of it, and where to resume. */
export interface ReplayProgress {
  readonly counts: LedgerCounts;
  readonly read: number;
  /** Entries in the range, when known (a whole stream: its length). */
  readonly total: number | undefined;
  /** 0..1 through the range, by entry time when the total is not known. */
  readonly fraction: number;
  /** Entries settled per second, over the run so far. */
  readonly rate: number;
  /** Seconds left at that rate, if it can be told. */
  readonly etaSeconds: number | undefined;
  readonly lastId: string | undefined;
  /** The id to pass as `--from` to go on from here: every entry before it is settled. */
  readonly resumeFrom: string | undefined;
}

/**
 * The ids read, in order, and which are settled: the resume point is the first unsettled one (or the
 * one after the last read, when all are settled).
 */
class ResumeTracker {
  readonly #ids: string[] = [];
  readonly #settled = new Set<string>();
  #head = 0;

  read(id: string): void {
    this.#ids.push(id);
  }

  /** Entries every flow has settled. */
  done = 0;

  settled(id: string): void {
    this.done += 1;
    this.#settled.add(id);
    while (this.#head < this.#ids.length && this.#settled.has(this.#ids[this.#head]!)) {
      this.#settled.delete(this.#ids[this.#head]!);
      this.#head += 1;
    }
  }

  get count(): number {
    return this.#ids.length;
  }

  get last(): string | undefined {
    return this.#ids[this.#ids.length - 1];
  }

  resumeFrom(): string | undefined {
    if (this.#head < this.#ids.length) return this.#ids[this.#head];
    const last = this.last;
    return last === undefined ? undefined : nextId(last);
  }
}

export interface RunningReplay {
  progress(): ReplayProgress;
  /** Stops reading; what was read settles. Resolves with the final progress. */
  stop(): Promise<ReplayProgress>;
  readonly done: Promise<ReplayProgress>;
}

/** A flow to replay through: its config and the chain it runs. */
export interface ReplayFlow {
  readonly flow: FlowConfig;
  readonly chain: readonly ChainLink[];
}

/**
 * Backfill: reads a range of a stream (read-only, no consumer group) once, through the operators of
 * every flow given, as `run` would. Dedupe keeps already-delivered payloads from going out again, and the
 * stale-update rule keeps an old state from overwriting a newer one delivered since. An entry counts as
 * settled once every flow has settled it; each flow's credit paces the reading.
 */
export const startReplay = async (
  config: Config,
  flows: readonly ReplayFlow[],
  request: ReplayRequest,
  logger: Logger,
): Promise<RunningReplay> => {
  const { redis: redisConfig } = config;
  if (!redisConfig) throw new Error('replay reads a Redis stream: set redis.url in the config');
  const shared = wireShared(config, logger);
  const ledgers = flows.map(() => new Ledger());
  const cores: FlowCore[] = [];
  try {
    // A flow that breaks a data-usage policy is refused here, as `run` refuses it.
    for (const [index, { flow }] of flows.entries()) cores.push(wireFlowCore(config, flow, shared, ledgers[index]!));
  } catch (error) {
    await Promise.all(cores.map((core) => core.close()));
    await shared.close();
    throw error;
  }
  const redis = shared.redis!;
  const { stream, from, to, field } = request;
  if ((await redis.exists(stream)) === 0) {
    await Promise.all(cores.map((core) => core.close()));
    await shared.close();
    throw new Error(`--stream: there is no stream ${JSON.stringify(stream)} in ${redisConfig.url}`);
  }
  const { first, last, total } = await streamRange(redis, stream, from, to);
  const tracker = new ResumeTracker();
  const startedAt = Date.now();

  // Read as fast as the flow with the least room allows.
  const credit = {
    capacity: () => Math.min(...cores.map((core) => core.credit.capacity())),
    capacity$: merge(...cores.map((core) => core.credit.capacity$)),
  };
  const source: Observable<InboundMessage> = redisStreamRangeSource({ redis, stream, field, from, to, ...credit }).pipe(
    map((message) => {
      const id = message.position!;
      tracker.read(id);
      return copyWith(message, { ack: () => tracker.settled(id) });
    }),
  );
  const outlets = fanOut(source, flows.length);
  // Replayed outcomes are part of each flow's history, as `run`'s are.
  const recorders = cores.map((core, index) =>
    recordHistory(
      ledgers[index]!.settlements$,
      core.history,
      (error) => logger.warn({ error: messageOf(error) }, 'recording the run history failed'),
      // Rows name their person by keyed hash, as run's do: `forget` finds them.
      { nameOf: (key) => core.identityHasher.hash(key) },
    ),
  );
  const pipelines = flows.map(({ chain }, index) =>
    startPipeline({
      ledger: ledgers[index]!,
      sourceName: `replay:${stream}`,
      source: outlets[index]!,
      chain,
      context: cores[index]!.context,
    }),
  );

  const progress = (): ReplayProgress => {
    const counts = totalCounts(ledgers.map((ledger) => ledger.counts()));
    const elapsed = Math.max(0.001, (Date.now() - startedAt) / 1000);
    const rate = tracker.done / elapsed;
    const span = first && last ? idTime(last) - idTime(first) : 0;
    const byTime =
      first && tracker.last && span > 0 ? (idTime(tracker.last) - idTime(first)) / span : tracker.count > 0 ? 1 : 0;
    const fraction = total !== undefined ? (total === 0 ? 1 : tracker.done / total) : Math.min(1, byTime);
    const remaining =
      total !== undefined
        ? total - tracker.done
        : fraction > 0
          ? (tracker.done / fraction) * (1 - fraction)
          : undefined;
    return {
      counts,
      read: tracker.count,
      total,
      fraction,
      rate,
      etaSeconds: remaining !== undefined && rate > 0 ? remaining / rate : undefined,
      lastId: tracker.last,
      resumeFrom: tracker.resumeFrom(),
    };
  };

  const done = Promise.all(pipelines.map((pipeline) => pipeline.done)).then(async () => {
    await Promise.all(recorders.map((recorder) => recorder.settled()));
    await Promise.all(cores.map((core) => core.close()));
    await shared.close();
    return progress();
  });
  return {
    progress,
    done,
    stop: async () => {
      await Promise.all(pipelines.map((pipeline) => pipeline.stop()));
      return done;
    },
  };
};
