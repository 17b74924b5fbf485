import * as t from 'io-ts';
import type { Subscription } from 'rxjs';
import { integerIn, struct, withDefault } from '../operators/model/codecs.js';
import type { Ledger } from '../operators/model/ledger.js';
import { DESTINATION_REJECTED } from '../operators/emit.js';
import { DESTINATION_DOWN } from '../operators/model/circuit-breaker.js';
import { STORE_UNAVAILABLE } from '../operators/model/waits.js';
import type { IntakeValve } from './valve.js';
import { withShape } from '../operators/model/codec-shape.js';

const Ratio = withShape(
  new t.Type<number>(
    'a ratio from 0 to 1',
    (u): u is number => typeof u === 'number' && u >= 0 && u <= 1,
    (u, c) =>
      typeof u === 'number' && u >= 0 && u <= 1
        ? t.success(u)
        : t.failure(u, c, `expected a ratio from 0 to 1 (0.01 is 1 %), got ${JSON.stringify(u)}`),
    t.identity,
  ),
  { kind: 'number', min: 0, max: 1 },
);

/**
 * Alerts, evaluated over a sliding window, each announced once when it starts and once when it clears.
 * The destination's rejected credentials are always watched.
 */
export const AlertsConfig = struct(
  'alerts',
  {
    windowSeconds: withDefault(integerIn(1, 86_400), 300),
    checkEverySeconds: withDefault(integerIn(1, 3600), 5),
    /**
     * Activation skipped rate exceeded: (excluded + failed) / settled in the window above this (Adobe
     * alerts at 1 %).
     */
    skippedRate: withDefault(Ratio, 0.01),
    /** ...once at least this many updates settled in the window, so three updates do not make a rate. */
    minVolume: withDefault(integerIn(1, 1_000_000), 20),
    /** Delivery failing: this many failed outcomes in the window. */
    failures: withDefault(integerIn(1, 1_000_000), 10),
    /** Stalled: updates received, none delivered, for this long. */
    stalledSeconds: withDefault(integerIn(1, 86_400), 600),
  },
  /** Also POST each alert, as JSON, here. */
  { webhook: t.string },
);
export type AlertsConfig = t.TypeOf<typeof AlertsConfig>;

export type AlertName =
  | 'activation-skipped-rate-exceeded'
  | 'delivery-failing'
  | 'destination-rejected-credentials'
  | 'destination-down'
  | 'store-unavailable'
  | 'stalled'
  | 'journal-filling';

/** Pauses of the intake that need a person: each raises its alert while it holds. */
const PAUSE_ALERTS: ReadonlyMap<string, AlertName> = new Map<string, AlertName>([
  [DESTINATION_REJECTED, 'destination-rejected-credentials'],
  [DESTINATION_DOWN, 'destination-down'],
  [STORE_UNAVAILABLE, 'store-unavailable'],
]);

const PAUSE_CLEARED: Readonly<Record<string, string>> = {
  'destination-rejected-credentials': 'the destination accepts the credentials again',
  'destination-down': 'the destination answers again',
  'store-unavailable': 'the stores answer again',
};

/** What is announced: an alert starting (`firing`) or clearing (`resolved`). */
export interface AlertEvent {
  readonly alert: AlertName;
  readonly state: 'firing' | 'resolved';
  readonly at: string;
  readonly pipeline: string;
  readonly summary: string;
}

/**
 * The outcomes settled at one clock reading (ms): at thousands a second, many share one, so the window
 * holds a count per millisecond rather than an object per update.
 */
interface Stamp {
  readonly at: number;
  settled: number;
  skipped: number;
  failed: number;
}

/**
 * Watches the ledger and the valve and raises alerts. `check()` evaluates every alert at the current
 * time; `start()` does so every `checkEverySeconds`.
 */
export class AlertMonitor {
  readonly #stamps: Stamp[] = [];
  readonly #firing = new Set<AlertName>();
  readonly #subscriptions: Subscription[] = [];
  /** Why each pause alert holds, while it does. */
  readonly #paused = new Map<AlertName, string>();
  /** The first update received since the last delivery: how long the pipeline has taken input without delivering. */
  #waitingSince: number | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: AlertsConfig,
    private readonly pipeline: string,
    ledger: Ledger,
    valve: IntakeValve,
    private readonly notify: (event: AlertEvent) => void,
    private readonly now: () => number = Date.now,
  ) {
    let received = ledger.received;
    this.#subscriptions.push(
      ledger.settlements$.subscribe(({ outcome }) => {
        const at = this.now();
        let stamp = this.#stamps.at(-1);
        if (stamp?.at !== at) {
          stamp = { at, settled: 0, skipped: 0, failed: 0 };
          this.#stamps.push(stamp);
        }
        stamp.settled += 1;
        if (outcome.kind === 'excluded' || outcome.kind === 'failed') stamp.skipped += 1;
        if (outcome.kind === 'failed') stamp.failed += 1;
        if (outcome.kind === 'delivered') this.#waitingSince = undefined;
      }),
      ledger.inFlight$.subscribe(() => {
        const now = ledger.received;
        if (now > received) this.#waitingSince ??= this.now();
        received = now;
      }),
      valve.changes$.subscribe((change) => {
        const alert = PAUSE_ALERTS.get(change.reason);
        if (alert === undefined) return;
        if (change.kind === 'closed') this.#paused.set(alert, change.message);
        else this.#paused.delete(alert);
        this.check();
      }),
    );
  }

  start(): this {
    this.#timer = setInterval(() => this.check(), this.config.checkEverySeconds * 1000);
    this.#timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
    for (const s of this.#subscriptions.splice(0)) s.unsubscribe();
  }

  get firing(): readonly AlertName[] {
    return [...this.#firing];
  }

  check(): void {
    const now = this.now();
    const windowMs = this.config.windowSeconds * 1000;
    while (this.#stamps.length > 0 && this.#stamps[0]!.at <= now - windowMs) this.#stamps.shift();
    const stalledMs = this.config.stalledSeconds * 1000;

    let [settled, skipped, failed] = [0, 0, 0];
    for (const stamp of this.#stamps) {
      settled += stamp.settled;
      skipped += stamp.skipped;
      failed += stamp.failed;
    }
    const rate = settled === 0 ? 0 : skipped / settled;
    const window = `in the last ${this.config.windowSeconds} s`;
    this.#set(
      'activation-skipped-rate-exceeded',
      settled >= this.config.minVolume && rate > this.config.skippedRate,
      `${(rate * 100).toFixed(1)} % of ${settled} updates skipped (excluded or failed) ${window}; the ` +
        `threshold is ${(this.config.skippedRate * 100).toFixed(1)} %`,
    );
    this.#set(
      'delivery-failing',
      failed >= this.config.failures,
      `${failed} updates failed ${window}; the threshold is ${this.config.failures}`,
    );
    for (const alert of PAUSE_ALERTS.values()) {
      const why = this.#paused.get(alert);
      this.#set(alert, why !== undefined, why ?? PAUSE_CLEARED[alert] ?? 'cleared');
    }
    const waitingFor = this.#waitingSince === undefined ? 0 : now - this.#waitingSince;
    this.#set(
      'stalled',
      waitingFor >= stalledMs,
      `updates have been arriving for ${Math.round(waitingFor / 1000)} s with none delivered (the threshold ` +
        `is ${this.config.stalledSeconds} s)`,
    );
  }

  #set(alert: AlertName, on: boolean, summary: string): void {
    if (on === this.#firing.has(alert)) return;
    if (on) this.#firing.add(alert);
    else this.#firing.delete(alert);
    this.notify({
      alert,
      state: on ? 'firing' : 'resolved',
      at: new Date(this.now()).toISOString(),
      pipeline: this.pipeline,
      summary,
    });
  }
}
