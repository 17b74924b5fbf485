import { BehaviorSubject, Subject, filter, firstValueFrom, map, type Observable } from 'rxjs';
import type { IdentityRef, Origin } from './envelope.js';
import type { Outcome } from './outcome.js';

/** One final outcome with what it was for: the ledger's unit of account, and what history and metrics see. */
export interface Settlement {
  readonly outcome: Outcome;
  readonly origin: Origin;
  readonly identity?: IdentityRef | undefined;
  /** When it was received and settled (epoch ms). */
  readonly receivedAt?: number | undefined;
  readonly at: number;
}

/** Counts by outcome. `received - settled - released = inFlight` at every moment. */
export interface LedgerCounts {
  readonly received: number;
  readonly delivered: number;
  readonly duplicate: number;
  readonly excluded: Readonly<Record<string, number>>;
  readonly failed: Readonly<Record<string, number>>;
  readonly settled: number;
  /**
   * Handed back to the source unsettled when the pipeline stopped: a stream keeps them pending for the
   * next start; from a plain WebSocket they are lost (and the process says so).
   */
  readonly released: number;
  readonly inFlight: number;
}

/** The sum of counts by reason (`excluded`, `failed`): how many were excluded, or failed, at all. */
export const totalOf = (counts: Readonly<Record<string, number>>): number =>
  Object.values(counts).reduce((total, n) => total + n, 0);

/**
 * The pipeline's books: every envelope is counted once when received and once when settled, so a lost
 * envelope shows as a count that never returns to zero in flight. The in-flight count is also the
 * backpressure credit the sources watch.
 */
export class Ledger {
  #received = 0;
  #delivered = 0;
  #duplicate = 0;
  #released = 0;
  #settled = 0;
  readonly #excluded: Record<string, number> = {};
  readonly #failed: Record<string, number> = {};
  readonly #settlements = new Subject<Settlement>();
  readonly #inFlight = new BehaviorSubject(0);
  readonly #hookErrors = new Subject<unknown>();

  /** Every settlement, as it happens. */
  readonly settlements$: Observable<Settlement> = this.#settlements.asObservable();
  /** The number of envelopes received and not yet settled; emits on every change. */
  readonly inFlight$: Observable<number> = this.#inFlight.asObservable();
  /**
   * Faults that are no one update's outcome: a settlement hook that threw (a store that failed to commit;
   * the outcome still counts), a plug-in that misused a ticket or passed on what it was not given.
   */
  readonly hookErrors$: Observable<unknown> = this.#hookErrors.asObservable();

  /** Count `n` newly received envelopes. */
  receive(n = 1): void {
    this.#received += n;
    this.#inFlight.next(this.#inFlight.value + n);
  }

  /** Count one final outcome. Called by tickets only, exactly once per received envelope. */
  record(settlement: Settlement): void {
    this.#count(settlement.outcome);
    this.#inFlight.next(this.#inFlight.value - 1);
    this.#settlements.next(settlement);
  }

  /**
   * Count one update received and settled at once (the intake's fast path for an update that is not
   * qualified): as `receive` then `record`, with one in-flight emission instead of two, since in flight
   * does not change (it still tells the watchers of `received` that it grew).
   */
  receiveSettled(settlement: Settlement): void {
    this.#received += 1;
    this.#count(settlement.outcome);
    this.#inFlight.next(this.#inFlight.value);
    this.#settlements.next(settlement);
  }

  #count(outcome: Outcome): void {
    switch (outcome.kind) {
      case 'delivered':
        this.#delivered += 1;
        break;
      case 'duplicate':
        this.#duplicate += 1;
        break;
      case 'excluded':
        this.#excluded[outcome.reason] = (this.#excluded[outcome.reason] ?? 0) + 1;
        break;
      case 'failed':
        this.#failed[outcome.reason] = (this.#failed[outcome.reason] ?? 0) + 1;
        break;
    }
    this.#settled += 1;
  }

  /** Count one envelope handed back unsettled (the pipeline is stopping). Called by tickets only. */
  release(): void {
    this.#released += 1;
    this.#inFlight.next(this.#inFlight.value - 1);
  }

  reportHookError(error: unknown): void {
    this.#hookErrors.next(error);
  }

  get inFlight(): number {
    return this.#inFlight.value;
  }

  /** As in `counts()`, without copying the counts by reason: for what reads them at every update. */
  get received(): number {
    return this.#received;
  }

  get delivered(): number {
    return this.#delivered;
  }

  get settled(): number {
    return this.#settled;
  }

  counts(): LedgerCounts {
    const excluded = { ...this.#excluded };
    const failed = { ...this.#failed };
    const settled = this.#delivered + this.#duplicate + totalOf(excluded) + totalOf(failed);
    return {
      received: this.#received,
      delivered: this.#delivered,
      duplicate: this.#duplicate,
      excluded,
      failed,
      settled,
      released: this.#released,
      inFlight: this.#received - settled - this.#released,
    };
  }

  /** Resolves once nothing is in flight (settled or released) and at least `received` envelopes were received. */
  whenSettled(received = 0): Promise<LedgerCounts> {
    return firstValueFrom(
      this.#inFlight.pipe(
        filter((inFlight) => inFlight === 0 && this.#received >= received),
        map(() => this.counts()),
      ),
    );
  }
}

/** Several ledgers' counts added up (every flow of a process: what the process as a whole did). */
export const totalCounts = (all: readonly LedgerCounts[]): LedgerCounts => {
  const add = (a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>) => {
    const sum: Record<string, number> = { ...a };
    for (const [reason, n] of Object.entries(b)) sum[reason] = (sum[reason] ?? 0) + n;
    return sum;
  };
  return all.reduce(
    (total, c) => ({
      received: total.received + c.received,
      delivered: total.delivered + c.delivered,
      duplicate: total.duplicate + c.duplicate,
      excluded: add(total.excluded, c.excluded),
      failed: add(total.failed, c.failed),
      settled: total.settled + c.settled,
      released: total.released + c.released,
      inFlight: total.inFlight + c.inFlight,
    }),
    new Ledger().counts(),
  );
};
