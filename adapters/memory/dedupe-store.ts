import { LRUCache } from 'lru-cache';

/** What the in-memory store answers; the same words as the operators' `LeaseResult`. */
export type MemoryLeaseResult = 'acquired' | 'committed' | 'leased';

interface Lease {
  readonly token: string;
  readonly expiresAt: number;
}

export interface MemoryDedupeStoreOptions {
  /** Most delivered payloads remembered; past it the least recently marked is forgotten. Default 100,000. */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

/**
 * The in-memory dedupe store, for tests, `send-test` and `test`. Delivered payloads live in an LRU
 * cache (lru-cache: O(1) eviction), bounded by `maxEntries`: past it the oldest marks are forgotten
 * (that payload may then be sent once more). Each mark holds its own expiry, checked against `now`:
 * exact to the millisecond and right under a virtual clock that starts at 0 (lru-cache's own TTL
 * treats a start time of 0 as "never stale"). Leases in flight are kept apart and
 * never evicted; the pipeline's in-flight credit bounds how many there are. Answers synchronously,
 * which also makes it the store marble tests use.
 */
export class MemoryDedupeStore {
  /** Delivered payload key -> when its mark expires (epoch ms). */
  readonly #committed: LRUCache<string, number>;
  readonly #leases = new Map<string, Lease>();
  readonly #now: () => number;

  constructor({ maxEntries = 100_000, now = Date.now }: MemoryDedupeStoreOptions = {}) {
    this.#now = now;
    this.#committed = new LRUCache({ max: maxEntries });
  }

  /** Marks and leases held now. */
  get size(): number {
    return this.#committed.size + this.#leases.size;
  }

  acquire(key: string, token: string, leaseMs: number): MemoryLeaseResult {
    if (this.#liveMark(key)) return 'committed';
    if (this.#liveLease(key)) return 'leased';
    this.#leases.set(key, { token, expiresAt: this.#now() + leaseMs });
    return 'acquired';
  }

  renew(key: string, token: string, leaseMs: number): void {
    if (this.#liveLease(key)?.token === token) this.#leases.set(key, { token, expiresAt: this.#now() + leaseMs });
  }

  commit(key: string, _token: string, ttlMs: number): void {
    this.#leases.delete(key);
    this.#committed.set(key, this.#now() + ttlMs);
  }

  release(key: string, token: string): void {
    if (this.#leases.get(key)?.token === token) this.#leases.delete(key);
  }

  /** Whether the key's payload was delivered within its TTL; a lapsed mark is forgotten here. */
  #liveMark(key: string): boolean {
    const expiresAt = this.#committed.peek(key);
    if (expiresAt === undefined) return false;
    if (expiresAt > this.#now()) return true;
    this.#committed.delete(key);
    return false;
  }

  /** The key's lease if it has not lapsed; a lapsed one is forgotten here. */
  #liveLease(key: string): Lease | undefined {
    const lease = this.#leases.get(key);
    if (lease === undefined || lease.expiresAt > this.#now()) return lease;
    this.#leases.delete(key);
    return undefined;
  }
}
