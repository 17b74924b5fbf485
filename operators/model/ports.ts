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
 */
export interface DedupeStore {
  /** Leases `key` for `leaseMs` unless it is committed or leased already. Atomic. */
  acquire(key: string, leaseMs: number): MaybePromise<LeaseResult>;
  /** Marks `key` as sent, for `ttlMs`. */
  commit(key: string, ttlMs: number): MaybePromise<void>;
  /** Drops the lease on `key` (the send failed) so a later identical update is sent. */
  release(key: string): MaybePromise<void>;
}

/** What the destination answered. */
export interface SendResult {
  readonly status: number;
  readonly body: string;
}

/** Posts one serialized payload to the Qualtrics JSON Event. Errors (network, timeout) are thrown. */
export interface QualtricsSender {
  send(body: string): ObservableInput<SendResult>;
}

export const isPromiseLike = <T>(value: MaybePromise<T>): value is PromiseLike<T> =>
  typeof (value as PromiseLike<T> | undefined)?.then === 'function';

/** A store answer as an observable: synchronous when the store answered synchronously (marble tests). */
export const fromMaybePromise = <T>(value: MaybePromise<T>): Observable<T> => (isPromiseLike(value) ? from(value) : of(value));
