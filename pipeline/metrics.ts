import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Observable, Subscription } from 'rxjs';
import type { Ledger } from '../operators/model/ledger.js';
import type { AttemptObserved } from './observe.js';
import type { IntakeValve, ValveChange } from './valve.js';

const PREFIX = 'qualtrics_automations_';

/**
 * The pipeline's Prometheus metrics, named after a destination dataflow's monitoring: profiles
 * received, identities activated / excluded / failed (by reason), duplicates, the activation rate; and
 * for operators: requests by status, request latency, in flight, paused (by reason), rate-limit waits,
 * dead letters.
 */
export class PipelineMetrics {
  readonly registry = new Registry();
  readonly #subscriptions: Subscription[] = [];

  readonly received = new Counter({
    name: `${PREFIX}profiles_received_total`,
    help: 'Profile updates received (one per profile of a message).',
    registers: [this.registry],
  });
  readonly activated = new Counter({
    name: `${PREFIX}identities_activated_total`,
    help: 'Updates delivered: the destination answered 2xx.',
    registers: [this.registry],
  });
  readonly excluded = new Counter({
    name: `${PREFIX}identities_excluded_total`,
    help: 'Updates deliberately not sent, by reason.',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly failed = new Counter({
    name: `${PREFIX}identities_failed_total`,
    help: 'Updates not delivered, by reason.',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly duplicates = new Counter({
    name: `${PREFIX}duplicates_total`,
    help: 'Updates whose payload was already delivered for the identity.',
    registers: [this.registry],
  });
  readonly activationRate = new Gauge({
    name: `${PREFIX}activation_rate`,
    help: 'Activated over settled updates since start (1 when none settled).',
    registers: [this.registry],
  });
  readonly requests = new Counter({
    name: `${PREFIX}requests_total`,
    help: 'Requests to the destination, by status (or "error").',
    labelNames: ['status'],
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: `${PREFIX}request_duration_seconds`,
    help: 'Time for the destination to answer a request.',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: `${PREFIX}in_flight`,
    help: 'Updates received and not yet settled.',
    registers: [this.registry],
  });
  readonly paused = new Gauge({
    name: `${PREFIX}paused`,
    help: '1 while the intake is paused for this reason.',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly rateLimitWaits = new Counter({
    name: `${PREFIX}rate_limit_waits_total`,
    help: 'Times a request waited for the rate limit.',
    registers: [this.registry],
  });
  readonly rateLimitWaitSeconds = new Counter({
    name: `${PREFIX}rate_limit_wait_seconds_total`,
    help: 'Time requests were told to wait by the rate limit.',
    registers: [this.registry],
  });
  readonly slowDowns = new Counter({
    name: `${PREFIX}rate_limit_slowdowns_total`,
    help: 'Times a 429 slowed the rate down.',
    registers: [this.registry],
  });
  readonly deadLettered = new Counter({
    name: `${PREFIX}dead_letters_total`,
    help: 'Updates written to the dead letters since start.',
    labelNames: ['reason'],
    registers: [this.registry],
  });

  /**
   * Reports the dead-letter store's size at each scrape. A scrape never waits on a store that is down:
   * past `answerWithinMs` it reports the last size it knew (NaN if none), and the late answer is kept
   * for the next scrape.
   */
  watchDeadLetters(size: () => Promise<number>, answerWithinMs = 250): this {
    let known = Number.NaN;
    new Gauge({
      name: `${PREFIX}dead_letters`,
      help: 'Dead letters kept (stream length, or letters in the file).',
      registers: [this.registry],
      async collect() {
        const asked = size().then(
          (n) => (known = n),
          () => known,
        );
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<number>((resolve) => (timer = setTimeout(() => resolve(known), answerWithinMs)));
        this.set(await Promise.race([asked, late]));
        clearTimeout(timer);
      },
    });
    return this;
  }

  /** Counts what the ledger and the valves report, from now on. */
  watch(ledger: Ledger, valve: IntakeValve, journalChanges$?: Observable<ValveChange>): this {
    if (journalChanges$)
      this.#subscriptions.push(
        journalChanges$.subscribe((change) =>
          this.paused.set({ reason: change.reason }, change.kind === 'closed' ? 1 : 0),
        ),
      );
    this.#subscriptions.push(
      ledger.inFlight$.subscribe((n) => this.inFlight.set(n)),
      ledger.settlements$.subscribe(({ outcome }) => {
        if (outcome.kind === 'delivered') this.activated.inc();
        else if (outcome.kind === 'duplicate') this.duplicates.inc();
        else if (outcome.kind === 'excluded') this.excluded.inc({ reason: outcome.reason });
        else this.failed.inc({ reason: outcome.reason });
        const counts = ledger.counts();
        this.activationRate.set(counts.settled === 0 ? 1 : counts.delivered / counts.settled);
      }),
      valve.changes$.subscribe((change) =>
        this.paused.set({ reason: change.reason }, change.kind === 'closed' ? 1 : 0),
      ),
    );
    let lastReceived = ledger.counts().received;
    this.#subscriptions.push(
      ledger.inFlight$.subscribe(() => {
        const { received } = ledger.counts();
        if (received > lastReceived) this.received.inc(received - lastReceived);
        lastReceived = received;
      }),
    );
    this.activationRate.set(1);
    return this;
  }

  attempt({ status, seconds }: AttemptObserved): void {
    this.requests.inc({ status: status === undefined ? 'error' : String(status) });
    this.latency.observe(seconds);
  }

  rateLimitWait(ms: number): void {
    this.rateLimitWaits.inc();
    this.rateLimitWaitSeconds.inc(ms / 1000);
  }

  stop(): void {
    for (const s of this.#subscriptions.splice(0)) s.unsubscribe();
  }
}
