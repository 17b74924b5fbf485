import type { IdentityRef, Origin } from './envelope.js';
import type { Ledger } from './ledger.js';
import { failed, Reasons, type Outcome } from './outcome.js';
import { isPromiseLike } from './ports.js';

/** What a ticket is settled for, recorded with the outcome. */
export interface SettlementContext {
  readonly origin: Origin;
  readonly identity?: IdentityRef | undefined;
  /** When the envelope was received (epoch ms): settled minus received is its time in the pipeline. */
  readonly receivedAt?: number;
}

/**
 * Runs before an outcome is recorded and may replace it; a promise delays the recording (and so the
 * acknowledgement to the source) until it resolves. Dedupe uses one to commit or release its lease.
 */
export type SettleHook = (outcome: Outcome) => Outcome | PromiseLike<Outcome>;

/**
 * `later`, then `earlier` on what it made of the outcome. If `later` fails, `earlier` still runs, on the
 * outcome as it was, before the failure is passed on: an operator nearer the source must let go of what
 * it holds (dedupe its lease, and the renewal of it) whatever a hook after it did.
 */
const chain =
  (later: SettleHook, earlier: SettleHook): SettleHook =>
  (outcome) => {
    const failing = (error: unknown): Outcome | PromiseLike<Outcome> => {
      const rest = earlier(outcome);
      if (!isPromiseLike(rest)) throw error;
      return Promise.resolve(rest).then(() => Promise.reject(error));
    };
    let first: Outcome | PromiseLike<Outcome>;
    try {
      first = later(outcome);
    } catch (error) {
      return failing(error);
    }
    return isPromiseLike(first) ? Promise.resolve(first).then(earlier, failing) : earlier(first);
  };

export class TicketError extends Error {
  override readonly name = 'TicketError';
}

type TicketState = 'open' | 'settled' | 'released' | 'split' | 'handed-on';

/**
 * What a proxy ticket (the one a plug-in holds, see `Ticket.proxy`) does instead of recording: it hands
 * the outcome, or the misuse, to the pipeline's guard, which owns the real ticket.
 */
export interface TicketDelegate {
  settle(outcome: Outcome, context: SettlementContext): void;
  misuse(error: TicketError): void;
}

/**
 * The right and the duty to settle one envelope, exactly once. Settling records the outcome in the
 * ledger and, once every part of a split message is settled, tells the source it may acknowledge.
 * Settling twice is a programming error and throws, so a faulty operator is found, not hidden.
 */
export class Ticket {
  #state: TicketState = 'open';

  private constructor(
    /** Undefined only for a proxy, which records nothing. */
    private readonly books: Ledger | undefined,
    private readonly onDone: () => void,
    private readonly hook: SettleHook | undefined,
    /** Set on a proxy: settling goes to it, and misuse is reported to it instead of thrown. */
    private readonly delegate?: TicketDelegate,
  ) {}

  /** A ticket for one newly received message; `onDone` runs once it is settled (acknowledge the source). */
  static open(ledger: Ledger, onDone: () => void = () => {}): Ticket {
    ledger.receive(1);
    return new Ticket(ledger, onDone, undefined);
  }

  /**
   * A ticket that records nothing itself: settling it tells `delegate`, and misusing it (settling twice,
   * releasing, splitting, adding a hook) is reported to `delegate` rather than thrown into the code that
   * holds it. The guard gives one to each plug-in, for each envelope, and keeps the real ticket: so a
   * plug-in can neither settle an envelope it passed on, nor throw the pipeline off with a mistake.
   */
  static proxy(delegate: TicketDelegate): Ticket {
    return new Ticket(undefined, () => {}, undefined, delegate);
  }

  /** The ledger this ticket records in (every ticket but a proxy has one, and a proxy never records). */
  private get ledger(): Ledger {
    if (!this.books) throw new TicketError('a proxy ticket records nothing');
    return this.books;
  }

  get isOpen(): boolean {
    return this.#state === 'open';
  }

  settle(outcome: Outcome, context: SettlementContext): void {
    if (!this.#take('settled')) return;
    if (this.delegate) {
      this.delegate.settle(outcome, context);
      return;
    }
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
    if (this.delegate) {
      this.delegate.misuse(
        new TicketError('an operator of a plug-in cannot release an update: pass it on or settle it'),
      );
      return;
    }
    if (!this.#take('released')) return;
    const done = (): void => this.ledger.release();
    if (!this.hook) {
      done();
      return;
    }
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
    if (this.delegate) throw new TicketError('a plug-in cannot split an update');
    if (!this.#take('split')) throw new TicketError('a ticket that is no longer open cannot be split');
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
    if (this.delegate) {
      // A plug-in's hook would never run (the guard holds the real ticket): say so, and change nothing.
      this.delegate.misuse(new TicketError('a plug-in cannot add a settle hook; it is ignored'));
      return this;
    }
    if (!this.#take('handed-on')) throw new TicketError('a ticket that is no longer open cannot take a hook');
    return new Ticket(this.books, this.onDone, this.#composed(hook));
  }

  #composed(hook: SettleHook): SettleHook {
    return this.hook ? chain(hook, this.hook) : hook;
  }

  /** Moves an open ticket to `next`; anything else is misuse: thrown, or reported by a proxy. */
  #take(next: TicketState): boolean {
    if (this.#state === 'open') {
      this.#state = next;
      return true;
    }
    const error = new TicketError(`ticket already ${this.#state}, cannot be ${next}`);
    if (!this.delegate) throw error;
    this.delegate.misuse(error);
    return false;
  }
}
