import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Observable, Subscription } from 'rxjs';
import type { Ledger } from '../operators/model/ledger.js';
import type { Outcome } from '../operators/model/outcome.js';
import type { AttemptObserved } from './observe.js';
import type { IntakeValve, ValveChange } from './valve.js';

const PREFIX = 'qualtrics_automations_';

/**
 * The pipeline's Prometheus metrics, named after a destination dataflow's monitoring: profiles
 * received, identities activated / excluded / failed (by reason), duplicates, the activation rate; and
 * for operators: requests by status, request latency, in flight, paused (by reason), rate-limit waits,
 * dead letters. Every sample carries the flow it counts (`flow="nps"`; `flow="(intake)"` for the pauses of
 * the shared intake); a process's totals are `sum without (flow) (...)`.
 */
export class PipelineMetrics {
  readonly registry = new Registry();
  readonly #subscriptions: Subscription[] = [];

  readonly received = new Counter({
    name: `${PREFIX}profiles_received_total`,
    help: 'Profile updates received (one per profile of a message).',
    labelNames: ['flow'],
    registers: [this.registry],
    collect: () => this.#flushTallies(),
  });
  readonly activated = new Counter({
    name: `${PREFIX}identities_activated_total`,
    help: 'Updates delivered: the destination answered 2xx.',
    labelNames: ['flow'],
    registers: [this.registry],
    collect: () => this.#flushTallies(),
  });
  readonly excluded = new Counter({
    name: `${PREFIX}identities_excluded_total`,
    help: 'Updates deliberately not sent, by reason.',
    labelNames: ['flow', 'reason'],
    registers: [this.registry],
    collect: () => this.#flushTallies(),
  });
  readonly failed = new Counter({
    name: `${PREFIX}identities_failed_total`,
    help: 'Updates not delivered, by reason.',
    labelNames: ['flow', 'reason'],
    registers: [this.registry],
    collect: () => this.#flushTallies(),
  });
  readonly duplicates = new Counter({
    name: `${PREFIX}duplicates_total`,
    help: 'Updates whose payload was already delivered for the identity.',
    labelNames: ['flow'],
    registers: [this.registry],
    collect: () => this.#flushTallies(),
  });
  /**
   * What each watched ledger received and settled since the last scrape, counted in place at every
   * update and added to the counters above when they are read (their `collect`), not at every update.
   */
  readonly #tallies = new Set<OutcomeTally>();

  #flushTallies(): void {
    for (const tally of this.#tallies) tally.flush();
  }

  /** Counts into `tally` from now on; `untally` flushes what it holds and stops counting into it. */
  tally(tally: OutcomeTally): () => void {
    this.#tallies.add(tally);
    return () => {
      tally.flush();
      this.#tallies.delete(tally);
    };
  }

  /** Each flow's ledger, read at each scrape by the gauges below (not set at every update). */
  readonly #ledgers = new Map<string, Ledger>();
  readonly activationRate: Gauge<'flow'> = new Gauge({
    name: `${PREFIX}activation_rate`,
    help: 'Activated over settled updates since start (1 when none settled).',
    labelNames: ['flow'],
    registers: [this.registry],
    collect: () => {
      for (const [flow, ledger] of this.#ledgers)
        this.activationRate.set({ flow }, ledger.settled === 0 ? 1 : ledger.delivered / ledger.settled);
    },
  });
  readonly requests = new Counter({
    name: `${PREFIX}requests_total`,
    help: 'Requests to the destination, by status (or "error").',
    labelNames: ['flow', 'status'],
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: `${PREFIX}request_duration_seconds`,
    help: 'Time for the destination to answer a request.',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    labelNames: ['flow'],
    registers: [this.registry],
  });
  readonly inFlight: Gauge<'flow'> = new Gauge({
    name: `${PREFIX}in_flight`,
    help: 'Updates received and not yet settled.',
    labelNames: ['flow'],
    registers: [this.registry],
    collect: () => {
      for (const [flow, ledger] of this.#ledgers) this.inFlight.set({ flow }, ledger.inFlight);
    },
  });
  readonly paused = new Gauge({
    name: `${PREFIX}paused`,
    help: '1 while the intake is paused for this reason.',
    labelNames: ['flow', 'reason'],
    registers: [this.registry],
  });
  readonly rateLimitWaits = new Counter({
    name: `${PREFIX}rate_limit_waits_total`,
    help: 'Times the first update in line waited for the rate limit (updates queued behind it are not counted).',
    labelNames: ['flow'],
    registers: [this.registry],
  });
  readonly rateLimitWaitSeconds = new Counter({
    name: `${PREFIX}rate_limit_wait_seconds_total`,
    help: 'Time the first update in line waited for the rate limit (updates queued behind it are not counted).',
    labelNames: ['flow'],
    registers: [this.registry],
  });
  readonly slowDowns = new Counter({
    name: `${PREFIX}rate_limit_slowdowns_total`,
    help: 'Times a 429 slowed the rate down.',
    labelNames: ['flow'],
    registers: [this.registry],
  });
  readonly deadLettered = new Counter({
    name: `${PREFIX}dead_letters_total`,
    help: 'Updates written to the dead letters since start.',
    labelNames: ['flow', 'reason'],
    registers: [this.registry],
  });

  readonly intakeRequests = new Counter({
    name: `${PREFIX}intake_requests_total`,
    help: 'Requests to the HTTP intake, by the status they were answered with.',
    labelNames: ['flow', 'status'],
    registers: [this.registry],
  });

  /** One answer of the HTTP intake (shared by every flow: `flow="(intake)"`). */
  intakeAnswered(status: number): void {
    this.intakeRequests.inc({ flow: INTAKE, status: String(status) });
  }

  /** Each flow's dead-letter store size, asked at each scrape. */
  readonly #deadLetterSizes = new Map<string, () => Promise<number>>();

  constructor(answerWithinMs = 250) {
    const sizes = this.#deadLetterSizes;
    const known = new Map<string, number>();
    new Gauge({
      name: `${PREFIX}dead_letters`,
      help: 'Dead letters kept (stream length, or letters in the file).',
      labelNames: ['flow'],
      registers: [this.registry],
      /**
       * A scrape never waits on a store that is down: past `answerWithinMs` a flow's last known size
       * is reported (NaN if none), and the late answer is kept for the next scrape.
       */
      async collect() {
        await Promise.all(
          [...sizes].map(async ([flow, size]) => {
            const asked = size().then(
              (n) => {
                known.set(flow, n);
                return n;
              },
              () => known.get(flow) ?? Number.NaN,
            );
            let timer: NodeJS.Timeout | undefined;
            const late = new Promise<number>((resolve) => {
              timer = setTimeout(() => resolve(known.get(flow) ?? Number.NaN), answerWithinMs);
            });
            this.set({ flow }, await Promise.race([asked, late]));
            clearTimeout(timer);
          }),
        );
      },
    });
  }

  /** Reads `ledger` for `flow`'s in-flight and activation-rate gauges at each scrape. */
  readLedger(flow: string, ledger: Ledger): void {
    this.#ledgers.set(flow, ledger);
  }

  /** The metrics of one flow: every sample it records carries `flow="<name>"`. */

  forFlow(flow: string): FlowMetrics {
    return new FlowMetrics(this, flow, this.#subscriptions, this.#deadLetterSizes);
  }

  /** The pauses of the intake every flow shares (a journal full, Redis refusing appends): `flow="(intake)"`. */
  watchIntake(changes$: Observable<ValveChange>): this {
    this.#subscriptions.push(
      changes$.subscribe((change) =>
        this.paused.set({ flow: INTAKE, reason: change.reason }, change.kind === 'closed' ? 1 : 0),
      ),
    );
    return this;
  }

  stop(): void {
    for (const s of this.#subscriptions.splice(0)) s.unsubscribe();
  }
}

/** What the pipeline reports of the intake shared by every flow, in the `flow` label. */
export const INTAKE = '(intake)';

/** One flow's view of the metrics: the same families, this flow's label. */
export class FlowMetrics {
  readonly #labels: { readonly flow: string };

  constructor(
    private readonly metrics: PipelineMetrics,
    readonly flow: string,
    private readonly subscriptions: Subscription[],
    private readonly sizes: Map<string, () => Promise<number>>,
  ) {
    this.#labels = { flow };
  }

  /** Reports the flow's dead-letter store size at each scrape (see the gauge's `collect`). */
  watchDeadLetters(size: () => Promise<number>): this {
    this.sizes.set(this.flow, size);
    return this;
  }

  /**
   * Counts what the flow's ledger and valve report, from now on. Runs at every update: outcomes are
   * counted in place and reach the counters when they are read (see `countOutcomes`); the in-flight and
   * activation-rate gauges read the ledger at each scrape.
   */
  watch(ledger: Ledger, valve: IntakeValve): this {
    const m = this.metrics;
    const flow = this.flow;
    this.subscriptions.push(
      this.countOutcomes(ledger),
      valve.changes$.subscribe((change) =>
        m.paused.set({ flow, reason: change.reason }, change.kind === 'closed' ? 1 : 0),
      ),
    );
    m.readLedger(flow, ledger);
    return this;
  }

  /**
   * Counts what a ledger receives and settles into the flow's counters until unsubscribed: the flow's
   * own, or a side ledger of the same flow's (a console redrive). Runs at every update, so it counts in
   * place (`OutcomeTally`); the counters take the counts when read, and the rest when it is unsubscribed.
   */
  countOutcomes(ledger: Ledger): Subscription {
    const m = this.metrics;
    const tally = new OutcomeTally(
      m.received.labels(this.#labels),
      m.activated.labels(this.#labels),
      m.duplicates.labels(this.#labels),
      (reason) => m.excluded.labels({ flow: this.flow, reason }),
      (reason) => m.failed.labels({ flow: this.flow, reason }),
    );
    const subscription = ledger.settlements$.subscribe(({ outcome }) => tally.count(outcome));
    let lastReceived = ledger.received;
    subscription.add(
      ledger.inFlight$.subscribe(() => {
        tally.received += ledger.received - lastReceived;
        lastReceived = ledger.received;
      }),
    );
    subscription.add(m.tally(tally));
    return subscription;
  }

  attempt({ status, seconds }: AttemptObserved): void {
    this.metrics.requests.inc({ flow: this.flow, status: status === undefined ? 'error' : String(status) });
    this.metrics.latency.observe(this.#labels, seconds);
  }

  rateLimitWait(ms: number): void {
    this.metrics.rateLimitWaits.inc(this.#labels);
    this.metrics.rateLimitWaitSeconds.inc(this.#labels, ms / 1000);
  }

  slowDown(): void {
    this.metrics.slowDowns.inc(this.#labels);
  }

  deadLettered(reason: string): void {
    this.metrics.deadLettered.inc({ flow: this.flow, reason });
  }
}

type Series = Counter.Internal;

/** One ledger's counts since the last scrape, in place: a number per series, added to it at `flush`. */
export class OutcomeTally {
  received = 0;
  #activated = 0;
  #duplicates = 0;
  readonly #excluded = new Map<string, number>();
  readonly #failed = new Map<string, number>();
  /** Each reason's series, looked up once. */
  readonly #series = new Map<string, Series>();

  constructor(
    private readonly receivedSeries: Series,
    private readonly activatedSeries: Series,
    private readonly duplicatesSeries: Series,
    private readonly excludedSeries: (reason: string) => Series,
    private readonly failedSeries: (reason: string) => Series,
  ) {}

  count(outcome: Outcome): void {
    if (outcome.kind === 'delivered') this.#activated += 1;
    else if (outcome.kind === 'duplicate') this.#duplicates += 1;
    else {
      const byReason = outcome.kind === 'excluded' ? this.#excluded : this.#failed;
      byReason.set(outcome.reason, (byReason.get(outcome.reason) ?? 0) + 1);
    }
  }

  flush(): void {
    if (this.received > 0) this.receivedSeries.inc(this.received);
    if (this.#activated > 0) this.activatedSeries.inc(this.#activated);
    if (this.#duplicates > 0) this.duplicatesSeries.inc(this.#duplicates);
    this.received = 0;
    this.#activated = 0;
    this.#duplicates = 0;
    this.#flushReasons('excluded', this.#excluded, this.excludedSeries);
    this.#flushReasons('failed', this.#failed, this.failedSeries);
  }

  #flushReasons(kind: string, counts: Map<string, number>, seriesOf: (reason: string) => Series): void {
    for (const [reason, n] of counts) {
      if (n === 0) continue;
      const key = `${kind}:${reason}`;
      let series = this.#series.get(key);
      if (!series) {
        series = seriesOf(reason);
        this.#series.set(key, series);
      }
      series.inc(n);
      counts.set(reason, 0);
    }
  }
}
