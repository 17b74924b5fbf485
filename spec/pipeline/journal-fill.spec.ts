import { expect } from 'chai';
import type { AlertEvent } from '../../pipeline/alerts.js';
import { JournalFillMonitor } from '../../pipeline/journal-fill.js';

describe('JournalFillMonitor', () => {
  it('fires at 80 % of maxLength, once, resolves below it, and ignores a length it cannot read', async () => {
    let length: number | Error = 0;
    const events: AlertEvent[] = [];
    const monitor = new JournalFillMonitor({
      length: async () => {
        if (length instanceof Error) throw length;
        return length;
      },
      maxLength: 1000,
      pipeline: 'AEP',
      notify: (event) => events.push(event),
      now: () => Date.UTC(2026, 10, 30),
    });
    for (const held of [0, 799, 800, 950]) {
      length = held;
      await monitor.check();
    }
    length = new Error('Redis down');
    await monitor.check();
    length = 400;
    await monitor.check();
    expect(events).to.deep.equal([
      {
        alert: 'journal-filling',
        state: 'firing',
        at: '2026-11-30T00:00:00.000Z',
        pipeline: 'AEP',
        summary: 'the journal holds 800 of 1000 entries (80 %): at 1000 the intake refuses updates',
      },
      {
        alert: 'journal-filling',
        state: 'resolved',
        at: '2026-11-30T00:00:00.000Z',
        pipeline: 'AEP',
        summary: 'the journal holds 400 of 1000 entries (40 %) again',
      },
    ]);
  });
});
