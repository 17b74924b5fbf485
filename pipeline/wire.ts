import { ReplaySubject, type Observable } from 'rxjs';
import { EmbeddedDedupeStore } from '../adapters/embedded/dedupe-store.js';
import { EmbeddedDeliveryLog } from '../adapters/embedded/delivery-log.js';
import { EmbeddedHistory } from '../adapters/embedded/history.js';
import { openStateStore, type StateStore } from '../adapters/embedded/state-store.js';
import { DeadLetterFile } from '../adapters/file/dead-letter-file.js';
import type { InboundMessage } from '../adapters/inbound-message.js';
import { MemoryDedupeStore } from '../adapters/memory/dedupe-store.js';
import { MemoryDeliveryLog } from '../adapters/memory/delivery-log.js';
import { MemoryRateLimiter } from '../adapters/memory/rate-limiter.js';
import { QualtricsHttpSender, type QualtricsAuth } from '../adapters/qualtrics/http-sender.js';
import { windowPlan } from '../adapters/rate-limit-plan.js';
import { RateLimitGroup } from '../adapters/rate-limit-group.js';
import { connectRedis, type Redis } from '../adapters/redis/connection.js';
import { RedisDeadLetterStream } from '../adapters/redis/dead-letter-stream.js';
import { RedisDedupeStore } from '../adapters/redis/dedupe-store.js';
import { RedisDeliveryLog } from '../adapters/redis/delivery-log.js';
import { RedisHistory } from '../adapters/redis/history.js';
import { IdentityHasher } from '../adapters/redis/identity-hasher.js';
import { identityKeyFile } from '../adapters/embedded/identity-key-file.js';
import { RedisRateLimiter } from '../adapters/redis/rate-limiter.js';
import { RedisTurnBook } from '../adapters/redis/turn-book.js';
import { withIdentityRenamed } from '../operators/dedupe.js';
import type { OperatorContext } from '../operators/model/define.js';
import type { Ledger } from '../operators/model/ledger.js';
import { compareStreamPositions } from '../operators/model/order.js';
import type { RateLimiter } from '../operators/model/ports.js';
import { type Config, type FlowConfig, rateGroupOf } from './config/codec.js';
import { enabledFlows } from './config/flow-choice.js';
import {
  basePrefixOf,
  defaultDeadLetterFile,
  journalLinePrefixOf,
  redisPrefixOf,
  slug,
  stateDirOf,
} from './config/paths.js';
import { applyCredit, type Capacity, capacityOf, flowCredit } from './credit.js';
import { groupOf, type IntakeFlow, openIntake, type SourceHealth } from './intake.js';
import { HistoryLine, type HistoryStore } from './history.js';
import type { Logger } from './logger.js';
import type { FlowMetrics } from './metrics.js';
import { observeDeadLetters, observeRateLimiter, observeSender } from './observe.js';
import { IntakeValve } from './valve.js';
import { refuseUngoverned } from './governance/refusals.js';

export { redisPrefixOf, slug };

export const authOf = ({ destination }: FlowConfig): QualtricsAuth => {
  if (destination.auth === 'header') return { kind: 'header', apiToken: destination.apiToken.reveal() };
  // The codec refuses auth: basic without a username; this keeps the compiler and a future edit honest.
  if (destination.username === undefined) throw new Error('destination.username is required with auth: basic');
  return { kind: 'basic', username: destination.username, apiToken: destination.apiToken.reveal() };
};

/**
 * The key prefix under which the processes of a brand share a rate-limit group's log: namespaced by
 * `redis.prefix` (so tests and tenants keep apart) and the group's name in braces (the hash tag, unless
 * `redis.prefix` has one of its own: Redis takes the first). The same in both config forms, so a
 * process still in the one-flow form and one with `flows:` share one brand's limit.
 */
const rateKeyPrefix = (config: Config, group: string): string => `${config.redis?.prefix ?? 'qa'}:rate:{${group}}`;

/** What the flows of one process share: Redis, the rate-limit groups, the signal that the process stops. */
export interface Shared {
  readonly redis: Redis | undefined;
  /** With Redis: how a person is named in key names and stream fields (a keyed hash of their identity). */
  readonly identityHasher: IdentityHasher | undefined;
  /** The rate limiter one flow uses: its turns in its group's limit. */
  rateLimiterOf(flow: FlowConfig): RateLimiter;
  readonly stopping$: Observable<unknown>;
  /** Ends every wait of every flow's operators; requests already sent finish. */
  stop(): void;
  close(): Promise<void>;
}

/**
 * The key `privacy.identityHashKey` names; or, without, one made once and shared through Redis beside
 * the config's keys (so readable by anyone who can read that Redis: it keeps identities out of key
 * names, not from a reader of Redis), or (without Redis) kept in the flow's state directory.
 */
export const identityHasherOf = (config: Config, redis: Redis | undefined, flow?: FlowConfig): IdentityHasher => {
  const configured = config.privacy?.identityHashKey;
  if (configured) return new IdentityHasher({ secret: configured.reveal() });
  if (redis) return new IdentityHasher({ redis, redisKey: `${basePrefixOf(config)}:identity-hash-key` });
  if (!flow) throw new Error('without Redis, the identity hashing key is kept per flow: name the flow');
  return new IdentityHasher({ secret: identityKeyFile(stateDirOf(config, flow)) });
};

export const wireShared = (config: Config, logger: Logger): Shared => {
  const stopping = new ReplaySubject<void>(1);
  let redis: Redis | undefined;
  if (config.redis) {
    redis = connectRedis(config.redis.url, `qualtrics-automations:${slug(config.name)}`);
    // ioredis reports each failed reconnect here; without a listener it prints outside the structured log.
    redis.on('error', (error: Error) => logger.warn({ error: error.message }, 'Redis connection error'));
  }
  const groups = new Map<string, RateLimitGroup>();
  const identityHasher = redis ? identityHasherOf(config, redis) : undefined;
  const groupOfFlow = (flow: FlowConfig): RateLimitGroup => {
    const name = rateGroupOf(flow.destination);
    const limit = flow.destination.rateLimit;
    let group = groups.get(name);
    if (!group) {
      const limiter = redis
        ? new RedisRateLimiter(redis, rateKeyPrefix(config, name), limit)
        : // The limit's window starts afresh on a restart; pacing still spreads the first requests out.
          new MemoryRateLimiter(limit);
      const plan = windowPlan(limit.requests, limit.perSeconds);
      group = new RateLimitGroup({ limiter, turnMs: Math.max(1, Math.ceil(plan.windowMs / plan.requests)) });
      groups.set(name, group);
    }
    return group;
  };
  return {
    redis,
    identityHasher,
    rateLimiterOf: (flow) => groupOfFlow(flow).member(flow.name, flow.destination.rateLimit.share),
    stopping$: stopping.asObservable(),
    stop: () => {
      stopping.next();
      stopping.complete();
    },
    close: async () => {
      // QUIT would wait in the offline queue for a Redis that is down: only a ready connection says goodbye.
      if (redis?.status === 'ready') await redis.quit().catch(() => redis?.disconnect());
      else redis?.disconnect();
    },
  };
};

type Stores = Pick<OperatorContext, 'dedupeStore' | 'deliveryLog'> & {
  readonly deadLetters: DeadLetterFile | RedisDeadLetterStream;
};

const deadLetterFileOf = (config: Config, flow: FlowConfig): DeadLetterFile =>
  new DeadLetterFile(flow.deadLetters?.file ?? defaultDeadLetterFile(config, flow));

/**
 * Where a flow keeps its dead letters: a file named in the config (some teams want them on disk, even
 * with Redis), else the Redis stream `<prefix>:dead`, else (no Redis) the default file. `run`, `dlq`
 * and `forget` all find them here.
 */
export const deadLetterStoreOf = (
  config: Config,
  flow: FlowConfig,
  redis: Redis | undefined,
): DeadLetterFile | RedisDeadLetterStream =>
  redis && !flow.deadLetters?.file
    ? new RedisDeadLetterStream(redis, redisPrefixOf(config, flow))
    : deadLetterFileOf(config, flow);

/** One process without Redis: dedupe marks and the delivery log on disk, so a restart sends nobody's survey twice. */
const embeddedStores = (config: Config, flow: FlowConfig, state: StateStore): Stores => ({
  dedupeStore: new EmbeddedDedupeStore(state),
  deliveryLog: new EmbeddedDeliveryLog(state, {
    compare: compareStreamPositions,
    ttlMs: flow.dedupe.ttlSeconds * 1000,
  }),
  deadLetters: deadLetterStoreOf(config, flow, undefined),
});

const redisStores = (config: Config, flow: FlowConfig, redis: Redis, hasher: IdentityHasher): Stores => {
  const prefix = redisPrefixOf(config, flow);
  const hash = (identity: string) => hasher.hash(identity);
  return {
    dedupeStore: new RedisDedupeStore(redis, prefix, (key) => withIdentityRenamed(key, hash)),
    deliveryLog: new RedisDeliveryLog(redis, prefix, flow.dedupe.ttlSeconds * 1000, hash),
    deadLetters: deadLetterStoreOf(config, flow, redis),
  };
};

/** Adapters that keep everything in memory and send nothing: for commands that only map (send-test's sample, test). */
export const offlineContext = (config: Config, flow: FlowConfig): OperatorContext => ({
  dedupeStore: new MemoryDedupeStore(),
  deliveryLog: new MemoryDeliveryLog({ compare: compareStreamPositions }),
  rateLimiter: new MemoryRateLimiter(flow.destination.rateLimit),
  deadLetters: deadLetterFileOf(config, flow),
  sender: {
    send: () => {
      throw new Error('nothing is sent from here');
    },
  },
  valve: new IntakeValve(),
});

/** A flow's run history: in Redis, shared by every process; without, in its embedded store (kept across restarts). */
export const historyOf = (
  config: Config,
  flow: FlowConfig,
  redis: Redis | undefined,
  state: StateStore | undefined,
): HistoryStore => {
  const { size } = flow.history;
  if (redis) return new RedisHistory<HistoryLine>(redis, redisPrefixOf(config, flow), size, HistoryLine.is);
  if (state) return new EmbeddedHistory<HistoryLine>(state, { size, isEntry: HistoryLine.is });
  throw new Error('the run history needs redis.url or the embedded state store');
};

/**
 * People's lines for a flow, with a journal: the journal numbers each person's updates in lines shared
 * by every flow; each flow records what it finished on its own (in the one-flow form, in the lines
 * themselves, as before flows), and an entry goes once every flow's group has finished it.
 */
const turnBookOf = (config: Config, flow: FlowConfig, redis: Redis): RedisTurnBook => {
  const { journal } = config;
  if (config.singleFlowForm)
    return new RedisTurnBook(redis, { linePrefix: journalLinePrefixOf(config), journal: journal?.stream });
  const others = enabledFlows(config).filter((other) => other !== flow);
  return new RedisTurnBook(redis, {
    linePrefix: journalLinePrefixOf(config),
    donePrefix: `${redisPrefixOf(config, flow)}:done:`,
    journal: journal?.stream,
    otherGroups: journal ? others.map((other) => groupOf(config, other, journal.group)) : [],
    group: journal ? groupOf(config, flow, journal.group) : undefined,
  });
};

/** One flow's adapters, valve and credit: what its operators are given. Replay and `dlq` use it alone. */
export interface FlowCore {
  readonly flow: FlowConfig;
  readonly context: OperatorContext;
  /** Closed by the operators (and the credit) to stop this flow's intake; its source watches it. */
  readonly valve: IntakeValve;
  readonly credit: Capacity;
  readonly redis: Redis | undefined;
  /** People's lines (per-person order across processes), with Redis. */
  readonly turnBook: RedisTurnBook | undefined;
  /** The dead-letter store as built (not wrapped): for its size and for the dlq commands. */
  readonly deadLetters: DeadLetterFile | RedisDeadLetterStream;
  readonly history: HistoryStore;
  /** How this flow names a person where it stores them (history rows; with Redis, every key). */
  readonly identityHasher: IdentityHasher;
  close(): Promise<void>;
}

/**
 * Builds one flow's adapters: Redis-backed with `redis.url`, embedded on disk without. Every command
 * that sends through a flow (`run`, `replay`, `dlq redrive`) wires it here, so a flow that breaks a
 * data-usage policy is refused here for all of them (`run` leaves such a flow out before); only a
 * command that sends nothing (`dlq list`) passes `sends: false`.
 */
export const wireFlowCore = (
  config: Config,
  flow: FlowConfig,
  shared: Shared,
  ledger: Ledger,
  metrics?: FlowMetrics,
  /** Updates it may hold (see `flowCredit`). */
  credit = config.pipeline.maxInFlight,
  { sends = true }: { readonly sends?: boolean } = {},
): FlowCore => {
  if (sends) refuseUngoverned(config, flow);
  const valve = new IntakeValve();
  const creditSubscription = applyCredit(ledger, valve, credit);
  const { redis } = shared;
  const state = redis ? undefined : openStateStore(stateDirOf(config, flow));
  const stores = redis
    ? redisStores(config, flow, redis, shared.identityHasher!)
    : embeddedStores(config, flow, state!);
  const turnBook = redis ? turnBookOf(config, flow, redis) : undefined;
  const { destination } = flow;
  const sender = new QualtricsHttpSender({
    url: destination.url,
    auth: authOf(flow),
    timeoutMs: destination.timeoutMs,
    publicAddressesOnly: !destination.allowAnyHost,
  });
  const rateLimiter = shared.rateLimiterOf(flow);
  // Faults that are no one update's outcome reach the log with the settling errors.
  const report = (error: Error): void => ledger.reportHookError(error);
  const base = { ...stores, valve, stopping$: shared.stopping$, report, ...(turnBook ? { turnBook } : {}) };
  const context: OperatorContext = metrics
    ? {
        ...base,
        rateLimiter: observeRateLimiter(
          rateLimiter,
          (ms) => metrics.rateLimitWait(ms),
          () => metrics.slowDown(),
        ),
        deadLetters: observeDeadLetters(stores.deadLetters, (letter) => metrics.deadLettered(letter.reason)),
        sender: observeSender(sender, (attempt) => metrics.attempt(attempt)),
      }
    : { ...base, rateLimiter, sender };
  return {
    flow,
    context,
    valve,
    credit: capacityOf(ledger, valve, credit),
    redis,
    turnBook,
    deadLetters: stores.deadLetters,
    history: historyOf(config, flow, redis, state),
    identityHasher: shared.identityHasher ?? identityHasherOf(config, undefined, flow),
    close: async () => {
      creditSubscription.unsubscribe();
      await state?.close();
    },
  };
};

/** One flow as `run` wires it: its core, and its input (its own consumer group, or its share of the feed). */
export interface FlowWiring {
  readonly core: FlowCore;
  readonly sourceName: string;
  readonly source: Observable<InboundMessage>;
  readonly sourceHealth: SourceHealth;
  /** Whether what is in flight stays in the source when the process stops. */
  readonly durable: boolean;
}

/** The adapters a config asks for, ready to inject: what the flows share, and each flow's own. */
export interface Wiring {
  readonly shared: Shared;
  readonly flows: readonly FlowWiring[];
  /** The WebSocket intake's own pauses in front of a journal (journal full, Redis refusing appends). */
  readonly intakePauses: IntakeValve;
  /** With several flows behind a journal: the WebSocket feed's own health. */
  readonly feedHealth: SourceHealth | undefined;
  /** Stops taking input; resolves with how many received messages were lost in closing (see `Intake.close`). */
  closeIntake(): Promise<number>;
  close(): Promise<void>;
}

/** What `wire` needs per enabled flow: its ledger, and its metrics if `run` keeps them. */
export interface FlowBooks {
  readonly flow: FlowConfig;
  readonly ledger: Ledger;
  readonly metrics?: FlowMetrics | undefined;
}

/** The shared part, every enabled flow's core, and the intake (WebSocket, journal or stream) feeding them. */
export const wire = async (
  config: Config,
  logger: Logger,
  books: readonly FlowBooks[],
  /** Every answer of an HTTP intake, by status (for the metrics). */
  onAnswer?: (status: number) => void,
): Promise<Wiring> => {
  const shared = wireShared(config, logger);
  const cores: FlowCore[] = [];
  const closeCores = async (): Promise<void> => {
    await Promise.all(cores.map((core) => core.close()));
    await shared.close();
  };
  let intake: Awaited<ReturnType<typeof openIntake>>;
  try {
    const credit = flowCredit(config, books.length);
    for (const { flow, ledger, metrics } of books)
      cores.push(wireFlowCore(config, flow, shared, ledger, metrics, credit));
    const intakeFlows: IntakeFlow[] = cores.map((core, index) => ({
      flow: core.flow,
      valve: core.valve,
      inFlight: () => books[index]!.ledger.inFlight,
      credit: core.credit,
      deadLetters: core.context.deadLetters,
      turnBook: core.turnBook,
    }));
    const { identityHasher } = shared;
    const nameOf = identityHasher && ((key: string) => identityHasher.hash(key));
    intake = await openIntake(config, { logger, redis: shared.redis, flows: intakeFlows, onAnswer, nameOf });
  } catch (error) {
    await closeCores();
    throw error;
  }
  let closed: Promise<void> | undefined;
  let intakeClosed: Promise<number> | undefined;
  const closeIntake = (): Promise<number> => (intakeClosed ??= intake.close());
  return {
    shared,
    flows: cores.map((core, index) => ({ core, ...intake.flows[index]! })),
    intakePauses: intake.pauses,
    feedHealth: intake.feedHealth,
    closeIntake,
    /** Stops the intake first (nothing new comes in), then the stores. */
    close: () =>
      (closed ??= (async () => {
        await closeIntake();
        await closeCores();
      })()),
  };
};

/** One flow's core with the shared part, for a command that acts on one flow (`dlq`, `replay`). */
export const wireOneFlow = (
  config: Config,
  flow: FlowConfig,
  logger: Logger,
  ledger: Ledger,
  /** Whether the command sends through the flow (refused if it breaks a data-usage policy). */
  { sends = true }: { readonly sends?: boolean } = {},
): FlowCore & { readonly shared: Shared } => {
  const shared = wireShared(config, logger);
  let core: FlowCore;
  try {
    core = wireFlowCore(config, flow, shared, ledger, undefined, undefined, { sends });
  } catch (error) {
    void shared.close();
    throw error;
  }
  return {
    ...core,
    shared,
    close: async () => {
      await core.close();
      await shared.close();
    },
  };
};
