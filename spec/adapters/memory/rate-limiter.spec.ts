import { expect } from 'chai';
import fc from 'fast-check';
import { MemoryRateLimiter } from '../../../adapters/memory/rate-limiter.js';
import type { Reservation } from '../../../operators/model/ports.js';
import { slowedFactor, windowPlan } from '../../../adapters/rate-limit-plan.js';
import { busiestWindow } from '../../helpers/windows.js';

/** Asks for `count` slots as fast as allowed, waiting exactly as told; answers the grant times. */
const drain = (
  limiter: { reserve(): Reservation },
  clock: { now: number },
  count: number,
  events: Record<number, () => void> = {},
): number[] => {
  const grants: number[] = [];
  while (grants.length < count) {
    events[grants.length]?.();
    const { granted, waitMs } = limiter.reserve();
    if (granted) grants.push(clock.now);
    else clock.now += waitMs;
  }
  return grants;
};

describe('rate limit plan', () => {
  it('derives the window, burst and recovery from the limit', () => {
    expect(windowPlan(3000, 60)).to.deep.equal({
      requests: 3000,
      windowMs: 61_200,
      burst: 50,
      recoveryMs: 10_000,
      recoveryStep: 0.1,
      slowdownFactor: 0.7,
      minFactor: 0.1,
      slowdownEveryMs: 1000,
    });
    // Small windows: a margin of at least 50 ms, a recovery step of at least a second, a burst of one.
    expect(windowPlan(10, 1)).to.deep.include({ windowMs: 1050, burst: 1, recoveryMs: 1000 });
    expect(windowPlan(119, 2)).to.deep.include({ windowMs: 2050, burst: 1, recoveryMs: 1000 });
    expect(windowPlan(120, 7)).to.deep.include({ windowMs: 7140, burst: 2, recoveryMs: 1167 });
  });

  it('slows down by 30 % at most once a second, never below a tenth', () => {
    const plan = windowPlan(100, 10);
    expect(slowedFactor(1, -Infinity, 5000, plan)).to.deep.equal({ factor: 0.7, at: 5000 });
    expect(slowedFactor(0.7, 5000, 5999, plan)).to.deep.equal({ factor: 0.7, at: 5000 });
    expect(slowedFactor(0.7, 5000, 6000, plan)).to.deep.equal({ factor: 0.7 * 0.7, at: 6000 });
    expect(slowedFactor(0.12, 5000, 9000, plan)).to.deep.equal({ factor: 0.1, at: 9000 });
  });
});

describe('MemoryRateLimiter', () => {
  it('never grants more than `requests` in any window of `perSeconds`', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 120 }), (requests, perSeconds) => {
        const clock = { now: 1_000_000 };
        const grants = drain(
          new MemoryRateLimiter({ requests, perSeconds, now: () => clock.now }),
          clock,
          requests * 3,
        );
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

  it('makes up a grant that comes a little late instead of adding the lateness to every interval', () => {
    const clock = { now: 0 };
    const limiter = new MemoryRateLimiter({ requests: 50, perSeconds: 1, now: () => clock.now });
    const interval = windowPlan(50, 1).windowMs / 50;
    // Every wait overslept by 3 ms, as a timer that wakes late.
    const grants: number[] = [];
    while (grants.length < 200) {
      const { granted, waitMs } = limiter.reserve();
      if (granted) grants.push(clock.now);
      else clock.now += waitMs + 3;
    }
    // On the pace (21 ms), not the pace plus the lateness (24 ms), and still never over the limit.
    expect((grants[199]! - grants[0]!) / 199).to.be.closeTo(interval, 0.5);
    expect(busiestWindow(grants, 999)).to.be.at.most(50);
  });

  it('says with each grant when the next slot comes: asked then, it grants, one ask per grant at the limit', () => {
    const clock = { now: 0 };
    const limiter = new MemoryRateLimiter({ requests: 50, perSeconds: 1, now: () => clock.now });
    const interval = windowPlan(50, 1).windowMs / 50;
    expect(limiter.reserve()).to.deep.equal({ granted: true, waitMs: Math.ceil(interval) });
    // Asked before then: not granted, and told the same time.
    clock.now += 5;
    expect(limiter.reserve()).to.deep.equal({ granted: false, waitMs: Math.ceil(interval) - 5 });

    let asks = 0;
    const grants: number[] = [];
    clock.now += 10_000;
    while (grants.length < 100) {
      asks += 1;
      const { granted, waitMs } = limiter.reserve();
      if (granted) grants.push(clock.now);
      clock.now += waitMs;
    }
    expect(asks).to.equal(100);
    expect(busiestWindow(grants, 999)).to.be.at.most(50);
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

  // Pacing alone lets `burst + requests - 1` through in one window after an idle spell (the burst at once,
  // then one per window / requests): only the sliding log holds it to `requests`. These tests count the
  // grants in the limiter's own window (perSeconds plus its margin), where the log is what binds.
  describe('the sliding log, with pacing out of the way', () => {
    /** The most grants in any half-open window of `windowMs` (the log forgets a grant exactly windowMs later). */
    const busiestIn = (grants: readonly number[], windowMs: number): number => busiestWindow(grants, windowMs - 1);

    it('holds exactly `requests` in every window of its own, once a burst is in play (property)', () => {
      fc.assert(
        fc.property(fc.integer({ min: 120, max: 1200 }), fc.integer({ min: 1, max: 90 }), (requests, perSeconds) => {
          const plan = windowPlan(requests, perSeconds);
          expect(plan.burst).to.be.at.least(2);
          const clock = { now: 5_000_000 };
          const limiter = new MemoryRateLimiter({ requests, perSeconds, now: () => clock.now });
          const grants = drain(limiter, clock, requests * 3);
          expect(busiestIn(grants, plan.windowMs)).to.equal(requests);
        }),
        { numRuns: 60 },
      );
    });

    it('after an idle gap shorter than the window, grants only as many as have left the window', () => {
      const clock = { now: 0 };
      const limiter = new MemoryRateLimiter({ requests: 600, perSeconds: 60, now: () => clock.now });
      const plan = windowPlan(600, 60);
      const first = drain(limiter, clock, 600);
      // Idle long enough for pacing to give back its whole burst, not long enough to empty the window:
      // pacing alone would grant now, the log says wait for the oldest grant to leave.
      clock.now = first[0]! + plan.windowMs - 1;
      expect(limiter.reserve()).to.deep.equal({ granted: false, waitMs: 1 });
      clock.now += 1;
      const next = drain(limiter, clock, plan.burst);
      // The first burst leaves the window all at once; pacing would allow the same burst, so both agree here.
      expect(next.every((t) => t === first[0]! + plan.windowMs)).to.equal(true);
      // One more: the window holds 600 again, so it waits for the next grant to leave, not for the pace.
      const { granted, waitMs } = limiter.reserve();
      expect(granted).to.equal(false);
      expect(clock.now + waitMs).to.equal(first[plan.burst]! + plan.windowMs);
    });

    it('after a 429 with a full window, waits until the window holds less than the lowered limit', () => {
      const clock = { now: 0 };
      const limiter = new MemoryRateLimiter({ requests: 600, perSeconds: 60, now: () => clock.now });
      const plan = windowPlan(600, 60);
      const grants = drain(limiter, clock, 600);
      const slowedAt = clock.now;
      limiter.slowDown();
      const [next] = drain(limiter, clock, 1);
      // The limit is 420 now: the 181st grant must leave the window first (18 s later); pacing alone
      // would have waited one slowed interval (146 ms).
      expect(next).to.equal(grants[600 - 420]! + plan.windowMs);
      expect(next! - slowedAt).to.be.above(plan.recoveryMs);
    });

    it('through idle gaps and repeated 429s, never more than `requests` in a window of its own (property)', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 120, max: 600 }),
          fc.array(fc.record({ at: fc.nat({ max: 1_500 }), idleMs: fc.nat({ max: 70_000 }), slowDown: fc.boolean() }), {
            maxLength: 12,
          }),
          (requests, events) => {
            const plan = windowPlan(requests, 60);
            const clock = { now: 0 };
            const limiter = new MemoryRateLimiter({ requests, perSeconds: 60, now: () => clock.now });
            const actions: Record<number, () => void> = {};
            for (const { at, idleMs, slowDown } of events) {
              actions[at] = () => (slowDown ? limiter.slowDown() : (clock.now += idleMs));
            }
            const grants = drain(limiter, clock, 1_500, actions);
            expect(busiestIn(grants, plan.windowMs)).to.be.at.most(requests);
          },
        ),
        { numRuns: 40 },
      );
    });
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
