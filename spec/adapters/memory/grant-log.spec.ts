import { expect } from 'chai';
import fc from 'fast-check';
import { GrantLog } from '../../../adapters/memory/grant-log.js';

/** What the log must hold after each step, kept the plain way: an array whose oldest leave by `shift`. */
const modelOf = () => {
  const times: number[] = [];
  return {
    times,
    add: (time: number) => void times.push(time),
    dropOldest: () => void times.shift(),
    dropUpTo: (time: number) => {
      while (times.length > 0 && times[0]! <= time) times.shift();
    },
  };
};

describe('GrantLog', () => {
  it('holds exactly what an array dropping by shift holds, through many compactions (property)', () => {
    // Steps: add the next time (a few ms on), drop the oldest, or forget up to a time some way back.
    // Thousands of steps, so that more than 1,024 times are forgotten and the log copies itself often.
    const step = fc.oneof(
      { weight: 6, arbitrary: fc.record({ add: fc.nat({ max: 3 }) }) },
      { weight: 1, arbitrary: fc.constant({ dropOldest: true }) },
      { weight: 2, arbitrary: fc.record({ dropBack: fc.nat({ max: 2_000 }) }) },
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 3_000, maxLength: 6_000 }), (steps) => {
        const log = new GrantLog();
        const model = modelOf();
        let now = 0;
        for (const s of steps) {
          if ('add' in s) {
            now += s.add;
            log.add(now);
            model.add(now);
          } else if ('dropOldest' in s) {
            log.dropOldest();
            model.dropOldest();
          } else {
            log.dropUpTo(now - s.dropBack);
            model.dropUpTo(now - s.dropBack);
          }
          const { times } = model;
          expect(log.size).to.equal(times.length);
          // The newest, the oldest and one between: what the limiter reads.
          for (const n of new Set([1, times.length, Math.ceil(times.length / 2)]))
            if (n >= 1 && n <= times.length) expect(log.fromNewest(n)).to.equal(times[times.length - n]);
        }
      }),
      { numRuns: 15 },
    );
  });

  it('forgets nothing when dropping the oldest of an empty log', () => {
    const log = new GrantLog();
    log.dropOldest();
    log.add(5);
    expect(log.size).to.equal(1);
    expect(log.fromNewest(1)).to.equal(5);
  });
});
