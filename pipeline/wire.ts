import { createHash } from 'node:crypto';
import type { Observable } from 'rxjs';
import type { InboundMessage } from '../adapters/inbound-message.js';
import { DeadLetterFile } from '../adapters/file/dead-letter-file.js';
import { MemoryDedupeStore } from '../adapters/memory/dedupe-store.js';
import { MemoryDeliveryLog } from '../adapters/memory/delivery-log.js';
import { MemoryRateLimiter } from '../adapters/memory/rate-limiter.js';
import { QualtricsHttpSender, type QualtricsAuth } from '../adapters/qualtrics/http-sender.js';
import { connectRedis } from '../adapters/redis/connection.js';
import { RedisDeadLetterStream } from '../adapters/redis/dead-letter-stream.js';
import { RedisDedupeStore } from '../adapters/redis/dedupe-store.js';
import { RedisDeliveryLog } from '../adapters/redis/delivery-log.js';
import { RedisRateLimiter } from '../adapters/redis/rate-limiter.js';
import { webSocketClientSource, type ConnectionEvent } from '../adapters/websocket/client-source.js';
import type { OperatorContext } from '../operators/model/define.js';
import { compareOrder } from '../operators/model/order.js';
import { IntakeValve } from './valve.js';
import type { Config } from './config/codec.js';
import type { Logger } from './logger.js';

/** The adapters a config asks for, ready to inject. */
export interface Wiring {
  readonly sourceName: string;
  readonly source: Observable<InboundMessage>;
  readonly context: OperatorContext;
  /** Closed by the operators (and the credit) to stop the intake; the source watches it. */
  readonly valve: IntakeValve;
  close(): Promise<void>;
}

export const authOf = ({ destination }: Config): QualtricsAuth => {
  if (destination.auth === 'header') return { kind: 'header', apiToken: destination.apiToken.reveal() };
  // The codec refuses auth: basic without a username; this keeps the compiler and a future edit honest.
  if (destination.username === undefined) throw new Error('destination.username is required with auth: basic');
  return { kind: 'basic', username: destination.username, apiToken: destination.apiToken.reveal() };
};

const logConnection =
  (logger: Logger, url: string) =>
  (event: ConnectionEvent): void => {
    switch (event.type) {
      case 'connecting':
        if (event.attempt === 0) logger.info({ url }, 'connecting to the feed');
        return;
      case 'connected':
        logger.info({ url }, 'connected to the feed');
        return;
      case 'disconnected':
        logger.warn({ url, code: event.code, reason: event.reason, retryInMs: event.retryInMs }, 'feed disconnected; reconnecting');
        return;
      case 'error':
        logger.warn({ url, error: event.error.message }, 'feed connection error');
    }
  };

/** `Post-purchase survey` -> `post-purchase-survey`: for file names. */
export const slug = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'pipeline';

/**
 * The Redis key prefix of a destination: `redis.prefix`, or one derived from the destination URL, so
 * that every process sending to the same JSON Event shares its rate limit and dedupe. The hash tag keeps
 * all of a destination's keys in one Redis Cluster slot.
 */
export const redisPrefixOf = (config: Config): string =>
  config.redis?.prefix ?? `qa:{${createHash('sha256').update(config.destination.url).digest('hex').slice(0, 16)}}`;

type Stores = Pick<OperatorContext, 'dedupeStore' | 'deliveryLog' | 'rateLimiter' | 'deadLetters'> & { close(): Promise<void> };

const memoryStores = (config: Config): Stores => ({
  dedupeStore: new MemoryDedupeStore(),
  deliveryLog: new MemoryDeliveryLog({ compare: compareOrder }),
  rateLimiter: new MemoryRateLimiter(config.destination.rateLimit),
  deadLetters: new DeadLetterFile(config.deadLetters?.file ?? `dead-letters/${slug(config.name)}.jsonl`),
  close: async () => {},
});

const redisStores = (config: Config, url: string, logger: Logger): Stores => {
  const redis = connectRedis(url, `qualtrics-automations:${slug(config.name)}`);
  redis.on('error', (error: Error) => logger.warn({ error: error.message }, 'redis connection error'));
  const prefix = redisPrefixOf(config);
  return {
    dedupeStore: new RedisDedupeStore(redis, prefix),
    deliveryLog: new RedisDeliveryLog(redis, prefix, config.dedupe.ttlSeconds * 1000),
    rateLimiter: new RedisRateLimiter(redis, prefix, config.destination.rateLimit),
    // A file named in the config still wins: some teams want dead letters on disk.
    deadLetters: config.deadLetters?.file ? new DeadLetterFile(config.deadLetters.file) : new RedisDeadLetterStream(redis, prefix),
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
};

/** Builds the adapters for a config: Redis-backed stores with `redis.url`, embedded in-memory ones without. */
export const wire = (config: Config, logger: Logger): Wiring => {
  const { websocket } = config.source;
  const { destination } = config;
  const headers = Object.fromEntries(Object.entries(websocket.headers ?? {}).map(([name, value]) => [name, value.reveal()]));
  const valve = new IntakeValve();
  const { close, ...stores } = config.redis ? redisStores(config, config.redis.url, logger) : memoryStores(config);
  const context: OperatorContext = {
    ...stores,
    sender: new QualtricsHttpSender({ url: destination.url, auth: authOf(config), timeoutMs: destination.timeoutMs }),
    valve,
  };
  let closed: Promise<void> | undefined;
  return {
    sourceName: 'websocket',
    source: webSocketClientSource({ url: websocket.url, headers, onEvent: logConnection(logger, websocket.url), paused$: valve.closed$ }),
    context,
    valve,
    close: () => (closed ??= close()),
  };
};
