import * as t from 'io-ts';
import type { Redis } from 'ioredis';
import { createRequire } from 'node:module';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import { RedisVersionError } from './errors.js';

export type { Redis };

/**
 * ioredis, loaded by the first connection: a process without `redis:` never holds it in memory
 * (BENCHMARKS.md, "fourth session"). ioredis is CommonJS, so `require` loads it synchronously and
 * `connectRedis` stays synchronous.
 */
const requireHere = createRequire(import.meta.url);
const ioredis = (): typeof import('ioredis') => requireHere('ioredis');

/**
 * A Redis connection for the pipeline's stores. Autopipelining batches the commands issued in the same
 * tick into one round trip, so a store's many small commands do not each cost one. Commands wait in the
 * offline queue while the connection is down and fail after `maxRetriesPerRequest` reconnect attempts.
 */
export const connectRedis = (url: string, connectionName = 'qualtrics-automations'): Redis =>
  new (ioredis().Redis)(url, {
    enableAutoPipelining: true,
    connectionName,
    maxRetriesPerRequest: 3,
    retryStrategy: (times) => Math.min(times * 200, 5_000),
  });

/** The oldest Redis with everything the stream sources use (XAUTOCLAIM came in 6.2). */
export const MIN_REDIS_VERSION = [6, 2] as const;

/** Checks the server's version (INFO server) once the connection answers; rejects if it is older than 6.2. */
export const requireStreamsVersion = async (redis: Redis): Promise<void> => {
  const info = await redis.info('server');
  const version = /^redis_version:(\d+)\.(\d+)/m.exec(info);
  if (!version) return;
  const [major, minor] = [Number(version[1]), Number(version[2])];
  const [needMajor, needMinor] = MIN_REDIS_VERSION;
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return;
  throw new RedisVersionError(
    `Redis ${major}.${minor} is too old: the stream sources need ${needMajor}.${needMinor} or newer (XAUTOCLAIM)`,
  );
};

/**
 * A Lua script as a function: EVALSHA through ioredis (EVAL on the first call or after a flush). Its
 * reply is decoded by `reply`, so a script and its caller that disagree fail loudly, naming the script.
 */
export const luaScript = <R>(
  redis: Redis,
  name: string,
  /** Undefined: the script takes any number of keys, and each call passes how many first. */
  numberOfKeys: number | undefined,
  lua: string,
  reply: t.Type<R, unknown>,
): ((...keysThenArgs: Array<string | number | Buffer>) => Promise<R>) => {
  redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { numberOfKeys, lua });
  const command = (redis as unknown as Record<string, (...args: Array<string | number | Buffer>) => Promise<unknown>>)[
    name
  ]!;
  return async (...args) => decodeOrThrow(reply, await command.apply(redis, args), `the reply of ${name}`);
};

/** Redis' integer replies (a count, a flag) and its bulk strings, as codecs for script replies. */
export const IntegerReply = t.number;
export const OptionalStringReply = t.union([t.string, t.null]);

/**
 * The key names of one destination. Every key starts with the prefix, whose hash tag (`{...}`) puts
 * them all in one Redis Cluster slot, so the multi-key scripts below are Cluster-safe.
 */
export const keysFor = (prefix: string) => ({
  sent: (key: string) => `${prefix}:sent:${key}`,
  last: (identity: string) => `${prefix}:last:${identity}`,
  audiencesIn: (identity: string) => `${prefix}:in:${identity}`,
  withdrawals: (identity: string) => `${prefix}:withdrawn:${identity}`,
  forgotten: (identity: string) => `${prefix}:forgotten:${identity}`,
  rateLog: `${prefix}:rate:log`,
  rateState: `${prefix}:rate:state`,
  dead: `${prefix}:dead`,
  history: `${prefix}:history`,
});

/** Deletes every key under `prefix` (SCAN, never KEYS or FLUSHALL): for tests and `reset` tooling. */
export const deleteKeys = async (redis: Redis, prefix: string): Promise<number> => {
  let deleted = 0;
  // Escape glob characters: a prefix holds braces and may hold others.
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}:*`;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
};
