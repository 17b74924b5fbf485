import { ReplaySubject, type Observable } from 'rxjs';
import type { InboundMessage } from '../adapters/inbound-message.js';
import { DeadLetterFile } from '../adapters/file/dead-letter-file.js';
import { MemoryDedupeStore } from '../adapters/memory/dedupe-store.js';
import { MemoryDeliveryLog } from '../adapters/memory/delivery-log.js';
import { MemoryRateLimiter } from '../adapters/memory/rate-limiter.js';
import { QualtricsHttpSender, type QualtricsAuth } from '../adapters/qualtrics/http-sender.js';
import { connectRedis, type Redis } from '../adapters/redis/connection.js';
import { RedisDeadLetterStream } from '../adapters/redis/dead-letter-stream.js';
import { RedisDedupeStore } from '../adapters/redis/dedupe-store.js';
import { RedisDeliveryLog } from '../adapters/redis/delivery-log.js';
import { RedisRateLimiter } from '../adapters/redis/rate-limiter.js';
import { RedisTurnBook } from '../adapters/redis/turn-book.js';
import type { OperatorContext } from '../operators/model/define.js';
import { compareStreamPositions } from '../operators/model/order.js';
import { IntakeValve } from './valve.js';
import type { Config } from './config/codec.js';
import type { Ledger } from '../operators/model/ledger.js';
import { applyCredit, capacityOf, type Capacity } from './credit.js';
import { openIntake, type SourceHealth, type Intake } from './intake.js';
import type { PipelineMetrics } from './metrics.js';
import { RunEntry, type HistoryStore } from './history.js';
import { EmbeddedDedupeStore } from '../adapters/embedded/dedupe-store.js';
import { EmbeddedDeliveryLog } from '../adapters/embedded/delivery-log.js';
import { EmbeddedHistory } from '../adapters/embedded/history.js';
import { openStateStore, type StateStore } from '../adapters/embedded/state-store.js';
import { defaultDeadLetterFile, redisPrefixOf, slug, stateDirOf } from './config/paths.js';
import { RedisHistory } from '../adapters/redis/history.js';
import { observeDeadLetters, observeRateLimiter, observeSender } from './observe.js';
import type { Logger } from './logger.js';

/** The adapters a config asks for, ready to inject. */
export interface Wiring {
  readonly sourceName: string;
  readonly source: Observable<InboundMessage>;
  readonly context: OperatorContext;
  /** Closed by the operators (and the credit) to stop the intake; the source watches it. */
  readonly valve: IntakeValve;
  readonly core: Core;
  readonly sourceHealth: SourceHealth;
  /** Whether what is in flight stays in the source when the process stops. */
  readonly durable: boolean;
  /** The WebSocket intake's own pauses in front of a journal (journal full, Redis refusing appends). */
  readonly intakePauses: IntakeValve;
  /** Stops taking input; resolves with how many received messages were lost in closing (see `Intake.close`). */
  closeIntake(): Promise<number>;
  close(): Promise<void>;
}

export const authOf = ({ destination }: Config): QualtricsAuth => {
  if (destination.auth === 'header') return { kind: 'header', apiToken: destination.apiToken.reveal() };
  // The codec refuses auth: basic without a username; this keeps the compiler and a future edit honest.
  if (destination.username === undefined) throw new Error('destination.username is required with auth: basic');
  return { kind: 'basic', username: destination.username, apiToken: destination.apiToken.reveal() };
};

export { slug };

export { redisPrefixOf };

type Stores = Pick<OperatorContext, 'dedupeStore' | 'deliveryLog' | 'rateLimiter'> & {
  readonly deadLetters: DeadLetterFile | RedisDeadLetterStream;
};

const deadLetterFileOf = (config: Config): DeadLetterFile =>
  new DeadLetterFile(config.deadLetters?.file ?? defaultDeadLetterFile(config));

/** Stores in memory only: for commands that map without sending (nothing of theirs must be remembered). */
const memoryStores = (config: Config): Stores => ({
  dedupeStore: new MemoryDedupeStore(),
  deliveryLog: new MemoryDeliveryLog({ compare: compareStreamPositions }),
  rateLimiter: new MemoryRateLimiter(config.destination.rateLimit),
  deadLetters: deadLetterFileOf(config),
});

/** One process without Redis: dedupe marks and the delivery log on disk, so a restart sends nobody's survey twice. */
const embeddedStores = (config: Config, state: StateStore): Stores => ({
  dedupeStore: new EmbeddedDedupeStore(state),
  deliveryLog: new EmbeddedDeliveryLog(state, {
    compare: compareStreamPositions,
    ttlMs: config.dedupe.ttlSeconds * 1000,
  }),
  // The limit's window starts afresh on a restart; pacing still spreads the first requests out.
  rateLimiter: new MemoryRateLimiter(config.destination.rateLimit),
  deadLetters: deadLetterFileOf(config),
});

const redisStores = (config: Config, redis: Redis): Stores => {
  const prefix = redisPrefixOf(config);
  return {
    dedupeStore: new RedisDedupeStore(redis, prefix),
    deliveryLog: new RedisDeliveryLog(redis, prefix, config.dedupe.ttlSeconds * 1000),
    rateLimiter: new RedisRateLimiter(redis, prefix, config.destination.rateLimit),
    // A file named in the config still wins: some teams want dead letters on disk.
    deadLetters: config.deadLetters?.file
      ? new DeadLetterFile(config.deadLetters.file)
      : new RedisDeadLetterStream(redis, prefix),
  };
};

/** Adapters that keep everything in memory and send nothing: for commands that only map (send-test's sample, test). */
export const offlineContext = (config: Config): OperatorContext => ({
  ...memoryStores(config),
  sender: {
    send: () => {
      throw new Error('nothing is sent from here');
    },
  },
  valve: new IntakeValve(),
});

/** The run history: in Redis, shared by every process; without, in the embedded store (kept across restarts). */
export const historyOf = (config: Config, redis: Redis | undefined, state: StateStore | undefined): HistoryStore => {
  const { size } = config.history;
  if (redis) return new RedisHistory<RunEntry>(redis, redisPrefixOf(config), size, RunEntry.is);
  if (state) return new EmbeddedHistory<RunEntry>(state, { size, isEntry: RunEntry.is });
  throw new Error('the run history needs redis.url or the embedded state store');
};

/** Everything but the intake: the operators' adapters, the valve and the credit. Replay uses it alone. */
export interface Core {
  readonly context: OperatorContext;
  readonly valve: IntakeValve;
  readonly credit: Capacity;
  readonly redis: Redis | undefined;
  /** People's lines (per-person order across processes), with Redis. */
  readonly turnBook: RedisTurnBook | undefined;
  /** The dead-letter store as built (not wrapped): for its size and for the dlq commands. */
  readonly deadLetters: DeadLetterFile | RedisDeadLetterStream;
  readonly history: HistoryStore;
  /** Ends every wait of the operators (see `OperatorContext.stopping$`); requests already sent finish. */
  stop(): void;
  close(): Promise<void>;
}

/** Builds the operators' adapters: Redis-backed with `redis.url`, embedded in-memory without. */
export const wireCore = (config: Config, logger: Logger, ledger: Ledger, metrics?: PipelineMetrics): Core => {
  const valve = new IntakeValve();
  const stopping = new ReplaySubject<void>(1);
  const creditSubscription = applyCredit(ledger, valve, config.pipeline.maxInFlight);
  let redis: Redis | undefined;
  if (config.redis) {
    redis = connectRedis(config.redis.url, `qualtrics-automations:${slug(config.name)}`);
    // ioredis reports each failed reconnect here; without a listener it prints outside the structured log.
    redis.on('error', (error: Error) => logger.warn({ error: error.message }, 'Redis connection error'));
  }
  const { destination } = config;
  const state = redis ? undefined : openStateStore(stateDirOf(config));
  const stores = redis ? redisStores(config, redis) : embeddedStores(config, state!);
  const turnBook = redis ? new RedisTurnBook(redis, redisPrefixOf(config), config.journal?.stream) : undefined;
  const sender = new QualtricsHttpSender({
    url: destination.url,
    auth: authOf(config),
    timeoutMs: destination.timeoutMs,
  });
  const stopping$ = stopping.asObservable();
  // Faults that are no one update's outcome reach the log with the settling errors.
  const report = (error: Error): void => ledger.reportHookError(error);
  const context: OperatorContext = metrics
    ? {
        ...stores,
        rateLimiter: observeRateLimiter(
          stores.rateLimiter,
          (ms) => metrics.rateLimitWait(ms),
          () => metrics.slowDowns.inc(),
        ),
        deadLetters: observeDeadLetters(stores.deadLetters, (letter) =>
          metrics.deadLettered.inc({ reason: letter.reason }),
        ),
        sender: observeSender(sender, (attempt) => metrics.attempt(attempt)),
        valve,
        stopping$,
        report,
        ...(turnBook ? { turnBook } : {}),
      }
    : { ...stores, sender, valve, stopping$, report, ...(turnBook ? { turnBook } : {}) };
  return {
    context,
    valve,
    credit: capacityOf(ledger, valve, config.pipeline.maxInFlight),
    redis,
    turnBook,
    deadLetters: stores.deadLetters,
    history: historyOf(config, redis, state),
    stop: () => {
      stopping.next();
      stopping.complete();
    },
    close: async () => {
      creditSubscription.unsubscribe();
      // QUIT would wait in the offline queue for a Redis that is down: only a ready connection says goodbye.
      if (redis?.status === 'ready') await redis.quit().catch(() => redis?.disconnect());
      else redis?.disconnect();
      await state?.close();
    },
  };
};

/** The core plus the intake (WebSocket, journal or stream) a config describes. */
export const wire = async (
  config: Config,
  logger: Logger,
  ledger: Ledger,
  metrics?: PipelineMetrics,
): Promise<Wiring> => {
  const core = wireCore(config, logger, ledger, metrics);
  let intake: Intake;
  try {
    const { redis, valve, credit, turnBook } = core;
    intake = await openIntake(config, {
      logger,
      redis,
      valve,
      credit,
      deadLetters: core.context.deadLetters,
      turnBook,
    });
  } catch (error) {
    await core.close();
    throw error;
  }
  let closed: Promise<void> | undefined;
  let intakeClosed: Promise<number> | undefined;
  const closeIntake = (): Promise<number> => (intakeClosed ??= intake.close());
  return {
    sourceName: intake.sourceName,
    source: intake.source,
    context: core.context,
    valve: core.valve,
    core,
    sourceHealth: intake.health,
    durable: intake.durable,
    intakePauses: intake.pauses,
    closeIntake,
    /** Stops the intake first (nothing new comes in), then the stores. */
    close: () =>
      (closed ??= (async () => {
        await closeIntake();
        await core.close();
      })()),
  };
};
