import { setTimeout as sleep } from 'node:timers/promises';
import { connectRedis, deleteKeys } from '../adapters/redis/connection.js';
import { RedisDedupeStore } from '../adapters/redis/dedupe-store.js';
import { RedisRateLimiter } from '../adapters/redis/rate-limiter.js';
import { redisCpuMsOf } from './end-to-end.js';

/** One command's cost to redis-server, microseconds of its CPU per call. */
export interface RedisCostResult {
  readonly command: string;
  /** Sent one after another: Redis is busy throughout, so this is the command's own work. */
  readonly backToBackUs: number;
  /** Sent one every `spacingMs`, Redis idle between: what a paced send costs it, its wake-up included. */
  readonly spacedUs: number;
}

/**
 * What goal 5's Redis CPU is made of: redis-server's CPU (INFO cpu) per call of what the contender sends
 * for each update it delivers at the limit (the rate limiter's reserve, the dedupe commit: one script
 * each) and of what the hand-written loop sends (one SET NX), first back to back, then one every
 * `spacingMs` as at a limit of 1000 / `spacingMs` a second. Redis' own CPU while idle over as long
 * (its timers) is measured first and taken off the spaced figures. Keys under a prefix of their own,
 * deleted after.
 */
export const runRedisCost = async (redisUrl: string, calls: number, spacingMs: number): Promise<RedisCostResult[]> => {
  const redis = connectRedis(redisUrl);
  const prefix = `qa-bench-redis-cost:{${Date.now().toString(36)}}`;
  try {
    const limiter = new RedisRateLimiter(redis, prefix, { requests: 1_000_000, perSeconds: 1 });
    const dedupe = new RedisDedupeStore(redis, prefix);
    let n = 0;
    const commands: ReadonlyArray<readonly [string, () => Promise<unknown>]> = [
      ['rate-limit reserve (script)', () => limiter.reserve()],
      ['dedupe commit (script)', () => dedupe.commit(`k${n++}`, 't', 60_000)],
      ['SET NX PX', () => redis.set(`${prefix}:sent:s${n++}`, 'committed', 'PX', 60_000, 'NX')],
    ];
    for (const [, call] of commands) await call(); // loads the scripts
    const idleFrom = await redisCpuMsOf(redis);
    await sleep(calls * spacingMs);
    const idleUsPerCall = (((await redisCpuMsOf(redis)) - idleFrom) * 1000) / calls;
    const results: RedisCostResult[] = [];
    for (const [command, call] of commands) {
      const busyFrom = await redisCpuMsOf(redis);
      for (let i = 0; i < calls; i++) await call();
      const backToBackUs = (((await redisCpuMsOf(redis)) - busyFrom) * 1000) / calls;
      const spacedFrom = await redisCpuMsOf(redis);
      for (let i = 0; i < calls; i++) {
        await sleep(spacingMs);
        await call();
      }
      const spacedUs = (((await redisCpuMsOf(redis)) - spacedFrom) * 1000) / calls - idleUsPerCall;
      results.push({ command, backToBackUs, spacedUs });
    }
    return results;
  } finally {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  }
};
