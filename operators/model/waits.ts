import { messageOf } from './errors.js';
import {
  EMPTY,
  NEVER,
  type Observable,
  catchError,
  defer,
  from,
  isObservable,
  map,
  mergeMap,
  of,
  race,
  take,
  throwError,
  timer,
  type SchedulerLike,
} from 'rxjs';
import { release, type Envelope } from './envelope.js';
import { fromMaybePromise, isPromiseLike, type MaybePromise, type Valve } from './ports.js';
import { backoffMs, STORE_OUTAGE_BACKOFF } from './backoff.js';

/** What the valve is closed for while a store the pipeline needs (Redis) does not answer. */
export const STORE_UNAVAILABLE = 'store-unavailable';

export interface WaitContext {
  readonly scheduler?: SchedulerLike | undefined;
  readonly stopping$?: Observable<unknown> | undefined;
}

/**
 * `wait$`, unless the pipeline stops first: then the `envelope` waiting (if any) is released unsettled
 * (its source keeps it for the next start) and the result completes empty. Every wait an operator
 * makes (a backoff, a rate-limit slot, a paused destination, a store outage) goes through here, so a
 * stop ends them all at once and only requests on the wire use the grace period.
 */
export const unlessStopped = <T>(
  envelope: Envelope | undefined,
  wait$: Observable<T>,
  { stopping$ = NEVER }: WaitContext,
): Observable<T> =>
  race(
    // First, so that a pipeline already stopped wins over a wait that would end at once.
    stopping$.pipe(
      take(1),
      mergeMap(() => {
        if (envelope) release(envelope);
        return EMPTY;
      }),
    ),
    wait$,
  );

/** Waits `ms`, unless the pipeline stops first (see `unlessStopped`). */
export const pause = (envelope: Envelope | undefined, ms: number, context: WaitContext): Observable<unknown> =>
  unlessStopped(envelope, timer(ms, context.scheduler), context);

export interface OutageContext extends WaitContext {
  readonly valve: Valve;
  readonly random?: (() => number) | undefined;
}

/**
 * A store's answer when it gave one at once, else the call under way as an observable (of its promise,
 * or of what it threw) and, when it returned one, the promise itself.
 */
export type Asked<T> =
  | { readonly now: true; readonly answer: T }
  | { readonly now: false; readonly later: Observable<T>; readonly promise?: PromiseLike<T> };

/**
 * Calls a store once, to learn whether it answered at once. An in-memory store does, on every update:
 * the caller goes on in the same step, without building the observables a wait needs. Anything else (a
 * promise, a throw) is handed to `untilAnswered` as its first attempt, so the store is not asked twice.
 * With `valve`, an answer at once reopens the intake paused for the store, as `untilAnswered`'s does.
 */
export const askNow = <T>(call: () => MaybePromise<T>, valve?: Valve): Asked<T> => {
  try {
    const answer = call();
    if (!isPromiseLike(answer)) {
      valve?.open(STORE_UNAVAILABLE);
      return { now: true, answer };
    }
    // `later` made only for a caller that waits in an observable (dedupe waits on the promise itself).
    return {
      now: false,
      promise: answer,
      get later() {
        return from(answer);
      },
    };
  } catch (error) {
    return { now: false, later: throwError(() => error) };
  }
};

/** An answer known now, or an observable of it. */
export type NowOrLater<T> = T | Observable<T>;

/** `value` as an observable: `of` it when it is known now. */
export const observeNowOrLater = <T>(value: NowOrLater<T>): Observable<T> => (isObservable(value) ? value : of(value));

/**
 * A safeguard's lookup (`call`), read by `read`: known now when the store answers at once, and
 * `fallback` when it fails. Unlike `untilAnswered`, it never waits out an outage: a safeguard must not
 * hold an update up.
 */
export const answerOr = <A, T>(call: () => MaybePromise<A>, read: (answer: A) => T, fallback: T): NowOrLater<T> => {
  const asked = askNow(call);
  if (!asked.now)
    return asked.later.pipe(
      map(read),
      catchError(() => of(fallback)),
    );
  try {
    return read(asked.answer);
  } catch {
    return fallback;
  }
};

/**
 * Asks a store (`call`) until it answers. A store that fails is an outage of ours, never the update's
 * fault: the intake pauses (`store-unavailable`, naming `what` and the error), the caller waits with
 * backoff, and the first answer reopens the intake. Nothing is failed or dead-lettered for it. If the
 * pipeline stops meanwhile, the `envelope` waiting (if any) is released and the result completes empty.
 * `first`, when given, is the first attempt already under way (from `askNow`).
 */
export const untilAnswered = <T>(
  envelope: Envelope | undefined,
  what: string,
  call: () => MaybePromise<T>,
  context: OutageContext,
  first?: Observable<T>,
): Observable<T> => {
  const { valve, random = Math.random } = context;
  const ask = (attempt: number): Observable<T> =>
    (attempt === 1 && first ? first : defer(() => fromMaybePromise(call()))).pipe(
      map((answer) => {
        valve.open(STORE_UNAVAILABLE);
        return answer;
      }),
      catchError((error: unknown) => {
        const message = messageOf(error);
        valve.close(STORE_UNAVAILABLE, `${what} does not answer (${message}); updates wait until it does`);
        return pause(envelope, backoffMs(attempt, STORE_OUTAGE_BACKOFF, random), context).pipe(
          mergeMap(() => ask(attempt + 1)),
        );
      }),
    );
  return ask(1);
};
