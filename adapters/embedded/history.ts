import type { StateStore } from './state-store.js';

export interface EmbeddedHistoryOptions<T> {
  /** Entries kept at most; the oldest go first. */
  readonly size: number;
  /** Tells an entry from something else read back from disk (an older program's format, say). */
  readonly isEntry: (value: unknown) => value is T;
}

/**
 * The run history on disk, for a process without Redis: the last `size` entries, kept across restarts
 * and readable by `qualtrics-automations history` in another process while `run` writes (LMDB readers
 * never wait for the writer). Each entry gets the next sequence number in the transaction that adds
 * it, so entries from several processes interleave in the order they were written, never collide.
 */
export class EmbeddedHistory<T> {
  readonly size: number;
  readonly #state: StateStore;
  readonly #isEntry: (value: unknown) => value is T;

  constructor(state: StateStore, { size, isEntry }: EmbeddedHistoryOptions<T>) {
    if (!Number.isInteger(size) || size < 1) {
      throw new Error(`embedded history: size must be a positive integer, got ${size}`);
    }
    this.size = size;
    this.#state = state;
    this.#isEntry = isEntry;
  }

  /** Resolves once the entry is committed (visible to every process). */
  add(entry: T): Promise<void> {
    return this.addAll([entry]);
  }

  /** Entries oldest first, in one transaction (a batch costs about what one entry does). */
  async addAll(entries: readonly T[]): Promise<void> {
    if (entries.length === 0) return;
    const { history } = this.#state;
    await history.transaction(() => {
      const [last] = history.getKeys({ reverse: true, limit: 1 });
      let next = typeof last === 'number' ? last : 0;
      // Part of this transaction, whose promise is awaited: not the writes' own.
      for (const entry of entries) void history.put(++next, entry);
      // Everything older than the last `size`: the batch as a rule, more if `size` was lowered.
      for (const key of [...history.getKeys({ end: next - this.size + 1 })]) void history.remove(key);
    });
  }

  /** Newest first. An entry that does not read back as one is left out. */
  list(): T[] {
    const entries: T[] = [];
    for (const { value } of this.#state.history.getRange({ reverse: true, limit: this.size })) {
      if (this.#isEntry(value)) entries.push(value);
    }
    return entries;
  }
}
