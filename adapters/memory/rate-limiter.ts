import { onSchedule, slowedFactor, windowPlan, type RateLimitPlan } from '../rate-limit-plan.js';

export interface MemoryRateLimiterOptions {
  readonly requests: number;
  readonly perSeconds: number;
  readonly now?: () => number;
}

/**
 * The embedded rate limiter, for one process: a sliding log of the last grants (so no window of
 * `perSeconds` ever holds more than `requests`, measured with a small margin for network jitter),
 * plus an even pace (so the allowance is not spent in one burst), plus a slowdown after a 429 that
 * recovers step by step. `adapters/redis/rate-limiter.ts` does the same in one Lua script.
 */
export class MemoryRateLimiter {
  readonly #plan: RateLimitPlan;
  readonly #now: () => number;
  readonly #grants: number[] = [];
  #nextAt = 0;
  #slowdown = { factor: 1, at: -Infinity };

  constructor({ requests, perSeconds, now = Date.now }: MemoryRateLimiterOptions) {
    this.#plan = windowPlan(requests, perSeconds);
    this.#now = now;
  }

  reserve(): number {
    const now = this.#now();
    const { windowMs, burst } = this.#plan;
    const factor = this.#factor(now);
    const limit = Math.max(1, Math.floor(this.#plan.requests * factor));
    const interval = windowMs / limit;
    while (this.#grants.length > 0 && this.#grants[0]! <= now - windowMs) this.#grants.shift();
    const windowWait = this.#grants.length >= limit ? this.#grants[this.#grants.length - limit]! + windowMs - now : 0;
    // The burst allowance is fixed by the full limit, so a slowdown does not free a burst.
    const paceWait = this.#nextAt - (burst - 1) * (windowMs / this.#plan.requests) - now;
    const wait = Math.max(windowWait, paceWait, 0);
    if (wait > 0) return Math.ceil(wait);
    this.#grants.push(now);
    if (this.#grants.length > this.#plan.requests) this.#grants.shift();
    this.#nextAt = onSchedule(this.#nextAt, now, interval) + interval;
    return 0;
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
