import { expect } from 'chai';
import { concat, defer, of, Subject, tap } from 'rxjs';
import { mergeHolding, type LetGo, type Soon } from '../../../operators/model/holds.js';

describe('mergeHolding', () => {
  it('completes once the source did and every hold was let go; letting go twice counts once', () => {
    const letGos: LetGo[] = [];
    const events: string[] = [];
    of(0, 1)
      .pipe(mergeHolding((value, holds) => (letGos.push(holds.take()), [value])))
      .subscribe({ next: (value) => events.push(`next ${value}`), complete: () => events.push('complete') });
    expect(events).to.deep.equal(['next 0', 'next 1']);
    letGos[0]!();
    letGos[0]!();
    // The first hold let go twice: the second still holds the stream open.
    expect(events).to.deep.equal(['next 0', 'next 1']);
    letGos[1]!();
    expect(events).to.deep.equal(['next 0', 'next 1', 'complete']);
  });

  it('does not complete while a step is under way, even when its first value lets the last hold go', async () => {
    const events: string[] = [];
    const later = new Subject<string>();
    of(0)
      .pipe(
        mergeHolding((_, holds): Soon<string> => {
          const letGo = holds.take();
          // After a store's answer (the source has completed by then): a first value that lets the hold
          // go as it passes, and a second that comes later.
          return Promise.resolve(concat(of('a').pipe(tap(() => letGo())), later));
        }),
      )
      .subscribe({ next: (value) => events.push(value), complete: () => events.push('complete') });
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).to.deep.equal(['a']);
    later.next('b');
    later.complete();
    expect(events).to.deep.equal(['a', 'b', 'complete']);
  });
});

describe('mergeHolding: what a step gives', () => {
  it('passes arrays on at once, waits for promises (of more of the same), and completes only after the last', async () => {
    const events: string[] = [];
    let answer: (value: number[]) => void = () => {};
    const later = new Promise<number[]>((resolve) => {
      answer = resolve;
    });
    const done = new Promise<void>((resolve) =>
      of(1, 2, 3)
        .pipe(
          mergeHolding((value): Soon<number> => {
            if (value === 1) return [10];
            if (value === 2) return Promise.resolve(later);
            return Promise.resolve([30]).then((): Soon<number> => of(31, 32));
          }),
        )
        .subscribe({
          next: (value) => events.push(`next ${value}`),
          complete: () => {
            events.push('complete');
            resolve();
          },
        }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    // The promise of 2 is still unanswered: no completion yet.
    expect(events).to.deep.equal(['next 10', 'next 31', 'next 32']);
    answer([20]);
    await done;
    expect(events).to.deep.equal(['next 10', 'next 31', 'next 32', 'next 20', 'complete']);
  });

  it('starts nothing a promise answers after the subscription ended, and fails with a promise that rejects', async () => {
    let started = 0;
    const subscription = of(1)
      .pipe(
        mergeHolding(
          (): Soon<number> =>
            Promise.resolve(
              defer(() => {
                started += 1;
                return of(1);
              }),
            ),
        ),
      )
      .subscribe();
    subscription.unsubscribe();
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).to.equal(0);

    const failure = await new Promise<unknown>((resolve) =>
      of(1)
        .pipe(mergeHolding((): Soon<number> => Promise.reject(new Error('store down'))))
        .subscribe({ error: resolve }),
    );
    expect((failure as Error).message).to.equal('store down');
  });
});
