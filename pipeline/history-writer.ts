import type { Settlement } from '../operators/model/ledger.js';
import { Reasons } from '../operators/model/outcome.js';
import { type HistoryStore, type RunEntry, runEntryOf } from './history.js';

/** Whether an outcome is only counted in the history (see `HistoryWriter`), not given an entry of its own. */
const countedOnly = ({ outcome }: Settlement): boolean =>
  outcome.kind === 'excluded' && outcome.reason === Reasons.notQualified;

/**
 * Writes a flow's run history in batches: the outcomes of every update settled in one turn of the event
 * loop go to the store in one write (one LMDB transaction, one Redis script), and while a write is under
 * way the next batch gathers. Under load that makes history a small part of an update's cost, where a
 * write per update was the largest; an update settled alone is written alone, one turn later.
 *
 * Updates excluded as `not-qualified` (in none of the mapped audiences: most of a feed, as AEP sends
 * every change of a profile) are counted, not listed: a batch's are one entry, the last of them, with
 * `count` saying how many it stands for. Every other outcome has its own entry.
 */
export class HistoryWriter {
  #pending: Settlement[] = [];
  /** The batch's last not-qualified update, and how many there were. */
  #counted: { last: Settlement; count: number } | undefined;
  #draining = false;

  constructor(
    private readonly store: Pick<HistoryStore, 'addAll'>,
    /** A write that failed: its entries are lost to the history (never to delivery), and said so. */
    private readonly onError: (error: unknown) => void,
  ) {}

  /**
   * Queues an outcome. Returns the promise of the write it starts, once everything queued until it ends
   * is written (the caller waits for it when stopping), or undefined when a write under way takes it.
   */
  add(settlement: Settlement): Promise<void> | undefined {
    if (!countedOnly(settlement)) this.#pending.push(settlement);
    else if (this.#counted) {
      this.#counted.last = settlement;
      this.#counted.count += 1;
    } else this.#counted = { last: settlement, count: 1 };
    if (this.#draining) return undefined;
    this.#draining = true;
    return this.#drain();
  }

  #batch(): RunEntry[] {
    const entries = this.#pending.map(runEntryOf);
    if (this.#counted) {
      const { last, count } = this.#counted;
      entries.push(count === 1 ? runEntryOf(last) : { ...runEntryOf(last), count });
    }
    this.#pending = [];
    this.#counted = undefined;
    return entries;
  }

  async #drain(): Promise<void> {
    // A turn later: what else settles in this turn joins the batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (let batch = this.#batch(); batch.length > 0; batch = this.#batch()) {
      try {
        await this.store.addAll(batch);
      } catch (error) {
        this.onError(error);
      }
    }
    this.#draining = false;
  }
}
