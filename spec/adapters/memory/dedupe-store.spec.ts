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
    expect(s.size).to.equal(3);
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

  it('at maxEntries forgets an expired lease before a live one', () => {
    const s = store(2);
    s.acquire('expired', 't', 100);
    s.acquire('live', 't', 10_000);
    now += 100;
    s.acquire('new', 't', 10_000);
    expect(s.size).to.equal(2);
    expect(s.acquire('live', 'u', 100)).to.equal('leased');
    expect(s.acquire('new', 'u', 100)).to.equal('leased');
  });

  it('counts a lease as expired from its expiry time on, also when making room', () => {
    const s = store(1);
    s.acquire('a', 't', 100);
    now += 99;
    // Full, and the other entry is still live: both are kept, over the bound, rather than one lost in flight.
    s.acquire('b', 't', 100);
    expect(s.size).to.equal(2);
    expect(s.acquire('a', 'u', 100)).to.equal('leased');
    now += 1;
    s.acquire('c', 't', 100);
    // At its expiry time 'a' goes; 'b' (acquired a millisecond later) stays live.
    expect(s.size).to.equal(2);
    expect(s.acquire('b', 'u', 100)).to.equal('leased');
  });

  it('makes room by forgetting only as many commits as it must', () => {
    const s = store(3);
    s.acquire('lease', 't', 10_000);
    for (const key of ['c1', 'c2']) {
      s.acquire(key, 't', 100);
      s.commit(key, 't', 10_000);
    }
    s.acquire('c3', 't', 100);
    expect(s.size).to.equal(3);
    expect(s.acquire('c2', 'u', 100)).to.equal('committed');
    expect(s.acquire('c1', 'u', 100)).to.equal('acquired');
  });
});
