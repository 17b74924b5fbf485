import { LRUCache } from 'lru-cache';

export interface MemoryDeliveryLogOptions {
  /** Orders two positions: negative if the first came before; `undefined` if they cannot be ordered. */
  readonly compare: (a: string, b: string) => number | undefined;
  /** Most identities remembered; past it the least recently delivered is forgotten. Default 100,000. */
  readonly maxEntries?: number;
}

/**
 * The in-memory record of the latest position delivered per identity (tests, `send-test`, `test`):
 * an LRU cache (lru-cache), so the least recently delivered identity is forgotten first, in O(1).
 */
export class MemoryDeliveryLog {
  readonly #latest: LRUCache<string, string>;
  readonly #audiences: LRUCache<string, readonly string[]>;
  readonly #withdrawals: LRUCache<string, number>;
  readonly #compare: MemoryDeliveryLogOptions['compare'];

  constructor({ compare, maxEntries = 100_000 }: MemoryDeliveryLogOptions) {
    this.#compare = compare;
    this.#latest = new LRUCache({ max: maxEntries });
    this.#audiences = new LRUCache({ max: maxEntries });
    this.#withdrawals = new LRUCache({ max: maxEntries });
  }

  audiencesIn(identity: string): readonly string[] {
    return this.#audiences.get(identity) ?? [];
  }

  recordAudiencesIn(identity: string, audiences: readonly string[]): void {
    if (audiences.length === 0) this.#audiences.delete(identity);
    else this.#audiences.set(identity, audiences);
  }

  withdrawals(identity: string): number {
    return this.#withdrawals.get(identity) ?? 0;
  }

  recordWithdrawal(identity: string): void {
    this.#withdrawals.set(identity, this.withdrawals(identity) + 1);
  }

  lastDelivered(identity: string): string | undefined {
    // A look, not a use: only a delivery makes an identity recent.
    return this.#latest.peek(identity);
  }

  recordDelivered(identity: string, position: string): void {
    const current = this.#latest.peek(identity);
    if (current !== undefined && (this.#compare(current, position) ?? -1) > 0) return;
    this.#latest.set(identity, position);
  }
}
