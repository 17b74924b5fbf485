import type { Subscription } from 'rxjs';
import type { Ledger } from '../../operators/model/ledger.js';

/** What one flow did in one minute. `requests` and `retries` come from each outcome's attempts. */
export interface MinuteTally {
  received: number;
  delivered: number;
  excluded: number;
  duplicate: number;
  failed: number;
  requests: number;
  retries: number;
}

export const emptyTally = (): MinuteTally => ({
  received: 0,
  delivered: 0,
  excluded: 0,
  duplicate: 0,
  failed: 0,
  requests: 0,
  retries: 0,
});

const MINUTE_MS = 60_000;

/** Per-minute series, oldest first: `start` is the first minute's time (ms since the epoch). */
export interface MinuteSeries {
  readonly start: number;
  readonly tallies: readonly MinuteTally[];
}

/**
 * A flow's counts per minute for the last `minutes` (a day by default), in a ring fed by its ledger: a
 * fixed 1,440 small records whatever the traffic. Kept in the process rather than computed from the run
 * history because the history is trimmed to its last `history.size` entries (a busy flow's hour may not
 * fit) and reading it back from Redis or disk every few seconds costs far more than this. It starts
 * empty with the process: the console says "since start" when the process is younger than the window.
 */
export class MinuteCounts {
  readonly #tallies: MinuteTally[];
  /** The minute (ms since the epoch / 60,000) each slot holds; a slot of another minute counts as empty. */
  readonly #minuteOf: number[];
  /** Requests per second over the last minute (a ring of 60), for the rate limit's rolling window. */
  readonly #requests = Array.from({ length: 60 }, () => 0);
  readonly #secondOf = Array.from({ length: 60 }, () => -1);

  constructor(
    private readonly now: () => number = Date.now,
    readonly minutes = 24 * 60,
  ) {
    this.#tallies = Array.from({ length: minutes }, emptyTally);
    this.#minuteOf = Array.from({ length: minutes }, () => -1);
  }

  /** Counts every update the ledger receives and every outcome it records, in the minute it happens. */
  watch(ledger: Ledger): Subscription {
    let received = ledger.received;
    const subscription = ledger.inFlight$.subscribe(() => {
      // The getter, not `counts()`: this runs at every update, and `counts()` copies.
      const now = ledger.received;
      if (now > received) this.#slot().received += now - received;
      received = now;
    });
    subscription.add(
      ledger.settlements$.subscribe(({ outcome }) => {
        const tally = this.#slot();
        tally[outcome.kind] += 1;
        const attempts = 'attempts' in outcome && outcome.attempts !== undefined ? outcome.attempts : 0;
        tally.requests += attempts;
        this.#countRequests(attempts);
        tally.retries += Math.max(0, attempts - 1);
      }),
    );
    return subscription;
  }

  /** The last `minutes` minutes up to and including the current one, oldest first. */
  series(minutes: number): MinuteSeries {
    const span = Math.min(minutes, this.minutes);
    const current = Math.floor(this.now() / MINUTE_MS);
    const first = current - span + 1;
    const tallies = Array.from({ length: span }, (_, i) => {
      const minute = first + i;
      const slot = minute % this.minutes;
      return this.#minuteOf[slot] === minute ? { ...this.#tallies[slot]! } : emptyTally();
    });
    return { start: first * MINUTE_MS, tallies };
  }

  /** The sum of the last `minutes` minutes. */
  total(minutes: number): MinuteTally {
    const sum = emptyTally();
    for (const tally of this.series(minutes).tallies)
      for (const key of Object.keys(sum) as Array<keyof MinuteTally>) sum[key] += tally[key];
    return sum;
  }

  /** Requests made in the last 60 seconds (rolling, not the calendar minute). */
  requestsInLastMinute(): number {
    const current = Math.floor(this.now() / 1000);
    let sum = 0;
    for (let slot = 0; slot < 60; slot += 1) {
      const second = this.#secondOf[slot]!;
      if (second > current - 60 && second <= current) sum += this.#requests[slot]!;
    }
    return sum;
  }

  #countRequests(n: number): void {
    if (n === 0) return;
    const second = Math.floor(this.now() / 1000);
    const slot = second % 60;
    if (this.#secondOf[slot] !== second) {
      this.#secondOf[slot] = second;
      this.#requests[slot] = 0;
    }
    this.#requests[slot]! += n;
  }

  #slot(): MinuteTally {
    const minute = Math.floor(this.now() / MINUTE_MS);
    const slot = minute % this.minutes;
    if (this.#minuteOf[slot] !== minute) {
      this.#minuteOf[slot] = minute;
      this.#tallies[slot] = emptyTally();
    }
    return this.#tallies[slot]!;
  }
}
