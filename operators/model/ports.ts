import { from, of, type Observable, type ObservableInput } from 'rxjs';

/**
 * The outside world as operators see it. Adapters implement these shapes; the pipeline injects them.
 * Operators never open a connection themselves, which is what lets marble tests drive them with fakes
 * in virtual time (a fake answers synchronously or with a cold observable).
 */

export type MaybePromise<T> = T | PromiseLike<T>;

/** What `acquire` found: the lease is ours, the payload was already sent, or someone else is sending it. */
export type LeaseResult = 'acquired' | 'committed' | 'leased';

/**
 * Remembers which payloads were sent for which identity. A key is leased while its payload is in flight
 * and committed only once the destination accepted it, so a failure or crash never suppresses a resend.
 * `token` names the lease holder: only the holder renews or releases it.
 */
export interface DedupeStore {
  /** Leases `key` for `leaseMs` unless it is committed or leased already. Atomic. */
  acquire(key: string, token: string, leaseMs: number): MaybePromise<LeaseResult>;
  /** Extends our lease while the payload is still in flight (retries may take longer than one lease). */
  renew(key: string, token: string, leaseMs: number): MaybePromise<void>;
  /** Marks `key` as sent, for `ttlMs`. */
  commit(key: string, token: string, ttlMs: number): MaybePromise<void>;
  /** Drops our lease on `key` (the send failed) so a later identical update is sent. */
  release(key: string, token: string): MaybePromise<void>;
}

/**
 * Remembers, per identity, the position of the latest update delivered, so that an older update
 * (replayed, retried, redelivered by a stream) is not sent over a newer one.
 */
export interface DeliveryLog {
  lastDelivered(identity: string): MaybePromise<string | undefined>;
  /** Records `position` unless a later position is already recorded. */
  recordDelivered(identity: string, position: string): MaybePromise<void>;
  /**
   * The audiences the identity is in as far as the destination was told (delivered as `realized` or
   * `existing`, not since as `exited`): who must hear an `exited` when consent is withdrawn.
   */
  audiencesIn(identity: string): MaybePromise<readonly string[]>;
  /**
   * Replaces what `audiencesIn` answers. Kept without expiry (a few ids per person; `forget` removes
   * it): a withdrawal months after the last delivery must still find whom to send an `exited`.
   */
  recordAudiencesIn(identity: string, audiences: readonly string[]): MaybePromise<void>;
  /**
   * How many consent withdrawals were delivered to the person (an `exited` sent), kept without expiry.
   * Part of `dedupe`'s key in a flow with consent: a person who consents again after a withdrawal is
   * sent again even if nothing else in the payload changed. Absent: always 0.
   */
  withdrawals?(identity: string): MaybePromise<number>;
  /** Counts one more delivered withdrawal. */
  recordWithdrawal?(identity: string): MaybePromise<void>;
  /**
   * When the person was forgotten (`forget`), in epoch milliseconds, if they were: an update received
   * before then (a replay of the journal) is not sent again. Only stores `forget` can reach implement it.
   */
  forgottenAt?(identity: string): MaybePromise<number | undefined>;
}

/**
 * A rate limiter's answer. Granted: the request goes now, and `waitMs` is how long until the limiter
 * expects the next slot (0: one is free now), so that a caller with more to send asks once, then, rather
 * than at once to be told to wait. Not granted: ask again in `waitMs`. A grant is logged at the moment
 * it is made, never ahead: however late a caller's timers wake, no window holds more than the limit.
 */
export interface Reservation {
  readonly granted: boolean;
  readonly waitMs: number;
}

/** A slot taken now with another free at once: the common answer below the limit, one object for all. */
export const GRANTED_NOW: Reservation = Object.freeze({ granted: true, waitMs: 0 });

/**
 * Paces requests to the destination. `reserve` takes a slot now or says when to ask again, and with a
 * grant says when the next slot comes; it never lets a request through over the limit.
 */
export interface RateLimiter {
  reserve(): MaybePromise<Reservation>;
  /** Told each time an update starts waiting `ms` for the limit (for metrics: what the limit costs). */
  waiting?(ms: number): void;
  /** The destination answered 429: lower the rate for a while (shared by every process using it). */
  slowDown(): MaybePromise<void>;
}

/** An envelope that could not be delivered, kept with everything needed to understand and resend it. */
export interface DeadLetter {
  readonly at: string;
  readonly reason: string;
  readonly status?: number;
  /** The destination's answer, cut short. */
  readonly response?: string;
  readonly attempts: number;
  /** The exact body that was (or would have been) sent. */
  readonly payload: string;
  readonly identity?: string;
  readonly source: string;
  readonly position: string;
}

export interface DeadLetterStore {
  add(letter: DeadLetter): MaybePromise<void>;
}

/**
 * Stops and restarts the intake. Operators close it when sending cannot succeed (the destination
 * rejects the credentials), so input waits upstream instead of piling up or failing one by one.
 */
export interface Valve {
  /** Closes for `reason` (idempotent); `message` says what to fix. */
  close(reason: string, message: string): void;
  /** Reopens what `reason` closed. */
  open(reason: string): void;
}

/**
 * Where each person's line stands (see `Turn`): how many of their journaled updates are finished, in
 * order. `keepOrder` waits on it; the journal's source records each finish as it acknowledges.
 */
export interface TurnBook {
  /** The highest `seq` such that it and every earlier update of `key` are finished (0 when none). */
  finishedUpTo(key: string): MaybePromise<number>;
  /**
   * Finishes the next turn of `key`'s line if the update holding it is gone from the journal (deleted
   * by hand): no consumer could ever finish it. Answers whether it did.
   */
  skipLost(key: string): MaybePromise<boolean>;
  /** Emits a key whenever this process finished one of its updates, so waiters look again at once. */
  readonly finished$: Observable<string>;
  /** Counts updates waiting for their turn: claims of a crashed consumer's entries may use their credit. */
  waiting(delta: number): void;
}

/** What the destination answered. */
export interface SendResult {
  readonly status: number;
  readonly body: string;
  /** The `Retry-After` header, as sent (seconds or an HTTP date). */
  readonly retryAfter?: string;
}

/** Posts one serialized payload to the Qualtrics JSON Event. Errors (network, timeout) are thrown. */
export interface QualtricsSender {
  send(body: string): ObservableInput<SendResult>;
}

export const isPromiseLike = <T>(value: MaybePromise<T>): value is PromiseLike<T> =>
  typeof (value as PromiseLike<T> | undefined)?.then === 'function';

/** `then` for an answer that may have come at once (an in-memory store) or be on its way (Redis). */
export const thenMaybe = <A, B>(value: MaybePromise<A>, then: (answer: A) => B): MaybePromise<B> =>
  isPromiseLike(value) ? Promise.resolve(value).then(then) : then(value);

/** A store answer as an observable: synchronous when the store answered synchronously (marble tests). */
export const fromMaybePromise = <T>(value: MaybePromise<T>): Observable<T> =>
  isPromiseLike(value) ? from(value) : of(value);
