import {
  EMPTY,
  Observable,
  catchError,
  defaultIfEmpty,
  defer,
  from,
  isObservable,
  map,
  mergeMap,
  of,
  take,
  type OperatorFunction,
} from 'rxjs';
import { laneKeyOf, settle, type Envelope } from './envelope.js';
import { messageOf } from './errors.js';
import { laneMap } from './lanes.js';
import { failed, Reasons, type Outcome } from './outcome.js';
import { isPromiseLike } from './ports.js';

/** What a per-envelope step returns: the envelope to pass on, or the outcome to settle it with. */
export type StepResult = Envelope | Outcome;

const isEnvelope = (result: StepResult): result is Envelope => 'ticket' in result;

/** A step that threw (or rejected), told apart from any result by a class no step returns. */
class Threw {
  constructor(readonly error: unknown) {}
}

/** Passes the step's envelope on, or settles with its outcome; a throw is this envelope's `operator-error`. */
const finish = (name: string, envelope: Envelope, result: StepResult | Threw): Envelope | undefined => {
  if (result instanceof Threw) {
    settle(envelope, failed(Reasons.operatorError, { detail: `${name}: ${messageOf(result.error)}` }));
    return undefined;
  }
  if (isEnvelope(result)) return result;
  settle(envelope, result);
  return undefined;
};

/**
 * An operator from a synchronous step. An outcome settles the envelope and drops it from the stream; a
 * throw settles it as failed (`operator-error`) naming the operator, and the stream goes on, so one bad
 * profile costs no other data.
 *
 * @example
 * perEnvelope('requireConsent', (envelope) =>
 *   getPath(envelope.profile, 'consents.marketing.val') === 'y' ? envelope : excluded('no-consent'))
 */
export const perEnvelope =
  (name: string, step: (envelope: Envelope) => StepResult): OperatorFunction<Envelope, Envelope> =>
  (source) =>
    new Observable<Envelope>((subscriber) =>
      source.subscribe({
        next(envelope) {
          let result: StepResult | Threw;
          try {
            result = step(envelope);
          } catch (error) {
            result = new Threw(error);
          }
          const passed = finish(name, envelope, result);
          if (passed) subscriber.next(passed);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    );

export interface AsyncStepOptions {
  /** Steps running at once (default 8). One person's updates still run one at a time, in order. */
  readonly concurrency?: number;
}

/** What an asynchronous step returns: its result now, or later (a promise, or an observable's first value). */
export type AsyncStepResult = StepResult | PromiseLike<StepResult> | Observable<StepResult>;

const later = (result: AsyncStepResult): Observable<StepResult> =>
  isObservable(result) ? result : isPromiseLike(result) ? from(result) : of(result);

/**
 * `perEnvelope` for a step whose result comes later (a lookup, a call to another service): up to
 * `concurrency` steps at once, while one identity's updates run one after another in arrival order
 * (updates before `selectIdentity` have no identity yet and each run on its own). A throw or a
 * rejection settles that envelope as `operator-error`, and so does a step that ends with no result;
 * the stream goes on. A step may return an observable (its first value counts), which is how it is
 * tested in virtual time.
 *
 * @example
 * perEnvelopeAsync('consent', async (envelope) =>
 *   (await consents.allows(envelope.identity)) ? envelope : excluded('no-consent'), { concurrency: 16 })
 */
export const perEnvelopeAsync = (
  name: string,
  step: (envelope: Envelope) => AsyncStepResult,
  { concurrency = 8 }: AsyncStepOptions = {},
): OperatorFunction<Envelope, Envelope> => {
  // Checked here, once: 0 or NaN would hold every update until the guard failed them all as dropped.
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`${name}: concurrency must be a whole number of at least 1, got ${concurrency}`);
  return laneMap(
    laneKeyOf,
    (envelope) =>
      defer(() => later(step(envelope))).pipe(
        take(1),
        map((result): StepResult | Threw => result),
        defaultIfEmpty(new Threw(new Error('the step ended without a result'))),
        catchError((error: unknown) => of(new Threw(error))),
        mergeMap((result) => {
          const passed = finish(name, envelope, result);
          return passed ? of(passed) : EMPTY;
        }),
      ),
    concurrency,
  );
};
