import type * as t from 'io-ts';
import type { Observable, OperatorFunction, SchedulerLike } from 'rxjs';
import type { Envelope } from './envelope.js';
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
  /** Faults that are no one update's outcome (a plug-in passing on what it was not given): logged. */
  readonly report?: (error: Error) => void;
}

/**
 * An operator as the pipeline knows it: a name, an options codec (decoded from config, errors reported
 * at their path) and a factory. Built-ins and plug-ins are defined the same way.
 */
export interface OperatorDefinition<C extends t.Mixed = t.Mixed, N extends string = string> {
  readonly name: N;
  /** One line saying what it does: `validate` lists the chain with it. */
  readonly summary: string;
  readonly options: C;
  create(options: t.TypeOf<C>, context: OperatorContext): OperatorFunction<Envelope, Envelope>;
}

export const defineOperator = <C extends t.Mixed, const N extends string>(
  definition: OperatorDefinition<C, N>,
): OperatorDefinition<C, N> => definition;
