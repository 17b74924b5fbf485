import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { EmbeddedHistory } from '../../../adapters/embedded/history.js';
import { openStateStore, type StateStore } from '../../../adapters/embedded/state-store.js';
import { tempDir } from '../../helpers/temp.js';
import { answerOf, startChild } from './processes.js';

interface Run {
  readonly from: string;
  readonly i: number;
}
const isRun = (value: unknown): value is Run =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Run).from === 'string' &&
  typeof (value as Run).i === 'number';

describe('EmbeddedHistory (LMDB on disk)', () => {
  let dir: string;
  let state: StateStore;
  const history = (size: number) => new EmbeddedHistory<Run>(state, { size, isEntry: isRun });

  beforeEach(() => {
    dir = tempDir('qa-state-');
    state = openStateStore(dir);
  });
  afterEach(async () => {
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the last `size` entries, newest first', async () => {
    const h = history(3);
    expect(h.size).to.equal(3);
    expect(h.list()).to.deep.equal([]);
    for (let i = 1; i <= 5; i += 1) await h.add({ from: 'test', i });
    expect(h.list().map((r) => r.i)).to.deep.equal([5, 4, 3]);
    expect(state.history.getCount()).to.equal(3);
  });

  it('keeps every entry added at once, in the order added', async () => {
    const h = history(100);
    await Promise.all(Array.from({ length: 20 }, (_, i) => h.add({ from: 'test', i })));
    expect(h.list().map((r) => r.i)).to.deep.equal(Array.from({ length: 20 }, (_, i) => 19 - i));
  });

  it('adds a batch in one transaction, oldest first, trimmed to its size', async () => {
    const h = history(4);
    await h.add({ from: 'test', i: 0 });
    await h.addAll([1, 2, 3, 4, 5].map((i) => ({ from: 'test', i })));
    await h.addAll([]);
    expect(h.list().map((r) => r.i)).to.deep.equal([5, 4, 3, 2]);
    expect(state.history.getCount()).to.equal(4);
  });

  it('trims to a lowered size at the next entry', async () => {
    for (let i = 1; i <= 10; i += 1) await history(10).add({ from: 'test', i });
    const smaller = history(4);
    await smaller.add({ from: 'test', i: 11 });
    expect(smaller.list().map((r) => r.i)).to.deep.equal([11, 10, 9, 8]);
    expect(state.history.getCount()).to.equal(4);
  });

  it('leaves out what does not read back as an entry', async () => {
    const h = history(10);
    await h.add({ from: 'test', i: 1 });
    await state.history.put(2, { something: 'else' });
    await h.add({ from: 'test', i: 3 });
    expect(h.list().map((r) => r.i)).to.deep.equal([3, 1]);
  });

  it('refuses a size that is not a positive integer', () => {
    expect(() => history(0)).to.throw('embedded history: size must be a positive integer, got 0');
  });

  it('keeps the history across a close and reopen', async () => {
    for (let i = 1; i <= 3; i += 1) await history(10).add({ from: 'test', i });
    await state.close();
    state = openStateStore(dir);
    expect(
      history(10)
        .list()
        .map((r) => r.i),
    ).to.deep.equal([3, 2, 1]);
  });

  it('is read by another process while this one has it open, and sees what that process adds', async function () {
    this.timeout(30_000);
    const h = history(100);
    for (let i = 1; i <= 3; i += 1) await h.add({ from: 'parent', i });
    const seen = await answerOf(startChild(dir, 'history-list'));
    expect(seen).to.deep.equal([3, 2, 1].map((i) => ({ from: 'parent', i })));
    await answerOf(startChild(dir, 'history-add', 2));
    await h.add({ from: 'parent', i: 4 });
    expect(h.list().map((r) => `${r.from} ${r.i}`)).to.deep.equal([
      'parent 4',
      'child 1',
      'child 0',
      'parent 3',
      'parent 2',
      'parent 1',
    ]);
  });

  it('is seen by a second open of the same directory in this process', async () => {
    await history(10).add({ from: 'first', i: 1 });
    const second = openStateStore(dir);
    try {
      const other = new EmbeddedHistory<Run>(second, { size: 10, isEntry: isRun });
      expect(other.list()).to.deep.equal([{ from: 'first', i: 1 }]);
    } finally {
      await second.close();
    }
    // Closing the second handle leaves the first one working.
    await history(10).add({ from: 'first', i: 2 });
    expect(history(10).list()).to.have.length(2);
  });
});
