import type { AlertEvent } from './alerts.js';

export interface JournalFillOptions {
  /** The journal's length now (XLEN): entries not every flow has finished. */
  readonly length: () => Promise<number>;
  readonly maxLength: number;
  /** Named in the alert (the config's name). */
  readonly pipeline: string;
  readonly notify: (event: AlertEvent) => void;
  /** The share of `maxLength` at which the alert fires (0.8): before the intake has to refuse anything. */
  readonly ratio?: number;
  readonly everyMs?: number;
  readonly now?: () => number;
}

/**
 * Raises `journal-filling` while the journal holds `ratio` (80 %) of `maxLength` or more, and resolves it
 * below: at `maxLength` the intake refuses (an HTTP intake answers 503), so a person hears of it first.
 * A length that cannot be read changes nothing (the stores' own alert says Redis is down).
 */
export class JournalFillMonitor {
  #firing = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: JournalFillOptions) {}

  async check(): Promise<void> {
    const { length, maxLength, pipeline, notify, ratio = 0.8, now = Date.now } = this.options;
    let held: number;
    try {
      held = await length();
    } catch {
      return;
    }
    const filling = held >= ratio * maxLength;
    if (filling === this.#firing) return;
    this.#firing = filling;
    const share = `${held} of ${maxLength} entries (${Math.round((held / maxLength) * 100)} %)`;
    notify({
      alert: 'journal-filling',
      state: filling ? 'firing' : 'resolved',
      at: new Date(now()).toISOString(),
      pipeline,
      summary: filling
        ? `the journal holds ${share}: at ${maxLength} the intake refuses updates`
        : `the journal holds ${share} again`,
    });
  }

  start(): this {
    this.#timer = setInterval(() => void this.check(), this.options.everyMs ?? 5_000);
    this.#timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
