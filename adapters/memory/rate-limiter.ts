import { GRANTED_NOW, type Reservation } from '../../operators/model/ports.js';
import { onSchedule, slowedFactor, windowPlan, type RateLimitPlan } from '../rate-limit-plan.js';
import { GrantLog } from './grant-log.js';

export interface MemoryRateLimiterOptions {
  readonly requests: number;
  readonly perSeconds: number;
  readonly now?: () => number;
}

/**
 * The embedded rate limiter, for one process: a sliding log of the last grants (so no window of
 * `perSeconds` ever holds more than `requests`, measured with a small margin for network jitter),
 * plus an even pace (so the allowance is not spent in one burst), plus a slowdown after a 429 that
 * recovers step by step; a grant says when the next slot comes. `adapters/redis/rate-limiter.ts` does
 * the same in one Lua script.
 */
export class MemoryRateLimiter {
  readonly #plan: RateLimitPlan;
  readonly #now: () => number;
  readonly #grants = new GrantLog();
  #nextAt = 0;
  #slowdown = { factor: 1, at: -Infinity };

  constructor({ requests, perSeconds, now = Date.now }: MemoryRateLimiterOptions) {
    this.#plan = windowPlan(requests, perSeconds);
    this.#now = now;
  }

  reserve(): Reservation {
    const now = this.#now();
    const limit = Math.max(1, Math.floor(this.#plan.requests * this.#factor(now)));
    this.#grants.dropUpTo(now - this.#plan.windowMs);
    const waitMs = Math.ceil(this.#earliest(now, limit) - now);
    if (waitMs > 0) return { granted: false, waitMs };
    this.#grants.add(now);
    if (this.#grants.size > this.#plan.requests) this.#grants.dropOldest();
    const interval = this.#plan.windowMs / limit;
    this.#nextAt = onSchedule(this.#nextAt, now, interval) + interval;
    const nextInMs = Math.ceil(this.#earliest(now, limit) - now);
    return nextInMs > 0 ? { granted: true, waitMs: nextInMs } : GRANTED_NOW;
  }

  /**
   * The earliest the next grant may be: when the window ending there holds fewer than `limit` (the grant
   * `limit` back has left it) and the pace allows it (the burst allowance fixed by the full limit, so a
   * slowdown does not free a burst).
   */
  #earliest(now: number, limit: number): number {
    const { windowMs, burst, requests } = this.#plan;
    const grants = this.#grants;
    return Math.max(
      now,
      grants.size >= limit ? grants.fromNewest(limit) + windowMs : now,
      this.#nextAt - (burst - 1) * (windowMs / requests),
    );
  }

  slowDown(): void {
    const now = this.#now();
    this.#slowdown = slowedFactor(this.#factor(now), this.#slowdown.at, now, this.#plan);
  }

  /** The share of the limit in use now: lowered by 429s, recovering by steps. */
  #factor(now: number): number {
    return Math.min(
      1,
      this.#slowdown.factor + this.#plan.recoveryStep * Math.floor((now - this.#slowdown.at) / this.#plan.recoveryMs),
    );
  }
}
