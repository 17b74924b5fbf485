import { Observable, Subject, type Subscription } from 'rxjs';
import type { InboundMessage } from '../../adapters/inbound-message.js';
import { copyWith } from '../../operators/model/copy-with.js';
import { positionCounter } from '../../operators/model/order.js';

/**
 * One feed offered to `count` flows: each message goes to every flow, with the same position, and is
 * acknowledged to its source once every flow has settled it. The feed is subscribed once, when the
 * last flow subscribes (so no flow misses the first messages), and let go when they all have gone.
 * The data itself is shared, not copied: `decode` parses a message once however many flows there are.
 */
export const fanOut = (
  feed$: Observable<InboundMessage>,
  count: number,
  /** Per outlet: whether it is to get the next message marked `shed` (see `Envelope.shed`); default never. */
  sheds: ReadonlyArray<() => boolean> = [],
): Observable<InboundMessage>[] => {
  const outlets = Array.from({ length: count }, () => new Subject<InboundMessage>());
  const nextPosition = positionCounter();
  let subscribed = 0;
  let feed: Subscription | undefined;

  const connect = (): void => {
    feed = feed$.subscribe({
      next: (message) => {
        let waiting = count;
        const ack = message.ack;
        const shared: InboundMessage = copyWith(message, {
          position: message.position ?? nextPosition(),
          ...(ack
            ? {
                ack: () => {
                  waiting -= 1;
                  if (waiting === 0) ack();
                },
              }
            : {}),
        });
        for (const [index, outlet] of outlets.entries())
          outlet.next(sheds[index]?.() ? copyWith(shared, { shed: true }) : shared);
      },
      error: (error: unknown) => {
        for (const outlet of outlets) outlet.error(error);
      },
      complete: () => {
        for (const outlet of outlets) outlet.complete();
      },
    });
  };

  return outlets.map(
    (outlet) =>
      new Observable<InboundMessage>((subscriber) => {
        const subscription = outlet.subscribe(subscriber);
        subscribed += 1;
        if (subscribed === count) connect();
        return () => {
          subscription.unsubscribe();
          subscribed -= 1;
          if (subscribed === 0) {
            feed?.unsubscribe();
            feed = undefined;
          }
        };
      }),
  );
};
