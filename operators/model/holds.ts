import { Observable, mergeMap, type ObservableInput, type OperatorFunction, type Subscription } from 'rxjs';

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
  <T, R>(project: (value: T, holds: Holds) => ObservableInput<R>): OperatorFunction<T, R> =>
  (source) =>
    new Observable<R>((subscriber) => {
      let held = 0;
      let sourceDone = false;
      const completeIfDone = (): void => {
        if (sourceDone && held === 0) subscriber.complete();
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
      return source.pipe(mergeMap((value) => project(value, holds))).subscribe({
        next: (value) => subscriber.next(value),
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          sourceDone = true;
          completeIfDone();
        },
      });
    });
