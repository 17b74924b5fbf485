import { expect } from 'chai';
import { NEVER, shareReplay, type Observable } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { MemoryRateLimiter } from '../../adapters/memory/rate-limiter.js';
import { emit, EmitOptions } from '../../operators/emit.js';
import { DESTINATION_DOWN } from '../../operators/model/circuit-breaker.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import type { Envelope } from '../../operators/model/envelope.js';
import type { Ledger } from '../../operators/model/ledger.js';
import { GRANTED_NOW, type SendResult } from '../../operators/model/ports.js';
import { STORE_UNAVAILABLE } from '../../operators/model/waits.js';
import { testContext } from '../helpers/contexts.js';
import { Books, profileEnvelope, profileOf, testScheduler } from '../helpers/marbles.js';

type ColdOf = <T>(marbles: string, values?: Record<string, T>) => Observable<T>;

const options = decodeOrThrow(EmitOptions, {
  concurrency: 4,
  retry: { maxAttempts: 3, baseMs: 100, maxMs: 1000, downAfter: 3 },
});

const ready = (ledger: Ledger, position: string, email: string): Envelope => ({
  ...profileEnvelope(ledger, profileOf({}), position, {
    segmentMembership: { ups: { a1: { status: 'realized' } } },
    identityMap: { Email: [{ id: email }] },
  }),
  identity: { namespace: 'Email', target: 'email', id: email },
});

const ok: SendResult = { status: 202, body: '' };
const down: SendResult = { status: 503, body: 'down' };

/** The valve's changes for one reason, with the virtual time they happened at. */
const watch = (context: ReturnType<typeof testContext>, now: () => number, reason: string): Array<[number, string]> => {
  const changes: Array<[number, string]> = [];
  context.valve.changes$.subscribe((change) => change.reason === reason && changes.push([now(), change.kind]));
  return changes;
};

/** What each closing of the valve said, in order. */
const closedMessages = (context: ReturnType<typeof testContext>): string[] => {
  const messages: string[] = [];
  context.valve.changes$.subscribe((change) => change.kind === 'closed' && messages.push(change.message));
  return messages;
};

describe('emit under outages', () => {
  describe('a destination down for everyone (circuit breaker)', () => {
    it('holds the updates waiting in line for a rate-limit slot once it opens: only probes go out', () => {
      const scheduler = testScheduler();
      const books = new Books(scheduler);
      const sent: number[] = [];
      scheduler.run(({ cold }) => {
        // 10 a second (one every 105 ms): eight people in line; the destination is down until 3 s.
        const rateLimiter = new MemoryRateLimiter({ requests: 10, perSeconds: 1, now: () => scheduler.now() });
        const sender = {
          send: () => (sent.push(scheduler.now()), cold('-(r|)', { r: scheduler.now() < 3000 ? down : ok })),
        };
        const people = 'abcdefgh'.split('');
        const source = cold(`(${people.join('')}|)`, {
          ...Object.fromEntries(people.map((p, i) => [p, ready(books.ledger, `${i + 1}-0`, `${p}@example.com`)])),
        });
        const eight = decodeOrThrow(EmitOptions, {
          concurrency: 8,
          retry: { maxAttempts: 3, baseMs: 100, maxMs: 1000, downAfter: 2 },
        });
        source.pipe(emit(eight, testContext(scheduler, { sender, rateLimiter }))).subscribe();
      });
      // a and b fail (two people in a row): the breaker opens at 106 ms. Those in line then wait for it:
      // probes with growing backoff, not c to h at the limiter's pace (210, 315, ... 735 ms).
      expect(sent.filter((frame) => frame < 1000).length).to.be.at.most(5);
      expect(books.summary()).to.deep.equal(
        Object.fromEntries('abcdefgh'.split('').map((_, i) => [`${i + 1}-0`, 'delivered'])),
      );
    });

    it('pauses the intake, stops spending attempts, probes one at a time, and delivers everything once it answers', () => {
      const scheduler = testScheduler();
      const books = new Books(scheduler);
      const context = testContext(scheduler);
      const downChanges = watch(context, () => scheduler.now(), DESTINATION_DOWN);
      const calls: Array<[number, string]> = [];
      scheduler.run(({ cold }) => {
        const sender = {
          send: (body: string): Observable<SendResult> => {
            calls.push([
              scheduler.now(),
              (JSON.parse(body) as { identityMap: { Email: Array<{ id: string }> } }).identityMap.Email[0]!.id,
            ]);
            // Down until 5 s, then up.
            return cold('-(r|)', { r: scheduler.now() < 5000 ? down : ok });
          },
        };
        const source = cold('(abc)|', {
          a: ready(books.ledger, '1-0', 'ann@example.com'),
          b: ready(books.ledger, '2-0', 'ben@example.com'),
          c: ready(books.ledger, '3-0', 'cy@example.com'),
        });
        source.pipe(emit(options, { ...context, sender })).subscribe();
      });
      // Three different people failed in a row at frame 1: the breaker opened.
      expect(calls.slice(0, 3).map(([frame]) => frame)).to.deep.equal([0, 0, 0]);
      expect(downChanges[0]).to.deep.equal([1, 'closed']);
      // While open, one probe at a time, with backoff (100, 200, 400, 800, then 1000 ms with the jitter at its
      // longest).
      const probes = calls.slice(3);
      const sentBefore5s = probes.filter(([frame]) => frame < 5000);
      for (let i = 1; i < sentBefore5s.length; i += 1)
        expect(sentBefore5s[i]![0] - sentBefore5s[i - 1]![0]).to.be.at.least(100);
      // Every update is delivered: none ran out of its 3 attempts, however many probes failed.
      expect(books.summary()).to.deep.equal({ '1-0': 'delivered', '2-0': 'delivered', '3-0': 'delivered' });
      expect(context.deadLettered).to.deep.equal([]);
      // Each outcome counts every request made for it, the probes included.
      const attempts = books.settled.map(({ outcome }) => (outcome as { attempts?: number }).attempts);
      const sends = ['ann', 'ben', 'cy'].map((name) => calls.filter(([, id]) => id === `${name}@example.com`).length);
      expect(attempts).to.have.members(sends);
      expect(sentBefore5s.length).to.be.above(3);
      expect(downChanges[downChanges.length - 1]![1]).to.equal('opened');
    });

    it('does not open for one update that keeps failing while others are answered: its own attempts run out', () => {
      const scheduler = testScheduler();
      const books = new Books(scheduler);
      const context = testContext(scheduler);
      const downChanges = watch(context, () => scheduler.now(), DESTINATION_DOWN);
      scheduler.run(({ cold }) => {
        const sender = { send: (body: string) => cold('-(r|)', { r: body.includes('ann@') ? down : ok }) };
        const source = cold('a-b-c-d|', {
          a: ready(books.ledger, '1-0', 'ann@example.com'),
          b: ready(books.ledger, '2-0', 'ben@example.com'),
          c: ready(books.ledger, '3-0', 'cy@example.com'),
          d: ready(books.ledger, '4-0', 'dee@example.com'),
        });
        source.pipe(emit(options, { ...context, sender })).subscribe();
      });
      expect(downChanges).to.deep.equal([]);
      expect(books.summary()).to.deep.include({
        '1-0': 'failed:retries-exhausted',
        '2-0': 'delivered',
        '4-0': 'delivered',
      });
      expect(context.deadLettered.map((letter) => letter.position)).to.deep.equal(['1-0']);
    });
  });

  describe('our own stores not answering', () => {
    it('waits for the dead-letter store, with the intake paused: the letter is kept, then the update fails', () => {
      const scheduler = testScheduler();
      const books = new Books(scheduler);
      let adds = 0;
      const stored: string[] = [];
      const context = testContext(scheduler, {
        deadLetters: {
          add: (letter) => {
            adds += 1;
            if (adds <= 2) throw new Error('connection refused');
            stored.push(letter.reason);
          },
        },
      });
      const storeChanges = watch(context, () => scheduler.now(), STORE_UNAVAILABLE);
      const messages = closedMessages(context);
      scheduler.run(({ cold }) => {
        const sender = { send: () => cold('-(r|)', { r: { status: 400, body: 'bad' } }) };
        cold('a|', { a: ready(books.ledger, '1-0', 'ann@example.com') })
          .pipe(emit(options, { ...context, sender }))
          .subscribe();
      });
      expect(stored).to.deep.equal(['http-400']);
      // Backoff from 250 ms: asked at 1, 251 and 751.
      expect(storeChanges).to.deep.equal([
        [1, 'closed'],
        [751, 'opened'],
      ]);
      expect(books.settled.map(({ frame, outcome }) => [frame, outcome.kind])).to.deep.equal([[751, 'failed']]);
      expect(messages).to.deep.equal([
        'the dead-letter store does not answer (connection refused); updates wait until it does',
      ]);
    });

    it('waits for a rate limiter that does not answer, never sending unpaced', () => {
      const scheduler = testScheduler();
      const books = new Books(scheduler);
      let reserves = 0;
      const context = testContext(scheduler, {
        rateLimiter: {
          reserve: () => {
            reserves += 1;
            if (reserves === 1) throw new Error('connection refused');
            return GRANTED_NOW;
          },
          slowDown: () => {},
        },
      });
      const storeChanges = watch(context, () => scheduler.now(), STORE_UNAVAILABLE);
      const messages = closedMessages(context);
      const sent: number[] = [];
      scheduler.run(({ cold }) => {
        const sender = { send: () => (sent.push(scheduler.now()), cold('-(r|)', { r: ok })) };
        cold('a|', { a: ready(books.ledger, '1-0', 'ann@example.com') })
          .pipe(emit(options, { ...context, sender }))
          .subscribe();
      });
      // Asked again after 250 ms of backoff; nothing went out before the limiter answered.
      expect(sent).to.deep.equal([250]);
      expect(storeChanges).to.deep.equal([
        [0, 'closed'],
        [250, 'opened'],
      ]);
      expect(books.summary()).to.deep.equal({ '1-0': 'delivered' });
      expect(messages).to.deep.equal([
        'the rate limiter does not answer (connection refused); updates wait until it does',
      ]);
    });
  });

  describe('stopping', () => {
    it('ends backoff waits at once: the waiting update is released to its source, unsettled', () => {
      const scheduler = testScheduler();
      const books = new Books(scheduler);
      const context = testContext(scheduler);
      const sent: number[] = [];
      scheduler.run(({ cold, hot, expectObservable }) => {
        const sender = { send: () => (sent.push(scheduler.now()), cold('-(r|)', { r: down })) };
        const stopping$ = hot('-----s', { s: true });
        const source = cold('a|', { a: ready(books.ledger, '1-0', 'ann@example.com') });
        // Sent at 0, answered 503 at 1, backing off 100 ms: the stop at 5 ends the wait.
        expectObservable(source.pipe(emit(options, { ...context, sender, stopping$ }))).toBe('-----|');
      });
      expect(sent).to.deep.equal([0]);
      expect(books.settled).to.deep.equal([]);
      expect(books.ledger.counts()).to.include({ received: 1, released: 1, inFlight: 0 });
    });

    /** Four people at one request a second: the first goes at 0, the next is due at 1,050 ms. */
    const lineAtTheLimit = (scheduler: TestScheduler, books: Books, cold: ColdOf) => {
      const rateLimiter = new MemoryRateLimiter({ requests: 1, perSeconds: 1, now: () => scheduler.now() });
      const sent: string[] = [];
      const sender = {
        send: (body: string) => (
          sent.push(`${scheduler.now()} ${JSON.parse(body).identityMap.Email[0].id}`), cold('-(r|)', { r: ok })
        ),
      };
      const source = cold('(abcd|)', {
        a: ready(books.ledger, '1-0', 'a@example.com'),
        b: ready(books.ledger, '2-0', 'b@example.com'),
        c: ready(books.ledger, '3-0', 'c@example.com'),
        d: ready(books.ledger, '4-0', 'd@example.com'),
      });
      const four = decodeOrThrow(EmitOptions, { concurrency: 4 });
      return {
        sent,
        source,
        operator: (stopping$: Observable<unknown>) =>
          emit(four, { ...testContext(scheduler, { rateLimiter }), sender, stopping$ }),
      };
    };

    for (const stopAt of [500, 1050])
      it(`releases every update waiting in line for a rate-limit slot, and lets none go after a stop (at ${stopAt} ms)`, () => {
        const scheduler = testScheduler();
        const books = new Books(scheduler);
        let sent: string[] = [];
        scheduler.run(({ cold, hot, expectObservable }) => {
          const line = lineAtTheLimit(scheduler, books, cold);
          sent = line.sent;
          // At 1,050 ms the stop comes as the first in line's wait ends: the next must not go in its place.
          const stopping$ = hot(`${stopAt}ms s`, { s: true }).pipe(shareReplay(1));
          expectObservable(line.source.pipe(line.operator(stopping$))).toBe(`${stopAt}ms |`);
        });
        expect(sent).to.deep.equal(['0 a@example.com']);
        expect(books.ledger.counts()).to.include({ received: 4, delivered: 1, released: 3, inFlight: 0 });
      });

    it('lets no one else go in the place of the first in line once torn down', () => {
      const scheduler = testScheduler();
      const books = new Books(scheduler);
      let sent: string[] = [];
      scheduler.run(({ cold, expectObservable }) => {
        const line = lineAtTheLimit(scheduler, books, cold);
        sent = line.sent;
        // At 1,050 ms, as b's slot comes due: b goes down with the pipeline, and no one is served after it.
        expectObservable(line.source.pipe(line.operator(NEVER)), '1050ms !').toBe('');
      });
      // Torn down while b waits first in line: its wait ends with it, and c, d never get in its place.
      expect(sent).to.deep.equal(['0 a@example.com']);
    });

    it('lets a request already on the wire finish and settle, and releases what waits behind it', () => {
      const scheduler = testScheduler();
      const books = new Books(scheduler);
      const context = testContext(scheduler);
      scheduler.run(({ cold, hot, expectObservable }) => {
        const sender = { send: () => cold('----------(r|)', { r: ok }) };
        // As the pipeline makes it: whoever looks after the stop still sees it.
        const stopping$ = hot('--s', { s: true }).pipe(shareReplay(1));
        const source = cold('(ab)|', {
          a: ready(books.ledger, '1-0', 'ann@example.com'),
          // Same person: waits in the lane behind the first.
          b: ready(books.ledger, '2-0', 'ann@example.com'),
        });
        expectObservable(source.pipe(emit(options, { ...context, sender, stopping$ }))).toBe('----------|');
      });
      expect(books.summary()).to.deep.equal({ '1-0': 'delivered' });
      expect(books.ledger.counts()).to.include({ received: 2, delivered: 1, released: 1, inFlight: 0 });
    });
  });
});
