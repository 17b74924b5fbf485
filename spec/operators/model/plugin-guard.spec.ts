import { expect } from 'chai';
import { delay, filter, map, mergeMap, take, tap, timer, type OperatorFunction } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { settle, type Envelope } from '../../../operators/model/envelope.js';
import { delivered, excluded } from '../../../operators/model/outcome.js';
import { perEnvelope } from '../../../operators/model/per-envelope.js';
import { guardPlugin } from '../../../operators/model/plugin-guard.js';
import { Books, profileEnvelope, profileOf, testScheduler } from '../../helpers/marbles.js';

const positionOf = (envelope: Envelope): string => envelope.origin.position;

/** Runs `plugin` under the guard (limit 100 frames) on envelopes at positions 1, 2, 3, ... */
const guarded = (
  scheduler: TestScheduler,
  faults: string[],
  plugin: () => OperatorFunction<Envelope, Envelope>,
): OperatorFunction<Envelope, string> => {
  const guard = guardPlugin({
    name: 'tricky',
    create: plugin,
    timeoutMs: 100,
    context: { scheduler, report: (error) => faults.push(error.message) },
  });
  return (source) => source.pipe(guard, map(positionOf));
};

const envelopes = (books: Books, count: number): Record<string, Envelope> =>
  Object.fromEntries(
    Array.from({ length: count }, (_, i) => [
      'abcdefgh'[i]!,
      profileEnvelope(books.ledger, profileOf({}), String(i + 1)),
    ]),
  );

describe('the plug-in guard: whatever a plug-in does costs only the envelope it did it to', () => {
  it('passes on what a well-behaved plug-in passes on, and settles nothing itself', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const faults: string[] = [];
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 2);
      const out = cold('ab|', values).pipe(guarded(scheduler, faults, () => map((e) => e)));
      expectObservable(out).toBe('ab|', { a: '1', b: '2' });
    });
    expect(books.settled).to.deep.equal([]);
    expect(faults).to.deep.equal([]);
  });

  it('settles an envelope the plug-in dropped as operator-dropped after the time limit, naming the plug-in', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const faults: string[] = [];
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 2);
      const dropsTheFirst = () => filter((e: Envelope) => e.origin.position !== '1');
      // No completion: only the limit can settle it.
      const out = cold('ab', values).pipe(guarded(scheduler, faults, dropsTheFirst));
      expectObservable(out).toBe('-b', { b: '2' });
    });
    expect(books.summary()).to.deep.equal({ '1': 'failed:operator-dropped' });
    expect(books.settled[0]!.frame).to.equal(100);
    expect(books.settled[0]!.outcome).to.deep.include({
      detail: 'tricky: neither passed on nor settled within 100 ms',
    });
    expect(books.ledger.counts()).to.deep.include({ received: 2, settled: 1, inFlight: 1 });
  });

  it('settles what the plug-in still holds as operator-dropped when its stream completes', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 3);
      const out = cold('abc|', values).pipe(
        guarded(scheduler, [], () => filter((e: Envelope) => e.origin.position !== '2')),
      );
      expectObservable(out).toBe('a-c|', { a: '1', c: '3' });
    });
    expect(books.summary()).to.deep.equal({ '2': 'failed:operator-dropped' });
    expect(books.settled[0]!.frame).to.equal(3);
  });

  it('settles the envelope a plug-in threw on as operator-error, makes the plug-in again and goes on', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const faults: string[] = [];
    let made = 0;
    const throwsOnTheSecond = () => {
      made += 1;
      return map((e: Envelope) => {
        if (e.origin.position === '2') throw new Error('boom');
        return e;
      });
    };
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 3);
      const out = cold('abc|', values).pipe(guarded(scheduler, faults, throwsOnTheSecond));
      expectObservable(out).toBe('a-c|', { a: '1', c: '3' });
    });
    expect(books.summary()).to.deep.equal({ '2': 'failed:operator-error' });
    expect(books.settled[0]!.outcome).to.deep.include({ detail: 'tricky: threw: boom' });
    expect(made).to.equal(2);
    expect(faults).to.deep.equal([]);
  });

  it('turns a second settle in the same step into operator-error: the envelope is counted once', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const faults: string[] = [];
    const settlesTwice = () =>
      perEnvelope('twice', (e) => {
        if (e.origin.position !== '1') return e;
        settle(e, excluded('first'));
        return excluded('second');
      });
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 2);
      expectObservable(cold('ab|', values).pipe(guarded(scheduler, faults, settlesTwice))).toBe('-b|', {
        b: '2',
      });
    });
    expect(books.summary()).to.deep.equal({ '1': 'failed:operator-error' });
    expect(books.settled).to.have.length(1);
    expect(books.settled[0]!.outcome).to.deep.include({
      detail: 'tricky: settled this update twice (ticket already settled, cannot be settled)',
    });
    expect(books.ledger.counts()).to.deep.include({ received: 2, settled: 1, inFlight: 1 });
  });

  it('turns settling and passing on the same envelope into operator-error, and does not pass it on', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const settlesAndPasses = () =>
      map((e: Envelope) => {
        if (e.origin.position === '1') settle(e, excluded('but-also-passed'));
        return e;
      });
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 2);
      expectObservable(cold('ab|', values).pipe(guarded(scheduler, [], settlesAndPasses))).toBe('-b|', {
        b: '2',
      });
    });
    expect(books.summary()).to.deep.equal({ '1': 'failed:operator-error' });
    expect(books.settled[0]!.outcome).to.deep.include({ detail: 'tricky: settled this update and passed it on' });
  });

  it('records a plug-in outcome as given when nothing else happens in the step', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 2);
      const excludesTheFirst = () =>
        perEnvelope('excluder', (e) => (e.origin.position === '1' ? excluded('not-wanted') : e));
      expectObservable(cold('ab|', values).pipe(guarded(scheduler, [], excludesTheFirst))).toBe('-b|', {
        b: '2',
      });
    });
    expect(books.summary()).to.deep.equal({ '1': 'excluded:not-wanted' });
    expect(books.settled[0]!.frame).to.equal(0);
  });

  it('drops and reports what a plug-in passes on twice or was never given', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const faults: string[] = [];
    const stranger = profileEnvelope(books.ledger, profileOf({}), 'stranger');
    const echoes = () => mergeMap((e: Envelope) => [e, e, stranger]);
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 1);
      expectObservable(cold('a|', values).pipe(guarded(scheduler, faults, echoes))).toBe('a|', { a: '1' });
    });
    expect(books.settled).to.deep.equal([]);
    expect(faults).to.deep.equal([
      'plug-in tricky: passed on something it was not given, or passed an update on twice; dropped',
      'plug-in tricky: passed on something it was not given, or passed an update on twice; dropped',
    ]);
  });

  it('makes a plug-in again whose stream completed early, and goes on', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    let made = 0;
    const takesOne = () => {
      made += 1;
      return take<Envelope>(1);
    };
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 3);
      expectObservable(cold('abc|', values).pipe(guarded(scheduler, [], takesOne))).toBe('abc|', {
        a: '1',
        b: '2',
        c: '3',
      });
    });
    // Made at the start and after each update: the last one is made before the source completes.
    expect(made).to.equal(4);
    expect(books.settled).to.deep.equal([]);
  });

  it('fails every later envelope as operator-error, naming why, when the plug-in cannot be made again', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const faults: string[] = [];
    let made = 0;
    const onceOnly = () => {
      made += 1;
      if (made > 1) throw new Error('no second chance');
      return map((e: Envelope) => {
        if (e.origin.position === '1') throw new Error('boom');
        return e;
      });
    };
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 2);
      expectObservable(cold('ab|', values).pipe(guarded(scheduler, faults, onceOnly))).toBe('--|');
    });
    expect(books.summary()).to.deep.equal({ '1': 'failed:operator-error', '2': 'failed:operator-error' });
    expect(books.settled[1]!.outcome).to.deep.include({
      detail: 'tricky: could not be made again: no second chance',
    });
    expect(faults).to.deep.equal(['plug-in tricky: could not be made again: no second chance']);
  });

  it('passes an envelope on with its real ticket: a late settle by the plug-in is reported, not counted', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const faults: string[] = [];
    const settlesLate = () =>
      map((e: Envelope) => {
        timer(1, scheduler).subscribe(() => settle(e, excluded('too-late')));
        return e;
      });
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 1);
      const guard = guardPlugin({
        name: 'tricky',
        create: settlesLate,
        timeoutMs: 100,
        context: { scheduler, report: (e) => faults.push(e.message) },
      });
      // Downstream holds the real ticket and settles it later (as emit does after a request).
      const downstream = cold('a|', values).pipe(
        guard,
        delay(5, scheduler),
        tap((e) => settle(e, delivered(202))),
        map(positionOf),
      );
      expectObservable(downstream).toBe('-----(a|)', { a: '1' });
    });
    expect(faults).to.deep.equal(['plug-in tricky: settled an update it no longer held (passed); ignored']);
    expect(books.summary()).to.deep.equal({ '1': 'delivered' });
  });

  it("ignores, and reports, a plug-in's settle hook and release: the envelope goes on as if they were not there", () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const faults: string[] = [];
    const meddles = () =>
      map((e: Envelope) => {
        e.ticket.release();
        return { ...e, ticket: e.ticket.withHook((outcome) => outcome) };
      });
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 1);
      expectObservable(cold('a|', values).pipe(guarded(scheduler, faults, meddles))).toBe('a|', { a: '1' });
    });
    expect(faults).to.deep.equal([
      "plug-in tricky: misused an update's ticket: an operator of a plug-in cannot release an update: pass it on or settle it",
      "plug-in tricky: misused an update's ticket: a plug-in cannot add a settle hook; it is ignored",
    ]);
    expect(books.ledger.counts()).to.deep.include({ received: 1, settled: 0, released: 0, inFlight: 1 });
  });

  it('records the outcome of the second of two plug-ins in a row, in virtual time, and completes', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const plugin = (name: string, make: () => OperatorFunction<Envelope, Envelope>) =>
      guardPlugin({ name, create: make, timeoutMs: 100, context: { scheduler } });
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 1);
      const chain = cold('a|', values).pipe(
        plugin('first', () => map((e: Envelope) => e)),
        plugin('second', () => perEnvelope('second', () => excluded('by-the-second'))),
      );
      expectObservable(chain).toBe('-|');
    });
    expect(books.summary()).to.deep.equal({ '1': 'excluded:by-the-second' });
    expect(books.settled[0]!.frame).to.equal(0);
  });

  it('releases what the plug-in holds to its source when the pipeline unsubscribes', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 2);
      const holdsEverything = () => filter((_: Envelope) => false);
      expectObservable(cold('ab', values).pipe(guarded(scheduler, [], holdsEverything)), '---!').toBe('---');
    });
    expect(books.settled).to.deep.equal([]);
    expect(books.ledger.counts()).to.deep.include({ received: 2, released: 2, inFlight: 0 });
  });
});
