import { expect } from 'chai';
import {
  VirtualAction,
  VirtualTimeScheduler,
  concat,
  identity,
  map,
  mergeMap,
  of,
  tap,
  throwError,
  timer,
  type Observable,
  type OperatorFunction,
} from 'rxjs';
import { MemoryDedupeStore } from '../../adapters/memory/dedupe-store.js';
import { dedupe, dedupeKeyOf, DedupeOptions } from '../../operators/dedupe.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import { settle, type Envelope } from '../../operators/model/envelope.js';
import { failed } from '../../operators/model/outcome.js';
import type { DedupeStore } from '../../operators/model/ports.js';
import { IntakeValve } from '../../pipeline/valve.js';
import { Books, profileEnvelope, profileOf } from '../helpers/marbles.js';

// A lease is renewed while its envelope is in flight. A pipeline torn down with an envelope past dedupe
// and unsettled (its consumer gone, a later operator or the source failed) will never settle it: the
// renewal must end with the subscription, or it is an interval that keeps the process (and mocha)
// alive, and a lease that no process can take until this one exits.

/** Lease 1 s: renewed every 333⅓ ms, lapsed 1 s after the last renewal. */
const options = decodeOrThrow(DedupeOptions, { ttlSeconds: 60, leaseSeconds: 1, pollMs: 10 });
const TEAR_DOWN_AT = 1_200;

interface Wiring {
  readonly source: (envelope: Envelope, scheduler: VirtualTimeScheduler) => Observable<Envelope>;
  /** What comes after dedupe; it holds the envelope without settling it unless it says otherwise. */
  readonly downstream: (scheduler: VirtualTimeScheduler) => OperatorFunction<Envelope, unknown>;
  readonly unsubscribeAt?: number;
}

/** Runs one envelope through dedupe in virtual time; answers when the lease was renewed and how the stream ended. */
const run = ({ source, downstream, unsubscribeAt }: Wiring) => {
  // Stops at frame 5000: a renewal left running fails the test instead of hanging it.
  const scheduler = new VirtualTimeScheduler(VirtualAction, 5_000);
  const memory = new MemoryDedupeStore({ now: () => scheduler.now() });
  const renewals: number[] = [];
  const store: DedupeStore = {
    acquire: (key, token, leaseMs) => memory.acquire(key, token, leaseMs),
    renew: (key, token, leaseMs) => (renewals.push(Math.round(scheduler.now())), memory.renew(key, token, leaseMs)),
    commit: (key, token, ttlMs) => memory.commit(key, token, ttlMs),
    release: (key, token) => memory.release(key, token),
  };
  const envelope: Envelope = {
    ...profileEnvelope(new Books().ledger, profileOf({}), '1', { firstName: 'Ann' }),
    identity: { namespace: 'Email', target: 'email', id: 'ann@example.com' },
  };
  const ended: string[] = [];
  const subscription = source(envelope, scheduler)
    .pipe(dedupe(options, { dedupeStore: store, scheduler, valve: new IntakeValve() }), downstream(scheduler))
    .subscribe({
      error: (error: Error) => ended.push(`${scheduler.now()}: ${error.message}`),
      complete: () => ended.push(`${scheduler.now()}: complete`),
    });
  if (unsubscribeAt !== undefined) scheduler.schedule(() => subscription.unsubscribe(), unsubscribeAt);
  // Another process tries for the payload once the lease would have lapsed, had the renewal stopped.
  let otherProcess: string | undefined;
  scheduler.schedule(() => (otherProcess = memory.acquire(dedupeKeyOf(envelope)!, 'other', 1000)), 2_400);
  scheduler.flush();
  return { renewals, ended, otherProcess };
};

/** Fails the stream at TEAR_DOWN_AT, on `scheduler`'s clock. */
const failingAt = (scheduler: VirtualTimeScheduler, message: string): Observable<never> =>
  timer(TEAR_DOWN_AT, scheduler).pipe(mergeMap(() => throwError(() => new Error(message))));

describe('dedupe: a lease renewal ends with its subscription', () => {
  it('stops renewing when the consumer unsubscribes with the envelope unsettled, after the source completed', () => {
    const { renewals, otherProcess } = run({
      source: (envelope) => of(envelope),
      downstream: () => identity,
      unsubscribeAt: TEAR_DOWN_AT,
    });
    expect(renewals).to.deep.equal([333, 667, 1000]);
    expect(otherProcess, 'the lease lapsed').to.equal('acquired');
  });

  it('stops renewing when a later operator fails while the envelope is in flight', () => {
    const { renewals, ended, otherProcess } = run({
      source: (envelope) => of(envelope),
      downstream: (scheduler) => mergeMap(() => failingAt(scheduler, 'a plug-in broke')),
    });
    expect(ended).to.deep.equal([`${TEAR_DOWN_AT}: a plug-in broke`]);
    expect(renewals).to.deep.equal([333, 667, 1000]);
    expect(otherProcess, 'the lease lapsed').to.equal('acquired');
  });

  it('stops renewing when the source fails while the envelope is in flight', () => {
    const { renewals, ended, otherProcess } = run({
      source: (envelope, scheduler) => concat(of(envelope), failingAt(scheduler, 'the feed broke')),
      downstream: () => identity,
    });
    expect(ended).to.deep.equal([`${TEAR_DOWN_AT}: the feed broke`]);
    expect(renewals).to.deep.equal([333, 667, 1000]);
    expect(otherProcess, 'the lease lapsed').to.equal('acquired');
  });

  it('completes only once the envelope it passed on settles: its subscription outlasts every renewal', () => {
    const { renewals, ended, otherProcess } = run({
      source: (envelope) => of(envelope),
      downstream: (scheduler) =>
        tap((envelope: Envelope) => scheduler.schedule(() => settle(envelope, failed('http-503')), TEAR_DOWN_AT)),
    });
    expect(ended).to.deep.equal([`${TEAR_DOWN_AT}: complete`]);
    expect(renewals).to.deep.equal([333, 667, 1000]);
    // Failed, so released when it settled (not left to lapse): another process may send it.
    expect(otherProcess).to.equal('acquired');
  });

  it('stops renewing when the envelope settles though a settle hook added after dedupe fails', () => {
    const { renewals, ended, otherProcess } = run({
      source: (envelope) => of(envelope),
      downstream: (scheduler) => (envelopes: Observable<Envelope>) =>
        envelopes.pipe(
          // A hook nearer the sink that fails: dedupe's own, nearer the source, must run all the same.
          map((envelope) => ({
            ...envelope,
            ticket: envelope.ticket.withHook(() => {
              throw new Error('a plug-in hook broke');
            }),
          })),
          tap((envelope) => scheduler.schedule(() => settle(envelope, failed('http-503')), TEAR_DOWN_AT)),
        ),
    });
    expect(ended).to.deep.equal([`${TEAR_DOWN_AT}: complete`]);
    expect(renewals).to.deep.equal([333, 667, 1000]);
    expect(otherProcess).to.equal('acquired');
  });
});
