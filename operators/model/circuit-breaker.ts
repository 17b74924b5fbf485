import {
  type Observable,
  Subject,
  defer,
  filter,
  of,
  startWith,
  take,
  tap,
  timer,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import type { Valve } from './ports.js';
import { backoffMs } from './backoff.js';

/** What the valve is closed for while the destination is down (no answer, or 5xx/408, for everyone). */
export const DESTINATION_DOWN = 'destination-down';

export interface CircuitBreakerOptions {
  /** Failed attempts in a row, of at least two identities, that mean the destination is down. */
  readonly downAfter: number;
  /** The first probe waits about this long; each next one twice as long, up to `maxMs`. */
  readonly baseMs: number;
  readonly maxMs: number;
}

/**
 * Tells a destination that is down from an update that fails. One identity failing again and again is
 * that update's trouble, and its own attempts run out. But when `downAfter` attempts in a row fail (no
 * answer, 5xx, 408), with no answer between, and they were for more than one identity, the destination
 * itself is down: the breaker opens,
 * the intake pauses (`destination-down`), and attempts stop: updates in flight wait, without spending
 * their attempts, while one probe at a time tries again with backoff. The first answer (any status that
 * is not a failure of the destination) closes it: the intake resumes and the waiting updates go on.
 */
export class CircuitBreaker {
  /** The identities of the failures in a row so far, and how many there were. */
  readonly #failing = new Set<string>();
  #failures = 0;
  readonly #changes = new Subject<void>();
  #open = false;
  #probing = false;
  #probes = 0;
  /** Set when the backoff before the next probe is over (by the timer itself: clocks may disagree by a ms). */
  #probeDue = false;
  #wake: Subscription | undefined;

  constructor(
    private readonly options: CircuitBreakerOptions,
    private readonly valve: Valve,
    private readonly scheduler: SchedulerLike | undefined,
    private readonly random: () => number = Math.random,
  ) {}

  get isOpen(): boolean {
    return this.#open;
  }

  /**
   * Waits until an attempt may be made: at once while the breaker is closed; while it is open, until it
   * closes or this attempt is the next probe.
   */
  permit(): Observable<void> {
    return defer(() => {
      if (!this.#open) return of(undefined);
      return this.#changes.pipe(
        startWith(undefined),
        filter(() => !this.#open || (!this.#probing && this.#probeDue)),
        take(1),
        tap(() => {
          if (!this.#open) return;
          this.#probing = true;
          this.#probeDue = false;
        }),
      );
    });
  }

  /** The destination answered (any status that is not a failure of the destination itself). */
  answered(): void {
    this.#failing.clear();
    this.#failures = 0;
    this.#probing = false;
    if (!this.#open) return;
    this.#open = false;
    this.#probes = 0;
    this.#wake?.unsubscribe();
    this.valve.open(DESTINATION_DOWN);
    this.#changes.next();
  }

  /** An attempt for identity `lane` got no answer, or a 5xx or 408; `why` says which. */
  failed(lane: string, why: string): void {
    if (this.#open) {
      if (!this.#probing) return;
      // The probe failed: the next one waits longer.
      this.#probing = false;
      this.#scheduleProbe();
      return;
    }
    this.#failing.add(lane);
    this.#failures += 1;
    // Counted in attempts, not people, so it opens before `concurrency` updates spend all of theirs.
    if (this.#failures < this.options.downAfter || this.#failing.size < 2) return;
    this.#open = true;
    this.#failing.clear();
    this.#failures = 0;
    const { downAfter } = this.options;
    const message = `the destination failed ${downAfter} times in a row, for several updates (last: ${why})`;
    this.valve.close(DESTINATION_DOWN, `${message}; updates wait and one probe retries`);
    this.#scheduleProbe();
  }

  #scheduleProbe(): void {
    this.#probes += 1;
    const delay = backoffMs(this.#probes, this.options, this.random);
    this.#probeDue = false;
    this.#wake?.unsubscribe();
    this.#wake = timer(delay, this.scheduler).subscribe(() => {
      this.#probeDue = true;
      this.#changes.next();
    });
  }
}
