import { expect } from 'chai';
import { of, Subscription } from 'rxjs';
import { mergeHolding, type LetGo } from '../../../operators/model/holds.js';

describe('mergeHolding', () => {
  it('completes once the source did and every hold was let go; letting go twice counts once', () => {
    const letGos: LetGo[] = [];
    const running = [new Subscription(), new Subscription()];
    const events: string[] = [];
    of(0, 1)
      .pipe(mergeHolding((value, holds) => (letGos.push(holds.take(running[value]!)), of(value))))
      .subscribe({ next: (value) => events.push(`next ${value}`), complete: () => events.push('complete') });
    expect(events).to.deep.equal(['next 0', 'next 1']);
    letGos[0]!();
    letGos[0]!();
    // The first hold let go twice: the second still holds the stream open.
    expect(events).to.deep.equal(['next 0', 'next 1']);
    expect(running.map((s) => s.closed)).to.deep.equal([true, false]);
    letGos[1]!();
    expect(events).to.deep.equal(['next 0', 'next 1', 'complete']);
    expect(running[1]!.closed).to.equal(true);
  });
});
