import { expect } from 'chai';
import fc from 'fast-check';
import { MemoryRateLimiter } from '../../../adapters/memory/rate-limiter.js';
import { windowPlan } from '../../../adapters/rate-limit-plan.js';
import { busiestWindow } from '../../helpers/windows.js';

/** Asks for `count` slots as fast as allowed, waiting exactly as told; answers the grant times. */
const drain = (limiter: { reserve(): number }, clock: { now: number }, count: number, events: Record<number, () => void> = {}): number[] => {
  const grants: number[] = [];
  while (grants.length < count) {
    events[grants.length]?.();
    const wait = limiter.reserve();
    if (wait === 0) grants.push(clock.now);
    else clock.now += wait;
  }
  return grants;
};


describe('MemoryRateLimiter', () => {
  it('never grants more than `requests` in any window of `perSeconds`', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 120 }), (requests, perSeconds) => {
        const clock = { now: 1_000_000 };
        const grants = drain(new MemoryRateLimiter({ requests, perSeconds, now: () => clock.now }), clock, requests * 3);
        expect(busiestWindow(grants, perSeconds * 1000)).to.be.at.most(requests);
      }),
      { numRuns: 100 },
    );
  });

  it('paces evenly instead of spending the allowance in one burst', () => {
    const clock = { now: 0 };
    const grants = drain(new MemoryRateLimiter({ requests: 3000, perSeconds: 60, now: () => clock.now }), clock, 500);
    // 3,000 a minute is about 50 a second, with bursts of at most 50.
    expect(busiestWindow(grants, 999)).to.be.at.most(100);
    expect(grants[grants.length - 1]! - grants[0]!).to.be.within(8_000, 11_000);
  });

  it('slows down after a 429 and recovers step by step', () => {
    const clock = { now: 0 };
    const limiter = new MemoryRateLimiter({ requests: 600, perSeconds: 60, now: () => clock.now });
    drain(limiter, clock, 20);
    const plan = windowPlan(600, 60);
    const before = drain(limiter, clock, 10);
    limiter.slowDown();
    limiter.slowDown(); // within a second: counted once
    const slowed = drain(limiter, clock, 10);
    const gap = (grants: number[]) => (grants[grants.length - 1]! - grants[0]!) / (grants.length - 1);
    expect(gap(slowed) / gap(before)).to.be.within(1.35, 1.5);
    clock.now += plan.recoveryMs * 3;
    drain(limiter, clock, plan.burst + 1); // an idle spell gives back the burst; use it up first
    const recovered = drain(limiter, clock, 10);
    expect(gap(recovered)).to.be.closeTo(gap(before), gap(before) * 0.05);
  });

  it('keeps to the window while slowed down, never below a tenth of the limit', () => {
    const clock = { now: 0 };
    const limiter = new MemoryRateLimiter({ requests: 100, perSeconds: 10, now: () => clock.now });
    const slowdowns: Record<number, () => void> = {};
    for (let i = 0; i < 40; i += 1) slowdowns[i * 5] = () => limiter.slowDown();
    const grants = drain(limiter, clock, 200, slowdowns);
    expect(busiestWindow(grants, 10_000)).to.be.at.most(100);
    expect(busiestWindow(grants, 10_000)).to.be.at.least(10);
  });
});
