import { expect } from 'chai';
import {
  lastValueFrom,
  type Observable,
  type ObservableInput,
  of,
  type SchedulerAction,
  type SchedulerLike,
  throwError,
  map,
  timer,
} from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { MemoryRateLimiter } from '../../adapters/memory/rate-limiter.js';
import { DESTINATION_REJECTED, emit, EmitOptions } from '../../operators/emit.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import type { Envelope } from '../../operators/model/envelope.js';
import type { Ledger } from '../../operators/model/ledger.js';
import { serializePayload } from '../../operators/model/payload.js';
import type { SendResult } from '../../operators/model/ports.js';
import { testContext } from '../helpers/contexts.js';
import { Books, profileEnvelope, profileOf, testScheduler } from '../helpers/marbles.js';
import { behavesLikeAnOperator } from '../helpers/operator-contract.js';
import { busiestWindow } from '../helpers/windows.js';

const options = decodeOrThrow(EmitOptions, { concurrency: 2, retry: { maxAttempts: 3, baseMs: 100, maxMs: 1000 } });

const ready = (
  ledger: Ledger,
  position: string,
  extra: Record<string, string> = {},
  email = 'ann@example.com',
): Envelope => ({
  ...profileEnvelope(ledger, profileOf({}), position, {
    segmentMembership: { ups: { a1: { status: 'realized' } } },
    identityMap: { Email: [{ id: email }] },
    ...extra,
  }),
  identity: { namespace: 'Email', target: 'email', id: email },
});

/** A sender that answers from a script (one marble per call) and records when each call was made. */
const scripted = (
  scheduler: TestScheduler,
  cold: (marbles: string, values: Record<string, SendResult>) => Observable<SendResult>,
  answers: SendResult[],
  delay = '-',
) => {
  const calls: Array<{ frame: number; body: string }> = [];
  return {
    calls,
    sender: {
      send: (body: string): Observable<SendResult> => {
        calls.push({ frame: scheduler.now(), body });
        const answer = answers[Math.min(calls.length - 1, answers.length - 1)]!;
        return cold(`${delay}(r|)`, { r: answer });
      },
    },
  };
};

const ok: SendResult = { status: 202, body: '{}' };

describe('emit', () => {
  it('posts the serialized payload (attributes, identityMap, segmentMembership) and settles 2xx as delivered', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    let calls: Array<{ frame: number; body: string }> = [];
    scheduler.run(({ cold, expectObservable }) => {
      const script = scripted(scheduler, cold, [ok], '--');
      calls = script.calls;
      const source = cold('a|', { a: ready(books.ledger, '1-0', { firstName: 'Ann' }) });
      expectObservable(source.pipe(emit(options, testContext(scheduler, { sender: script.sender })))).toBe('--|');
    });
    expect(calls.map((c) => c.body)).to.deep.equal([
      '{"firstName":"Ann","identityMap":{"Email":[{"id":"ann@example.com"}]},"segmentMembership":{"ups":{"a1":{"status":"realized"}}}}',
    ]);
    expect(books.settled.map(({ frame, outcome }) => ({ frame, outcome }))).to.deep.equal([
      { frame: 2, outcome: { kind: 'delivered', status: 202, attempts: 1 } },
    ]);
  });

  it('retries a 5xx after exponential backoff and delivers', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    let calls: Array<{ frame: number }> = [];
    scheduler.run(({ cold }) => {
      const script = scripted(scheduler, cold, [{ status: 503, body: 'busy' }, { status: 500, body: 'oops' }, ok]);
      calls = script.calls;
      cold('a|', { a: ready(books.ledger, '1-0') })
        .pipe(emit(options, testContext(scheduler, { sender: script.sender })))
        .subscribe();
    });
    // Jitter fixed at its longest: 100 ms after the first failure, 200 after the second.
    expect(calls.map((c) => c.frame)).to.deep.equal([0, 101, 302]);
    expect(books.settled.map(({ outcome }) => outcome)).to.deep.equal([
      { kind: 'delivered', status: 202, attempts: 3 },
    ]);
  });

  it('obeys Retry-After on a 429 and slows the rate limiter down', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    let calls: Array<{ frame: number }> = [];
    const context = testContext(scheduler);
    scheduler.run(({ cold }) => {
      const script = scripted(scheduler, cold, [{ status: 429, body: '', retryAfter: '3' }, ok]);
      calls = script.calls;
      cold('a|', { a: ready(books.ledger, '1-0') })
        .pipe(emit(options, { ...context, sender: script.sender }))
        .subscribe();
    });
    expect(calls.map((c) => c.frame)).to.deep.equal([0, 3001]);
    expect(context.slowDowns).to.deep.equal([1]);
    expect(books.summary()).to.deep.equal({ '1-0': 'delivered' });
  });

  it('retries when there is no answer, and dead-letters once attempts run out', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const context = testContext(scheduler);
    scheduler.run(({ cold }) => {
      const sender = { send: () => cold<SendResult>('-#', undefined, new Error('socket hang up')) };
      cold('a|', { a: ready(books.ledger, '1-0') })
        .pipe(emit(options, { ...context, sender }))
        .subscribe();
    });
    expect(books.settled.map(({ frame, outcome }) => ({ frame, outcome }))).to.deep.equal([
      {
        frame: 303,
        outcome: {
          kind: 'failed',
          reason: 'retries-exhausted',
          detail: 'no answer after 3 attempt(s): socket hang up',
          attempts: 3,
        },
      },
    ]);
    expect(context.deadLettered).to.have.length(1);
    expect(context.deadLettered[0]).to.deep.include({
      reason: 'retries-exhausted',
      attempts: 3,
      identity: 'email:ann@example.com',
      position: '1-0',
      source: 'test',
    });
  });

  it('dead-letters another 4xx at once, with its status and response body', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const context = testContext(scheduler);
    let calls: unknown[] = [];
    scheduler.run(({ cold }) => {
      const script = scripted(scheduler, cold, [
        { status: 400, body: '{"meta":{"error":{"errorMessage":"bad field"}}}' },
      ]);
      calls = script.calls;
      cold('a|', { a: ready(books.ledger, '1-0') })
        .pipe(emit(options, { ...context, sender: script.sender }))
        .subscribe();
    });
    expect(calls).to.have.length(1);
    const outcome = {
      kind: 'failed',
      reason: 'http-400',
      status: 400,
      detail: '{"meta":{"error":{"errorMessage":"bad field"}}}',
      attempts: 1,
    };
    expect(books.settled.map((s) => s.outcome)).to.deep.equal([outcome]);
    expect(context.deadLettered[0]).to.deep.include({
      reason: 'http-400',
      status: 400,
      response: outcome.detail,
      attempts: 1,
      payload:
        '{"identityMap":{"Email":[{"id":"ann@example.com"}]},"segmentMembership":{"ups":{"a1":{"status":"realized"}}}}',
    });
  });

  it('closes the valve on 401, retries slowly without using up attempts, and reopens it on success', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const context = testContext(scheduler);
    const valveStates: Array<[number, boolean]> = [];
    context.valve.closed$.subscribe((closed) => valveStates.push([scheduler.now(), closed]));
    let calls: Array<{ frame: number }> = [];
    scheduler.run(({ cold }) => {
      const rejected = { status: 401, body: 'invalid credentials' };
      const script = scripted(scheduler, cold, [rejected, rejected, rejected, rejected, ok]);
      calls = script.calls;
      cold('a|', { a: ready(books.ledger, '1-0') })
        .pipe(emit(options, { ...context, sender: script.sender }))
        .subscribe();
    });
    expect(calls.map((c) => c.frame)).to.deep.equal([0, 1001, 2002, 3003, 4004]);
    expect(valveStates).to.deep.equal([
      [0, false],
      [1, true],
      [4005, false],
    ]);
    expect(books.settled.map((s) => s.outcome)).to.deep.equal([{ kind: 'delivered', status: 202, attempts: 5 }]);
    expect(context.deadLettered).to.deep.equal([]);
  });

  it('says what to fix when it closes the valve', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const context = testContext(scheduler);
    scheduler.run(({ cold }) => {
      const script = scripted(scheduler, cold, [{ status: 404, body: '' }, ok]);
      cold('a|', { a: ready(books.ledger, '1-0') })
        .pipe(emit(options, { ...context, sender: script.sender }))
        .subscribe();
      scheduler.schedule(
        () =>
          expect(context.valve.reasons.get(DESTINATION_REJECTED)).to.match(/no JSON Event at destination\.url \(404\)/),
        10,
      );
    });
  });

  it('pauses on 403 as on 401: the valve closes, nothing is dead-lettered, the update goes once allowed', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const context = testContext(scheduler);
    const valveStates: Array<[number, boolean]> = [];
    context.valve.closed$.subscribe((closed) => valveStates.push([scheduler.now(), closed]));
    let calls: Array<{ frame: number }> = [];
    scheduler.run(({ cold }) => {
      const forbidden = { status: 403, body: 'forbidden' };
      const script = scripted(scheduler, cold, [forbidden, forbidden, forbidden, forbidden, ok]);
      calls = script.calls;
      const source = cold('a|', { a: ready(books.ledger, '1-0') });
      source.pipe(emit(options, { ...context, sender: script.sender })).subscribe();
      const reason = () => context.valve.reasons.get(DESTINATION_REJECTED);
      scheduler.schedule(() => expect(reason()).to.match(/refused access \(403\)/), 10);
    });
    // Four 403s with maxAttempts 3: a dead-lettering policy would have given up at the third.
    expect(calls.map((c) => c.frame)).to.deep.equal([0, 1001, 2002, 3003, 4004]);
    expect(valveStates).to.deep.equal([
      [0, false],
      [1, true],
      [4005, false],
    ]);
    expect(books.settled.map((s) => s.outcome)).to.deep.equal([{ kind: 'delivered', status: 202, attempts: 5 }]);
    expect(context.deadLettered).to.deep.equal([]);
  });

  it('obeys a Retry-After given as an HTTP date, measured on its own clock', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    let calls: Array<{ frame: number }> = [];
    scheduler.run(({ cold }) => {
      // The virtual clock starts at 0 (1970-01-01T00:00:00Z): this date is 90 s away.
      const retryAfter = 'Thu, 01 Jan 1970 00:01:30 GMT';
      const script = scripted(scheduler, cold, [{ status: 503, body: '', retryAfter }, ok], '-');
      calls = script.calls;
      const source = cold('a|', { a: ready(books.ledger, '1-0') });
      source.pipe(emit(options, testContext(scheduler, { sender: script.sender }))).subscribe();
    });
    // Answered at frame 1, so the date is 89,999 ms later; then the retry is sent.
    expect(calls.map((c) => c.frame)).to.deep.equal([0, 90_000]);
    expect(books.summary()).to.deep.equal({ '1-0': 'delivered' });
  });

  it('caps a Retry-After at 15 minutes, in seconds or as a date', () => {
    for (const retryAfter of ['86400', 'Fri, 02 Jan 1970 00:00:00 GMT']) {
      const scheduler = testScheduler();
      const books = new Books(scheduler);
      let calls: Array<{ frame: number }> = [];
      scheduler.run(({ cold }) => {
        const script = scripted(scheduler, cold, [{ status: 429, body: '', retryAfter }, ok]);
        calls = script.calls;
        const source = cold('a|', { a: ready(books.ledger, '1-0') });
        source.pipe(emit(options, testContext(scheduler, { sender: script.sender }))).subscribe();
      });
      expect(
        calls.map((c) => c.frame),
        retryAfter,
      ).to.deep.equal([0, 900_001]);
      expect(books.summary()).to.deep.equal({ '1-0': 'delivered' });
    }
  });

  it('sends a payload of exactly 100,000 bytes and refuses one of 100,001', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const context = testContext(scheduler);
    const sized = (position: string, bytes: number, email: string): Envelope => {
      const envelope = ready(books.ledger, position, { notes: '' }, email);
      const padding = bytes - Buffer.byteLength(serializePayload(envelope.payload));
      return { ...envelope, payload: { ...envelope.payload, notes: 'x'.repeat(padding) } };
    };
    const sent: number[] = [];
    scheduler.run(({ cold }) => {
      const sender = { send: (body: string) => (sent.push(Buffer.byteLength(body)), cold('(r|)', { r: ok })) };
      const source = cold('ab|', {
        a: sized('1-0', 100_000, 'a@example.com'),
        b: sized('2-0', 100_001, 'b@example.com'),
      });
      source.pipe(emit(options, { ...context, sender })).subscribe();
    });
    expect(sent).to.deep.equal([100_000]);
    expect(books.summary()).to.deep.equal({ '1-0': 'delivered', '2-0': 'failed:payload-too-large' });
    expect(books.settled[1]!.outcome).to.deep.include({ detail: '100001 bytes, the limit is 100000' });
  });

  it('refuses a payload over the size limit without sending it, and dead-letters it', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const context = testContext(scheduler);
    let sent = 0;
    scheduler.run(({ cold, expectObservable }) => {
      const sender = { send: () => ((sent += 1), cold('(r|)', { r: ok })) };
      const source = cold('a|', { a: ready(books.ledger, '1-0', { notes: 'é'.repeat(50_000) }) });
      expectObservable(source.pipe(emit(options, { ...context, sender }))).toBe('-|');
    });
    expect(sent).to.equal(0);
    expect(books.settled[0]!.outcome).to.deep.equal({
      kind: 'failed',
      reason: 'payload-too-large',
      detail: '100120 bytes, the limit is 100000',
      attempts: 0,
    });
    expect(context.deadLettered.map((l) => l.reason)).to.deep.equal(['payload-too-large']);
  });

  it('excludes an update older than the last one delivered for its identity, in the same stream, as stale', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const context = testContext(scheduler);
    void context.deliveryLog.recordDelivered('email:ann@example.com', 'updates@1700000000000-5');
    let calls: unknown[] = [];
    const fromStream = (envelope: Envelope, stream: string): Envelope => ({
      ...envelope,
      origin: { ...envelope.origin, source: stream },
    });
    scheduler.run(({ cold }) => {
      const script = scripted(scheduler, cold, [ok]);
      calls = script.calls;
      const older = fromStream(ready(books.ledger, '1700000000000-4'), 'replay:updates');
      const newer = fromStream(ready(books.ledger, '1700000000001-0', { v: '2' }), 'redis:updates');
      // Another stream's ids come from elsewhere: never compared with this one's.
      const otherStream = fromStream(ready(books.ledger, '1600000000000-0', { v: '3' }), 'redis:elsewhere');
      // A plain WebSocket numbers arrivals on this process's own clock: never compared either.
      const websocket = fromStream(ready(books.ledger, '1500000000000-0', { v: '4' }), 'websocket');
      cold('abcd|', { a: older, b: newer, c: otherStream, d: websocket })
        .pipe(emit(options, { ...context, sender: script.sender }))
        .subscribe();
    });
    expect(calls).to.have.length(3);
    expect(books.summary()).to.deep.equal({
      '1700000000000-4': 'excluded:stale',
      '1700000000001-0': 'delivered',
      '1600000000000-0': 'delivered',
      '1500000000000-0': 'delivered',
    });
    expect(context.deliveryLog.lastDelivered('email:ann@example.com')).to.equal('elsewhere@1600000000000-0');
  });

  it('uses the delivery log only for updates with a stream position, and sends though the log fails', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const reads: string[] = [];
    const writes: string[] = [];
    const context = testContext(scheduler, {
      deliveryLog: {
        lastDelivered: (identity) => {
          reads.push(identity);
          throw new Error('log down');
        },
        recordDelivered: (identity, position) => {
          writes.push(`${identity} ${position}`);
          throw new Error('log down');
        },
        audiencesIn: () => [],
        recordAudiencesIn: () => {},
      },
    });
    scheduler.run(({ cold }) => {
      const script = scripted(scheduler, cold, [ok, ok]);
      const streamed = ready(books.ledger, '1700000000000-1');
      const fromStream: Envelope = { ...streamed, origin: { ...streamed.origin, source: 'redis:updates' } };
      // A WebSocket's positions are no stream's: nothing to compare, nothing to record.
      const websocket = ready(books.ledger, '1700000000000-2', { v: '2' }, 'ben@example.com');
      cold('ab|', { a: fromStream, b: { ...websocket, origin: { ...websocket.origin, source: 'websocket' } } })
        .pipe(emit(options, { ...context, sender: script.sender }))
        .subscribe();
    });
    // The log is a safeguard, not a gate: failing, it neither stops a send nor makes it stale.
    expect(books.summary()).to.deep.equal({ '1700000000000-1': 'delivered', '1700000000000-2': 'delivered' });
    expect(reads).to.deep.equal(['email:ann@example.com']);
    expect(writes).to.deep.equal(['email:ann@example.com updates@1700000000000-1']);
  });

  it("holds an identity's next update until its retried one is done, while other identities go on", () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const calls: Array<[number, string]> = [];
    scheduler.run(({ cold }) => {
      let annCalls = 0;
      const sender = {
        send: (body: string) => {
          const who = (JSON.parse(body) as { n: string }).n;
          calls.push([scheduler.now(), who]);
          const fail = who === 'ann-1' && annCalls++ === 0;
          return cold('-(r|)', { r: fail ? { status: 500, body: '' } : ok });
        },
      };
      const source = cold('abc|', {
        a: ready(books.ledger, '1-0', { n: 'ann-1' }),
        b: ready(books.ledger, '2-0', { n: 'ann-2' }),
        c: ready(books.ledger, '3-0', { n: 'ben-1' }, 'ben@example.com'),
      });
      source.pipe(emit(options, testContext(scheduler, { sender }))).subscribe();
    });
    expect(calls).to.deep.equal([
      [0, 'ann-1'],
      [2, 'ben-1'],
      [101, 'ann-1'],
      [102, 'ann-2'],
    ]);
  });

  it('waits for the rate limiter before every attempt', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const calls: number[] = [];
    scheduler.run(({ cold }) => {
      const limiter = new MemoryRateLimiter({ requests: 2, perSeconds: 1, now: () => scheduler.now() });
      const sender = { send: () => (calls.push(scheduler.now()), [ok]) };
      const source = cold('(abcd|)', {
        a: ready(books.ledger, '1-0', {}, 'a@example.com'),
        b: ready(books.ledger, '2-0', {}, 'b@example.com'),
        c: ready(books.ledger, '3-0', {}, 'c@example.com'),
        d: ready(books.ledger, '4-0', {}, 'd@example.com'),
      });
      source.pipe(emit(options, testContext(scheduler, { sender, rateLimiter: limiter }))).subscribe();
    });
    // Two a second (window 1,050 ms with its margin), evenly paced at 525 ms.
    expect(calls).to.deep.equal([0, 525, 1050, 1575]);
  });

  it('at the limit, asks the rate limiter once a send however many wait, and sends them in arrival order', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const calls: string[] = [];
    let reserves = 0;
    scheduler.run(({ cold }) => {
      const limiter = new MemoryRateLimiter({ requests: 2, perSeconds: 1, now: () => scheduler.now() });
      const counted = {
        reserve: () => {
          reserves += 1;
          return limiter.reserve();
        },
        slowDown: () => limiter.slowDown(),
      };
      const sender = {
        send: (body: string) => (calls.push(JSON.parse(body).identityMap.Email[0].id), cold('-(r|)', { r: ok })),
      };
      const people = 'abcdefghij'.split('');
      const source = cold(`(${people.join('')}|)`, {
        ...Object.fromEntries(people.map((p, i) => [p, ready(books.ledger, `${i + 1}-0`, {}, `${p}@example.com`)])),
      });
      const eight = decodeOrThrow(EmitOptions, { concurrency: 8 });
      source.pipe(emit(eight, testContext(scheduler, { sender, rateLimiter: counted }))).subscribe();
    });
    expect(calls).to.deep.equal('abcdefghij'.split('').map((p) => `${p}@example.com`));
    // One ask per send: the first in line asks when the slot before it comes and is booked the next one.
    // Eight lanes polling asked about eight times a send; a limiter that refused slots ahead, about twice.
    expect(reserves).to.equal(calls.length);
  });

  it('waits in line for the slot each grant announces, telling the limiter how long (for the wait metrics)', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const [sent, waits]: [number[], number[]] = [[], []];
    scheduler.run(({ cold }) => {
      const limiter = new MemoryRateLimiter({ requests: 2, perSeconds: 1, now: () => scheduler.now() });
      const rateLimiter = {
        reserve: () => limiter.reserve(),
        waiting: (ms: number) => waits.push(ms),
        slowDown: () => {},
      };
      const sender = { send: () => (sent.push(scheduler.now()), [ok]) };
      cold('(abc|)', {
        a: ready(books.ledger, '1-0', {}, 'a@example.com'),
        b: ready(books.ledger, '2-0', {}, 'b@example.com'),
        c: ready(books.ledger, '3-0', {}, 'c@example.com'),
      })
        .pipe(emit(options, testContext(scheduler, { sender, rateLimiter })))
        .subscribe();
    });
    // 2 a second: a slot every 525 ms (the window's margin included).
    expect(sent).to.deep.equal([0, 525, 1050]);
    expect(waits).to.deep.equal([525, 525]);
  });

  it('waits no longer than the limiter said when the wall clock is set back (an NTP step)', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const sent: number[] = [];
    // The process's clock is set back an hour at 100 ms; its timers, and the limiter's clock, are not.
    const stepped = {
      now: () => scheduler.now() - (scheduler.now() >= 100 ? 3_600_000 : 0),
      schedule: (work: (this: SchedulerAction<unknown>, state?: unknown) => void, delay = 0, state?: unknown) =>
        scheduler.schedule(work, delay, state),
    } as SchedulerLike;
    scheduler.run(({ cold }) => {
      const limiter = new MemoryRateLimiter({ requests: 2, perSeconds: 1, now: () => scheduler.now() });
      const rateLimiter = { reserve: () => limiter.reserve(), slowDown: () => {} };
      const sender = { send: () => (sent.push(scheduler.now()), [ok]) };
      cold('a 199ms b|', {
        a: ready(books.ledger, '1-0', {}, 'a@example.com'),
        b: ready(books.ledger, '2-0', {}, 'b@example.com'),
      })
        .pipe(emit(options, testContext(stepped, { sender, rateLimiter })))
        .subscribe();
    });
    // 2 a second: the next slot 525 ms after the first; asked for at most that long after hearing of it.
    expect(sent).to.deep.equal([0, 725]);
  });

  describe('timers that wake late (a busy event loop) delay the asks, never a send after its grant', () => {
    const eight = decodeOrThrow(EmitOptions, { concurrency: 8 });
    /** A scheduler whose timers all fire `lateMs` late. */
    const lateTimers = (scheduler: TestScheduler, lateMs: number) =>
      ({
        now: () => scheduler.now(),
        schedule: (work: (this: SchedulerAction<unknown>, state?: unknown) => void, delay = 0, state?: unknown) =>
          scheduler.schedule(work, delay > 0 ? delay + lateMs : 0, state),
      }) as SchedulerLike;

    /**
     * One process sharing `limiter`: `count` updates at once, its timers `lateMs` late, and each request
     * arriving `lagMs` after its grant (a slow reply from Redis). Records arrivals and asks.
     */
    const process = (
      scheduler: TestScheduler,
      cold: (marbles: string, values: Record<string, Envelope>) => Observable<Envelope>,
      limiter: MemoryRateLimiter,
      { name, count, lateMs, lagMs }: { name: string; count: number; lateMs: number; lagMs: number },
      seen: { arrivals: number[]; asks: number },
    ) => {
      const books = new Books(scheduler);
      const keys = 'abcdefghijklmnopqrst'.slice(0, count).split('');
      const rateLimiter = { reserve: () => ((seen.asks += 1), limiter.reserve()), slowDown: () => {} };
      const sender = { send: () => (seen.arrivals.push(scheduler.now() + lagMs), [ok]) };
      cold(`(${keys.join('')}|)`, {
        ...Object.fromEntries(
          keys.map((k, n) => [k, ready(books.ledger, `${n + 1}-0`, {}, `${name}${n}@example.com`)]),
        ),
      })
        .pipe(emit(eight, testContext(lateTimers(scheduler, lateMs), { sender, rateLimiter })))
        .subscribe();
    };

    it('two processes on one limit, one slow to hear answers and to wake: no window holds more than the limit', () => {
      const scheduler = testScheduler();
      const seen = { arrivals: [] as number[], asks: 0 };
      scheduler.run(({ cold }) => {
        const shared = new MemoryRateLimiter({ requests: 10, perSeconds: 1, now: () => scheduler.now() });
        process(scheduler, cold, shared, { name: 'busy', count: 12, lateMs: 24, lagMs: 30 }, seen);
        process(scheduler, cold, shared, { name: 'idle', count: 12, lateMs: 0, lagMs: 0 }, seen);
      });
      expect(seen.arrivals).to.have.length(24);
      expect(busiestWindow(seen.arrivals, 999)).to.be.at.most(10);
    });

    it('timers steadily 30 ms late: every update still goes, with about one ask each', () => {
      const scheduler = testScheduler();
      const seen = { arrivals: [] as number[], asks: 0 };
      scheduler.run(({ cold }) => {
        const limiter = new MemoryRateLimiter({ requests: 10, perSeconds: 1, now: () => scheduler.now() });
        process(scheduler, cold, limiter, { name: 'late', count: 20, lateMs: 30, lagMs: 0 }, seen);
      });
      expect(seen.arrivals).to.have.length(20);
      expect(seen.asks).to.be.at.most(21);
      expect(busiestWindow(seen.arrivals, 999)).to.be.at.most(10);
    });
  });

  it('rejects options outside their bounds', () => {
    expect(() =>
      decodeOrThrow(EmitOptions, { concurrency: 0, maxPayloadBytes: 200_000, retry: { maxAttempts: 0 } }),
    ).to.throw(
      'EmitOptions: concurrency: expected an integer from 1 to 256, got 0; maxPayloadBytes: expected an integer from 1 to 100000, got 200000; retry.maxAttempts: expected an integer from 1 to 100, got 0',
    );
  });

  behavesLikeAnOperator(() => emit(options, testContext(undefined)));
});

describe('emit: however a sender answers', () => {
  const quick = decodeOrThrow(EmitOptions, { concurrency: 2, retry: { maxAttempts: 2, baseMs: 1, maxMs: 1 } });

  /** One update through emit on the real clock, its sender answering with what `answer` returns. */
  const sendOnce = async (answer: () => unknown): Promise<{ outcome: unknown; calls: number; settled: number }> => {
    const books = new Books();
    let calls = 0;
    const sender = {
      send: (): ObservableInput<SendResult> => {
        calls += 1;
        return answer() as ObservableInput<SendResult>;
      },
    };
    const context = testContext(undefined, { sender });
    await lastValueFrom(of(ready(books.ledger, '1-0')).pipe(emit(quick, context)), { defaultValue: undefined });
    return { outcome: books.settled[0]?.outcome, calls, settled: books.settled.length };
  };

  it('takes the answer from a promise, an array, an observable, a thenable or an iterable', async () => {
    // A thenable as promise libraries make them: `then` answers later and returns a thenable of its own.
    const thenable = {
      // biome-ignore lint/suspicious/noThenProperty: a thenable that is not a Promise is what is tested
      then: (resolve: (answer: SendResult) => unknown) =>
        new Promise((done) => setTimeout(done, 1)).then(() => resolve(ok)),
    };
    const answers = [
      () => Promise.resolve(ok),
      () => [ok],
      () => of(ok),
      () => timer(1).pipe(map(() => ok)),
      () => thenable,
      () => new Set([ok]),
    ];
    for (const answer of answers)
      expect(await sendOnce(answer)).to.deep.equal({
        outcome: { kind: 'delivered', status: 202, attempts: 1 },
        calls: 1,
        settled: 1,
      });
  });

  it('counts a rejection, a throw, an erroring observable and a non-observable answer as no answer', async () => {
    const cases: Array<[() => unknown, string]> = [
      [() => Promise.reject(new Error('connect ECONNREFUSED')), 'connect ECONNREFUSED'],
      [
        () => {
          throw new Error('socket hang up');
        },
        'socket hang up',
      ],
      [() => throwError(() => new Error('reset')), 'reset'],
      [() => 42, 'You provided'],
      [
        () => ({
          // biome-ignore lint/suspicious/noThenProperty: a thenable whose then throws is what is tested
          then: () => {
            throw new Error('then threw');
          },
        }),
        'then threw',
      ],
      // A rejection with something that cannot be made a string is still no answer, never a crash.
      [() => Promise.reject(Object.create(null)), '[object Object]'],
    ];
    for (const [answer, said] of cases) {
      const { outcome, calls, settled } = await sendOnce(answer);
      expect(calls, said).to.equal(2);
      expect(settled, said).to.equal(1);
      expect(outcome).to.deep.include({ kind: 'failed', reason: 'retries-exhausted', attempts: 2 });
      expect((outcome as { detail: string }).detail).to.include(`no answer after 2 attempt(s): ${said}`);
    }
  });
});
