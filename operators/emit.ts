import type * as t from 'io-ts';
import {
  EMPTY,
  catchError,
  connect,
  defer,
  filter,
  forkJoin,
  isObservable,
  from,
  map,
  merge,
  mergeMap,
  of,
  toArray,
  Observable,
  type ObservableInput,
  type OperatorFunction,
} from 'rxjs';
import { integerIn, struct, withDefault, withDefaults } from './model/codecs.js';
import { defineOperator, type OperatorContext } from './model/define.js';
import { identityKey, laneKeyOf, release, settle, type Envelope } from './model/envelope.js';
import { messageOf, misconfigurationOf } from './model/errors.js';
import { laneMap } from './model/lanes.js';
import { compareStreamPositions, millisOf, streamPositionOf } from './model/order.js';
import { delivered, excluded, failed, Reasons, type Outcome } from './model/outcome.js';
import { serializePayload } from './model/payload.js';
import { fromMaybePromise, type Reservation, type SendResult, thenMaybe } from './model/ports.js';
import type { JsonObject } from './model/json.js';
import { NOT_IN_AUDIENCES } from './consent.js';
import { CircuitBreaker } from './model/circuit-breaker.js';
import { SlotLine } from './model/slot-line.js';
import { describeResult, isDestinationFailure, judge, RetryOptions, type AttemptResult } from './model/retry-policy.js';
import {
  answerOr,
  askNow,
  type NowOrLater,
  pause,
  observeNowOrLater,
  unlessStopped,
  untilAnswered,
} from './model/waits.js';

/** A payload's memberships: audience id -> status. */
const upsOf = (payload: Envelope['payload']): Record<string, string> => {
  const ups = (payload.segmentMembership as { ups?: Record<string, { status?: unknown }> } | undefined)?.ups ?? {};
  return Object.fromEntries(
    Object.entries(ups).flatMap(([id, entry]) => (typeof entry?.status === 'string' ? [[id, entry.status]] : [])),
  );
};

/** Qualtrics refuses JSON Event payloads over 100 KB; counted in bytes of UTF-8, 100,000 to stay safe. */
export const MAX_PAYLOAD_BYTES = 100_000;

/** What the valve is closed for while the destination rejects the credentials or the URL. */
export const DESTINATION_REJECTED = 'destination-rejected';

export const EmitOptions = struct('EmitOptions', {
  /** Requests in flight at once; one identity never has more than one. */
  concurrency: withDefault(integerIn(1, 256), 8),
  /** Payloads larger than this are failed as `payload-too-large` and not sent. */
  maxPayloadBytes: withDefault(integerIn(1, MAX_PAYLOAD_BYTES), MAX_PAYLOAD_BYTES),
  retry: withDefaults(RetryOptions),
});
export type EmitOptions = t.TypeOf<typeof EmitOptions>;

type EmitContext = Pick<
  OperatorContext,
  'sender' | 'rateLimiter' | 'deliveryLog' | 'deadLetters' | 'valve' | 'scheduler' | 'random' | 'stopping$'
>;

/**
 * The sink: posts each payload (serialized as on the connector page) to the Qualtrics JSON Event and
 * settles its envelope. Emits nothing: every envelope ends here.
 *
 * - One identity's updates go out one at a time, in arrival order, retries included; up to
 *   `concurrency` identities at once.
 * - An update older than the last one delivered for its identity is excluded as `stale`.
 * - A consent withdrawal (see `consent`) is sent only to a person in an audience as delivered, with
 *   every such audience `exited` (those the delivery log knows and those the update names), else
 *   excluded as `no-consent`; in a flow with consent, each delivery records which audiences the person
 *   is in, and each delivered withdrawal is counted (see `dedupe`).
 * - Every attempt first takes a slot from the rate limiter, waiting as long as it says.
 * - 2xx: `delivered`. 408, 429, 5xx, no answer: retried with backoff and jitter, or after
 *   `Retry-After`; a 429 also slows the rate limiter. 401, 403, 404, or a send refused as misconfigured
 *   (the host resolves to a private address): the valve closes (intake stops) with what to fix, and the
 *   update is retried every `retry.maxMs` until the destination accepts it, which reopens it.
 *   Other answers, too-large payloads and exhausted retries: dead-lettered, then `failed`.
 * - A destination that is down for everyone (`retry.downAfter` attempts failing in a row, for more than one update)
 *   opens a circuit breaker: the intake pauses, attempts stop counting, one probe retries (see
 *   `CircuitBreaker`), and `maxAttempts` applies only to failures particular to one update.
 * - Our own outages (the rate limiter's or the dead letters' store not answering) pause the intake
 *   and wait; they never fail an update. When the pipeline stops, every wait ends and its update is
 *   released to its source; only requests already sent finish.
 *
 * @example
 * profiles$.pipe(emit(decodeOrThrow(EmitOptions, { concurrency: 8 }), context)).subscribe()
 */
export const emit =
  (options: EmitOptions, context: EmitContext): OperatorFunction<Envelope, Envelope> =>
  (source) =>
    // Deferred: each subscription has its own breaker, line and stop (a plug-in before it may resubscribe).
    defer(() => {
      const { sender, rateLimiter, deliveryLog, deadLetters, valve, scheduler, random = Math.random } = context;
      const now = (): number => scheduler?.now() ?? Date.now();
      const breaker = new CircuitBreaker(options.retry, valve, scheduler, random);

      // Whether the pipeline is stopping (or torn down), known without a subscription per update.
      let stopped = false;
      // When the limiter expects the next slot, from its last answer: a grant says when the next one comes,
      // a refusal when to ask again. Nobody here asks before then.
      let nextSlotAt = Number.NEGATIVE_INFINITY;
      let announcedMs = 0;
      const reserve = () =>
        thenMaybe(rateLimiter.reserve(), (reservation) => {
          nextSlotAt = now() + reservation.waitMs;
          announcedMs = reservation.waitMs;
          return reservation;
        });
      // Never longer than the limiter said: a wall clock set back (an NTP step) must not hold the flow.
      const untilNextSlot = (): number => Math.min(nextSlotAt - now(), announcedMs);

      /**
       * How the first in line waits for its slot: until the limiter expects one, then it alone asks (and
       * again, should another process have taken it). At the limit that is one ask and one wake-up per
       * send. Names no envelope: each update in line is released by its own wait.
       */
      const askFirst = (): Observable<unknown> =>
        defer(() => {
          const ask = untilAnswered(undefined, 'the rate limiter', reserve, context).pipe(
            mergeMap(({ granted }) => (granted ? of(undefined) : askFirst())),
          );
          const waitMs = untilNextSlot();
          if (waitMs <= 0) return ask;
          rateLimiter.waiting?.(waitMs);
          return pause(undefined, waitMs, context).pipe(mergeMap(() => ask));
        });
      // Updates that must wait for a slot queue here, served in arrival order (see `SlotLine`).
      const line = new SlotLine(askFirst, () => stopped);

      /**
       * Waits in line (the envelope released if the pipeline stops first), then for the breaker's permit
       * if the destination went down for everyone meanwhile; an update holding the breaker's permit (the
       * probe) does not ask for it again.
       */
      const behind = (envelope: Envelope, permitted: boolean) =>
        unlessStopped(envelope, line.take(), context).pipe(
          mergeMap(() => (permitted || !breaker.isOpen ? of(undefined) : withPermit(envelope))),
        );

      /** Asks the limiter (`first`: the ask already under way); not granted, it gets in line. */
      const ask = (
        envelope: Envelope,
        first: Observable<Reservation> | undefined,
        permitted: boolean,
      ): Observable<unknown> =>
        untilAnswered(envelope, 'the rate limiter', reserve, context, first).pipe(
          mergeMap(({ granted }) => (granted ? of(undefined) : behind(envelope, permitted))),
        );

      /** The breaker's permit (at once while it is closed), then a slot. */
      const withPermit = (envelope: Envelope): Observable<unknown> =>
        unlessStopped(envelope, breaker.permit(), context).pipe(mergeMap(() => ask(envelope, undefined, true)));

      /**
       * The breaker's permit, then a slot from the rate limiter: `undefined` when the attempt may go at
       * once, which is the common case (the breaker closed, the limiter answering at once with no wait)
       * and is then decided without an observable. While others wait in line, or before the slot the
       * limiter announced, it waits in line without asking; an ask still waiting for Redis does not hold
       * the others up.
       */
      const waitTurn = (envelope: Envelope): Observable<unknown> | undefined => {
        if (stopped || breaker.isOpen) return withPermit(envelope);
        if (!line.isEmpty || untilNextSlot() > 0) return behind(envelope, false);
        const asked = askNow(reserve, valve);
        if (!asked.now) return ask(envelope, asked.later, false);
        return asked.answer.granted ? undefined : behind(envelope, false);
      };

      const finish = (envelope: Envelope, outcome: Outcome): Observable<never> => {
        settle(envelope, outcome);
        return EMPTY;
      };

      /** Stores the letter (waiting while its store does not answer: a letter is never dropped), then settles. */
      const deadLetter = (
        envelope: Envelope,
        body: string,
        outcome: Outcome & { kind: 'failed' },
      ): Observable<never> => {
        const letter = {
          at: new Date(now()).toISOString(),
          reason: outcome.reason,
          ...(outcome.status === undefined ? {} : { status: outcome.status }),
          ...(outcome.detail === undefined ? {} : { response: outcome.detail }),
          attempts: outcome.attempts ?? 0,
          payload: body,
          ...(envelope.identity ? { identity: identityKey(envelope.identity) } : {}),
          source: envelope.origin.source,
          position: envelope.origin.position,
        };
        return untilAnswered(envelope, 'the dead-letter store', () => deadLetters.add(letter), context).pipe(
          mergeMap(() => finish(envelope, outcome)),
        );
      };

      // The log is a safeguard, not a gate: if it cannot answer, send (dedupe still stops repeats).
      const isStale = (envelope: Envelope): NowOrLater<boolean> => {
        const { identity } = envelope;
        const position = streamPositionOf(envelope.origin);
        if (!identity || position === undefined) return false;
        return answerOr(
          () => deliveryLog.lastDelivered(identityKey(identity)),
          (last) => last !== undefined && (compareStreamPositions(last, position) ?? 0) > 0,
          false,
        );
      };

      /** An update received before its person was forgotten (`forget`): a replay must not send it again. */
      const isForgotten = (envelope: Envelope): NowOrLater<boolean> => {
        const { identity } = envelope;
        const position = streamPositionOf(envelope.origin);
        const at = position === undefined ? undefined : millisOf(position);
        const forgottenAt = deliveryLog.forgottenAt?.bind(deliveryLog);
        if (!identity || at === undefined || !forgottenAt) return false;
        return answerOr(
          () => forgottenAt(identityKey(identity)),
          (forgotten) => forgotten !== undefined && at <= forgotten,
          false,
        );
      };

      const recordDelivery = (envelope: Envelope): NowOrLater<unknown> => {
        const { identity } = envelope;
        const position = streamPositionOf(envelope.origin);
        if (!identity || position === undefined) return undefined;
        return answerOr(
          () => deliveryLog.recordDelivered(identityKey(identity), position),
          () => undefined,
          undefined,
        );
      };

      /**
       * What the destination is told about the audiences of a delivered payload, remembered per person
       * (without expiry: a withdrawal long after the last delivery still finds them): `realized` /
       * `existing` put them in, `exited` takes them out. Read by a consent withdrawal. A delivered
       * withdrawal is also counted, which starts a new round of `dedupe` keys for the person (so a person
       * who consents again is sent again, even with the same qualification time).
       */
      const recordAudiences = (envelope: Envelope): NowOrLater<unknown> => {
        const { identity } = envelope;
        // Only a flow with consent needs it: the others pay nothing for it.
        if (!identity || envelope.consent === undefined) return undefined;
        const statuses = Object.entries(upsOf(envelope.payload));
        const key = identityKey(identity);
        const audiences =
          statuses.length === 0
            ? of(undefined)
            : defer(() => fromMaybePromise(deliveryLog.audiencesIn(key))).pipe(
                mergeMap((current) => {
                  const next = new Set(current);
                  for (const [id, status] of statuses) status === 'exited' ? next.delete(id) : next.add(id);
                  const same = next.size === current.length && current.every((id) => next.has(id));
                  return same ? of(undefined) : fromMaybePromise(deliveryLog.recordAudiencesIn(key, [...next]));
                }),
              );
        const withdrawal =
          envelope.consent === 'withdrawn' && deliveryLog.recordWithdrawal
            ? defer(() => fromMaybePromise(deliveryLog.recordWithdrawal?.(key)))
            : of(undefined);
        // As the position: a safeguard; a person it misses is excluded rather than sent an exit.
        return merge(audiences, withdrawal).pipe(catchError(() => of(undefined)));
      };

      /**
       * A consent withdrawal goes out only to a person who is in an audience as delivered, and exits every
       * such audience (those the log knows, with those its own update names): `undefined` when none is due.
       * Any other envelope goes as it is.
       */
      const withdrawalToSend = (envelope: Envelope): Observable<Envelope | undefined> => {
        const { identity } = envelope;
        if (envelope.consent !== 'withdrawn' || !identity) return of(envelope);
        return defer(() => fromMaybePromise(deliveryLog.audiencesIn(identityKey(identity)))).pipe(
          map((current): Envelope | undefined => {
            if (current.length === 0) return undefined;
            const membership = envelope.payload.segmentMembership as { ups?: Record<string, JsonObject> } | undefined;
            const ups: Record<string, JsonObject> = { ...membership?.ups };
            for (const id of current) ups[id] ??= { status: 'exited' };
            return { ...envelope, payload: { ...envelope.payload, segmentMembership: { ups } } };
          }),
          // The log cannot answer: send the exit as it is (telling the destination one time too many is harmless).
          catchError(() => of(envelope)),
        );
      };

      const noAnswer = (error: unknown): AttemptResult => {
        const misconfigured = misconfigurationOf(error);
        return misconfigured === undefined
          ? { kind: 'no-answer', error: messageOf(error) }
          : { kind: 'misconfigured', message: misconfigured };
      };
      const answerOf = (answer: SendResult): AttemptResult => ({ kind: 'answer', answer });
      /** Whatever `from` reads as a sender's answers, a failure (or no observable input) being no answer. */
      const answersFrom = (sent: ObservableInput<SendResult>): Observable<AttemptResult> =>
        defer(() => from(sent)).pipe(
          map(answerOf),
          catchError((error: unknown) => of(noAnswer(error))),
        );
      /**
       * One POST's result. The product's sender answers with a native promise and a stand-in with an
       * array: those two are read here directly, one observable per send where `defer`, `from`, `map` and
       * `catchError` made four (and their subscribers) for every update sent. Anything else a plug-in's
       * sender gives (an observable, a thenable, an iterable) goes through `answersFrom`, as before.
       */
      const send = (body: string): Observable<AttemptResult> =>
        new Observable<AttemptResult>((subscriber) => {
          // As `catchError` had it: a failure is no answer; a failure even to say so is the stream's error.
          const unanswered = (error: unknown): void => {
            if (subscriber.closed) return;
            let result: AttemptResult;
            try {
              result = noAnswer(error);
            } catch (failure) {
              subscriber.error(failure);
              return;
            }
            subscriber.next(result);
            subscriber.complete();
          };
          let sent: ObservableInput<SendResult>;
          try {
            sent = sender.send(body);
          } catch (error) {
            unanswered(error);
            return undefined;
          }
          if (sent instanceof Promise) {
            sent.then((answer: SendResult) => {
              subscriber.next(answerOf(answer));
              subscriber.complete();
            }, unanswered);
            return undefined;
          }
          if (Array.isArray(sent)) {
            for (const answer of sent as readonly SendResult[]) subscriber.next(answerOf(answer));
            subscriber.complete();
            return undefined;
          }
          return answersFrom(sent).subscribe(subscriber);
        });

      /** Attempt number `total`; `counted` attempts count toward `maxAttempts` (paused ones do not). */
      const attempt = (envelope: Envelope, body: string, total: number, counted: number): Observable<never> => {
        const turn = waitTurn(envelope);
        // The request itself is not raced with a stop: once sent, its answer is waited for. A turn that
        // came as the pipeline stopped (a grant from Redis already on its way) is not used.
        const afterTurn = (): Observable<AttemptResult> => {
          if (stopped) {
            release(envelope);
            return EMPTY;
          }
          return send(body);
        };
        return (turn ? turn.pipe(mergeMap(afterTurn)) : send(body)).pipe(
          mergeMap((result) => {
            if (isDestinationFailure(result)) breaker.failed(laneKeyOf(envelope), describeResult(result));
            else breaker.answered();
            // Down for everyone: try again when the breaker lets it, without spending an attempt.
            if (isDestinationFailure(result) && breaker.isOpen) return attempt(envelope, body, total + 1, counted);
            const verdict = judge(result, counted, options.retry, now(), random);
            switch (verdict.kind) {
              case 'delivered': {
                valve.open(DESTINATION_REJECTED);
                const done = () => finish(envelope, delivered(verdict.status, total));
                const writes = [recordDelivery(envelope), recordAudiences(envelope)].filter(isObservable);
                return writes.length === 0 ? done() : merge(...writes).pipe(toArray(), mergeMap(done));
              }
              case 'retry':
                if (verdict.slowDown) void Promise.resolve(rateLimiter.slowDown()).catch(() => {});
                return pause(envelope, verdict.delayMs, context).pipe(
                  mergeMap(() => attempt(envelope, body, total + 1, counted + 1)),
                );
              case 'misconfigured':
                valve.close(DESTINATION_REJECTED, verdict.message);
                return pause(envelope, verdict.delayMs, context).pipe(
                  mergeMap(() => attempt(envelope, body, total + 1, counted)),
                );
              case 'give-up': {
                const status = verdict.status === undefined ? {} : { status: verdict.status };
                return deadLetter(
                  envelope,
                  body,
                  failed(verdict.reason, { ...status, detail: verdict.detail, attempts: total }),
                );
              }
            }
          }),
        );
      };

      const deliver = (envelope: Envelope): Observable<never> =>
        defer(() => {
          const body = serializePayload(envelope.payload);
          const bytes = Buffer.byteLength(body);
          if (bytes > options.maxPayloadBytes) {
            const detail = `${bytes} bytes, the limit is ${options.maxPayloadBytes}`;
            return deadLetter(envelope, body, failed(Reasons.payloadTooLarge, { detail, attempts: 0 }));
          }
          const checked = (stale: boolean, forgotten: boolean): Observable<never> => {
            if (forgotten)
              return finish(envelope, excluded(Reasons.forgotten, 'its person was forgotten after it was received'));
            if (stale)
              return finish(
                envelope,
                excluded(Reasons.stale, 'a later update for this identity was already delivered'),
              );
            if (envelope.consent !== 'withdrawn') return attempt(envelope, body, 1, 1);
            return withdrawalToSend(envelope).pipe(
              mergeMap((toSend) => {
                if (toSend === undefined) return finish(envelope, excluded(Reasons.noConsent, NOT_IN_AUDIENCES));
                if (toSend === envelope) return attempt(envelope, body, 1, 1);
                const exit = serializePayload(toSend.payload);
                const exitBytes = Buffer.byteLength(exit);
                if (exitBytes > options.maxPayloadBytes) {
                  const detail = `${exitBytes} bytes, the limit is ${options.maxPayloadBytes}`;
                  return deadLetter(toSend, exit, failed(Reasons.payloadTooLarge, { detail, attempts: 0 }));
                }
                return attempt(toSend, exit, 1, 1);
              }),
            );
          };
          const [stale, forgotten] = [isStale(envelope), isForgotten(envelope)];
          // Both known at once (nothing to look up, or a log in memory): no observable for the wait.
          if (!isObservable(stale) && !isObservable(forgotten)) return checked(stale, forgotten);
          return forkJoin([observeNowOrLater(stale), observeNowOrLater(forgotten)]).pipe(
            mergeMap(([s, f]) => checked(s, f)),
          );
        });

      /** Dead-lettered at once, outside the lanes: it must not wait behind the updates it is shed for. */
      const shedding = (envelope: Envelope): Observable<never> =>
        defer(() =>
          deadLetter(
            envelope,
            serializePayload(envelope.payload),
            failed(Reasons.flowPaused, {
              detail: 'this flow could not send and held its share of the shared feed already',
              attempts: 0,
            }),
          ),
        );

      // `connect`: one subscription to the source, split in two. The stop is watched once, for `waitTurn`.
      return new Observable<Envelope>((subscriber) => {
        // The subscriber's first teardown (they run in the order added), so that nothing torn down after
        // it lets another update go: the line serves no one, and a turn that comes is not used.
        subscriber.add(() => {
          stopped = true;
        });
        subscriber.add(
          context.stopping$?.subscribe(() => {
            stopped = true;
          }),
        );
        source
          .pipe(
            connect((envelopes) =>
              merge(
                envelopes.pipe(
                  filter((envelope) => envelope.shed === true),
                  mergeMap(shedding),
                ),
                envelopes.pipe(
                  filter((envelope) => envelope.shed !== true),
                  laneMap(laneKeyOf, deliver, options.concurrency),
                ),
              ),
            ),
          )
          .subscribe(subscriber);
      });
    });

export const emitOperator = defineOperator({
  name: 'emit',
  summary: 'post each payload to the Qualtrics JSON Event, paced, ordered per identity, retried, and settle it',
  options: EmitOptions,
  create: (options, context) => emit(options, context),
});
