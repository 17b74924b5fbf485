import { expect } from 'chai';
import { map, type Observable } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { laneMap } from '../../../operators/model/lanes.js';
import { testScheduler } from '../../helpers/marbles.js';

/** Values are "<key><n>"; each takes the time its marble says. */
const keyOf = (value: string): string => value[0]!;

/** Runs `output` in virtual time; answers [frame, value] for each value and 'done' at completion. */
const timeline = (scheduler: TestScheduler, output: Observable<string>): Array<[number, string]> => {
  const seen: Array<[number, string]> = [];
  output.subscribe({
    next: (v) => seen.push([scheduler.now(), v]),
    complete: () => seen.push([scheduler.now(), 'done']),
  });
  scheduler.flush();
  return seen;
};

describe('laneMap', () => {
  it('runs different keys side by side and the same key one after another, in arrival order', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold }) => {
      const work = (value: string): Observable<string> => cold('---(x|)', { x: value });
      // a1 at 0; b1 and a2 at 1, while a1 is still running (until 3): a2 must wait for it, b1 need not.
      const source = cold('a(bc)|', { a: 'a1', b: 'b1', c: 'a2' });
      expect(timeline(scheduler, source.pipe(laneMap(keyOf, work, 8)))).to.deep.equal([
        [3, 'a1'],
        [4, 'b1'],
        [6, 'a2'],
        [6, 'done'],
      ]);
    });
  });

  it('never lets a later value of a key overtake an earlier, slower one', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold }) => {
      const durations: Record<string, string> = { a1: '-----(x|)', a2: '-(x|)', a3: '(x|)' };
      const source = cold('abc|', { a: 'a1', b: 'a2', c: 'a3' });
      expect(timeline(scheduler, source.pipe(laneMap(keyOf, (v) => cold(durations[v]!, { x: v }), 8)))).to.deep.equal([
        [5, 'a1'],
        [6, 'a2'],
        [6, 'a3'],
        [6, 'done'],
      ]);
    });
  });

  it('keeps at most `concurrency` in flight, starting the oldest ready value first', () => {
    const scheduler = testScheduler();
    scheduler.run(({ cold }) => {
      const source = cold('(abcd|)', { a: 'a1', b: 'a2', c: 'b1', d: 'c1' });
      // Two slots: a1 and b1 first (a2 must wait for a1), then a2 and c1.
      expect(timeline(scheduler, source.pipe(laneMap(keyOf, (v) => cold('--(x|)', { x: v }), 2)))).to.deep.equal([
        [2, 'a1'],
        [2, 'b1'],
        [4, 'a2'],
        [4, 'c1'],
        [4, 'done'],
      ]);
    });
  });

  it('handles work that completes synchronously', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('(abc|)', { a: 'a1', b: 'a2', c: 'b1' });
      expectObservable(source.pipe(laneMap(keyOf, (v) => [v.toUpperCase()], 1))).toBe('(abc|)', {
        a: 'A1',
        b: 'A2',
        c: 'B1',
      });
    });
  });

  it('completes only after the last lane is done, and passes errors through', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: 'a1' });
      expectObservable(source.pipe(laneMap(keyOf, (v) => cold('----(x|)', { x: v }), 1))).toBe('----(x|)', { x: 'a1' });
      const failing = cold('a', { a: 'a1' });
      expectObservable(failing.pipe(laneMap(keyOf, () => cold('-#', undefined, new Error('boom')), 1))).toBe(
        '-#',
        undefined,
        new Error('boom'),
      );
      expectObservable(cold<string>('--#', undefined, new Error('source')).pipe(laneMap(keyOf, (v) => [v], 1))).toBe(
        '--#',
        undefined,
        new Error('source'),
      );
    });
  });

  it('unsubscribes from the source and from work in flight', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const work = cold('------x|');
      const source = cold('a-----', { a: 'a1' });
      expectObservable(
        source.pipe(
          laneMap(keyOf, () => work, 1),
          map(String),
        ),
        '^--!',
      ).toBe('---');
      expectSubscriptions(source.subscriptions).toBe('^--!');
      expectSubscriptions(work.subscriptions).toBe('^--!');
    });
  });

  it('completes at once on an empty source', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold<string>('|').pipe(laneMap(keyOf, (v) => [v], 1))).toBe('|');
    });
  });
});
