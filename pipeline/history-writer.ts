import type { Observable } from 'rxjs';
import type { Settlement } from '../operators/model/ledger.js';
import { Reasons } from '../operators/model/outcome.js';
import { messageOf } from '../operators/model/errors.js';
import { copyWith } from '../operators/model/copy-with.js';
import { namedRunEntryOf, type RunEntry, runEntryOf } from './history.js';

/**
 * How long a batch gathers: a second, as log shippers flush (Vector's and Fluent Bit's default), so that
 * updates settling one at a time share a write; what is on screen or in `history` is that much behind.
 */
const GATHER_MS = 1000;
/** Written at once when this many entries wait: a burst does not hold more than this in memory for a write. */
const MAX_BATCH = 1000;

/** Whether an outcome is only counted in the history (see `HistoryWriter`), not given an entry of its own. */
const countedOnly = ({ outcome }: Settlement): boolean =>
  outcome.kind === 'excluded' && outcome.reason === Reasons.notQualified;

/** Where the writer puts its batches: a flow's `HistoryStore` (which takes other lines too). */
type RunEntrySink = { addAll(entries: readonly RunEntry[]): void | Promise<void> };

/** The keyed hash of an identity key (see `IdentityHasher`), written as an entry's `person`. */
type NameOf = (identityKey: string) => Promise<string>;

export interface HistoryWriterOptions {
  /** The keyed hash of an identity key, written as an entry's `person` so that `forget` finds it. */
  readonly nameOf?: NameOf | undefined;
  /** How long a batch gathers; 0: one turn of the event loop. */
  readonly gatherMs?: number;
  readonly maxBatch?: number;
}

/**
 * Writes a flow's run history in batches: the outcomes of every update settled within `gatherMs` of the
 * first go to the store in one write (one LMDB transaction, one Redis script), and while a write is under
 * way the next batch gathers. Under load that makes history a small part of an update's cost, where a
 * write per update was the largest; paced updates, which settle one at a time, share a write too (at 20
 * a second, one Redis script for 20 updates where it was one each: issue #13's goal of at most 3 commands
 * per delivered update). The history is at most `gatherMs` behind the outcomes, as a log shipper's
 * flush interval; `flush()` (a stop) writes at once, and so does a batch grown to `maxBatch`.
 *
 * Updates excluded as `not-qualified` (in none of the mapped audiences: most of a feed, as AEP sends
 * every change of a profile) are counted, not listed: a batch's are one entry, the last of them, with
 * `count` saying how many it stands for. Every other outcome has its own entry.
 *
 * With `nameOf`, each entry names its person (`person`, the last one's for a counted entry) so that
 * `forget` finds it; an entry whose name cannot be had (the hashing key unreadable) is not written, and
 * said so, as an entry that `forget` could not find must not be kept.
 */
export class HistoryWriter {
  #pending: Settlement[] = [];
  /** The batch's last not-qualified update, how many there were, and where among the others it settled. */
  #counted: { last: Settlement; count: number; at: number } | undefined;
  #draining = false;
  /** Ends the gathering wait under way, if any. */
  #gathered: (() => void) | undefined;
  readonly #nameOf: NameOf | undefined;
  readonly #gatherMs: number;
  readonly #maxBatch: number;

  constructor(
    private readonly store: RunEntrySink,
    /** A write that failed: its entries are lost to the history (never to delivery), and said so. */
    private readonly onError: (error: unknown) => void,
    { nameOf, gatherMs = GATHER_MS, maxBatch = MAX_BATCH }: HistoryWriterOptions = {},
  ) {
    this.#nameOf = nameOf;
    this.#gatherMs = gatherMs;
    this.#maxBatch = maxBatch;
  }

  /** Ends the wait for more outcomes: what was gathered is written now (when stopping). */
  flush(): void {
    this.#gathered?.();
  }

  /**
   * Queues an outcome. Returns the promise of the write it starts, once everything queued until it ends
   * is written (the caller waits for it when stopping), or undefined when a write under way takes it.
   */
  add(settlement: Settlement): Promise<void> | undefined {
    if (!countedOnly(settlement)) this.#pending.push(settlement);
    else if (this.#counted) {
      this.#counted.last = settlement;
      this.#counted.count += 1;
      this.#counted.at = this.#pending.length;
    } else this.#counted = { last: settlement, count: 1, at: this.#pending.length };
    if (this.#pending.length >= this.#maxBatch) this.flush();
    if (this.#draining) return undefined;
    this.#draining = true;
    return this.#drain();
  }

  /** The settlements gathered so far, each with the count its entry carries (if more than one). */
  #take(): Array<{ settlement: Settlement; count?: number }> {
    const taken: Array<{ settlement: Settlement; count?: number }> = this.#pending.map((settlement) => ({
      settlement,
    }));
    if (this.#counted) {
      // Where its last update settled, so the history keeps the order outcomes came in.
      const { last, count, at } = this.#counted;
      taken.splice(at, 0, count === 1 ? { settlement: last } : { settlement: last, count });
    }
    this.#pending = [];
    this.#counted = undefined;
    return taken;
  }

  async #entries(taken: ReadonlyArray<{ settlement: Settlement; count?: number }>): Promise<RunEntry[]> {
    const nameOf = this.#nameOf;
    const withCount = (entry: RunEntry, count: number | undefined): RunEntry =>
      count === undefined ? entry : copyWith(entry, { count });
    if (!nameOf) return taken.map(({ settlement, count }) => withCount(runEntryOf(settlement), count));
    const named = await Promise.allSettled(taken.map(({ settlement }) => namedRunEntryOf(settlement, nameOf)));
    const entries: RunEntry[] = [];
    let failure: PromiseRejectedResult | undefined;
    for (const [index, result] of named.entries()) {
      if (result.status === 'fulfilled') entries.push(withCount(result.value, taken[index]!.count));
      else failure ??= result;
    }
    if (failure) this.#report(failure.reason);
    return entries;
  }

  async #drain(): Promise<void> {
    try {
      await this.#gather();
      for (let taken = this.#take(); taken.length > 0; taken = this.#take()) {
        let entries: RunEntry[] = [];
        try {
          entries = await this.#entries(taken);
          if (entries.length > 0) await this.#write(entries);
        } catch (error) {
          this.#report(new Error(`${lostRows(entries)} not written to the run history: ${messageOf(error)}`));
        }
      }
    } finally {
      // Whatever went wrong, the next outcome starts a write again: history never stops for good.
      this.#draining = false;
    }
  }

  /** Waits `gatherMs` (0: a turn of the event loop) for what else settles to join the batch, or less if flushed. */
  #gather(): Promise<void> {
    if (this.#pending.length >= this.#maxBatch) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let cancel: () => void;
      const done = (): void => {
        this.#gathered = undefined;
        cancel();
        resolve();
      };
      if (this.#gatherMs > 0) {
        // Unref'd: gathering is no reason to keep a process alive; whoever stops one flushes first.
        const timer = setTimeout(done, this.#gatherMs).unref();
        cancel = () => clearTimeout(timer);
      } else {
        const immediate = setImmediate(done);
        cancel = () => clearImmediate(immediate);
      }
      this.#gathered = done;
    });
  }

  /** One write, tried a second time if it fails (a store's moment of trouble costs no rows). */
  async #write(entries: readonly RunEntry[]): Promise<void> {
    try {
      await this.store.addAll(entries);
    } catch {
      await this.store.addAll(entries);
    }
  }

  /** Tells `onError`, which must not stop the writer by throwing itself. */
  #report(error: unknown): void {
    try {
      this.onError(error);
    } catch {
      // The report failed too (a logger that throws): the writer goes on regardless.
    }
  }
}

/** `3 rows (positions 7, 8, 9: failed 1, delivered 2)`: what a write that failed would have held. */
const lostRows = (entries: readonly RunEntry[]): string => {
  const byOutcome = new Map<string, number>();
  for (const { outcome } of entries) byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
  const outcomes = [...byOutcome].map(([outcome, n]) => `${outcome} ${n}`).join(', ');
  return `${entries.length} row(s) (positions ${entries.map((e) => e.position).join(', ')}: ${outcomes})`;
};

/**
 * Records every outcome a ledger settles in `history` (as `run` and `replay` both do), in batches (see
 * `HistoryWriter`); `settled()` writes what is gathering at once and waits for the writes still under
 * way, so the last outcomes reach the history before a process exits.
 */
export const recordHistory = (
  settlements$: Observable<Settlement>,
  history: RunEntrySink,
  onError: (error: unknown) => void,
  options?: HistoryWriterOptions,
): { settled(): Promise<void> } => {
  const writer = new HistoryWriter(history, onError, options);
  const writes = new Set<Promise<void>>();
  settlements$.subscribe((settlement) => {
    const write = writer.add(settlement);
    if (write === undefined) return;
    writes.add(write);
    void write.finally(() => writes.delete(write));
  });
  return {
    settled: async () => {
      writer.flush();
      await Promise.all(writes);
    },
  };
};
