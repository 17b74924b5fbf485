import { GRANTED_NOW, type Reservation } from '../../operators/model/ports.js';
import type { MemoryRateLimiterOptions } from '../../adapters/memory/rate-limiter.js';
import { onSchedule, slowedFactor, windowPlan, type RateLimitPlan } from '../../adapters/rate-limit-plan.js';

/**
 * The in-memory rate limiter as it was before its log dropped grants by an index (b0e7ade): grants left
 * with `shift`, simple and slow. Kept as the oracle the current one must answer exactly as, through
 * compactions of its log (spec/adapters/memory/rate-limiter.spec.ts).
 */
export class ShiftRateLimiter {
  readonly #plan: RateLimitPlan;
  readonly #now: () => number;
  readonly #grants: number[] = [];
  #nextAt = 0;
  #slowdown = { factor: 1, at: -Infinity };

  constructor({ requests, perSeconds, now = Date.now }: MemoryRateLimiterOptions) {
    this.#plan = windowPlan(requests, perSeconds);
    this.#now = now;
  }

  reserve(): Reservation {
    const now = this.#now();
    const limit = Math.max(1, Math.floor(this.#plan.requests * this.#factor(now)));
    const grants = this.#grants;
    while (grants.length > 0 && grants[0]! <= now - this.#plan.windowMs) grants.shift();
    const waitMs = Math.ceil(this.#earliest(now, limit) - now);
    if (waitMs > 0) return { granted: false, waitMs };
    grants.push(now);
    if (grants.length > this.#plan.requests) grants.shift();
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
      grants.length >= limit ? grants[grants.length - limit]! + windowMs : now,
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
