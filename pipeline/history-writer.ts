import type { HistoryStore, RunEntry } from './history.js';

/**
 * Writes a flow's run history in batches: the entries of every update settled in one turn of the event
 * loop go to the store in one write (one LMDB transaction, one Redis script), and while a write is under
 * way the next batch gathers. Under load that makes history a small part of an update's cost, where a
 * write per update was the largest; an update settled alone is written alone, one turn later.
 */
export class HistoryWriter {
  #pending: RunEntry[] = [];
  #draining = false;

  constructor(
    private readonly store: Pick<HistoryStore, 'addAll'>,
    /** A write that failed: its entries are lost to the history (never to delivery), and said so. */
    private readonly onError: (error: unknown) => void,
  ) {}

  /**
   * Queues an entry. Returns the promise of the write it starts, once everything queued until it ends is
   * written (the caller waits for it when stopping), or undefined when a write already under way takes it.
   */
  add(entry: RunEntry): Promise<void> | undefined {
    this.#pending.push(entry);
    if (this.#draining) return undefined;
    this.#draining = true;
    return this.#drain();
  }

  async #drain(): Promise<void> {
    // A turn later: what else settles in this turn joins the batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      try {
        await this.store.addAll(batch);
      } catch (error) {
        this.onError(error);
      }
    }
    this.#draining = false;
  }
}
