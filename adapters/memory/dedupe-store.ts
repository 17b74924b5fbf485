/** What the in-memory store answers; the same words as the operators' `LeaseResult`. */
export type MemoryLeaseResult = 'acquired' | 'committed' | 'leased';

interface Entry {
  readonly state: 'leased' | 'committed';
  readonly expiresAt: number;
}

export interface MemoryDedupeStoreOptions {
  /** Most keys remembered; past it the oldest committed key is forgotten first. Default 100,000. */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

/**
 * The embedded dedupe store, for one process without Redis. Bounded: at `maxEntries` it forgets the
 * oldest delivered payloads (which may then be sent once more), never a lease in flight. Answers
 * synchronously, which also makes it the store marble tests use.
 */
export class MemoryDedupeStore {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor({ maxEntries = 100_000, now = Date.now }: MemoryDedupeStoreOptions = {}) {
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  acquire(key: string, leaseMs: number): MemoryLeaseResult {
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt > this.#now()) return entry.state === 'committed' ? 'committed' : 'leased';
    this.#set(key, { state: 'leased', expiresAt: this.#now() + leaseMs });
    return 'acquired';
  }

  commit(key: string, ttlMs: number): void {
    this.#set(key, { state: 'committed', expiresAt: this.#now() + ttlMs });
  }

  release(key: string): void {
    if (this.#entries.get(key)?.state === 'leased') this.#entries.delete(key);
  }

  #set(key: string, entry: Entry): void {
    // Delete first so the key moves to the end: iteration order is then oldest first.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    if (this.#entries.size <= this.#maxEntries) return;
    const now = this.#now();
    for (const [oldKey, old] of this.#entries) {
      if (old.state === 'committed' || old.expiresAt <= now) {
        this.#entries.delete(oldKey);
        if (this.#entries.size <= this.#maxEntries) return;
      }
    }
  }
}
