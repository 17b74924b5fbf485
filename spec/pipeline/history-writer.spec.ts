import { expect } from 'chai';
import { MemoryHistory } from '../../adapters/memory/history.js';
import type { Settlement } from '../../operators/model/ledger.js';
import { delivered, excluded, type Outcome, Reasons } from '../../operators/model/outcome.js';
import { rmSync } from 'node:fs';
import { Subject } from 'rxjs';
import { EmbeddedHistory } from '../../adapters/embedded/history.js';
import { forgetInState } from '../../adapters/embedded/forget-person.js';
import { openStateStore } from '../../adapters/embedded/state-store.js';
import { HistoryLine, type RunEntry } from '../../pipeline/history.js';
import { HistoryWriter, recordHistory } from '../../pipeline/history-writer.js';
import { runMatches, runsTable } from '../../pipeline/console/pages.js';
import { tempDir } from '../helpers/temp.js';

const entry = (n: number, outcome: Outcome = delivered(202, 1)): Settlement => ({
  outcome,
  origin: { source: 'ws', position: String(n) },
  at: Date.UTC(2026, 10, 30, 0, 0, n),
});
const notQualified = (n: number) => entry(n, excluded(Reasons.notQualified, 'in none'));
/** As `entry`, for a person (`ann` names `email:ann@example.com`). */
const of = (person: string, settlement: Settlement): Settlement => ({
  ...settlement,
  identity: { namespace: 'Email', target: 'email', id: `${person}@example.com` },
});
const nameOf = async (identityKey: string) => `hash(${identityKey})`;

/** A store that records each write's batch and answers when told to. */
const slowStore = () => {
  const batches: number[][] = [];
  const answers: Array<() => void> = [];
  return {
    batches,
    answerNext: () => answers.shift()!(),
    addAll: (entries: readonly RunEntry[]) => {
      batches.push(entries.map((e) => Number(e.position)));
      return new Promise<void>((resolve) => answers.push(resolve));
    },
  };
};
/** Gathering for one turn of the event loop, as the tests of batching below need. */
const aTurn = { gatherMs: 0 };
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('HistoryWriter', () => {
  it('writes what settled in one turn in one batch, in order, and says when it is written', async () => {
    const store = new MemoryHistory<RunEntry>(10);
    const batches: number[] = [];
    const writer = new HistoryWriter(
      { addAll: (entries) => (batches.push(entries.length), store.addAll(entries)) },
      () => {},
      aTurn,
    );
    const write = writer.add(entry(1));
    expect(write).to.be.instanceOf(Promise);
    expect(writer.add(entry(2))).to.equal(undefined);
    expect(writer.add(entry(3))).to.equal(undefined);
    expect(store.list()).to.deep.equal([]);
    await write;
    expect(batches).to.deep.equal([3]);
    expect(store.list().map((e) => e.position)).to.deep.equal(['3', '2', '1']);
  });

  it('gathers the next batch while a write is under way, one write at a time', async () => {
    const store = slowStore();
    const writer = new HistoryWriter(store, () => {}, aTurn);
    const write = writer.add(entry(1));
    await nextTurn();
    expect(store.batches).to.deep.equal([[1]]);
    expect(writer.add(entry(2))).to.equal(undefined);
    await nextTurn();
    expect(writer.add(entry(3))).to.equal(undefined);
    expect(store.batches).to.have.length(1);
    store.answerNext();
    await nextTurn();
    expect(store.batches).to.deep.equal([[1], [2, 3]]);
    let written = false;
    void write!.then(() => (written = true));
    await nextTurn();
    expect(written).to.equal(false);
    store.answerNext();
    await write;
    expect(writer.add(entry(4))).to.be.instanceOf(Promise);
  });

  it("lists every outcome but a batch's not-qualified updates, counted in one entry, the last of them", async () => {
    const store = new MemoryHistory<RunEntry>(10);
    const writer = new HistoryWriter(store, () => {}, aTurn);
    const write = writer.add(notQualified(1));
    void writer.add(entry(2, excluded(Reasons.missingIdentity, 'no email')));
    void writer.add(notQualified(3));
    void writer.add(entry(4));
    void writer.add(notQualified(5));
    await write;
    await writer.add(notQualified(6));
    const listed = store.list().map(({ position, outcome, reason, count }) => ({ position, outcome, reason, count }));
    expect(listed).to.deep.equal([
      { position: '6', outcome: 'excluded', reason: 'not-qualified', count: undefined },
      { position: '5', outcome: 'excluded', reason: 'not-qualified', count: 3 },
      { position: '4', outcome: 'delivered', reason: undefined, count: undefined },
      { position: '2', outcome: 'excluded', reason: 'missing-identity', count: undefined },
    ]);
  });

  it('tries a failed write once more, then reports how many rows of which outcomes were lost, and goes on', async () => {
    const errors: unknown[] = [];
    const failures = [true, false, true, true];
    const written: string[] = [];
    const writer = new HistoryWriter(
      {
        addAll: (entries) => {
          if (failures.shift()) throw new Error('disk full');
          written.push(...entries.map((e) => e.position));
        },
      },
      (error) => errors.push(error),
      aTurn,
    );
    // Fails, then the second try takes it: nothing lost, nothing said.
    await writer.add(entry(1));
    expect(written).to.deep.equal(['1']);
    expect(errors).to.deep.equal([]);
    // Fails twice: lost, and said how much.
    const write = writer.add(entry(2));
    void writer.add(entry(3, excluded(Reasons.missingIdentity, 'no email')));
    await write;
    expect(errors.map((e) => (e as Error).message)).to.deep.equal([
      '2 row(s) (positions 2, 3: delivered 1, excluded 1) not written to the run history: disk full',
    ]);
    await writer.add(entry(4));
    expect(written).to.deep.equal(['1', '4']);
  });

  it('goes on writing when the error report itself throws', async () => {
    const written: string[] = [];
    let fail = true;
    const writer = new HistoryWriter(
      {
        addAll: (entries) => {
          if (fail) throw new Error('store down');
          written.push(...entries.map((e) => e.position));
        },
      },
      () => {
        throw new Error('the logger failed too');
      },
      aTurn,
    );
    await writer.add(entry(1));
    fail = false;
    await writer.add(entry(2));
    expect(written).to.deep.equal(['2']);
  });

  it('puts a counted entry where its last update settled among the others, keeping the order they came in', async () => {
    const store = new MemoryHistory<RunEntry>(10);
    const writer = new HistoryWriter(store, () => {}, aTurn);
    const write = writer.add(notQualified(1));
    void writer.add(notQualified(2));
    void writer.add(entry(3));
    await write;
    // Newest first: 3, then the counted entry standing for 1 and 2.
    expect(store.list().map(({ position, count }) => ({ position, count }))).to.deep.equal([
      { position: '3', count: undefined },
      { position: '2', count: 2 },
    ]);
  });

  it("names each entry's person with nameOf, a counted entry its last update's; an unnamed entry is left out, said so", async () => {
    const store = new MemoryHistory<RunEntry>(10);
    const errors: unknown[] = [];
    const writer = new HistoryWriter(store, (error) => errors.push(error), {
      ...aTurn,
      nameOf: async (key) => {
        if (key.startsWith('email:eve')) throw new Error('no hashing key');
        return nameOf(key);
      },
    });
    const write = writer.add(of('ann', notQualified(1)));
    void writer.add(of('bob', entry(2)));
    void writer.add(of('eve', entry(3)));
    void writer.add(of('cat', notQualified(4)));
    await write;
    expect(store.list().map(({ position, person, count }) => ({ position, person, count }))).to.deep.equal([
      { position: '4', person: 'hash(email:cat@example.com)', count: 2 },
      { position: '2', person: 'hash(email:bob@example.com)', count: undefined },
    ]);
    expect(errors.map((e) => (e as Error).message)).to.deep.equal(['no hashing key']);
  });

  it('gathers outcomes settled over several turns for gatherMs into one write; flush() writes them at once', async () => {
    const store = slowStore();
    const writer = new HistoryWriter(store, () => {}, { gatherMs: 3_600_000 });
    const write = writer.add(entry(1));
    await nextTurn();
    expect(writer.add(entry(2))).to.equal(undefined);
    await nextTurn();
    expect(store.batches).to.deep.equal([]);
    writer.flush();
    await nextTurn();
    expect(store.batches).to.deep.equal([[1, 2]]);
    store.answerNext();
    await write;
  });

  it('writes when gatherMs is over, and a batch grown to maxBatch without waiting', async () => {
    const timed = slowStore();
    const gathering = new HistoryWriter(timed, () => {}, { gatherMs: 5 });
    const write = gathering.add(entry(1));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(timed.batches).to.deep.equal([[1]]);
    timed.answerNext();
    await write;

    const full = slowStore();
    const writer = new HistoryWriter(full, () => {}, { gatherMs: 3_600_000, maxBatch: 3 });
    const batch = writer.add(entry(1));
    void writer.add(notQualified(2));
    void writer.add(entry(3));
    await nextTurn();
    // A counted not-qualified update holds no entry of its own while it gathers.
    expect(full.batches).to.deep.equal([]);
    void writer.add(entry(4));
    await nextTurn();
    expect(full.batches).to.deep.equal([[1, 2, 3, 4]]);
    full.answerNext();
    await batch;

    // Full with its first entry: no gathering at all.
    const single = slowStore();
    const one = new HistoryWriter(single, () => {}, { gatherMs: 3_600_000, maxBatch: 1 });
    const written = one.add(entry(1));
    await nextTurn();
    expect(single.batches).to.deep.equal([[1]]);
    single.answerNext();
    await written;
  });

  it('recordHistory: forget finds the rows it wrote (a counted one too), and the console shows and filters a counted row', async () => {
    const dir = tempDir('qa-history-writer-');
    const state = openStateStore(dir);
    try {
      const history = new EmbeddedHistory<HistoryLine>(state, { size: 100, isEntry: HistoryLine.is });
      const settlements$ = new Subject<Settlement>();
      // Gathering for longer than the test may take: \`settled()\` must write what gathered at once.
      const recorder = recordHistory(settlements$, history, (error) => expect.fail(String(error)), {
        nameOf,
        gatherMs: 3_600_000,
      });
      for (const [n, person] of ['bob', 'ann', 'bob', 'ann'].entries())
        settlements$.next(of(person, notQualified(n + 1)));
      settlements$.next(of('bob', entry(5)));
      await recorder.settled();
      const lines = history.list();
      // Newest first: the delivered 5, then the counted entry standing for 1 to 4, where they settled.
      expect(lines.map((line) => ('count' in line ? line.count : undefined))).to.deep.equal([undefined, 4]);

      const shown = runsTable(
        lines.map((line) => ({ ...line, flow: 'f' })),
        { flow: '', outcome: 'excluded', identity: '', page: 1 },
        lines.length,
      ).text;
      expect(shown).to.contain('not-qualified (×4 in one batch, the last shown)');
      const query = { flow: '', outcome: 'excluded', identity: 'ann@example.com', page: 1 };
      expect(lines.filter((line) => runMatches(query, line))).to.have.length(1);

      const forgotten = await forgetInState(state, [
        { identityKey: 'email:ann@example.com', name: await nameOf('email:ann@example.com') },
      ]);
      expect(forgotten.get('email:ann@example.com')?.historyRows).to.equal(1);
      expect(history.list().map((line) => ('position' in line ? line.position : ''))).to.deep.equal(['5']);
    } finally {
      await state.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
