import { Subject, map, takeUntil, type Observable } from 'rxjs';
import type { InboundMessage } from '../adapters/inbound-message.js';
import type { Envelope } from '../operators/model/envelope.js';
import { Ledger, type LedgerCounts } from '../operators/model/ledger.js';
import { positionCounter } from '../operators/model/order.js';
import { Ticket } from '../operators/model/ticket.js';
import type { OperatorContext } from '../operators/model/define.js';
import { compose, type ChainLink } from './chain.js';

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
  const envelopes = source.pipe(
    takeUntil(stop$),
    map((message) => envelopeOf(message, ledger, sourceName, nextPosition)),
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
