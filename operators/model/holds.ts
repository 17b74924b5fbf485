import { Observable, from, mergeMap, type OperatorFunction, type Subscription } from 'rxjs';
import { isPromiseLike } from './ports.js';

/** Lets go of one hold: ends what it held and, if it was the last, lets the stream complete. Idempotent. */
export type LetGo = () => void;

/** What an operator keeps running for a value it passed on, until that value is done with (settled). */
export interface Holds {
  /**
   * Holds the stream open for a value passed on, and `running` (if given) with it: it ends when let go,
   * or with the subscription at the latest.
   */
  take(running?: Subscription): LetGo;
}

/**
 * `mergeMap(project)` for an operator whose work for a value goes on after it passed the value on (dedupe
 * renews a lease until the envelope settles downstream). What `project` holds through `holds` belongs to
 * the subscription: tearing it down (the consumer unsubscribed, or the source or a later operator failed)
 * ends every hold, and the stream completes only once the source did and every hold was let go. Were
 * it to complete earlier, a later teardown could no longer reach what it holds, which would then run on
 * with no pipeline left (an interval keeping the process alive).
 */
export const mergeHolding =
  <T, R>(project: (value: T, holds: Holds) => Soon<R>): OperatorFunction<T, R> =>
  (source) =>
    new Observable<R>((subscriber) => {
      let held = 0;
      let sourceDone = false;
      // Promises and observables under way. A set, not the subscriber's own list of subscriptions (as
      // `mergeMap` keeps them): with a page of a thousand updates waiting on one batch, removing each from
      // a list cost a scan of the list.
      let pending = 0;
      const inners = new Set<Subscription>();
      const completeIfDone = (): void => {
        if (sourceDone && held === 0 && pending === 0 && inners.size === 0) subscriber.complete();
      };
      const holds: Holds = {
        take: (running) => {
          held += 1;
          // Unsubscribed with the subscriber; once ended first, it drops out of the subscriber by itself.
          if (running) subscriber.add(running);
          let holding = true;
          return () => {
            if (!holding) return;
            holding = false;
            held -= 1;
            running?.unsubscribe();
            completeIfDone();
          };
        },
      };
      const run = (soon: Soon<R>): void => {
        if (subscriber.closed) return;
        if (isArray(soon)) {
          for (const value of soon) subscriber.next(value);
        } else if (isPromiseLike(soon)) {
          pending += 1;
          soon.then(
            (next) => {
              pending -= 1;
              run(next);
              completeIfDone();
            },
            (error: unknown) => subscriber.error(error),
          );
        } else {
          let done = false;
          let inner: Subscription | undefined;
          inner = soon.subscribe({
            next: (value) => subscriber.next(value),
            error: (error: unknown) => subscriber.error(error),
            complete: () => {
              done = true;
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
 * gives once a store answered (a continuation never runs once the stream is torn down), or an
 * observable for anything that waits (a pause, an outage, another update's outcome).
 */
export type Soon<R> = readonly R[] | Observable<R> | PromiseLike<Soon<R>>;

const isArray = <R>(soon: Soon<R>): soon is readonly R[] => Array.isArray(soon);

/** `soon` as an observable, for a step that continues inside an observable (after a pause, say). */
export const observeSoon = <R>(soon: Soon<R>): Observable<R> => {
  if (isArray(soon)) return from(soon);
  if (isPromiseLike(soon)) return from(soon).pipe(mergeMap(observeSoon));
  return soon;
};
