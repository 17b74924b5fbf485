export interface MemoryDeliveryLogOptions {
  /** Orders two positions: negative if the first came before; `undefined` if they cannot be ordered. */
  readonly compare: (a: string, b: string) => number | undefined;
  /** Most identities remembered; past it the least recently delivered is forgotten. Default 100,000. */
  readonly maxEntries?: number;
}

/** The embedded record of the latest position delivered per identity, for one process without Redis. */
export class MemoryDeliveryLog {
  readonly #latest = new Map<string, string>();
  readonly #compare: MemoryDeliveryLogOptions['compare'];
  readonly #maxEntries: number;

  constructor({ compare, maxEntries = 100_000 }: MemoryDeliveryLogOptions) {
    this.#compare = compare;
    this.#maxEntries = maxEntries;
  }

  lastDelivered(identity: string): string | undefined {
    return this.#latest.get(identity);
  }

  recordDelivered(identity: string, position: string): void {
    const current = this.#latest.get(identity);
    if (current !== undefined && (this.#compare(current, position) ?? -1) > 0) return;
    this.#latest.delete(identity);
    this.#latest.set(identity, position);
    if (this.#latest.size > this.#maxEntries) this.#latest.delete(this.#latest.keys().next().value!);
  }
}
