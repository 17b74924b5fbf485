import { merge, type Observable, type Subscription } from 'rxjs';
import type { Ledger } from '../operators/model/ledger.js';
import type { Config } from './config/codec.js';
import type { IntakeValve } from './valve.js';

/** What the valve is closed for while the pipeline holds as many envelopes as it may. */
export const CREDIT = 'credit';

/**
 * Backpressure: the number of envelopes in flight is the pipeline's credit. At `maxInFlight` (the
 * high-water mark) the intake closes; once in flight falls to half of it (the low-water mark) it opens
 * again. The gap keeps the intake from flapping on every settlement.
 */
export const applyCredit = (ledger: Ledger, valve: IntakeValve, maxInFlight: number): Subscription =>
  ledger.inFlight$.subscribe((inFlight) => {
    if (inFlight >= maxInFlight)
      valve.close(CREDIT, `${inFlight} updates in flight (pipeline.maxInFlight is ${maxInFlight})`);
    else if (inFlight <= Math.floor(maxInFlight / 2)) valve.open(CREDIT);
  });

/** How many more entries a stream source may read now, and when to look again. */
export interface Capacity {
  readonly capacity: () => number;
  readonly capacity$: Observable<unknown>;
}

export const capacityOf = (ledger: Ledger, valve: IntakeValve, maxInFlight: number): Capacity => ({
  capacity: () => (valve.isClosed ? 0 : Math.max(0, maxInFlight - ledger.inFlight)),
  capacity$: merge(ledger.inFlight$, valve.closed$),
});

/**
 * How many updates one flow may hold. Several flows sharing one plain feed each get an equal share of
 * `pipeline.maxInFlight`, so a flow that cannot send fills only its share (and then sheds) instead of the
 * whole credit; flows with a stream of their own (a journal, a Redis stream) each have all of it.
 */
export const flowCredit = (config: Config, flows: number): number =>
  config.source.websocket && !config.journal && flows > 1
    ? Math.max(1, Math.floor(config.pipeline.maxInFlight / flows))
    : config.pipeline.maxInFlight;
