import type * as t from 'io-ts';
import { Observable, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { settle, type Envelope } from './envelope.js';
import { failed, Reasons, type Outcome } from './outcome.js';
import type {
  DeadLetterStore,
  DedupeStore,
  DeliveryLog,
  QualtricsSender,
  RateLimiter,
  TurnBook,
  Valve,
} from './ports.js';

/** The adapters an operator may use, injected by the pipeline. */
export interface OperatorContext {
  readonly dedupeStore: DedupeStore;
  readonly deliveryLog: DeliveryLog;
  readonly rateLimiter: RateLimiter;
  readonly sender: QualtricsSender;
  readonly deadLetters: DeadLetterStore;
  readonly valve: Valve;
  /** Per-person order across processes (with a journal in Redis); absent, `keepOrder` lets everything by. */
  readonly turnBook?: TurnBook;
  /** Time for waits and timers; marble tests pass their TestScheduler. */
  readonly scheduler?: SchedulerLike;
  /** Randomness for jitter; tests pass a fixed one. */
  readonly random?: () => number;
  /**
   * Emits once the pipeline stops (and at once to later subscribers): every wait ends, and an envelope
   * that was waiting is released unsettled (its source keeps it). Requests already sent still finish.
   */
  readonly stopping$?: Observable<unknown>;
}

/**
 * An operator as the pipeline knows it: a name, an options codec (decoded from config, errors reported
 * at their path) and a factory. Built-ins and plug-ins are defined the same way.
 */
export interface OperatorDefinition<C extends t.Mixed = t.Mixed> {
  readonly name: string;
  /** One line for `--help` and error messages. */
  readonly summary: string;
  readonly options: C;
  create(options: t.TypeOf<C>, context: OperatorContext): OperatorFunction<Envelope, Envelope>;
}

export const defineOperator = <C extends t.Mixed>(definition: OperatorDefinition<C>): OperatorDefinition<C> =>
  definition;

/** What a per-envelope step returns: the envelope to pass on, or the outcome to settle it with. */
export type StepResult = Envelope | Outcome;

const isEnvelope = (result: StepResult): result is Envelope => 'ticket' in result;

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * An operator from a synchronous step. An outcome settles the envelope and drops it from the stream; a
 * throw settles it as failed (`operator-error`) naming the operator, and the stream goes on, so one bad
 * profile costs no other data.
 */
export const perEnvelope =
  (name: string, step: (envelope: Envelope) => StepResult): OperatorFunction<Envelope, Envelope> =>
  (source) =>
    new Observable<Envelope>((subscriber) =>
      source.subscribe({
        next(envelope) {
          let result: StepResult;
          try {
            result = step(envelope);
          } catch (error) {
            settle(envelope, failed(Reasons.operatorError, { detail: `${name}: ${messageOf(error)}` }));
            return;
          }
          if (isEnvelope(result)) subscriber.next(result);
          else settle(envelope, result);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    );
