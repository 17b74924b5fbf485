import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { EmbeddedDedupeStore } from '../../../adapters/embedded/dedupe-store.js';
import { openStateStore, type StateStore } from '../../../adapters/embedded/state-store.js';
import { tempDir } from '../../helpers/temp.js';
import { answerOf, printed, startChild } from './processes.js';

describe('EmbeddedDedupeStore (LMDB on disk)', () => {
  let dir: string;
  let state: StateStore;
  let now: number;
  const store = () => new EmbeddedDedupeStore(state, { now: () => now });

  beforeEach(() => {
    dir = tempDir('qa-state-');
    state = openStateStore(dir);
    now = 1_000;
  });
  afterEach(async () => {
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leases a new key, refuses a second lease, and reports a committed key', async () => {
    const s = store();
    expect(await s.acquire('k', 't', 100)).to.equal('acquired');
    expect(await s.acquire('k', 't', 100)).to.equal('leased');
    await s.commit('k', 't', 1_000);
    expect(await s.acquire('k', 't', 100)).to.equal('committed');
  });

  it('answers a repeat synchronously, from a read, without writing', async () => {
    const s = store();
    await s.acquire('leased', 't', 100);
    await s.acquire('sent', 't', 100);
    await s.commit('sent', 't', 1_000);
    expect(s.acquire('leased', 'x', 100)).to.equal('leased');
    expect(s.acquire('sent', 'x', 100)).to.equal('committed');
    expect(s.acquire('new', 'x', 100)).to.be.an.instanceOf(Promise);
  });

  it('gives one lease when many ask for the same key at once', async () => {
    const s = store();
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => s.acquire('k', `t${i}`, 1_000)));
    expect(answers.filter((a) => a === 'acquired')).to.have.length(1);
    expect(answers.filter((a) => a === 'leased')).to.have.length(49);
  });

  it('forgets a released lease and an expired one, so the payload can be sent again', async () => {
    const s = store();
    await s.acquire('released', 't', 100);
    await s.release('released', 't');
    expect(await s.acquire('released', 't', 100)).to.equal('acquired');
    await s.acquire('expired', 't', 100);
    now += 100;
    expect(await s.acquire('expired', 't', 100)).to.equal('acquired');
  });

  it("renews and releases only the holder's lease", async () => {
    const s = store();
    await s.acquire('k', 'mine', 100);
    await s.release('k', 'theirs');
    await s.renew('k', 'theirs', 10_000);
    now += 100;
    expect(await s.acquire('k', 'other', 100)).to.equal('acquired');
    await s.renew('k', 'other', 1_000);
    now += 500;
    expect(await s.acquire('k', 'x', 100)).to.equal('leased');
    await s.release('k', 'other');
    expect(await s.acquire('k', 'x', 100)).to.equal('acquired');
  });

  it('remembers a commit for its TTL only; release does not undo a commit', async () => {
    const s = store();
    await s.acquire('k', 't', 100);
    await s.commit('k', 't', 500);
    await s.release('k', 't');
    now += 499;
    expect(await s.acquire('k', 't', 100)).to.equal('committed');
    now += 1;
    expect(await s.acquire('k', 't', 100)).to.equal('acquired');
  });

  it('keeps keys of any length and content apart (long identities, NUL)', async () => {
    const s = store();
    const long = `email:${'a'.repeat(3_000)}@example.com:fingerprint`;
    expect(await s.acquire(long, 't', 1_000)).to.equal('acquired');
    expect(await s.acquire(`${long}x`, 't', 1_000)).to.equal('acquired');
    expect(await s.acquire('a\u0000b', 't', 1_000)).to.equal('acquired');
    expect(await s.acquire('a\u0000c', 't', 1_000)).to.equal('acquired');
    await s.commit(long, 't', 1_000);
    expect(await s.acquire(long, 'u', 1_000)).to.equal('committed');
    expect(await s.acquire('a\u0000b', 'u', 1_000)).to.equal('leased');
  });

  it('keeps committed marks across a close and reopen; a lease lapses after its time, as in Redis', async () => {
    const s = store();
    await s.acquire('sent', 't', 100);
    await s.commit('sent', 't', 60_000);
    await s.acquire('in-flight', 't', 100);
    await state.close();

    state = openStateStore(dir);
    const reopened = store();
    expect(await reopened.acquire('sent', 'u', 100)).to.equal('committed');
    // A crashed process's lease is not cleared on open (another live process may hold it): it lapses.
    expect(await reopened.acquire('in-flight', 'u', 100)).to.equal('leased');
    now += 100;
    expect(await reopened.acquire('in-flight', 'u', 100)).to.equal('acquired');
  });

  it('removes expired marks as it writes, oldest first, so it holds about what is live', async () => {
    const s = store();
    for (let i = 0; i < 250; i += 1) await s.commit(`old-${i}`, 't', 1_000);
    await s.commit('live', 't', 10_000);
    expect(s.size).to.equal(251);
    now += 1_000;
    // Each write sweeps up to 100 expired marks.
    await s.acquire('new-1', 't', 10_000);
    expect(s.size).to.equal(251 - 100 + 1);
    expect(await s.sweep()).to.equal(150);
    expect(s.size).to.equal(2);
    expect(await s.acquire('live', 'u', 100)).to.equal('committed');
    expect(await s.acquire('old-3', 'u', 100)).to.equal('acquired');
  });

  it('does not sweep a mark that was renewed or committed again after it was first due', async () => {
    const s = store();
    await s.acquire('k', 't', 100);
    now += 50;
    await s.renew('k', 't', 1_000);
    await s.acquire('c', 't', 100);
    await s.commit('c', 't', 1_000);
    now += 100;
    expect(await s.sweep()).to.equal(0);
    expect(await s.acquire('k', 'u', 100)).to.equal('leased');
    expect(await s.acquire('c', 'u', 100)).to.equal('committed');
    now += 1_000;
    expect(await s.sweep()).to.equal(2);
    expect(s.size).to.equal(0);
  });

  it('leases and commits without a transaction while nothing is due, in one with the sweep once it is', async () => {
    // A transaction's callback costs the event loop several wake-ups a write; plain and conditional writes one.
    const s = store();
    const transaction = state.dedupe.transaction.bind(state.dedupe);
    let transactions = 0;
    state.dedupe.transaction = ((...args: Parameters<typeof transaction>) => {
      transactions += 1;
      return transaction(...args);
    }) as typeof state.dedupe.transaction;
    const indexLines = () => [...state.dedupeExpiry.getKeys()];
    // Opened with nothing stored, so nothing due: even its first write takes no transaction.
    expect(await s.acquire('lapsing', 't', 100)).to.equal('acquired');
    expect(transactions).to.equal(0);
    // Two asking for one key at once: the condition (nothing stored yet) holds for the first only, and
    // nothing of the second's block is written (its own lease length would show in the index).
    expect(await Promise.all([s.acquire('a', 't', 500), s.acquire('a', 'u', 700)])).to.deep.equal([
      'acquired',
      'leased',
    ]);
    expect(state.dedupe.get('a')).to.deep.equal({ state: 'leased', token: 't', expiresAt: 1_500 });
    expect(indexLines()).to.deep.equal([
      [1_100, 'lapsing'],
      [1_500, 'a'],
    ]);
    await s.commit('a', 't', 1_000);
    expect(transactions).to.equal(0);
    // The mark and its index line changed together: the lease's line is gone, the commit's is there.
    expect(indexLines()).to.deep.equal([
      [1_100, 'lapsing'],
      [2_000, 'a'],
    ]);
    now += 100; // the lapsing lease is due: this commit sweeps it, in one transaction with its writes
    await s.commit('b', 't', 1_000);
    expect(transactions).to.equal(1);
    expect(indexLines()).to.deep.equal([
      [2_000, 'a'],
      [2_100, 'b'],
    ]);
    expect(s.size).to.equal(2);
    expect(await s.acquire('a', 'u', 100)).to.equal('committed');
    expect(await s.acquire('b', 'u', 100)).to.equal('committed');
  });

  it('treats an unreadable stored mark as no mark', async () => {
    await state.dedupe.put('k', { state: 'mystery' });
    await state.dedupe.put('reads-as-undefined', undefined);
    const s = store();
    expect(await s.acquire('k', 't', 100)).to.equal('acquired'); // its first write: nothing due after it
    // Stored, though it reads as nothing: a write on the condition that nothing is stored would fail
    // for ever; the transaction takes it.
    expect(await s.acquire('reads-as-undefined', 't', 100)).to.equal('acquired');
    expect(await s.acquire('reads-as-undefined', 'u', 100)).to.equal('leased');
  });

  it('gives each key to one process when two processes race for the same keys', async function () {
    this.timeout(30_000);
    const keys = 200;
    const child = startChild(dir, 'acquire-race', keys);
    const answer = answerOf(child);
    await printed(child, 'ready');
    // Real time here: the two processes must agree on what has expired.
    const s = new EmbeddedDedupeStore(state);
    child.stdin?.end('go\n');
    const mine: string[] = [];
    for (let i = 0; i < keys; i += 1) mine.push(await s.acquire(`race-${i}`, 'parent', 60_000));
    const theirs = (await answer) as string[];
    expect(theirs).to.have.length(keys);
    for (let i = 0; i < keys; i += 1) {
      expect(
        [mine[i], theirs[i]].filter((a) => a === 'acquired'),
        `race-${i}`,
      ).to.have.length(1);
    }
  });
});
