import { expect } from 'chai';
import {
  concat,
  delay,
  filter,
  ignoreElements,
  map,
  merge,
  mergeMap,
  of,
  take,
  takeWhile,
  tap,
  throwError,
  timer,
  type Observable,
  type OperatorFunction,
} from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { settle, type Envelope } from '../../../operators/model/envelope.js';
import { delivered, excluded, failed } from '../../../operators/model/outcome.js';
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

  it('sweeps every tenth of the limit: an envelope is settled at the first sweep past its own limit', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 2);
      // The sweeps run at 10, 20, ... from the first envelope: the second (at 3) is settled at 110, not 103.
      expectObservable(cold('a 2ms b', values).pipe(guarded(scheduler, [], () => filter(() => false)))).toBe('');
    });
    expect(books.settled.map(({ origin, frame }) => [origin.position, frame])).to.deep.equal([
      ['1', 100],
      ['2', 110],
    ]);
  });

  it('settles what a failing stream held as operator-error, and stops making a plug-in that fails unfed', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const faults: string[] = [];
    let made = 0;
    // Holds everything, and fails 5 frames after it is made: not while it is given an update.
    const failsLater = () => (input: Observable<Envelope>) => {
      made += 1;
      return merge(input.pipe(filter(() => false)), timer(5).pipe(mergeMap(() => throwError(() => new Error('late')))));
    };
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 2);
      expectObservable(cold('a 14ms b 4ms |', values).pipe(guarded(scheduler, faults, failsLater))).toBe('20ms |');
    });
    // Made again at 5 (it had been fed); that one fails at 10 before taking anything: not made a third time.
    expect(made).to.equal(2);
    expect(books.settled.map(({ origin, frame, outcome }) => [origin.position, frame, outcome])).to.deep.equal([
      ['1', 5, failed('operator-error', { detail: 'tricky: its stream failed while holding this update: late' })],
      ['2', 15, failed('operator-error', { detail: 'tricky: its stream ended before taking any update: late' })],
    ]);
    expect(faults).to.deep.equal([
      'plug-in tricky: its stream failed: late',
      'plug-in tricky: its stream failed: late',
      'plug-in tricky: its stream ended before taking any update: late',
    ]);
  });

  it('fails every envelope, naming why, when the plug-in ends before taking any', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const faults: string[] = [];
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 1);
      expectObservable(cold('a|', values).pipe(guarded(scheduler, faults, () => take(0)))).toBe('-|');
    });
    expect(books.settled.map(({ outcome }) => outcome)).to.deep.equal([
      failed('operator-error', { detail: 'tricky: its stream ended before taking any update' }),
    ]);
    expect(faults).to.deep.equal(['plug-in tricky: its stream ended before taking any update']);
  });

  it('settles the envelope a plug-in completed on without passing it on as operator-dropped, not as a throw', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const faults: string[] = [];
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 3);
      const untilTheSecond = () => takeWhile((e: Envelope) => e.origin.position !== '2');
      expectObservable(cold('abc|', values).pipe(guarded(scheduler, faults, untilTheSecond))).toBe('a-c|', {
        a: '1',
        c: '3',
      });
    });
    expect(books.settled.map(({ origin, outcome }) => [origin.position, outcome])).to.deep.equal([
      [
        '2',
        failed('operator-dropped', {
          detail: 'tricky: its stream completed without passing this update on or settling it',
        }),
      ],
    ]);
    expect(faults).to.deep.equal([]);
  });

  it('leaves alone an envelope the plug-in passed on before it threw in the same step', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const faults: string[] = [];
    const passesThenThrows = () =>
      mergeMap((e: Envelope) =>
        e.origin.position === '1'
          ? concat(
              of(e),
              throwError(() => new Error('after')),
            )
          : of(e),
      );
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 2);
      expectObservable(cold('ab|', values).pipe(guarded(scheduler, faults, passesThenThrows))).toBe('ab|', {
        a: '1',
        b: '2',
      });
    });
    // Downstream has it now: settling it here as well would count it twice.
    expect(books.settled).to.deep.equal([]);
    expect(faults).to.deep.equal([]);
  });

  it('completes only once what the plug-in still holds comes out', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const values = envelopes(books, 1);
      expectObservable(cold('a|', values).pipe(guarded(scheduler, [], () => delay(5)))).toBe('5ms (a|)', { a: '1' });
    });
    expect(books.settled).to.deep.equal([]);
  });

  it('completes only after the outcome a plug-in gave in its last step is recorded', async () => {
    const books = new Books();
    const guard = guardPlugin({
      name: 'excluder',
      create: () => perEnvelope('excluder', () => excluded('not-wanted')),
      timeoutMs: 100,
      context: {},
    });
    // No scheduler: the outcome is recorded on the asap scheduler, after the source completed.
    const settledAtCompletion = await new Promise<number>((resolve) => {
      of(profileEnvelope(books.ledger, profileOf({})))
        .pipe(guard)
        .subscribe({
          complete: () => resolve(books.settled.length),
        });
    });
    expect(settledAtCompletion).to.equal(1);
  });

  it('records at once what is settled downstream of the plug-in: that is no longer its envelope', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const recordedBySettle: number[] = [];
    const settleDownstream = tap((e: Envelope) => {
      settle(e, excluded('downstream'));
      recordedBySettle.push(books.settled.length);
    });
    scheduler.run(({ cold, expectObservable }) => {
      const guard = guardPlugin({
        name: 'tricky',
        create: () => map((e) => e),
        timeoutMs: 100,
        context: { scheduler },
      });
      expectObservable(cold('a|', envelopes(books, 1)).pipe(guard, settleDownstream, map(positionOf))).toBe('a|', {
        a: '1',
      });
    });
    expect(recordedBySettle).to.deep.equal([1]);
  });

  it('reports, and otherwise ignores, a settle after the outcome was recorded', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const faults: string[] = [];
    const settlesAgainLater = () =>
      mergeMap((e: Envelope) => {
        settle(e, excluded('first'));
        return timer(3).pipe(
          tap(() => settle(e, excluded('again'))),
          ignoreElements(),
        );
      });
    scheduler.run(({ cold, expectObservable }) => {
      // No completion: the guard would complete (and end the plug-in) once nothing is held.
      expectObservable(cold('a', envelopes(books, 1)).pipe(guarded(scheduler, faults, settlesAgainLater))).toBe('');
    });
    expect(books.summary()).to.deep.equal({ '1': 'excluded:first' });
    expect(faults).to.deep.equal([
      "plug-in tricky: misused an update's ticket: ticket already settled, cannot be settled",
    ]);
  });

  it('drops and reports a value that is not an envelope at all', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const faults: string[] = [];
    const emitsNothingUseful = () => mergeMap((e: Envelope) => [undefined as unknown as Envelope, e]);
    scheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold('a|', envelopes(books, 1)).pipe(guarded(scheduler, faults, emitsNothingUseful))).toBe(
        'a|',
        { a: '1' },
      );
    });
    expect(faults).to.deep.equal([
      'plug-in tricky: passed on something it was not given, or passed an update on twice; dropped',
    ]);
  });

  it("passes the source's failure on", () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const out = cold('a#', envelopes(books, 1)).pipe(guarded(scheduler, [], () => map((e) => e)));
      expectObservable(out).toBe('a#', { a: '1' });
    });
  });

  it('lets go of the source when unsubscribed, also before any envelope came', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('----a|', envelopes(books, 1));
      expectObservable(source.pipe(guarded(scheduler, [], () => map((e) => e))), '^-!').toBe('');
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
  });
});
