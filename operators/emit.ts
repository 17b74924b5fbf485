import * as t from 'io-ts';
import { EMPTY, catchError, defer, from, map, mergeMap, of, timer, type Observable, type OperatorFunction } from 'rxjs';
import { decodeOrThrow, integerIn, struct, withDefault } from './model/codecs.js';
import { defineOperator, type OperatorContext } from './model/define.js';
import { identityKey, settle, type Envelope } from './model/envelope.js';
import { laneMap } from './model/lanes.js';
import { compareOrder } from './model/order.js';
import { delivered, excluded, failed, Reasons, type Outcome } from './model/outcome.js';
import { serializePayload } from './model/payload.js';
import { fromMaybePromise } from './model/ports.js';
import { judge, RetryOptions, type AttemptResult } from './model/retry-policy.js';

/** Qualtrics refuses JSON Event payloads over 100 KB; counted in bytes of UTF-8, 100,000 to stay safe. */
export const MAX_PAYLOAD_BYTES = 100_000;

/** What the valve is closed for while the destination rejects the credentials or the URL. */
export const DESTINATION_REJECTED = 'destination-rejected';

/** How long to wait before asking a rate limiter that failed to answer (Redis down) again. */
const LIMITER_UNAVAILABLE_WAIT_MS = 1000;

export const EmitOptions = struct('EmitOptions', {
  /** Requests in flight at once; one identity never has more than one. */
  concurrency: withDefault(integerIn(1, 256), 8),
  /** Payloads larger than this are failed as `payload-too-large` and not sent. */
  maxPayloadBytes: withDefault(integerIn(1, MAX_PAYLOAD_BYTES), MAX_PAYLOAD_BYTES),
  retry: withDefault(RetryOptions, decodeOrThrow(RetryOptions, {})),
});
export type EmitOptions = t.TypeOf<typeof EmitOptions>;

type EmitContext = Pick<OperatorContext, 'sender' | 'rateLimiter' | 'deliveryLog' | 'deadLetters' | 'valve' | 'scheduler' | 'random'>;

/** One lane per identity; an envelope without one (a plug-in's) gets a lane of its own. */
const laneOf = (envelope: Envelope): string =>
  envelope.identity ? identityKey(envelope.identity) : `position:${envelope.origin.source}:${envelope.origin.position}`;

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * The sink: posts each payload (serialized as on the connector page) to the Qualtrics JSON Event and
 * settles its envelope. Emits nothing: every envelope ends here.
 *
 * - One identity's updates go out one at a time, in arrival order, retries included; up to
 *   `concurrency` identities at once.
 * - An update older than the last one delivered for its identity is excluded as `stale`.
 * - Every attempt first takes a slot from the rate limiter, waiting as long as it says.
 * - 2xx: `delivered`. 408, 429, 5xx, no answer: retried with backoff and jitter, or after
 *   `Retry-After`; a 429 also slows the rate limiter. 401, 403, 404: the valve closes (intake stops)
 *   and the update is retried every `retry.maxMs` until the destination accepts it, which reopens it.
 *   Other answers, too-large payloads and exhausted retries: dead-lettered, then `failed`.
 *
 * @example
 * profiles$.pipe(emit(decodeOrThrow(EmitOptions, { concurrency: 8 }), context)).subscribe()
 */
export const emit =
  (options: EmitOptions, { sender, rateLimiter, deliveryLog, deadLetters, valve, scheduler, random = Math.random }: EmitContext): OperatorFunction<Envelope, Envelope> =>
  (source) => {
    const now = (): number => scheduler?.now() ?? Date.now();

    const waitTurn = (): Observable<void> =>
      defer(() => fromMaybePromise(rateLimiter.reserve())).pipe(
        // Never send unpaced: if the limiter cannot answer, wait and ask again.
        catchError(() => of(LIMITER_UNAVAILABLE_WAIT_MS)),
        mergeMap((wait) => (wait <= 0 ? of(undefined) : timer(wait, scheduler).pipe(mergeMap(waitTurn)))),
      );

    const finish = (envelope: Envelope, outcome: Outcome): Observable<never> => {
      settle(envelope, outcome);
      return EMPTY;
    };

    const deadLetter = (envelope: Envelope, body: string, outcome: Outcome & { kind: 'failed' }): Observable<never> =>
      defer(() =>
        fromMaybePromise(
          deadLetters.add({
            at: new Date(now()).toISOString(),
            reason: outcome.reason,
            ...(outcome.status === undefined ? {} : { status: outcome.status }),
            ...(outcome.detail === undefined ? {} : { response: outcome.detail }),
            attempts: outcome.attempts ?? 0,
            payload: body,
            ...(envelope.identity ? { identity: identityKey(envelope.identity) } : {}),
            source: envelope.origin.source,
            position: envelope.origin.position,
          }),
        ),
      ).pipe(
        map(() => outcome),
        catchError((error: unknown) => of({ ...outcome, detail: `${outcome.detail ?? ''} (not dead-lettered: ${messageOf(error)})`.trim() })),
        mergeMap((final) => finish(envelope, final)),
      );

    const isStale = (envelope: Envelope): Observable<boolean> => {
      const { identity, origin } = envelope;
      if (!identity) return of(false);
      return defer(() => fromMaybePromise(deliveryLog.lastDelivered(identityKey(identity)))).pipe(
        map((last) => last !== undefined && (compareOrder(last, origin.position) ?? 0) > 0),
        // The log is a safeguard, not a gate: if it cannot answer, send (dedupe still stops repeats).
        catchError(() => of(false)),
      );
    };

    const recordDelivery = (envelope: Envelope): Observable<unknown> =>
      envelope.identity
        ? defer(() => fromMaybePromise(deliveryLog.recordDelivered(identityKey(envelope.identity!), envelope.origin.position))).pipe(catchError(() => of(undefined)))
        : of(undefined);

    /** Attempt number `total`; `counted` attempts count toward `maxAttempts` (paused ones do not). */
    const attempt = (envelope: Envelope, body: string, total: number, counted: number): Observable<never> =>
      waitTurn().pipe(
        mergeMap(() =>
          defer(() => from(sender.send(body))).pipe(
            map((answer): AttemptResult => ({ kind: 'answer', answer })),
            catchError((error: unknown) => of<AttemptResult>({ kind: 'no-answer', error: messageOf(error) })),
          ),
        ),
        mergeMap((result) => {
          const verdict = judge(result, counted, options.retry, now(), random);
          switch (verdict.kind) {
            case 'delivered':
              valve.open(DESTINATION_REJECTED);
              return recordDelivery(envelope).pipe(mergeMap(() => finish(envelope, delivered(verdict.status, total))));
            case 'retry':
              if (verdict.slowDown) void Promise.resolve(rateLimiter.slowDown()).catch(() => {});
              return timer(verdict.delayMs, scheduler).pipe(mergeMap(() => attempt(envelope, body, total + 1, counted + 1)));
            case 'misconfigured':
              valve.close(DESTINATION_REJECTED, verdict.message);
              return timer(verdict.delayMs, scheduler).pipe(mergeMap(() => attempt(envelope, body, total + 1, counted)));
            case 'give-up':
              return deadLetter(
                envelope,
                body,
                failed(verdict.reason, { ...(verdict.status === undefined ? {} : { status: verdict.status }), detail: verdict.detail, attempts: total }),
              );
          }
        }),
      );

    const deliver = (envelope: Envelope): Observable<never> =>
      defer(() => {
        const body = serializePayload(envelope.payload);
        const bytes = Buffer.byteLength(body);
        if (bytes > options.maxPayloadBytes)
          return deadLetter(envelope, body, failed(Reasons.payloadTooLarge, { detail: `${bytes} bytes, the limit is ${options.maxPayloadBytes}`, attempts: 0 }));
        return isStale(envelope).pipe(
          mergeMap((stale) =>
            stale ? finish(envelope, excluded(Reasons.stale, 'a later update for this identity was already delivered')) : attempt(envelope, body, 1, 1),
          ),
        );
      });

    return source.pipe(laneMap(laneOf, deliver, options.concurrency));
  };

export const emitOperator = defineOperator({
  name: 'emit',
  summary: 'post each payload to the Qualtrics JSON Event, paced, ordered per identity, retried, and settle it',
  options: EmitOptions,
  create: (options, context) => emit(options, context),
});
