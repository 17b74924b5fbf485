/** Forgotten times kept before the log is copied without them: copies stay rare and the log stays small. */
const COMPACT_AFTER = 1024;

/**
 * The times of the last grants, oldest first: the sliding log the in-memory rate limiter counts its
 * window in. Times leave by moving an index, and the array is copied without them only once half of it
 * is forgotten: once an array is long (above about 10,000 elements), V8 copies what is left on each
 * `shift`, which made a grant cost 3 us at 21,000 in the window, 0.9 with the index (BENCHMARKS.md,
 * "eighth session").
 */
export class GrantLog {
  #times: number[] = [];
  #oldest = 0;

  /** How many times the log holds. */
  get size(): number {
    return this.#times.length - this.#oldest;
  }

  /** Adds a time, not earlier than any held. */
  add(time: number): void {
    this.#times.push(time);
  }

  /** Forgets the oldest time. */
  dropOldest(): void {
    if (this.size > 0) this.#oldest += 1;
  }

  /** Forgets the times at `time` or before. */
  dropUpTo(time: number): void {
    const times = this.#times;
    while (this.#oldest < times.length && times[this.#oldest]! <= time) this.#oldest += 1;
    if (this.#oldest >= COMPACT_AFTER && this.#oldest * 2 >= times.length) {
      this.#times = times.slice(this.#oldest);
      this.#oldest = 0;
    }
  }

  /** The `n`th newest time held (1: the newest), for `n` from 1 to `size`. */
  fromNewest(n: number): number {
    return this.#times[this.#times.length - n]!;
  }
}
