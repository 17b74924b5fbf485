/** What the in-memory store answers; the same words as the operators' `LeaseResult`. */
export type MemoryLeaseResult = 'acquired' | 'committed' | 'leased';

interface Entry {
  readonly state: 'leased' | 'committed';
  readonly token?: string;
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

  acquire(key: string, token: string, leaseMs: number): MemoryLeaseResult {
    const entry = this.#live(key);
    if (entry) return entry.state === 'committed' ? 'committed' : 'leased';
    this.#set(key, { state: 'leased', token, expiresAt: this.#now() + leaseMs });
    return 'acquired';
  }

  renew(key: string, token: string, leaseMs: number): void {
    const entry = this.#live(key);
    if (entry?.state === 'leased' && entry.token === token) this.#set(key, { ...entry, expiresAt: this.#now() + leaseMs });
  }

  commit(key: string, _token: string, ttlMs: number): void {
    this.#set(key, { state: 'committed', expiresAt: this.#now() + ttlMs });
  }

  release(key: string, token: string): void {
    const entry = this.#entries.get(key);
    if (entry?.state === 'leased' && entry.token === token) this.#entries.delete(key);
  }

  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    return entry && entry.expiresAt > this.#now() ? entry : undefined;
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
