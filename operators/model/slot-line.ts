import { Observable, Subscription } from 'rxjs';

/** One update's place in the line, and how to let it go. */
interface Place {
  readonly go: () => void;
  readonly fail: (error: unknown) => void;
}

/**
 * The updates of one `emit` waiting for a rate-limit slot, served in arrival order: only the first in
 * line waits for the slot and asks the limiter, so there is one timer and one wake-up per send however
 * many updates wait. Every waiting update asking on a timer of its own polled the limiter: about 17
 * reserve calls (each a Lua script in Redis) per update delivered at the limit with 8 requests in flight
 * (`npm run bench -- end-to-end`, issue #13).
 */
export class SlotLine {
  readonly #line: Place[] = [];
  /** The wait for the first in line, while there is one. */
  #asking: { readonly place: Place; readonly subscription: Subscription } | undefined;
  /**
   * `slot()` waits for a slot: it emits when one is granted, and completes empty only when the pipeline
   * stops. `isStopping()` says the pipeline is stopping or torn down: from then on no one is served (an
   * update released by the stop leaves the line, and the next must not be let go in its place).
   */
  constructor(
    private readonly slot: () => Observable<unknown>,
    private readonly isStopping: () => boolean,
  ) {}

  /** Nobody is waiting or being served: an update may ask the limiter itself. */
  get isEmpty(): boolean {
    return this.#line.length === 0 && this.#asking === undefined;
  }

  /** Emits once this update's slot is granted, then completes. Unsubscribing leaves the line. */
  take(): Observable<void> {
    return new Observable<void>((subscriber) => {
      const place: Place = {
        go: () => {
          subscriber.next();
          subscriber.complete();
        },
        fail: (error) => subscriber.error(error),
      };
      this.#line.push(place);
      this.#serve();
      return () => {
        const at = this.#line.indexOf(place);
        if (at >= 0) this.#line.splice(at, 1);
        if (this.#asking?.place !== place) return;
        this.#asking.subscription.unsubscribe();
        this.#asking = undefined;
        this.#serve();
      };
    });
  }

  #serve(): void {
    if (this.#asking || this.isStopping()) return;
    const place = this.#line[0];
    if (!place) return;
    let granted = false;
    let done = false;
    // Marked before subscribing: a `take` made while the wait starts must queue, not be served as well.
    const asking = { place, subscription: new Subscription() };
    this.#asking = asking;
    const subscription = this.slot().subscribe({
      next: () => {
        granted = true;
      },
      error: (error: unknown) => {
        done = true;
        this.#asking = undefined;
        if (this.#line[0] === place) this.#line.shift();
        place.fail(error);
        this.#serve();
      },
      complete: () => {
        done = true;
        this.#asking = undefined;
        if (this.#line[0] === place) this.#line.shift();
        // Not granted: the pipeline is stopping, and `#serve` lets no one else go either.
        if (granted) place.go();
        this.#serve();
      },
    });
    if (!done) asking.subscription.add(subscription);
  }
}
