import type * as t from 'io-ts';
import { randomUUID } from 'node:crypto';
import {
  EMPTY,
  ReplaySubject,
  defer,
  finalize,
  lastValueFrom,
  map,
  mergeMap,
  take,
  throwError,
  type Observable,
  type OperatorFunction,
} from 'rxjs';
import { integerIn, struct, withDefault } from './model/codecs.js';
import { defineOperator, type OperatorContext } from './model/define.js';
import { identityKey, settle, type Envelope } from './model/envelope.js';
import { mergeHolding, observeSoon, type Holds, type LetGo, type Soon } from './model/holds.js';
import { duplicate, failed, Reasons, type Outcome } from './model/outcome.js';
import { fingerprint } from './model/payload.js';
import { LeaseRenewal } from './model/lease-renewal.js';
import { isPromiseLike, type LeaseResult, type MaybePromise } from './model/ports.js';
import { askNow, pause, STORE_UNAVAILABLE, unlessStopped, untilAnswered } from './model/waits.js';

const DAY = 24 * 60 * 60;

export const DedupeOptions = struct('DedupeOptions', {
  /** How long a delivered payload is remembered. Default: 7 days. */
  ttlSeconds: withDefault(integerIn(1, 365 * DAY), 7 * DAY),
  /** How long a payload in flight is held before another process may send it (a crashed sender's lease expires). */
  leaseSeconds: withDefault(integerIn(1, DAY), 60),
  /** How often to look again at a payload another process is sending. */
  pollMs: withDefault(integerIn(10, 60_000), 250),
});
export type DedupeOptions = t.TypeOf<typeof DedupeOptions>;

/**
 * The dedupe key of an envelope: its identity and the content of its payload; in a flow with consent,
 * after `withdrawals` delivered withdrawals (see `DeliveryLog.withdrawals`), `.<withdrawals>` too. Consent
 * is not in the payload: without it, a person who consents again with the same qualification time would
 * be taken for a repeat of what they were sent before they withdrew.
 */
export const dedupeKeyOf = (envelope: Envelope, withdrawals = 0): string | undefined =>
  envelope.identity &&
  `${identityKey(envelope.identity)}:${fingerprint(envelope.payload)}${withdrawals > 0 ? `.${withdrawals}` : ''}`;

/**
 * A dedupe key with its identity part renamed by `rename` (a keyed hash, for storage that must not
 * hold identities in clear). The fingerprint (base64url, no colon) after the last colon stays.
 */
export const withIdentityRenamed = async (
  key: string,
  rename: (identity: string) => Promise<string>,
): Promise<string> => {
  const split = key.lastIndexOf(':');
  return `${await rename(key.slice(0, split))}${key.slice(split)}`;
};

/**
 * Lets a payload through only if the same payload was not already delivered for the same identity.
 *
 * A payload is marked sent only after the destination accepted it: it is leased while in flight (the
 * lease renewed every third of `leaseSeconds`, so long retries keep it) and committed when its envelope
 * settles as delivered; any other outcome releases the lease, so a failure never suppresses a later
 * send. A process that dies holding a lease stops renewing it, and it lapses after `leaseSeconds`. An
 * identical update arriving while the first is in flight waits for that outcome: a duplicate if it was
 * delivered, sent itself if not. A lease held by another process is looked at again every `pollMs`
 * until it is committed or expires. While the store does not answer, the envelope waits (the intake
 * paused as `store-unavailable`); when the pipeline stops, a waiting envelope is released. The stream
 * completes once the source did and every envelope passed on has settled, so that unsubscribing (or
 * a failure anywhere in the pipeline) still ends the renewal of a lease whose envelope never will.
 *
 * In a flow with consent the key also counts the person's delivered withdrawals (read from the
 * delivery log, waiting while it does not answer): a payload sent before a withdrawal is sent again
 * after consent returns. With a journal, `keepOrder` lets the person's next update in only once the
 * withdrawal is finished, so it reads the new count.
 *
 * @example
 * profiles$.pipe(dedupe({ ttlSeconds: 604800, leaseSeconds: 300, pollMs: 250 }, { dedupeStore, sender, scheduler }))
 */
export const dedupe =
  (
    options: DedupeOptions,
    context: Pick<OperatorContext, 'dedupeStore' | 'scheduler' | 'valve' | 'stopping$' | 'random'> &
      Partial<Pick<OperatorContext, 'deliveryLog'>>,
  ): OperatorFunction<Envelope, Envelope> =>
  (source) =>
    // Deferred: each subscription has its own leases, renewal and waiters (a plug-in may resubscribe).
    defer(() => {
      const { dedupeStore, scheduler, deliveryLog, valve } = context;

      /** The envelope's key: with consent, after reading how many withdrawals its person was sent. */
      const keyOf = (envelope: Envelope): string | undefined | Observable<string | undefined> => {
        const { identity } = envelope;
        const count = deliveryLog?.withdrawals?.bind(deliveryLog);
        if (!identity || envelope.consent === undefined || !count) return dedupeKeyOf(envelope);
        return untilAnswered(envelope, 'the delivery log', () => count(identityKey(identity)), context).pipe(
          map((withdrawals) => dedupeKeyOf(envelope, withdrawals)),
        );
      };
      // Payloads this process is sending now. A lease tells its waiters once: true if delivered, false if
      // not; its subject is made only when a second update with the same payload comes to wait (rare: most
      // updates pass alone, and making one per update was a measurable part of dedupe's cost).
      const sending = new Map<string, LocalLease>();
      // Tokens tell this lease from another process's: unique per operator instance, then a counter (a
      // random UUID per update cost more than everything else dedupe does before the store answers).
      const tokenPrefix = randomUUID();
      let leases = 0;

      const handOver = (key: string, lease: LocalLease, sent: boolean): void => {
        if (sending.get(key) === lease) sending.delete(key);
        lease.waiters?.next(sent);
        lease.waiters?.complete();
      };

      /**
       * A delivered payload must be committed, or a later identical update would go out again: while the
       * store does not answer, the commit is retried (and the intake paused). A release may fail
       * quietly: the lease lapses by itself after `leaseSeconds`.
       */
      const record = (key: string, token: string, sent: boolean): MaybePromise<void> => {
        if (!sent) {
          try {
            const released = dedupeStore.release(key, token);
            return isPromiseLike(released) ? Promise.resolve(released).catch(() => undefined) : released;
          } catch {
            return undefined;
          }
        }
        const commit = () => dedupeStore.commit(key, token, options.ttlSeconds * 1000);
        const retried = () =>
          lastValueFrom(untilAnswered(undefined, 'the dedupe store', commit, context), { defaultValue: STOPPED }).then(
            (result) => {
              if (result === STOPPED)
                throw new Error(`dedupe: stopped before the store recorded the delivery of ${key}`);
            },
          );
        try {
          const committed = commit();
          return isPromiseLike(committed) ? Promise.resolve(committed).catch(retried) : committed;
        } catch {
          return retried();
        }
      };

      const leaseMs = options.leaseSeconds * 1000;
      // One timer renews every lease this operator holds; ended with the subscription (see below).
      const renewal = new LeaseRenewal((key, token) => dedupeStore.renew(key, token, leaseMs), leaseMs / 3, scheduler);

      const finishWith = (key: string, token: string, lease: LocalLease, letGo: LetGo) => (outcome: Outcome) => {
        renewal.drop(key);
        const sent = outcome.kind === 'delivered';
        // Let go once the store has the outcome: the stream completes only after its last commit.
        const done = (): void => {
          handOver(key, lease, sent);
          letGo();
        };
        const recorded = record(key, token, sent);
        if (!isPromiseLike(recorded)) {
          done();
          return outcome;
        }
        return Promise.resolve(recorded).then(
          () => {
            done();
            return outcome;
          },
          (error: unknown) => {
            done();
            throw error;
          },
        );
      };

      // Set once the stream is torn down: a store's late answer then starts nothing (no renewal).
      let tornDown = false;

      /** What the store's answer to an acquire means for the envelope. */
      const acquired = (
        envelope: Envelope,
        key: string,
        token: string,
        lease: LocalLease,
        result: LeaseResult,
        holds: Holds,
      ): Soon<Envelope> => {
        switch (result) {
          case 'acquired': {
            // Retries may outlast one lease: keep it alive until the envelope settles. The hold belongs to
            // this subscription: a pipeline torn down before the envelope settles stops the renewal too.
            renewal.hold(key, token);
            const ticket = envelope.ticket.withHook(finishWith(key, token, lease, holds.take()));
            return [{ ...envelope, ticket }];
          }
          case 'committed':
            handOver(key, lease, true);
            settle(envelope, duplicate('the same payload was already delivered for this identity'));
            return [];
          case 'leased':
            // Another process is sending it: look again later, and let local waiters look too.
            handOver(key, lease, false);
            return pause(envelope, options.pollMs, context).pipe(
              mergeMap(() => observeSoon(admit(envelope, key, holds))),
            );
        }
      };

      const admit = (envelope: Envelope, key: string, holds: Holds): Soon<Envelope> => {
        const holder = sending.get(key);
        if (holder) {
          holder.waiters ??= new ReplaySubject<boolean>(1);
          return unlessStopped(envelope, holder.waiters.pipe(take(1)), context).pipe(
            mergeMap((sent) => {
              if (!sent) return observeSoon(admit(envelope, key, holds));
              settle(envelope, duplicate('the same payload was delivered while this one waited'));
              return EMPTY;
            }),
          );
        }
        const lease: LocalLease = {};
        sending.set(key, lease);
        leases += 1;
        const token = `${tokenPrefix}:${leases}`;
        const acquire = () => dedupeStore.acquire(key, token, leaseMs);
        // An in-memory store answers at once: no observable is made for the wait.
        const asked = askNow(acquire, valve);
        if (asked.now) return acquired(envelope, key, token, lease, asked.answer, holds);
        /** Asks until the store answers (an outage pauses the intake), `first` being the first attempt. */
        const untilAcquired = (first: Observable<LeaseResult>): Observable<Envelope> => {
          let answered = false;
          return untilAnswered(envelope, 'the dedupe store', acquire, context, first).pipe(
            mergeMap((result) => {
              answered = true;
              return observeSoon(acquired(envelope, key, token, lease, result, holds));
            }),
            // Stopped before the store answered: the envelope was released; let local waiters go too.
            finalize(() => answered || handOver(key, lease, false)),
          );
        };
        // A store that answers later (Redis: one batch a turn) is waited for as a promise, with no
        // observable per update unless it fails.
        if (!asked.promise) return untilAcquired(asked.later);
        return Promise.resolve(asked.promise).then(
          (result): Soon<Envelope> => {
            if (tornDown) {
              // Nobody will send it: let the lease go now rather than after `leaseSeconds`.
              if (result === 'acquired') void record(key, token, false);
              return [];
            }
            valve.open(STORE_UNAVAILABLE);
            return acquired(envelope, key, token, lease, result, holds);
          },
          (error: unknown): Soon<Envelope> => (tornDown ? [] : untilAcquired(throwError(() => error))),
        );
      };

      return source.pipe(
        mergeHolding((envelope, holds) => {
          const admitWith = (key: string | undefined): Soon<Envelope> => {
            if (key !== undefined) return admit(envelope, key, holds);
            settle(
              envelope,
              failed(Reasons.operatorError, {
                detail: 'dedupe: the envelope has no identity; selectIdentity must run first',
              }),
            );
            return [];
          };
          const key = keyOf(envelope);
          return typeof key === 'object'
            ? key.pipe(mergeMap((known) => observeSoon(admitWith(known))))
            : admitWith(key);
        }),
        finalize(() => {
          tornDown = true;
          renewal.stop();
        }),
      );
    });

/** A payload this process is sending: the updates with the same payload waiting for its outcome, if any. */
interface LocalLease {
  waiters?: ReplaySubject<boolean>;
}

/** Marks a wait that ended because the pipeline stopped. */
const STOPPED = Symbol('stopped');

export const dedupeOperator = defineOperator({
  name: 'dedupe',
  summary: 'send a payload once per identity; marked sent only after the destination accepted it',
  options: DedupeOptions,
  create: (options, context) => dedupe(options, context),
});
