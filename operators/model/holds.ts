import { Observable, from, mergeMap, type OperatorFunction, type Subscription } from 'rxjs';
import { isPromiseLike } from './ports.js';

/** Lets go of one hold: if it was the last, lets the stream complete. Idempotent. */
export type LetGo = () => void;

/** How an operator keeps its stream open for a value it passed on, until that value is done with (settled). */
export interface Holds {
  take(): LetGo;
}

/**
 * `mergeMap(project)` for an operator whose work for a value goes on after it passed the value on (dedupe
 * renews a lease and commits it once the envelope settles downstream): the stream completes only once
 * the source did, every step under way ended, and every hold was let go. Were it to complete earlier,
 * what the operator still does for a value would run on with no pipeline left. Tearing the stream down
 * (the consumer unsubscribed, or the source or a later operator failed) ends every step under way; the
 * operator ends what it runs itself (dedupe's renewal timer) when its stream finalizes.
 */
export const mergeHolding =
  <T, R>(project: (value: T, holds: Holds) => Soon<R>): OperatorFunction<T, R> =>
  (source) =>
    new Observable<R>((subscriber) => {
      let held = 0;
      let sourceDone = false;
      // Observables under way, to end them at teardown. A set, not the subscriber's own list of
      // subscriptions (as `mergeMap` keeps them): with a page of a thousand updates waiting on one batch,
      // removing each from a list cost a scan of the list.
      // Counted before they start, so that a hold let go while one starts does not complete the stream.
      let running = 0;
      const inners = new Set<Subscription>();
      const completeIfDone = (): void => {
        if (sourceDone && held === 0 && running === 0) subscriber.complete();
      };
      const holds: Holds = {
        take: () => {
          held += 1;
          let holding = true;
          return () => {
            if (!holding) return;
            holding = false;
            held -= 1;
            completeIfDone();
          };
        },
      };
      const run = (soon: Soon<R>): void => {
        if (subscriber.closed) return;
        if (isArray(soon)) {
          for (const value of soon) subscriber.next(value);
        } else if (isPromiseLike(soon)) {
          running += 1;
          soon.then(
            (next) => {
              run(next);
              running -= 1;
              completeIfDone();
            },
            (error: unknown) => subscriber.error(error),
          );
        } else {
          running += 1;
          let done = false;
          let inner: Subscription | undefined;
          inner = soon.subscribe({
            next: (value) => subscriber.next(value),
            error: (error: unknown) => subscriber.error(error),
            complete: () => {
              done = true;
              running -= 1;
              // Undefined when it completed while subscribing: it was never added.
              if (inner) inners.delete(inner);
              completeIfDone();
            },
          });
          if (!done) inners.add(inner);
        }
      };
      const upstream = source.subscribe({
        next: (value) => {
          let soon: Soon<R>;
          try {
            soon = project(value, holds);
          } catch (error) {
            subscriber.error(error);
            return;
          }
          run(soon);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          sourceDone = true;
          completeIfDone();
        },
      });
      return () => {
        upstream.unsubscribe();
        for (const inner of inners) inner.unsubscribe();
      };
    });

/**
 * What a step gives for a value: the values now (an array, often of one or none), a promise of what it
 * gives once a store answered (passed on only while the stream is still subscribed; the step's own
 * continuation runs regardless, so it must check itself whether it still should act), or an observable
 * for anything that waits (a pause, an outage, another update's outcome).
 */
export type Soon<R> = readonly R[] | Observable<R> | PromiseLike<Soon<R>>;

const isArray = <R>(soon: Soon<R>): soon is readonly R[] => Array.isArray(soon);

/** `soon` as an observable, for a step that continues inside an observable (after a pause, say). */
export const observeSoon = <R>(soon: Soon<R>): Observable<R> => {
  if (isArray(soon)) return from(soon);
  if (isPromiseLike(soon)) return from(soon).pipe(mergeMap(observeSoon));
  return soon;
};
