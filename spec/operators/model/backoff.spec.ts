import { expect } from 'chai';
import { backoffMs, STORE_OUTAGE_BACKOFF } from '../../../operators/model/backoff.js';

const longest = (): number => 1;
const shortest = (): number => 0;

describe('backoffMs', () => {
  it('doubles from baseMs, between half and all of it, capped at maxMs', () => {
    const plan = { baseMs: 100, maxMs: 1000 };
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffMs(attempt, plan, longest))).to.deep.equal([
      100, 200, 400, 800, 1000, 1000,
    ]);
    expect([1, 2, 3, 4, 5].map((attempt) => backoffMs(attempt, plan, shortest))).to.deep.equal([
      50, 100, 200, 400, 500,
    ]);
    expect(backoffMs(3, plan, () => 0.5)).to.equal(300);
    // Attempt 0 (or less) waits like the first; a huge attempt number is capped, not infinite.
    expect(backoffMs(0, plan, longest)).to.equal(100);
    expect(backoffMs(Number.MAX_SAFE_INTEGER, plan, longest)).to.equal(1000);
  });

  it('waits out a store outage from 250 ms to 5 s', () => {
    expect(backoffMs(1, STORE_OUTAGE_BACKOFF, longest)).to.equal(250);
    expect(backoffMs(6, STORE_OUTAGE_BACKOFF, longest)).to.equal(5_000);
    expect(backoffMs(7, STORE_OUTAGE_BACKOFF, shortest)).to.equal(2_500);
  });
});
