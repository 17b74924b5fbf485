import { Observable, type ObservableInput, type OperatorFunction, from, type Subscription } from 'rxjs';

/**
 * Like `mergeMap(project, concurrency)`, except that values with the same key are projected one after
 * another, in arrival order: a value starts only when the one before it with its key has completed.
 * Values with different keys run side by side, up to `concurrency` at once, oldest first. This is
 * what keeps one person's updates in order while many people's requests are in flight.
 *
 * Waiting values are held here; the pipeline's in-flight credit bounds how many there can be.
 */
export const laneMap =
  <T, R>(
    keyOf: (value: T) => string,
    project: (value: T) => ObservableInput<R>,
    concurrency: number,
  ): OperatorFunction<T, R> =>
  (source) =>
    new Observable<R>((subscriber) => {
      const waiting: T[] = [];
      const busy = new Set<string>();
      const inners = new Set<Subscription>();
      let sourceDone = false;
      let pumping = false;
      let pumpAgain = false;

      const finishIfDone = (): void => {
        if (sourceDone && busy.size === 0 && waiting.length === 0) subscriber.complete();
      };

      const start = (value: T, key: string): void => {
        busy.add(key);
        let done = false;
        let inner: Subscription | undefined;
        inner = from(project(value)).subscribe({
          next: (result) => subscriber.next(result),
          error: (error: unknown) => subscriber.error(error),
          complete: () => {
            done = true;
            busy.delete(key);
            if (inner) inners.delete(inner);
            pump();
            finishIfDone();
          },
        });
        if (!done) inners.add(inner);
      };

      // Re-entrant calls (an inner completing synchronously) ask for another pass instead of nesting.
      const pump = (): void => {
        if (pumping) {
          pumpAgain = true;
          return;
        }
        pumping = true;
        do {
          pumpAgain = false;
          for (let i = 0; i < waiting.length && busy.size < concurrency; ) {
            const key = keyOf(waiting[i]!);
            if (busy.has(key)) {
              i += 1;
              continue;
            }
            const [value] = waiting.splice(i, 1);
            start(value!, key);
          }
        } while (pumpAgain);
        pumping = false;
      };

      const upstream = source.subscribe({
        next: (value) => {
          waiting.push(value);
          pump();
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          sourceDone = true;
          finishIfDone();
        },
      });

      return () => {
        upstream.unsubscribe();
        for (const inner of inners) inner.unsubscribe();
      };
    });
