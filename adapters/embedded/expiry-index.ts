import type { Database, Key } from 'lmdb';

/** Expired entries removed at most per write, so one write never stalls on a large backlog. */
export const SWEEP_BATCH = 100;

const isIndexKey = (key: unknown): key is [number, string] =>
  Array.isArray(key) && key.length === 2 && typeof key[0] === 'number' && typeof key[1] === 'string';

/**
 * Keeps a database of entries with an expiry time bounded: beside it, an index keyed `[expiresAt, key]`
 * (LMDB orders array keys element by element, so the index reads oldest first), and a sweep that
 * removes what has expired. The sweeps and `remove` must run inside a write transaction of the same
 * environment (their writes are part of it, whose promise the caller awaits: theirs are not awaited
 * here); `put` may also run outside one, where it answers for its own writes. Either way the entry and
 * its index line change together, in every process.
 */
export class ExpiryIndex {
  /**
   * The earliest expiry the index may hold, as far as this process knows: until then a write's sweep
   * would find nothing due and is skipped (it walked a cursor on every write: at the rate limit, where
   * writes come one at a time, about a twentieth of the embedded store's CPU). Read from the index at
   * open (every process's entries so far), lowered by every `put`, learned by every sweep. Another
   * process's entries put after this one opened do not lower it: that process's own writes sweep
   * them, and so does `sweepAll`.
   */
  #nextDue: number;

  constructor(
    private readonly entries: Database<unknown, string>,
    private readonly index: Database<null, Key>,
  ) {
    // Read once at open (what every process stored so far): a run's first write then sweeps only if
    // something is due, instead of always, in a transaction on its first update's path.
    this.#nextDue = this.#earliest();
  }

  /**
   * Stores `value` under `key`, expiring at `expiresAt`; `previousExpiresAt` is the entry's old expiry.
   * Outside a transaction, answers when the writes are committed: queued in one event turn, LMDB commits
   * them in one transaction (its `eventTurnBatching`), or skips them all with the block of an
   * `ifNoExists` they are queued in. Inside a transaction, what it answers is settled at once: the
   * transaction's own promise tells when they are committed.
   */
  put(key: string, value: unknown, expiresAt: number, previousExpiresAt: number | undefined): Promise<unknown> {
    if (previousExpiresAt !== undefined && previousExpiresAt !== expiresAt)
      void this.index.remove([previousExpiresAt, key]);
    void this.entries.put(key, value);
    if (expiresAt < this.#nextDue) this.#nextDue = expiresAt;
    return this.index.put([expiresAt, key], null);
  }

  /** The earliest expiry in the index: none, none for ever; a line that is not an index key, at once. */
  #earliest(): number {
    for (const key of this.index.getKeys({ limit: 1 })) return isIndexKey(key) ? key[0] : Number.NEGATIVE_INFINITY;
    return Number.POSITIVE_INFINITY;
  }

  /** Whether a write's `sweep` at `now` could find something to remove. */
  isDue(now: number): boolean {
    return now >= this.#nextDue;
  }

  remove(key: string, expiresAt: number | undefined): void {
    void this.entries.remove(key);
    if (expiresAt !== undefined) void this.index.remove([expiresAt, key]);
  }

  /**
   * Removes up to `limit` entries that expired at or before `now`, oldest first; answers how many.
   * Called by every write, so expired entries go at least as fast as new ones come: the store stays
   * about as large as what is live, without a timer to stop.
   */
  sweep(now: number, expiresAtOf: (value: unknown) => number | undefined, limit = SWEEP_BATCH): number {
    if (!this.isDue(now)) return 0;
    const due: Key[] = [];
    let next = Number.POSITIVE_INFINITY;
    // Collected first: removing entries while a cursor walks them is not something to rely on.
    for (const key of this.index.getKeys({ limit })) {
      if (isIndexKey(key) && key[0] > now) {
        next = key[0];
        break;
      }
      due.push(key);
    }
    // A full batch may have left more that is due: the next write looks again.
    this.#nextDue = due.length === limit ? Number.NEGATIVE_INFINITY : next;
    for (const indexKey of due) {
      void this.index.remove(indexKey);
      if (!isIndexKey(indexKey)) continue;
      const value = this.entries.get(indexKey[1]);
      if (value === undefined) continue;
      // Not if it was renewed meanwhile (it has a later index line of its own); yes if it is unreadable.
      const expiresAt = expiresAtOf(value);
      if (expiresAt === undefined || expiresAt <= now) void this.entries.remove(indexKey[1]);
    }
    return due.length;
  }

  /** Removes everything that expired at or before `now`, batch after batch; answers how many. */
  sweepAll(now: number, expiresAtOf: (value: unknown) => number | undefined): number {
    // Looks whatever this process knows: other processes' entries count too.
    this.#nextDue = Number.NEGATIVE_INFINITY;
    let swept = 0;
    let batch: number;
    do {
      batch = this.sweep(now, expiresAtOf);
      swept += batch;
    } while (batch === SWEEP_BATCH);
    return swept;
  }
}
