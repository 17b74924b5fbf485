import type { IdentityRef, Ledger, Origin } from './ledger.js';
import { failed, Reasons, type Outcome } from './outcome.js';
import { isPromiseLike } from './ports.js';

/** What a ticket is settled for, recorded with the outcome. */
export interface SettlementContext {
  readonly origin: Origin;
  readonly identity?: IdentityRef;
  /** When the envelope was received (epoch ms): settled minus received is its time in the pipeline. */
  readonly receivedAt?: number;
}

/**
 * Runs before an outcome is recorded and may replace it; a promise delays the recording (and so the
 * acknowledgement to the source) until it resolves. Dedupe uses one to commit or release its lease.
 */
export type SettleHook = (outcome: Outcome) => Outcome | PromiseLike<Outcome>;

export class TicketError extends Error {
  override readonly name = 'TicketError';
}

type TicketState = 'open' | 'settled' | 'released' | 'split' | 'handed-on';

/**
 * The right and the duty to settle one envelope, exactly once. Settling records the outcome in the
 * ledger and, once every part of a split message is settled, tells the source it may acknowledge.
 * Settling twice is a programming error and throws, so a faulty operator is found, not hidden.
 */
export class Ticket {
  #state: TicketState = 'open';

  private constructor(
    private readonly ledger: Ledger,
    private readonly onDone: () => void,
    private readonly hook: SettleHook | undefined,
  ) {}

  /** A ticket for one newly received message; `onDone` runs once it is settled (acknowledge the source). */
  static open(ledger: Ledger, onDone: () => void = () => {}): Ticket {
    ledger.receive(1);
    return new Ticket(ledger, onDone, undefined);
  }

  get isOpen(): boolean {
    return this.#state === 'open';
  }

  settle(outcome: Outcome, context: SettlementContext): void {
    this.#take('settled');
    const record = (final: Outcome): void => {
      this.ledger.record({
        outcome: final,
        origin: context.origin,
        identity: context.identity,
        receivedAt: context.receivedAt,
        at: Date.now(),
      });
      this.onDone();
    };
    if (!this.hook) {
      record(outcome);
      return;
    }
    let hooked: Outcome | PromiseLike<Outcome>;
    try {
      hooked = this.hook(outcome);
    } catch (error) {
      this.ledger.reportHookError(error);
      record(outcome);
      return;
    }
    if (!isPromiseLike(hooked)) {
      record(hooked);
      return;
    }
    hooked.then(record, (error: unknown) => {
      this.ledger.reportHookError(error);
      record(outcome);
    });
  }

  /**
   * Hands the envelope back unsettled because the pipeline is stopping: the source is not told it is
   * done (a stream keeps the entry pending for the next start), and the hooks run as for a failure, so
   * what they hold (a dedupe lease) is let go at once rather than when it lapses.
   */
  release(): void {
    this.#take('released');
    const done = (): void => this.ledger.release();
    if (!this.hook) return done();
    try {
      const hooked = this.hook(
        failed(Reasons.shutdown, { detail: 'the pipeline stopped before this update was settled' }),
      );
      if (isPromiseLike(hooked)) {
        hooked.then(done, (error: unknown) => {
          this.ledger.reportHookError(error);
          done();
        });
        return;
      }
    } catch (error) {
      this.ledger.reportHookError(error);
    }
    done();
  }

  /**
   * Splits a message into `count` envelopes (one per profile it held). Each part is counted as received
   * and settled on its own; the source is told once the last one is settled.
   */
  split(count: number): Ticket[] {
    if (!Number.isInteger(count) || count < 1) throw new TicketError(`cannot split a ticket into ${count} parts`);
    this.#take('split');
    this.ledger.receive(count - 1);
    let remaining = count;
    const partDone = (): void => {
      remaining -= 1;
      if (remaining === 0) this.onDone();
    };
    return Array.from({ length: count }, () => new Ticket(this.ledger, partDone, this.hook));
  }

  /**
   * Hands the duty on to a new ticket whose outcome first passes through `hook`. Hooks added later run
   * first (the operator nearest the sink sees the outcome first). This ticket can no longer be settled.
   */
  withHook(hook: SettleHook): Ticket {
    this.#take('handed-on');
    const previous = this.hook;
    const composed: SettleHook = previous
      ? (outcome) => {
          const first = hook(outcome);
          return isPromiseLike(first) ? Promise.resolve(first).then(previous) : previous(first);
        }
      : hook;
    return new Ticket(this.ledger, this.onDone, composed);
  }

  #take(next: TicketState): void {
    if (this.#state !== 'open') throw new TicketError(`ticket already ${this.#state}, cannot be ${next}`);
    this.#state = next;
  }
}
