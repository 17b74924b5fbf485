import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { ExpiryIndex } from '../../../adapters/embedded/expiry-index.js';
import { openStateStore, type StateStore } from '../../../adapters/embedded/state-store.js';
import { tempDir } from '../../helpers/temp.js';

/** Entries are `{ expiresAt }`, as the stores' marks carry theirs. */
const expiresAtOf = (value: unknown): number | undefined => (value as { expiresAt?: number }).expiresAt;

describe('ExpiryIndex (LMDB on disk)', () => {
  let dir: string;
  let state: StateStore;
  beforeEach(() => {
    dir = tempDir('qa-expiry-');
    state = openStateStore(dir);
  });
  afterEach(async () => {
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The index over the real databases, counting the cursors its sweeps walk. */
  const counted = () => {
    const walks = { count: 0 };
    const index = state.dedupeExpiry;
    const watched = new Proxy(index, {
      get: (target, name) => {
        if (name === 'getKeys')
          return (...args: Parameters<typeof index.getKeys>) => {
            walks.count += 1;
            return target.getKeys(...args);
          };
        const value: unknown = Reflect.get(target, name);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    return { walks, expiry: new ExpiryIndex(state.dedupe, watched) };
  };
  const write = (change: () => unknown) => state.dedupe.transaction(change);

  it('skips the sweep of a write while nothing it holds is due, and sweeps once something is', async () => {
    const { walks, expiry } = counted();
    // Opening looked once (nothing stored: nothing due); the put says when the earliest is due.
    expect(walks.count).to.equal(1);
    await write(() => void expiry.put('a', { expiresAt: 1_000 }, 1_000, undefined));
    expect(await write(() => expiry.sweep(10, expiresAtOf))).to.equal(0);
    expect(walks.count).to.equal(1);
    expect(await write(() => expiry.sweep(999, expiresAtOf))).to.equal(0);
    expect(walks.count).to.equal(1);
    // A put due sooner lowers it.
    await write(() => void expiry.put('b', { expiresAt: 500 }, 500, undefined));
    expect(await write(() => expiry.sweep(500, expiresAtOf))).to.equal(1);
    expect(walks.count).to.equal(2);
    expect(await write(() => expiry.sweep(999, expiresAtOf))).to.equal(0);
    expect(walks.count).to.equal(2);
    expect(await write(() => expiry.sweep(1_000, expiresAtOf))).to.equal(1);
    expect(state.dedupe.get('a')).to.equal(undefined);
    // Empty now: nothing to look for until something is put.
    expect(await write(() => expiry.sweep(1e12, expiresAtOf))).to.equal(0);
    expect(walks.count).to.equal(3);
  });

  it('knows at open when the earliest entry stored, by any process, is due', async () => {
    const first = new ExpiryIndex(state.dedupe, state.dedupeExpiry);
    await write(() => {
      void first.put('later', { expiresAt: 900 }, 900, undefined);
      void first.put('sooner', { expiresAt: 400 }, 400, undefined);
    });
    const { walks, expiry } = counted();
    expect([expiry.isDue(399), expiry.isDue(400)]).to.deep.equal([false, true]);
    expect(await write(() => expiry.sweep(399, expiresAtOf))).to.equal(0);
    expect(walks.count).to.equal(1);
    expect(await write(() => expiry.sweep(400, expiresAtOf))).to.equal(1);
    // A first line that is not an index key (written by something else) is due at once: the first
    // write's sweep drops it.
    await state.dedupeExpiry.remove([900, 'later']);
    await state.dedupeExpiry.put('not an index key', null);
    expect(new ExpiryIndex(state.dedupe, state.dedupeExpiry).isDue(0)).to.equal(true);
  });

  it('looks again at the next write after a full batch, and sweepAll finds what another process put', async () => {
    const { walks, expiry } = counted();
    await write(() => {
      for (let i = 0; i < 5; i += 1) void expiry.put(`k${i}`, { expiresAt: 100 }, 100, undefined);
    });
    expect(await write(() => expiry.sweep(100, expiresAtOf, 2))).to.equal(2);
    expect(await write(() => expiry.sweep(100, expiresAtOf, 2))).to.equal(2);
    expect(await write(() => expiry.sweep(100, expiresAtOf, 2))).to.equal(1);
    // Opening's look, and one a sweep.
    expect(walks.count).to.equal(4);
    // Another index on the same databases (another process) puts an entry due sooner than this one knows of.
    await write(() => void expiry.put('late', { expiresAt: 5_000 }, 5_000, undefined));
    expect(await write(() => expiry.sweep(200, expiresAtOf))).to.equal(0);
    const other = new ExpiryIndex(state.dedupe, state.dedupeExpiry);
    await write(() => void other.put('theirs', { expiresAt: 300 }, 300, undefined));
    expect(await write(() => expiry.sweep(400, expiresAtOf))).to.equal(0);
    expect(await write(() => expiry.sweepAll(400, expiresAtOf))).to.equal(1);
    expect(state.dedupe.get('theirs')).to.equal(undefined);
  });
});
