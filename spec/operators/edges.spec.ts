import { expect } from 'chai';
import { IntakeValve } from '../../pipeline/valve.js';
import { isLeft } from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';
import { of, type Observable } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { MemoryDedupeStore } from '../../adapters/memory/dedupe-store.js';
import { dedupe, dedupeKeyOf, DedupeOptions } from '../../operators/dedupe.js';
import { DESTINATION_REJECTED, emit, EmitOptions } from '../../operators/emit.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import { formatErrors } from '../../operators/model/decode-errors.js';
import { settle, type Envelope } from '../../operators/model/envelope.js';
import type { Ledger } from '../../operators/model/ledger.js';
import { delivered, failed } from '../../operators/model/outcome.js';
import { type DedupeStore, GRANTED_NOW, type SendResult } from '../../operators/model/ports.js';
import { projectAttributes, ProjectAttributesOptions } from '../../operators/project-attributes.js';
import { qualify, QualifyOptions } from '../../operators/qualify.js';
import { rejectionOf, selectIdentity, SelectIdentityOptions } from '../../operators/select-identity.js';
import { testContext } from '../helpers/contexts.js';
import { Books, messageEnvelope, profileEnvelope, profileOf, testScheduler } from '../helpers/marbles.js';
import { eventually } from '../helpers/ws-server.js';

// The edge cases of the built-in operators that their main specs pass by: each is one that a slightly
// different rule gets wrong (found by mutation testing, `npm run test:mutation`).

const problems = (codec: t.Decoder<unknown, unknown>, value: unknown): string[] => {
  const decoded = codec.decode(value);
  return isLeft(decoded) ? formatErrors(decoded.left) : [];
};

/** An envelope with no profile at all (a plug-in's, or one built by hand): operators must not trip on it. */
const bare = (ledger: Ledger): Envelope => ({ ...messageEnvelope(ledger, undefined), message: undefined });

describe('selectIdentity and qualify at their edges', () => {
  it('refuse an email with anything after it, a hash with anything before it, and one character past 254', () => {
    const hash = 'b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514';
    expect(rejectionOf('ann@example.com@x', 'email')).to.equal('is not a plain-text email address');
    expect(rejectionOf(`ann@example.com${hash}`, 'email')).to.equal(undefined);
    expect(rejectionOf(`x${hash}`, 'email')).to.equal('is not a plain-text email address');
    expect(rejectionOf(`${hash}x`, 'email')).to.equal('is not a plain-text email address');
    const at254 = `${'a'.repeat(242)}@example.com`;
    expect(at254).to.have.length(254);
    expect(rejectionOf(at254, 'email')).to.equal(undefined);
    expect(rejectionOf(`a${at254}`, 'email')).to.equal('is longer than 254 characters');
  });

  it('joins every reason a profile has no usable identity, and excludes an envelope without a profile', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const options = decodeOrThrow(SelectIdentityOptions, { identities: [{ source: 'Email', target: 'email' }] });
    scheduler.run(({ cold }) => {
      const twoBad = profileEnvelope(
        books.ledger,
        profileOf({ identityMap: { Email: [{ id: 'x' }, { id: 'y@z' }] } }),
        '1',
      );
      cold('ab|', { a: twoBad, b: { ...bare(books.ledger), origin: { source: 'test', position: '2' } } })
        .pipe(selectIdentity(options))
        .subscribe();
    });
    expect(books.settled.map((s) => s.outcome)).to.deep.equal([
      {
        kind: 'excluded',
        reason: 'missing-identity',
        detail:
          'identityMap.Email[0] is not a plain-text email address; ' +
          'identityMap.Email[1] is not a plain-text email address',
      },
      { kind: 'excluded', reason: 'missing-identity', detail: 'the profile has no id in Email' },
    ]);
  });

  it('name their options in their problems', () => {
    expect(problems(SelectIdentityOptions, { identities: 'x' })).to.deep.equal([
      'identities: expected non-empty list of {source, target}; at least one identity mapping is mandatory, got "x"',
    ]);
    expect(problems(SelectIdentityOptions, { identities: ['x'] })).to.deep.equal([
      'identities[0]: expected an object (IdentityMapping), got "x"',
    ]);
    expect(problems(SelectIdentityOptions, 'x')).to.deep.equal([
      '(top level): expected an object (SelectIdentityOptions), got "x"',
    ]);
    expect(problems(QualifyOptions, { audiences: 'x' })).to.deep.equal([
      'audiences: expected non-empty list of {id, name?}, got "x"',
    ]);
    expect(problems(QualifyOptions, { audiences: ['x'] })).to.deep.equal([
      'audiences[0]: expected an object (Audience), got "x"',
    ]);
    expect(problems(QualifyOptions, 'x')).to.deep.equal(['(top level): expected an object (QualifyOptions), got "x"']);
    expect(problems(ProjectAttributesOptions, { attributes: ['x'] })).to.deep.equal([
      'attributes[0]: expected an object (AttributeMapping), got "x"',
    ]);
    expect(problems(ProjectAttributesOptions, 'x')).to.deep.equal([
      '(top level): expected an object (ProjectAttributesOptions), got "x"',
    ]);
    expect(problems(ProjectAttributesOptions, { attributes: [{ source: 'a..b', target: 'x' }] })).to.deep.equal([
      'attributes[0].source: expected a dotted path like person.name.firstName, got "a..b"',
    ]);
  });

  it('project attributes: a target that only starts like another does not overlap it', () => {
    expect(
      problems(ProjectAttributesOptions, {
        attributes: [
          { source: 'a', target: 'x.y' },
          { source: 'b', target: 'x' },
        ],
      }),
    ).to.deep.equal(['attributes[1].target: "x" overlaps attributes[0].target "x.y"']);
    expect(
      problems(ProjectAttributesOptions, {
        attributes: [
          { source: 'a', target: 'xy' },
          { source: 'b', target: 'x' },
        ],
      }),
    ).to.deep.equal([]);
    expect(
      problems(ProjectAttributesOptions, {
        attributes: [
          { source: 'a', target: 'y.x' },
          { source: 'b', target: 'x' },
        ],
      }),
    ).to.deep.equal([]);
  });

  it('qualify: lists every mapped audience the profile is in but not with a sent status; no profile is in none', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const options = decodeOrThrow(QualifyOptions, { audiences: [{ id: 'a1' }, { id: 'a2' }] });
    scheduler.run(({ cold }) => {
      const both = profileEnvelope(
        books.ledger,
        profileOf({ segmentMembership: { ups: { a1: { status: 'existing' }, a2: { status: 'x' } } } }),
        '1',
      );
      cold('ab|', { a: both, b: { ...bare(books.ledger), origin: { source: 'test', position: '2' } } })
        .pipe(qualify(options))
        .subscribe();
    });
    expect(books.settled.map((s) => s.outcome)).to.deep.equal([
      {
        kind: 'excluded',
        reason: 'not-qualified',
        detail: 'mapped audience a1 is existing, a2 is x; only realized or exited is sent',
      },
      { kind: 'excluded', reason: 'not-qualified', detail: 'the profile is in none of the 2 mapped audience(s)' },
    ]);
  });

  it('project attributes from an envelope without a profile: nothing to copy, the payload passes as it was', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const options = decodeOrThrow(ProjectAttributesOptions, { attributes: [{ source: 'a', target: 'b' }] });
    const payloads: unknown[] = [];
    scheduler.run(({ cold }) => {
      cold('a|', { a: { ...bare(books.ledger), payload: { kept: 1 } } })
        .pipe(projectAttributes(options))
        .subscribe((e) => payloads.push(e.payload));
    });
    expect(payloads).to.deep.equal([{ kept: 1 }]);
  });
});

describe('dedupe at its edges', () => {
  const options = decodeOrThrow(DedupeOptions, { ttlSeconds: 60, leaseSeconds: 3, pollMs: 10 });
  const update = (ledger: Ledger, position: string): Envelope => ({
    ...profileEnvelope(ledger, profileOf({}), position, { firstName: 'Ann' }),
    identity: { namespace: 'Email', target: 'email', id: 'ann@example.com' },
  });
  /** Settles each envelope `frames` after it arrives, delivered unless `fail` says otherwise. */
  const destination =
    (scheduler: TestScheduler, frames: number, fail: (e: Envelope) => boolean = () => false) =>
    (source: Observable<Envelope>) =>
      source.subscribe((envelope) =>
        scheduler.schedule(() => settle(envelope, fail(envelope) ? failed('http-503') : delivered(202)), frames),
      );

  it('tells a waiting identical update why it is a duplicate: delivered while it waited, or delivered before', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const store = new MemoryDedupeStore({ now: () => scheduler.now() });
    scheduler.run(({ cold }) => {
      destination(
        scheduler,
        3,
      )(
        cold('ab---c|', {
          a: update(books.ledger, '1'),
          b: update(books.ledger, '2'),
          c: update(books.ledger, '3'),
        }).pipe(dedupe(options, { dedupeStore: store, scheduler, valve: new IntakeValve() })),
      );
    });
    expect(books.settled.map(({ frame, origin, outcome }) => [frame, origin.position, outcome])).to.have.deep.members([
      [3, '1', { kind: 'delivered', status: 202, attempts: 1 }],
      [3, '2', { kind: 'duplicate', detail: 'the same payload was delivered while this one waited' }],
      [5, '3', { kind: 'duplicate', detail: 'the same payload was already delivered for this identity' }],
    ]);
  });

  it('tells local waiters at once when the store says another process delivered it', async () => {
    const books = new Books();
    // Another process delivered this payload already: the store says so, after a round trip.
    const store: DedupeStore = {
      acquire: () => Promise.resolve('committed'),
      renew: () => {},
      commit: () => {},
      release: () => {},
    };
    of(update(books.ledger, '1'), update(books.ledger, '2'))
      .pipe(dedupe(options, { dedupeStore: store, valve: new IntakeValve() }))
      .subscribe();
    await books.ledger.whenSettled(2);
    expect(books.settled.map(({ origin, outcome }) => [origin.position, outcome])).to.have.deep.members([
      ['1', { kind: 'duplicate', detail: 'the same payload was already delivered for this identity' }],
      ['2', { kind: 'duplicate', detail: 'the same payload was delivered while this one waited' }],
    ]);
  });

  it('while another process holds the lease, an identical local update waits too, a duplicate once delivered', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const store = new MemoryDedupeStore({ now: () => scheduler.now() });
    scheduler.run(({ cold }) => {
      const dedupeStore = leasedUntil(store, () => scheduler.now() < 50);
      destination(
        scheduler,
        5,
      )(
        cold('(ab)|', { a: update(books.ledger, '1'), b: update(books.ledger, '2') }).pipe(
          dedupe(options, { dedupeStore, scheduler, valve: new IntakeValve() }),
        ),
      );
    });
    expect(
      books.settled.map(({ frame, origin, outcome }) => [frame, origin.position, outcome.kind]),
    ).to.have.deep.members([
      [55, '1', 'delivered'],
      [55, '2', 'duplicate'],
    ]);
  });

  it('after a store failure, waits and asks again; an identical update behind it is a duplicate once delivered', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const memory = new MemoryDedupeStore({ now: () => scheduler.now() });
    let calls = 0;
    const flaky: DedupeStore = {
      acquire: (key, token, leaseMs) => {
        calls += 1;
        if (calls === 1) throw new Error('connection refused');
        return memory.acquire(key, token, leaseMs);
      },
      renew: (key, token, leaseMs) => memory.renew(key, token, leaseMs),
      commit: (key, token, ttlMs) => memory.commit(key, token, ttlMs),
      release: (key, token) => memory.release(key, token),
    };
    scheduler.run(({ cold }) => {
      destination(
        scheduler,
        2,
      )(
        cold('(ab)|', { a: update(books.ledger, '1'), b: update(books.ledger, '2') }).pipe(
          dedupe(options, { dedupeStore: flaky, scheduler, valve: new IntakeValve(), random: () => 1 }),
        ),
      );
    });
    // Our outage is not the update's fault: asked again after 250 ms of backoff, then sent.
    expect(
      books.settled.map(({ frame, origin, outcome }) => [frame, origin.position, outcome.kind]),
    ).to.have.deep.members([
      [252, '1', 'delivered'],
      [252, '2', 'duplicate'],
    ]);
  });

  /** Runs updates through dedupe over `store` to a destination that delivers each a few ms later. */
  const throughDedupe = async (store: DedupeStore, count: number) => {
    const books = new Books();
    const hookErrors: unknown[] = [];
    books.ledger.hookErrors$.subscribe((error) => hookErrors.push(error));
    const fast = decodeOrThrow(DedupeOptions, { leaseSeconds: 60, pollMs: 10 });
    of(...Array.from({ length: count }, (_, i) => update(books.ledger, String(i + 1))))
      // A store outage waits with backoff (from 125 ms with this jitter), the intake paused meanwhile.
      .pipe(dedupe(fast, { dedupeStore: store, valve: new IntakeValve(), random: () => 0 }))
      .subscribe((envelope) => setTimeout(() => settle(envelope, delivered(202)), 5));
    await books.ledger.whenSettled(count);
    return { settled: books.settled.map(({ origin, outcome }) => [origin.position, outcome.kind]), hookErrors };
  };
  /** A store that answers asynchronously, as Redis does, with `first` for its first acquire. */
  const asyncStore = (first: () => Promise<'leased'>): DedupeStore => {
    const memory = new MemoryDedupeStore();
    let calls = 0;
    return {
      acquire: (key, token, leaseMs) =>
        (calls += 1) === 1 ? first() : Promise.resolve(memory.acquire(key, token, leaseMs)),
      renew: (key, token, leaseMs) => Promise.resolve(memory.renew(key, token, leaseMs)),
      commit: (key, token, ttlMs) => Promise.resolve(memory.commit(key, token, ttlMs)),
      release: (key, token) => Promise.resolve(memory.release(key, token)),
    };
  };

  it('when another process holds the lease, a local waiter tries for itself: nothing counts as sent yet', async () => {
    const { settled } = await throughDedupe(
      asyncStore(() => Promise.resolve('leased')),
      2,
    );
    // The waiter ('2') is let go when the first hears "leased", takes the lease, and is delivered; the
    // first, polling, then finds it committed. Nobody is a duplicate of something not yet delivered.
    expect(settled).to.deep.equal([
      ['2', 'delivered'],
      ['1', 'duplicate'],
    ]);
  });

  it('when the store fails, the update waits and asks again; a local waiter is a duplicate only once it is sent', async () => {
    const { settled } = await throughDedupe(
      asyncStore(() => Promise.reject(new Error('connection refused'))),
      2,
    );
    expect(settled).to.have.deep.members([
      ['1', 'delivered'],
      ['2', 'duplicate'],
    ]);
  });

  it('retries a commit that fails, synchronously or not, until it is recorded, then counts the delivery', async () => {
    for (const fail of [
      (): void => {
        throw new Error('commit failed');
      },
      (): Promise<void> => Promise.reject(new Error('commit failed')),
    ]) {
      const memory = new MemoryDedupeStore();
      let commits = 0;
      const store: DedupeStore = {
        acquire: (key, token, leaseMs) => memory.acquire(key, token, leaseMs),
        renew: () => {},
        commit: (key, token, ttlMs) => ((commits += 1) === 1 ? fail() : memory.commit(key, token, ttlMs)),
        release: () => {},
      };
      const { settled, hookErrors } = await throughDedupe(store, 1);
      expect(settled).to.deep.equal([['1', 'delivered']]);
      expect(hookErrors).to.deep.equal([]);
      expect(commits, 'asked again after the failure').to.equal(2);
      expect(memory.acquire(dedupeKeyOf(update(new Books().ledger, '1'))!, 'other', 1000)).to.equal('committed');
    }
  });

  it('keeps going when renewing the lease fails, and waits for an asynchronous commit before counting', async () => {
    const memory = new MemoryDedupeStore();
    let commits = 0;
    let renewals = 0;
    const slow: DedupeStore = {
      acquire: (key, token, leaseMs) => Promise.resolve(memory.acquire(key, token, leaseMs)),
      renew: () => {
        renewals += 1;
        throw new Error('renew failed');
      },
      commit: (key, token, ttlMs) =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            commits += 1;
            memory.commit(key, token, ttlMs);
            resolve();
          }, 30),
        ),
      release: (key, token) => Promise.resolve(memory.release(key, token)),
    };
    const books = new Books();
    const fast = decodeOrThrow(DedupeOptions, { leaseSeconds: 1, pollMs: 10 });
    const counted = new Promise<number>((resolve) => books.ledger.settlements$.subscribe(() => resolve(commits)));
    const envelope = update(books.ledger, '1');
    // Stays subscribed while it holds the envelope, as a sink does: unsubscribing would end the renewal.
    const passed = await new Promise<Envelope>((resolve) => {
      messageStream(envelope)
        .pipe(dedupe(fast, { dedupeStore: slow, valve: new IntakeValve() }))
        .subscribe((e) => resolve(e));
    });
    // In flight for more than a third of the lease: a renewal is tried, fails, and changes nothing.
    await eventually(() => renewals >= 1, 5_000, 'a renewal');
    settle(passed, delivered(202));
    expect(await counted, 'commits done when the outcome counted').to.equal(1);
    expect(renewals).to.be.at.least(1);
    expect(books.settled.map((s) => s.outcome.kind)).to.deep.equal(['delivered']);
  });
});

/** A store in which another process holds every key's lease while `held()`, then lets it go. */
const leasedUntil = (store: MemoryDedupeStore, held: () => boolean): DedupeStore => {
  return {
    acquire: (key, token, leaseMs) => (held() ? 'leased' : store.acquire(key, token, leaseMs)),
    renew: (key, token, leaseMs) => store.renew(key, token, leaseMs),
    commit: (key, token, ttlMs) => store.commit(key, token, ttlMs),
    release: (key, token) => store.release(key, token),
  };
};

const messageStream = (envelope: Envelope): Observable<Envelope> => of(envelope);

describe('emit at its edges', () => {
  const options = decodeOrThrow(EmitOptions, { concurrency: 2, retry: { maxAttempts: 2, baseMs: 100, maxMs: 1000 } });
  const ok: SendResult = { status: 202, body: '' };
  const ready = (ledger: Ledger, position: string, email?: string): Envelope => ({
    ...profileEnvelope(ledger, profileOf({}), position, { n: position }),
    ...(email ? { identity: { namespace: 'Email', target: 'email' as const, id: email } } : {}),
  });

  it('names the valve reason as the metrics label says it', () => {
    expect(DESTINATION_REJECTED).to.equal('destination-rejected');
  });

  it('sends envelopes without an identity side by side, each in a lane of its own', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const calls: number[] = [];
    scheduler.run(({ cold }) => {
      const sender = { send: () => (calls.push(scheduler.now()), cold('---(r|)', { r: ok })) };
      cold('(ab)|', { a: ready(books.ledger, '1'), b: ready(books.ledger, '2') })
        .pipe(emit(options, testContext(scheduler, { sender })))
        .subscribe();
    });
    expect(calls).to.deep.equal([0, 0]);
    expect(books.summary()).to.deep.equal({ '1': 'delivered', '2': 'delivered' });
  });

  it('sends over an unreadable delivery log and one that cannot record, and still counts the delivery', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const deliveryLog = {
      lastDelivered: () => {
        throw new Error('redis down');
      },
      recordDelivered: () => {
        throw new Error('redis down');
      },
      audiencesIn: () => {
        throw new Error('redis down');
      },
      recordAudiencesIn: () => {
        throw new Error('redis down');
      },
    };
    scheduler.run(({ cold }) => {
      cold('a|', { a: ready(books.ledger, '1-0', 'ann@example.com') })
        .pipe(emit(options, testContext(scheduler, { deliveryLog })))
        .subscribe();
    });
    expect(books.summary()).to.deep.equal({ '1-0': 'delivered' });
  });

  it('sends an update at the very position last delivered (only older is stale), saying why one is stale', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const context = testContext(scheduler);
    void context.deliveryLog.recordDelivered('email:ann@example.com', 'updates@5-0');
    const fromStream = (envelope: Envelope): Envelope => ({
      ...envelope,
      origin: { ...envelope.origin, source: 'redis:updates' },
    });
    scheduler.run(({ cold }) => {
      cold('ab|', {
        a: fromStream(ready(books.ledger, '5-0', 'ann@example.com')),
        b: fromStream(ready(books.ledger, '4-9', 'ann@example.com')),
      })
        .pipe(emit(options, context))
        .subscribe();
    });
    expect(books.settled.map((s) => s.outcome)).to.deep.equal([
      { kind: 'delivered', status: 202, attempts: 1 },
      { kind: 'excluded', reason: 'stale', detail: 'a later update for this identity was already delivered' },
    ]);
  });

  it('waits (backoff from 250 ms) and asks again when the rate limiter cannot answer', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const calls: number[] = [];
    let asked = 0;
    const rateLimiter = {
      reserve: () => {
        asked += 1;
        if (asked === 1) throw new Error('redis down');
        return GRANTED_NOW;
      },
      slowDown: () => {},
    };
    scheduler.run(({ cold }) => {
      const sender = { send: () => (calls.push(scheduler.now()), [ok]) };
      cold('a|', { a: ready(books.ledger, '1-0', 'ann@example.com') })
        .pipe(emit(options, testContext(scheduler, { sender, rateLimiter })))
        .subscribe();
    });
    expect(calls).to.deep.equal([250]);
  });

  it('slows the rate down on a 429 only, and dead-letters exactly what it knows', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const context = testContext(scheduler);
    scheduler.run(({ cold }) => {
      const sender = { send: () => cold('(r|)', { r: { status: 503, body: 'busy' } }) };
      cold('a|', { a: ready(books.ledger, '1-0', 'ann@example.com') })
        .pipe(emit(options, { ...context, sender }))
        .subscribe();
    });
    expect(context.slowDowns).to.deep.equal([]);
    expect(context.deadLettered).to.deep.equal([
      {
        at: new Date(100).toISOString(),
        reason: 'retries-exhausted',
        status: 503,
        response: '503 after 2 attempt(s): busy',
        attempts: 2,
        payload: '{"n":"1-0"}',
        identity: 'email:ann@example.com',
        source: 'test',
        position: '1-0',
      },
    ]);
    const tooLarge = testContext(scheduler);
    const big = { ...ready(books.ledger, '2-0'), payload: { n: 'x'.repeat(100_001) } };
    testScheduler().run(({ cold }) => cold('a|', { a: big }).pipe(emit(options, tooLarge)).subscribe());
    expect(tooLarge.deadLettered.map((l) => Object.keys(l).sort())).to.deep.equal([
      ['at', 'attempts', 'payload', 'position', 'reason', 'response', 'source'],
    ]);
  });

  it('never drops a dead letter: while its store fails, the update waits (intake paused), then fails once stored', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    let tries = 0;
    const stored: string[] = [];
    const deadLetters = {
      add: (letter: { readonly reason: string }) => {
        tries += 1;
        if (tries <= 2) throw new Error('disk full');
        stored.push(letter.reason);
      },
    };
    scheduler.run(({ cold }) => {
      const sender = { send: () => cold('(r|)', { r: { status: 400, body: 'bad' } }) };
      cold('a|', { a: ready(books.ledger, '1-0', 'ann@example.com') })
        .pipe(emit(options, testContext(scheduler, { sender, deadLetters })))
        .subscribe();
    });
    expect(stored).to.deep.equal(['http-400']);
    expect(books.settled.map((s) => [s.frame, s.outcome])).to.deep.equal([
      [750, { kind: 'failed', reason: 'http-400', status: 400, detail: 'bad', attempts: 1 }],
    ]);
  });
});
