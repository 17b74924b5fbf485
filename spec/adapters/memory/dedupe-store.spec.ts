import { expect } from 'chai';
import { MemoryDedupeStore } from '../../../adapters/memory/dedupe-store.js';

describe('MemoryDedupeStore', () => {
  let now = 0;
  const store = (maxEntries?: number) =>
    new MemoryDedupeStore({ now: () => now, ...(maxEntries ? { maxEntries } : {}) });
  beforeEach(() => (now = 1_000));

  it('leases a new key, refuses a second lease, and reports a committed key', () => {
    const s = store();
    expect(s.acquire('k', 't', 100)).to.equal('acquired');
    expect(s.acquire('k', 't', 100)).to.equal('leased');
    s.commit('k', 't', 1_000);
    expect(s.acquire('k', 't', 100)).to.equal('committed');
  });

  it('forgets a released lease and an expired one, so the payload can be sent again', () => {
    const s = store();
    s.acquire('released', 't', 100);
    s.release('released', 't');
    expect(s.acquire('released', 't', 100)).to.equal('acquired');
    s.acquire('expired', 't', 100);
    now += 100;
    expect(s.acquire('expired', 't', 100)).to.equal('acquired');
  });

  it("renews and releases only the holder's lease", () => {
    const s = store();
    s.acquire('k', 'mine', 100);
    s.release('k', 'theirs');
    s.renew('k', 'theirs', 10_000);
    now += 100;
    expect(s.acquire('k', 'other', 100)).to.equal('acquired');
    s.renew('k', 'other', 1_000);
    now += 500;
    expect(s.acquire('k', 'x', 100)).to.equal('leased');
    s.release('k', 'other');
    expect(s.acquire('k', 'x', 100)).to.equal('acquired');
  });

  it('remembers a commit for its TTL only; release does not undo a commit', () => {
    const s = store();
    s.acquire('k', 't', 100);
    s.commit('k', 't', 500);
    s.release('k', 't');
    now += 499;
    expect(s.acquire('k', 't', 100)).to.equal('committed');
    now += 1;
    expect(s.acquire('k', 't', 100)).to.equal('acquired');
  });

  it('stays within maxEntries by forgetting the oldest commits, never a lease in flight', () => {
    const s = store(3);
    s.acquire('lease', 't', 10_000);
    for (const key of ['c1', 'c2', 'c3', 'c4']) {
      s.acquire(key, 't', 100);
      s.commit(key, 't', 10_000);
    }
    // Three marks (c1 forgotten) and the lease.
    expect(s.size).to.equal(4);
    expect(s.acquire('lease', 't', 100)).to.equal('leased');
    expect(s.acquire('c4', 't', 100)).to.equal('committed');
    expect(s.acquire('c1', 't', 100)).to.equal('acquired');
  });

  it('leaves a live lease alone when someone else releases or renews it, and ignores unknown keys', () => {
    const s = store();
    s.acquire('k', 'mine', 100);
    s.release('k', 'theirs');
    expect(s.acquire('k', 'x', 100)).to.equal('leased');
    s.renew('k', 'theirs', 10_000);
    now += 100;
    expect(s.acquire('k', 'x', 100)).to.equal('acquired');
    expect(() => s.release('unknown', 't')).to.not.throw();
    expect(() => s.renew('unknown', 't', 100)).to.not.throw();
    expect(s.acquire('unknown', 't', 100)).to.equal('acquired');
  });

  it('neither renews nor releases a commit, whatever the token', () => {
    const s = store();
    s.acquire('k', 't', 100);
    s.commit('k', 't', 500);
    s.renew('k', 't', 10_000);
    s.release('k', 't');
    expect(s.acquire('k', 'u', 100)).to.equal('committed');
    now += 500;
    expect(s.acquire('k', 'u', 100)).to.equal('acquired');
  });

  it('forgets a lapsed lease from its expiry time on, not a millisecond before', () => {
    const s = store();
    s.acquire('a', 't', 100);
    now += 99;
    expect(s.acquire('a', 'u', 100)).to.equal('leased');
    now += 1;
    expect(s.acquire('a', 'u', 100)).to.equal('acquired');
    expect(s.size).to.equal(1);
  });

  it('makes room by forgetting the least recently marked payload, however often it was looked up', () => {
    const s = store(2);
    for (const key of ['c1', 'c2']) s.commit(key, 't', 10_000);
    // A lookup is not a use: c1 stays the oldest mark.
    expect(s.acquire('c1', 'u', 100)).to.equal('committed');
    s.commit('c3', 't', 10_000);
    expect(s.size).to.equal(2);
    expect(s.acquire('c2', 'u', 100)).to.equal('committed');
    expect(s.acquire('c3', 'u', 100)).to.equal('committed');
    expect(s.acquire('c1', 'u', 100)).to.equal('acquired');
  });

  it('counts leases apart from marks: a full store still leases, and a commit turns a lease into a mark', () => {
    const s = store(1);
    s.commit('old', 't', 10_000);
    expect(s.acquire('k', 't', 100)).to.equal('acquired');
    expect(s.size).to.equal(2);
    s.commit('k', 't', 10_000);
    expect(s.size).to.equal(1);
    expect(s.acquire('k', 'u', 100)).to.equal('committed');
    expect(s.acquire('old', 'u', 100)).to.equal('acquired');
  });
});
