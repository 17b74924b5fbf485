import { expect } from 'chai';
import { defer, NEVER, Subject } from 'rxjs';
import { SlotLine } from '../../../operators/model/slot-line.js';

/** A line whose slots are granted by hand: `grant()` ends the wait of the first in line. */
const handLine = () => {
  let stopping = false;
  const waits: Array<Subject<void>> = [];
  const line = new SlotLine(
    () => {
      const wait = new Subject<void>();
      waits.push(wait);
      return wait;
    },
    () => stopping,
  );
  const grant = (): void => {
    const wait = waits[waits.length - 1]!;
    wait.next();
    wait.complete();
  };
  return { line, waits, grant, stop: () => (stopping = true) };
};

describe('SlotLine', () => {
  it('serves in arrival order, one wait at a time: only the first in line waits for a slot', () => {
    const { line, waits, grant } = handLine();
    const gone: string[] = [];
    for (const name of ['a', 'b', 'c']) line.take().subscribe(() => gone.push(name));
    expect(waits).to.have.length(1);
    grant();
    expect(gone).to.deep.equal(['a']);
    expect(waits).to.have.length(2);
    grant();
    grant();
    expect(gone).to.deep.equal(['a', 'b', 'c']);
    expect(line.isEmpty).to.equal(true);
  });

  it('lets the next go when one leaves the line, but no one once the pipeline is stopping', () => {
    const { line, waits, grant, stop } = handLine();
    const gone: string[] = [];
    const first = line.take().subscribe(() => gone.push('a'));
    const second = line.take().subscribe(() => gone.push('b'));
    line.take().subscribe(() => gone.push('c'));
    // a leaves (its update was released): b is first now, and waits for a slot of its own.
    first.unsubscribe();
    expect(waits).to.have.length(2);
    // The pipeline stops and b is released too: c must not be served in its place, nor a slot asked.
    stop();
    second.unsubscribe();
    expect(waits).to.have.length(2);
    grant();
    expect(gone).to.deep.equal([]);
  });

  it('queues a take made while the first in line starts waiting, instead of serving the first twice', () => {
    const asks: string[] = [];
    const gone: string[] = [];
    let reentered = false;
    const line: SlotLine = new SlotLine(
      () =>
        defer(() => {
          asks.push('ask');
          // Another update arrives while this wait starts (an intake reopening on the same turn).
          if (!reentered) {
            reentered = true;
            line.take().subscribe(() => gone.push('b'));
          }
          return NEVER;
        }),
      () => false,
    );
    line.take().subscribe(() => gone.push('a'));
    expect(asks).to.deep.equal(['ask']);
    expect(gone).to.deep.equal([]);
  });
});
