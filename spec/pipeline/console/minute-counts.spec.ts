import { expect } from 'chai';
import { Ledger } from '../../../operators/model/ledger.js';
import { delivered, excluded } from '../../../operators/model/outcome.js';
import { MinuteCounts } from '../../../pipeline/console/minute-counts.js';

describe('console: MinuteCounts (per-minute counts of a flow)', () => {
  const origin = { source: 'test', position: '1' };
  const settle = (ledger: Ledger, outcome: Parameters<Ledger['record']>[0]['outcome'], at: number) => {
    ledger.receive();
    ledger.record({ outcome, origin, at });
  };

  it('counts received and each outcome in the minute it happened, with requests and retries from attempts', () => {
    let now = Date.UTC(2026, 0, 1, 10, 0, 30);
    const counts = new MinuteCounts(() => now);
    const ledger = new Ledger();
    counts.watch(ledger);
    settle(ledger, delivered(202, 3), now);
    now += 60_000;
    settle(ledger, excluded('not-qualified'), now);
    settle(ledger, delivered(202), now);
    const { start, tallies } = counts.series(3);
    expect(start).to.equal(Date.UTC(2026, 0, 1, 9, 59));
    expect(tallies.map((t) => [t.received, t.delivered, t.excluded, t.requests, t.retries])).to.deep.equal([
      [0, 0, 0, 0, 0],
      [1, 1, 0, 3, 2],
      [2, 1, 1, 1, 0],
    ]);
    expect(counts.total(60)).to.include({ received: 3, delivered: 2, excluded: 1, retries: 2 });
    expect(counts.total(1)).to.include({ received: 2, delivered: 1 });
  });

  it('forgets a minute once the ring comes round to it again (a day later), and never counts it twice', () => {
    let now = Date.UTC(2026, 0, 1, 10, 0);
    const counts = new MinuteCounts(() => now, 60);
    const ledger = new Ledger();
    counts.watch(ledger);
    settle(ledger, delivered(202), now);
    now += 60 * 60_000;
    expect(counts.total(60).delivered).to.equal(0);
    settle(ledger, delivered(202), now);
    expect(counts.total(60).delivered).to.equal(1);
    expect(counts.series(24 * 60).tallies).to.have.length(60);
  });

  it('stops counting when unsubscribed', () => {
    const counts = new MinuteCounts(() => 0);
    const ledger = new Ledger();
    counts.watch(ledger).unsubscribe();
    settle(ledger, delivered(202), 0);
    expect(counts.total(60).received).to.equal(0);
  });
});
