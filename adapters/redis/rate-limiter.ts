import * as t from 'io-ts';
import { GRANTED_NOW, type Reservation } from '../../operators/model/ports.js';
import { windowPlan, type RateLimitPlan } from '../rate-limit-plan.js';
import { keysFor, luaScript, type Redis, IntegerReply } from './connection.js';

/** What the reserve script answers: granted (1) or not (0), and the wait (to the next slot, or to ask again). */
const ReserveReply = t.tuple([t.union([t.literal(0), t.literal(1)]), t.number]);

// The same algorithm as adapters/memory/rate-limiter.ts, on the Redis server's clock (TIME), so every
// process of a destination shares one window, one pace and one slowdown.
const NOW_AND_FACTOR = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[2], 'tat', 'factor', 'slowAt')
local tat = tonumber(state[1]) or 0
local factor = 1
local slowAt = tonumber(state[3])
if slowAt then
  factor = math.min(1, tonumber(state[2]) + tonumber(ARGV[5]) * math.floor((now - slowAt) / tonumber(ARGV[4])))
end`;

// KEYS: log, state. ARGV: requests, windowMs, burst, recoveryMs, recoveryStep.
// Answers {1, next}: granted now (logged now), the next slot `next` ms away; or {0, wait}: ask again then.
const RESERVE = `${NOW_AND_FACTOR}
local requests, windowMs, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local limit = math.max(1, math.floor(requests * factor))
local interval = windowMs / limit
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - windowMs)
-- The earliest the next grant may be, as in the memory limiter: the window and the pace.
local function earliest(count, due)
  local at = due - (burst - 1) * (windowMs / requests)
  if count >= limit then
    local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
    at = math.max(at, tonumber(oldest[2]) + windowMs)
  end
  return math.max(at, now)
end
local count = redis.call('ZCARD', KEYS[1])
local wait = math.ceil(earliest(count, tat) - now)
if wait > 0 then return {0, wait} end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('ZADD', KEYS[1], now, now .. '-' .. seq)
-- As onSchedule (rate-limit-plan.ts): a grant less than one interval late keeps the schedule.
local from = now
if now - tat < interval then from = tat end
redis.call('HSET', KEYS[2], 'tat', tostring(from + interval))
redis.call('PEXPIRE', KEYS[1], math.ceil(windowMs * 2))
redis.call('PEXPIRE', KEYS[2], math.ceil(windowMs * 2 + tonumber(ARGV[4]) * 10))
return {1, math.ceil(earliest(count + 1, from + interval) - now)}`;

// KEYS: log, state. ARGV: (unused), windowMs, (unused), recoveryMs, recoveryStep, slowdownFactor, minFactor, everyMs.
const SLOW_DOWN = `${NOW_AND_FACTOR}
if slowAt and now - slowAt < tonumber(ARGV[8]) then return 0 end
redis.call('HSET', KEYS[2], 'factor', tostring(math.max(tonumber(ARGV[7]), factor * tonumber(ARGV[6]))), 'slowAt', now)
redis.call('PEXPIRE', KEYS[2], math.ceil(tonumber(ARGV[2]) * 2 + tonumber(ARGV[4]) * 10))
return 1`;

export interface RedisRateLimiterOptions {
  readonly requests: number;
  readonly perSeconds: number;
}

/**
 * The rate limit shared through Redis by every process of a destination: a sliding log of grants in a
 * sorted set (no window of `perSeconds` ever holds more than `requests`), an even pace, and a shared
 * slowdown after a 429. Each call is one atomic script; a grant says when the next slot comes.
 */
export class RedisRateLimiter {
  readonly #plan: RateLimitPlan;
  readonly #keys;
  readonly #reserve;
  readonly #slowDown;

  constructor(redis: Redis, prefix: string, { requests, perSeconds }: RedisRateLimiterOptions) {
    this.#plan = windowPlan(requests, perSeconds);
    this.#keys = keysFor(prefix);
    this.#reserve = luaScript(redis, 'qaRateReserve', 2, RESERVE, ReserveReply);
    this.#slowDown = luaScript(redis, 'qaRateSlowDown', 2, SLOW_DOWN, IntegerReply);
  }

  async reserve(): Promise<Reservation> {
    const { requests, windowMs, burst, recoveryMs, recoveryStep } = this.#plan;
    const [granted, waitMs] = await this.#reserve(
      this.#keys.rateLog,
      this.#keys.rateState,
      requests,
      windowMs,
      burst,
      recoveryMs,
      recoveryStep,
    );
    return granted === 1 && waitMs === 0 ? GRANTED_NOW : { granted: granted === 1, waitMs };
  }

  async slowDown(): Promise<void> {
    const { windowMs, recoveryMs, recoveryStep, slowdownFactor, minFactor, slowdownEveryMs } = this.#plan;
    await this.#slowDown(
      this.#keys.rateLog,
      this.#keys.rateState,
      0,
      windowMs,
      0,
      recoveryMs,
      recoveryStep,
      slowdownFactor,
      minFactor,
      slowdownEveryMs,
    );
  }
}
