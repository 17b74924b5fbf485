import { GRANTED_NOW, type Reservation } from '../../operators/model/ports.js';
import { bookAheadMs, onSchedule, slowedFactor, windowPlan, type RateLimitPlan } from '../rate-limit-plan.js';

export interface MemoryRateLimiterOptions {
  readonly requests: number;
  readonly perSeconds: number;
  readonly now?: () => number;
}

/**
 * The embedded rate limiter, for one process: a sliding log of the last grants (so no window of
 * `perSeconds` ever holds more than `requests`, measured with a small margin for network jitter),
 * plus an even pace (so the allowance is not spent in one burst), plus a slowdown after a 429 that
 * recovers step by step. A slot up to `bookAheadMs` ahead is booked (logged at its time) rather than
 * refused. `adapters/redis/rate-limiter.ts` does the same in one Lua script.
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

  reserve(): Reservation {
    const now = this.#now();
    const { windowMs, burst, requests } = this.#plan;
    const limit = Math.max(1, Math.floor(requests * this.#factor(now)));
    const interval = windowMs / limit;
    const grants = this.#grants;
    while (grants.length > 0 && grants[0]! <= now - windowMs) grants.shift();
    // The earliest slot: when the window ending there holds fewer than `limit` (the grant `limit` back
    // has left it), the pace allows it (the burst allowance fixed by the full limit, so a slowdown does
    // not free a burst), and not before a slot already booked, so the log stays in order.
    const earliest = Math.max(
      now,
      grants.length >= limit ? grants[grants.length - limit]! + windowMs : now,
      this.#nextAt - (burst - 1) * (windowMs / requests),
      grants.length > 0 ? grants[grants.length - 1]! : now,
    );
    // Whole milliseconds, as the caller waits: the log holds when the request goes, not a fraction before.
    const waitMs = Math.ceil(earliest - now);
    const ahead = bookAheadMs(interval);
    if (waitMs > ahead) return { booked: false, waitMs: Math.ceil(waitMs - ahead) };
    const at = now + waitMs;
    grants.push(at);
    if (grants.length > requests) grants.shift();
    this.#nextAt = onSchedule(this.#nextAt, at, interval) + interval;
    return waitMs === 0 ? GRANTED_NOW : { booked: true, waitMs };
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
