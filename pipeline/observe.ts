import { messageOf } from '../operators/model/errors.js';
import { performance } from 'node:perf_hooks';
import { from, tap } from 'rxjs';
import type { DeadLetter, DeadLetterStore, QualtricsSender, RateLimiter } from '../operators/model/ports.js';
import { fromMaybePromise } from '../operators/model/ports.js';

/** One request to the destination: its status (or the error instead) and how long it took. */
export interface AttemptObserved {
  readonly status?: number;
  readonly error?: string;
  readonly seconds: number;
}

/** A sender that reports every attempt (for the request metrics), and otherwise behaves the same. */
export const observeSender = (
  sender: QualtricsSender,
  onAttempt: (attempt: AttemptObserved) => void,
): QualtricsSender => ({
  send: (body) => {
    const start = performance.now();
    const seconds = () => (performance.now() - start) / 1000;
    return from(sender.send(body)).pipe(
      tap({
        next: (answer) => onAttempt({ status: answer.status, seconds: seconds() }),
        error: (error: unknown) => onAttempt({ error: messageOf(error), seconds: seconds() }),
      }),
    );
  },
});

/** A rate limiter that reports each wait an update makes for it (milliseconds) and each slowdown. */
export const observeRateLimiter = (
  limiter: RateLimiter,
  onWait: (ms: number) => void,
  onSlowDown: () => void,
): RateLimiter => ({
  reserve: () => limiter.reserve(),
  waiting: (ms) => {
    onWait(ms);
    limiter.waiting?.(ms);
  },
  slowDown: () => {
    onSlowDown();
    return limiter.slowDown();
  },
});

/** A dead-letter store that reports each letter once it is stored. */
export const observeDeadLetters = (store: DeadLetterStore, onAdded: (letter: DeadLetter) => void): DeadLetterStore => ({
  add: (letter) =>
    new Promise<void>((resolve, reject) => {
      fromMaybePromise(store.add(letter)).subscribe({
        complete: () => {
          onAdded(letter);
          resolve();
        },
        error: reject,
      });
    }),
});
