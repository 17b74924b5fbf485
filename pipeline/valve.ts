import { BehaviorSubject, distinctUntilChanged, map, Subject, type Observable } from 'rxjs';

/** One change of the valve: a reason closed it (with what to fix) or a reason that had closed it cleared. */
export type ValveChange =
  | { readonly kind: 'closed'; readonly reason: string; readonly message: string }
  | { readonly kind: 'opened'; readonly reason: string };

/**
 * The intake's on/off switch. Several reasons may close it at once (the destination rejects the
 * credentials; later, a full credit); it is open only when none does. Sources watch `closed$` and stop
 * reading while it is true, so input waits upstream (TCP pushes back on a WebSocket sender).
 */
export class IntakeValve {
  readonly #reasons = new BehaviorSubject<ReadonlyMap<string, string>>(new Map());
  readonly #changes = new Subject<ValveChange>();

  /** True while any reason holds the valve closed; emits on change only. */
  readonly closed$: Observable<boolean> = this.#reasons.pipe(
    map((reasons) => reasons.size > 0),
    distinctUntilChanged(),
  );
  /** Each reason closing or clearing, once per change (what the logs report). */
  readonly changes$: Observable<ValveChange> = this.#changes.asObservable();

  /** True while the reasons holding the valve closed, taken together, make `holds` true; emits on change only. */
  closedBy$(holds: (reasons: ReadonlySet<string>) => boolean): Observable<boolean> {
    return this.#reasons.pipe(
      map((reasons) => holds(new Set(reasons.keys()))),
      distinctUntilChanged(),
    );
  }

  get isClosed(): boolean {
    return this.#reasons.value.size > 0;
  }

  /** The reasons holding it closed, with what to fix. */
  get reasons(): ReadonlyMap<string, string> {
    return this.#reasons.value;
  }

  close(reason: string, message: string): void {
    if (this.#reasons.value.has(reason)) return;
    this.#reasons.next(new Map(this.#reasons.value).set(reason, message));
    this.#changes.next({ kind: 'closed', reason, message });
  }

  open(reason: string): void {
    if (!this.#reasons.value.has(reason)) return;
    const next = new Map(this.#reasons.value);
    next.delete(reason);
    this.#reasons.next(next);
    this.#changes.next({ kind: 'opened', reason });
  }
}
