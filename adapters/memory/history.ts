/** The last `size` entries, newest first, in a ring: the embedded run history. */
export class MemoryHistory<T> {
  readonly #entries: T[] = [];
  #next = 0;

  constructor(readonly size: number) {}

  add(entry: T): void {
    if (this.#entries.length < this.size) this.#entries.push(entry);
    else this.#entries[this.#next] = entry;
    this.#next = (this.#next + 1) % this.size;
  }

  addAll(entries: readonly T[]): void {
    for (const entry of entries) this.add(entry);
  }

  /** Newest first. */
  list(): T[] {
    const count = this.#entries.length;
    return Array.from({ length: count }, (_, i) => this.#entries[(this.#next - 1 - i + count * 2) % count]!);
  }
}
