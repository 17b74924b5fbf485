import { Observable, Subject, map, takeUntil, type OperatorFunction } from 'rxjs';
import type { InboundMessage } from '../adapters/inbound-message.js';
import type { Envelope } from '../operators/model/envelope.js';
import { Ledger, type LedgerCounts } from '../operators/model/ledger.js';
import { positionCounter } from '../operators/model/order.js';
import { Ticket } from '../operators/model/ticket.js';
import type { OperatorContext } from '../operators/model/define.js';
import { compose, exclusionAtIntake, type ChainLink } from './chain.js';
import { singleProfileOf } from '../operators/decode.js';
import type { Outcome } from '../operators/model/outcome.js';
import type { Profile } from '../operators/model/profile.js';

export interface PipelineOptions {
  /** Names the source in every envelope's origin (`websocket`, `redis:<stream>`). */
  readonly sourceName: string;
  readonly source: Observable<InboundMessage>;
  /** The operators to run, made for `context`. */
  readonly chain: readonly ChainLink[];
  readonly context: OperatorContext;
  readonly ledger?: Ledger;
}

export interface RunningPipeline {
  readonly ledger: Ledger;
  /** Resolves with the final counts once the source stopped and every envelope is settled. */
  readonly done: Promise<LedgerCounts>;
  /** Stops taking input; in-flight envelopes finish. Resolves like `done`. */
  stop(): Promise<LedgerCounts>;
}

/** The envelope for a message just received: counted in the ledger at once, acknowledged when settled. */
export const envelopeOf = (
  message: InboundMessage,
  ledger: Ledger,
  sourceName: string,
  nextPosition: () => string,
): Envelope => ({
  origin: { source: sourceName, position: message.position ?? nextPosition() },
  receivedAt: Date.now(),
  ticket: Ticket.open(ledger, message.ack),
  message: message.data,
  ...(message.turns ? { turns: message.turns } : {}),
  ...(message.shed ? { shed: true } : {}),
  payload: {},
});

/**
 * The fast path of an update that is simply not qualified (most of a feed: AEP sends every change of a
 * profile): a message holding one profile that `qualify` would exclude is read (as `decode` reads it, the
 * reading kept for it), counted and settled in the ledger as `qualify` would settle it, and acknowledged,
 * with no envelope, ticket or pass through the chain's operators. Anything else (a list, a message that
 * is not a profile, a profile in a mapped audience, a check that throws) becomes an envelope as before,
 * and the chain decides. Only for a chain that begins with the built-in `decode` then `qualify`.
 */
const settleExcludedAtOnce =
  (
    excludes: (profile: Profile) => Outcome | undefined,
    ledger: Ledger,
    sourceName: string,
    nextPosition: () => string,
  ): OperatorFunction<InboundMessage, Envelope> =>
  (messages) =>
    new Observable<Envelope>((subscriber) =>
      messages.subscribe({
        next(message) {
          let outcome: Outcome | undefined;
          try {
            const profile = singleProfileOf(message.data);
            outcome = profile && excludes(profile);
          } catch {
            outcome = undefined; // the chain's operators meet it again, and settle it as they do
          }
          if (!outcome) {
            subscriber.next(envelopeOf(message, ledger, sourceName, nextPosition));
            return;
          }
          const receivedAt = Date.now();
          ledger.receiveSettled({
            outcome,
            origin: { source: sourceName, position: message.position ?? nextPosition() },
            identity: undefined,
            receivedAt,
            at: receivedAt,
          });
          message.ack?.();
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    );

/**
 * Starts a pipeline: source -> envelopes -> operators. Stopping unsubscribes from the source (a
 * WebSocket closes, a stream is read no further) and lets everything in flight settle.
 */
export const startPipeline = ({
  sourceName,
  source,
  chain,
  context,
  ledger = new Ledger(),
}: PipelineOptions): RunningPipeline => {
  const stop$ = new Subject<void>();
  const nextPosition = positionCounter();
  const excludes = exclusionAtIntake(chain);
  const envelopes = source.pipe(
    takeUntil(stop$),
    excludes
      ? settleExcludedAtOnce(excludes, ledger, sourceName, nextPosition)
      : map((message) => envelopeOf(message, ledger, sourceName, nextPosition)),
  );
  const done = new Promise<LedgerCounts>((resolve, reject) => {
    compose(envelopes, chain, context).subscribe({
      error: reject,
      // Settlement hooks (a dedupe commit) may still be running when the stream completes.
      complete: () => resolve(ledger.whenSettled()),
    });
  });
  return {
    ledger,
    done,
    stop() {
      stop$.next();
      stop$.complete();
      return done;
    },
  };
};
