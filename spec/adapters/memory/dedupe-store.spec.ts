import { expect } from 'chai';
import { MemoryDedupeStore } from '../../../adapters/memory/dedupe-store.js';

describe('MemoryDedupeStore', () => {
  let now = 0;
  const store = (maxEntries?: number) => new MemoryDedupeStore({ now: () => now, ...(maxEntries ? { maxEntries } : {}) });
  beforeEach(() => (now = 1_000));

  it('leases a new key, refuses a second lease, and reports a committed key', () => {
    const s = store();
    expect(s.acquire('k', 100)).to.equal('acquired');
    expect(s.acquire('k', 100)).to.equal('leased');
    s.commit('k', 1_000);
    expect(s.acquire('k', 100)).to.equal('committed');
  });

  it('forgets a released lease and an expired one, so the payload can be sent again', () => {
    const s = store();
    s.acquire('released', 100);
    s.release('released');
    expect(s.acquire('released', 100)).to.equal('acquired');
    s.acquire('expired', 100);
    now += 100;
    expect(s.acquire('expired', 100)).to.equal('acquired');
  });

  it('remembers a commit for its TTL only; release does not undo a commit', () => {
    const s = store();
    s.acquire('k', 100);
    s.commit('k', 500);
    s.release('k');
    now += 499;
    expect(s.acquire('k', 100)).to.equal('committed');
    now += 1;
    expect(s.acquire('k', 100)).to.equal('acquired');
  });

  it('stays within maxEntries by forgetting the oldest commits, never a lease in flight', () => {
    const s = store(3);
    s.acquire('lease', 10_000);
    for (const key of ['c1', 'c2', 'c3', 'c4']) {
      s.acquire(key, 100);
      s.commit(key, 10_000);
    }
    expect(s.size).to.equal(3);
    expect(s.acquire('lease', 100)).to.equal('leased');
    expect(s.acquire('c4', 100)).to.equal('committed');
    expect(s.acquire('c1', 100)).to.equal('acquired');
  });
});
