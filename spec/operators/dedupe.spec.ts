import { expect } from 'chai';
import { map, of, tap, type OperatorFunction } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { MemoryDedupeStore } from '../../adapters/memory/dedupe-store.js';
import { dedupe, dedupeKeyOf, DedupeOptions } from '../../operators/dedupe.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import { settle, type Envelope } from '../../operators/model/envelope.js';
import type { Ledger } from '../../operators/model/ledger.js';
import { delivered, failed, type Outcome } from '../../operators/model/outcome.js';
import type { DedupeStore } from '../../operators/model/ports.js';
import { IntakeValve } from '../../pipeline/valve.js';
import { Books, profileEnvelope, profileOf, testScheduler } from '../helpers/marbles.js';
import { behavesLikeAnOperator } from '../helpers/operator-contract.js';

const options = decodeOrThrow(DedupeOptions, { ttlSeconds: 60, leaseSeconds: 1, pollMs: 10 });

const update = (ledger: Ledger, position: string, firstName: string, email = 'ann@example.com'): Envelope => ({
  ...profileEnvelope(ledger, profileOf({}), position, { identityMap: { Email: [{ id: email }] }, firstName }),
  identity: { namespace: 'Email', target: 'email', id: email },
});

/** Plays the destination: settles each envelope `frames` after it arrives, with the outcome `outcomeOf` picks. */
const destination =
  (
    scheduler: TestScheduler,
    frames: number,
    outcomeOf: (envelope: Envelope) => Outcome = () => delivered(202),
  ): OperatorFunction<Envelope, string> =>
  (source) =>
    source.pipe(
      tap((envelope) => scheduler.schedule(() => settle(envelope, outcomeOf(envelope)), frames)),
      map((envelope) => envelope.origin.position),
    );

describe('dedupe', () => {
  it('lets a new payload through and remembers it only once it is delivered', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const store = new MemoryDedupeStore({ now: () => scheduler.now() });
    scheduler.run(({ cold, expectObservable }) => {
      const first = update(books.ledger, '1', 'Ann');
      const again = update(books.ledger, '2', 'Ann');
      const changed = update(books.ledger, '3', 'Annie');
      const source = cold('a-----b-c|', { a: first, b: again, c: changed });
      // Completes once the last envelope it passed on settles (frame 10), not with its source (9): its
      // lease is held, and renewed, until then.
      expectObservable(
        source.pipe(
          dedupe(options, { dedupeStore: store, scheduler, valve: new IntakeValve() }),
          destination(scheduler, 2),
        ),
      ).toBe('a-------c-|', {
        a: '1',
        c: '3',
      });
    });
    expect(books.summary()).to.deep.equal({ '1': 'delivered', '2': 'duplicate', '3': 'delivered' });
  });

  it('does not remember a failed send: the same payload is sent again later', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const store = new MemoryDedupeStore({ now: () => scheduler.now() });
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('a----b|', { a: update(books.ledger, '1', 'Ann'), b: update(books.ledger, '2', 'Ann') });
      const outcomes = (envelope: Envelope): Outcome =>
        envelope.origin.position === '1' ? failed('http-500', { status: 500 }) : delivered(202);
      expectObservable(
        source.pipe(
          dedupe(options, { dedupeStore: store, scheduler, valve: new IntakeValve() }),
          destination(scheduler, 2, outcomes),
        ),
      ).toBe('a----b-|', {
        a: '1',
        b: '2',
      });
    });
    expect(books.summary()).to.deep.equal({ '1': 'failed:http-500', '2': 'delivered' });
  });

  it('holds an identical update that arrives while the first is in flight, then calls it a duplicate', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const store = new MemoryDedupeStore({ now: () => scheduler.now() });
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('ab---|', { a: update(books.ledger, '1', 'Ann'), b: update(books.ledger, '2', 'Ann') });
      expectObservable(
        source.pipe(
          dedupe(options, { dedupeStore: store, scheduler, valve: new IntakeValve() }),
          destination(scheduler, 3),
        ),
      ).toBe('a----|', { a: '1' });
    });
    expect(
      books.settled.map(({ frame, origin, outcome }) => [frame, origin.position, outcome.kind]),
    ).to.have.deep.members([
      [3, '1', 'delivered'],
      [3, '2', 'duplicate'],
    ]);
  });

  it('sends the held update itself when the first one fails', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const store = new MemoryDedupeStore({ now: () => scheduler.now() });
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('ab-------|', { a: update(books.ledger, '1', 'Ann'), b: update(books.ledger, '2', 'Ann') });
      const outcomes = (envelope: Envelope): Outcome =>
        envelope.origin.position === '1' ? failed('http-503') : delivered(202);
      expectObservable(
        source.pipe(
          dedupe(options, { dedupeStore: store, scheduler, valve: new IntakeValve() }),
          destination(scheduler, 3, outcomes),
        ),
      ).toBe('a--b-----|', {
        a: '1',
        b: '2',
      });
    });
    expect(books.summary()).to.deep.equal({ '1': 'failed:http-503', '2': 'delivered' });
  });

  it('keeps identities apart: the same payload content for another person is sent', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const store = new MemoryDedupeStore({ now: () => scheduler.now() });
    // Byte for byte the same payload (no identity in it, as a plug-in might build), for two people: only the
    // identity in the dedupe key tells them apart.
    const samePayloadFor = (position: string, email: string): Envelope => ({
      ...profileEnvelope(books.ledger, profileOf({}), position, { firstName: 'Sam' }),
      identity: { namespace: 'Email', target: 'email', id: email },
    });
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('a-b-c|', {
        a: samePayloadFor('1', 'sam@example.com'),
        b: samePayloadFor('2', 'sam@example.org'),
        c: samePayloadFor('3', 'sam@example.com'),
      });
      const deduped = source.pipe(
        dedupe(options, { dedupeStore: store, scheduler, valve: new IntakeValve() }),
        destination(scheduler, 1),
      );
      expectObservable(deduped).toBe('a-b--|', { a: '1', b: '2' });
    });
    expect(books.summary()).to.deep.equal({ '1': 'delivered', '2': 'delivered', '3': 'duplicate' });
  });

  it('keys a payload by identity and content, whatever the order of its keys', () => {
    const ledger = new Books().ledger;
    const envelope = (payload: Record<string, string>, id = 'sam@example.com'): Envelope => ({
      ...profileEnvelope(ledger, profileOf({}), '1', payload),
      identity: { namespace: 'Email', target: 'email', id },
    });
    const key = dedupeKeyOf(envelope({ a: '1', b: '2' }))!;
    expect(key.startsWith('email:sam@example.com:')).to.equal(true);
    expect(dedupeKeyOf(envelope({ b: '2', a: '1' }))).to.equal(key);
    expect(dedupeKeyOf(envelope({ a: '1', b: '3' }))).to.not.equal(key);
    expect(dedupeKeyOf(envelope({ a: '1', b: '2' }, 'ann@example.com'))).to.not.equal(key);
    expect(dedupeKeyOf(profileEnvelope(ledger, profileOf({})))).to.equal(undefined);
  });

  it('waits out a lease held by another process, then sends when that lease expires', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const store = new MemoryDedupeStore({ now: () => scheduler.now() });
    scheduler.run(({ cold, expectObservable }) => {
      const envelope = update(books.ledger, '1', 'Ann');
      // Another process (sharing the store) took the lease at frame 0 and died: it expires at frame 1000.
      expect(store.acquire(dedupeKeyOf(envelope)!, 'dead-process', 1000)).to.equal('acquired');
      const source = cold('a|', { a: envelope });
      // Looked at every 10 frames; the lease expires at frame 1000, so the send happens at frame 1000.
      expectObservable(
        source.pipe(
          dedupe(options, { dedupeStore: store, scheduler, valve: new IntakeValve() }),
          destination(scheduler, 1),
        ),
      ).toBe('1000ms a|', { a: '1' });
    });
    expect(books.summary()).to.deep.equal({ '1': 'delivered' });
  });

  it('keeps renewing its lease while the envelope is in flight, and stops once it settles', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const store = new MemoryDedupeStore({ now: () => scheduler.now() });
    const otherProcess: Array<[number, string]> = [];
    scheduler.run(({ cold }) => {
      const envelope = update(books.ledger, '1', 'Ann');
      const key = dedupeKeyOf(envelope)!;
      // In flight for 2.5 leases (leaseSeconds 1): without renewal another process could take it at 1000.
      cold('a|', { a: envelope })
        .pipe(
          dedupe(options, { dedupeStore: store, scheduler, valve: new IntakeValve() }),
          destination(scheduler, 2500, () => failed('http-503')),
        )
        .subscribe();
      for (const frame of [999, 2000, 2499, 2501])
        scheduler.schedule(() => otherProcess.push([frame, store.acquire(key, 'other', 1000)]), frame);
    });
    expect(otherProcess).to.deep.equal([
      [999, 'leased'],
      [2000, 'leased'],
      [2499, 'leased'],
      [2501, 'acquired'],
    ]);
  });

  it('waits while the store does not answer, with the intake paused, and sends once it answers: nothing fails', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const valve = new IntakeValve();
    const pauses: Array<[number, string]> = [];
    valve.changes$.subscribe((change) => pauses.push([scheduler.now(), change.kind]));
    const messages: string[] = [];
    valve.changes$.subscribe((change) => change.kind === 'closed' && messages.push(change.message));
    let calls = 0;
    const flaky: DedupeStore = {
      acquire: () => {
        calls += 1;
        if (calls <= 2) throw new Error('connection refused');
        return 'acquired';
      },
      renew: () => {},
      commit: () => {},
      release: () => {},
    };
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: update(books.ledger, '1', 'Ann') });
      const context = { dedupeStore: flaky, scheduler, valve, random: () => 1 };
      // Backoff from 250 ms, doubling: asked at 0, 250 and 750.
      expectObservable(source.pipe(dedupe(options, context), destination(scheduler, 1))).toBe('750ms a|', { a: '1' });
    });
    expect(books.summary()).to.deep.equal({ '1': 'delivered' });
    expect(pauses).to.deep.equal([
      [0, 'closed'],
      [750, 'opened'],
    ]);
    // The log says which store to look at.
    expect(messages).to.deep.equal([
      'the dedupe store does not answer (connection refused); updates wait until it does',
    ]);
  });

  it('never commits a failed payload, even when releasing its lease throws (the lease then lapses)', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const memory = new MemoryDedupeStore({ now: () => scheduler.now() });
    const commits: string[] = [];
    const store: DedupeStore = {
      acquire: (key, token, leaseMs) => memory.acquire(key, token, leaseMs),
      renew: () => {},
      commit: (key, token, ttlMs) => (commits.push(key), memory.commit(key, token, ttlMs)),
      release: () => {
        throw new Error('connection reset');
      },
    };
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: update(books.ledger, '1', 'Ann') });
      const context = { dedupeStore: store, scheduler, valve: new IntakeValve() };
      expectObservable(
        source.pipe(
          dedupe(options, context),
          destination(scheduler, 1, () => failed('http-503')),
        ),
      ).toBe('a|', { a: '1' });
    });
    expect(books.summary()).to.deep.equal({ '1': 'failed:http-503' });
    expect(commits).to.deep.equal([]);
  });

  it('gives up committing a delivery when the pipeline stops, and reports it: the delivery still counts', async () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const valve = new IntakeValve();
    const messages: string[] = [];
    valve.changes$.subscribe((change) => change.kind === 'closed' && messages.push(change.message));
    const hookErrors: string[] = [];
    books.ledger.hookErrors$.subscribe((error) => hookErrors.push((error as Error).message));
    const refusing: DedupeStore = {
      acquire: () => 'acquired',
      renew: () => {},
      commit: () => {
        throw new Error('commit refused');
      },
      release: () => {},
    };
    const envelope = update(books.ledger, '1', 'Ann');
    scheduler.run(({ cold, hot }) => {
      // Delivered at 1; the commit is retried after 250 ms, but the pipeline stops at 3.
      const context = { dedupeStore: refusing, scheduler, valve, stopping$: hot('---s', { s: true }), random: () => 1 };
      cold('a|', { a: envelope }).pipe(dedupe(options, context), destination(scheduler, 1)).subscribe();
    });
    await books.ledger.whenSettled();
    expect(books.summary()).to.deep.equal({ '1': 'delivered' });
    // Not silent: the same payload may go out again after a restart, and the log says why.
    expect(hookErrors).to.deep.equal([
      `dedupe: stopped before the store recorded the delivery of ${dedupeKeyOf(envelope)}`,
    ]);
    expect(messages).to.deep.equal(['the dedupe store does not answer (commit refused); updates wait until it does']);
    // Never answered: the intake stays paused for it (the name the logs and metrics show).
    expect([...valve.reasons.keys()]).to.deep.equal(['store-unavailable']);
  });

  it('releases an envelope waiting for the store when the pipeline stops: unsettled, for the next start', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const down: DedupeStore = {
      acquire: () => {
        throw new Error('connection refused');
      },
      renew: () => {},
      commit: () => {},
      release: () => {},
    };
    scheduler.run(({ cold, hot, expectObservable }) => {
      const source = cold('a-|', { a: update(books.ledger, '1', 'Ann') });
      const stopping$ = hot('---s', { s: true });
      const context = { dedupeStore: down, scheduler, valve: new IntakeValve(), stopping$, random: () => 1 };
      expectObservable(source.pipe(dedupe(options, context), destination(scheduler, 1))).toBe('---|');
    });
    expect(books.settled).to.deep.equal([]);
    expect(books.ledger.counts()).to.include({ received: 1, released: 1, inFlight: 0 });
  });

  it('with a store that answers later, starts no renewal for an answer that comes after the pipeline was torn down', async () => {
    const books = new Books();
    const renewed: string[] = [];
    const released: string[] = [];
    const answers: Array<(result: 'acquired') => void> = [];
    const later: DedupeStore = {
      acquire: () => new Promise((resolve) => answers.push(resolve)),
      renew: (key) => void renewed.push(key),
      commit: () => {},
      release: (key) => void released.push(key),
    };
    const context = { dedupeStore: later, valve: new IntakeValve() };
    const passed: string[] = [];
    const torn = of(update(books.ledger, '1', 'Ann'))
      .pipe(dedupe(options, context))
      .subscribe((envelope) => passed.push(envelope.origin.position));
    const kept = of(update(books.ledger, '2', 'Bob', 'bob@example.com'))
      .pipe(dedupe(options, context))
      .subscribe((envelope) => passed.push(envelope.origin.position));
    torn.unsubscribe();
    for (const answer of answers) answer('acquired');
    // One renewal period (leaseSeconds 1: every 333 ms) and a little more.
    await new Promise((resolve) => setTimeout(resolve, 450));
    kept.unsubscribe();
    expect(passed).to.deep.equal(['2']);
    // Only the pipeline still running renews its lease; the torn-down one let its lease go at once.
    expect(renewed).to.have.length(1);
    expect(released).to.have.length(1);
    expect(released[0]).to.not.equal(renewed[0]);
  });

  it('fails an envelope that reaches it without an identity (operators out of order)', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: profileEnvelope(books.ledger, profileOf({})) });
      expectObservable(
        source.pipe(dedupe(options, { dedupeStore: new MemoryDedupeStore(), scheduler, valve: new IntakeValve() })),
      ).toBe('-|');
    });
    expect(books.summary()).to.deep.equal({ '1': 'failed:operator-error' });
  });

  behavesLikeAnOperator(() => dedupe(options, { dedupeStore: new MemoryDedupeStore(), valve: new IntakeValve() }));
});
