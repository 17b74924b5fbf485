import { interval, Subscription, type SchedulerLike } from 'rxjs';
import { isPromiseLike, type MaybePromise } from './ports.js';

/** Renews one lease: what `DedupeStore.renew` does, with the lease's key, token and length bound. */
export type Renew = (key: string, token: string) => MaybePromise<void>;

/**
 * The leases one `dedupe` holds, renewed together by one timer every `everyMs` while any is held, instead
 * of a timer per update (a timer made and cleared for every update was a measurable part of its cost,
 * and a wake-up per update at the operating point). It runs while any lease is held, and stops at the
 * first tick that finds none. A lease taken between two ticks is renewed at the
 * next: never later than `everyMs` after it was taken, as with a timer of its own. A renewal that fails
 * is not retried: it only risks a second send by another process once the lease lapses.
 */
export class LeaseRenewal {
  readonly #held = new Map<string, string>();
  #timer: Subscription | undefined;

  constructor(
    private readonly renew: Renew,
    private readonly everyMs: number,
    private readonly scheduler: SchedulerLike | undefined,
  ) {}

  /** Renews `key`'s lease, taken with `token`, until `drop(key)`. One process holds one lease per key. */
  hold(key: string, token: string): void {
    this.#held.set(key, token);
    this.#timer ??= this.#every(() => this.#renewAll());
  }

  /**
   * The timer. Without a scheduler of its own (in a running process, not a marble test) it does not
   * keep the process alive by itself: renewing matters only while a request or a store keeps the
   * process busy, and a pipeline abandoned with a lease held must not hold its process open.
   */
  #every(tick: () => void): Subscription {
    if (this.scheduler) return interval(this.everyMs, this.scheduler).subscribe(tick);
    const timer = setInterval(tick, this.everyMs).unref();
    return new Subscription(() => clearInterval(timer));
  }

  /** Stops renewing `key`'s lease. The timer runs on to its next tick (see `#renewAll`). */
  drop(key: string): void {
    this.#held.delete(key);
  }

  /** Ends the timer (the pipeline stopped): nothing is renewed any more. */
  stop(): void {
    this.#timer?.unsubscribe();
    this.#timer = undefined;
  }

  #renewAll(): void {
    // Stopped at a tick with nothing held, not at the last drop: when updates settle one by one, each
    // would otherwise start and clear a timer of its own.
    if (this.#held.size === 0) {
      this.stop();
      return;
    }
    for (const [key, token] of this.#held) {
      try {
        const renewed = this.renew(key, token);
        if (isPromiseLike(renewed)) Promise.resolve(renewed).catch(() => {});
      } catch {
        // As a rejection: the lease lapses at worst.
      }
    }
  }
}
