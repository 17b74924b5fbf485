import { expect } from 'chai';
import { RateLimitGroup } from '../../adapters/rate-limit-group.js';
import { GRANTED_NOW, type RateLimiter, type Reservation } from '../../operators/model/ports.js';

/** A limiter that grants one request per `everyMs` of the clock, and tells how long to wait otherwise. */
const onePer = (everyMs: number, now: () => number): RateLimiter => {
  let next = 0;
  return {
    reserve: () => {
      if (now() < next) return { granted: false, waitMs: next - now() };
      next = now() + everyMs;
      return GRANTED_NOW;
    },
    slowDown: () => {},
  };
};

/** Runs `ms` of clock: at each ms every flow with requests left asks, in the order given; answers who got one. */
const run = (group: RateLimitGroup, asks: Array<[string, RateLimiter, number]>, ms: number, clock: { t: number }) => {
  const granted: string[] = [];
  const left = new Map(asks.map(([name, , count]) => [name, count]));
  for (; clock.t < ms; clock.t += 1)
    for (const [name, limiter] of asks) {
      if ((left.get(name) ?? 0) === 0) continue;
      if ((limiter.reserve() as Reservation).granted) {
        granted.push(name);
        left.set(name, left.get(name)! - 1);
      }
    }
  void group;
  return granted;
};

describe('RateLimitGroup: one limit, taken in fair turns by several flows', () => {
  it('alternates between a flow with a backlog and one with a few, so the few are not left behind', () => {
    const clock = { t: 0 };
    const group = new RateLimitGroup({ limiter: onePer(10, () => clock.t), turnMs: 10, now: () => clock.t });
    const big = group.member('big');
    const small = group.member('small');
    // The big flow asks first every time: without turns it would win every slot until its backlog is gone.
    const granted = run(
      group,
      [
        ['big', big, 20],
        ['small', small, 3],
      ],
      300,
      clock,
    );
    expect(granted.slice(0, 6)).to.deep.equal(['big', 'small', 'big', 'small', 'big', 'small']);
    expect(granted.filter((name) => name === 'big')).to.have.length(20);
  });

  it('gives turns in the proportion of the shares', () => {
    const clock = { t: 0 };
    const group = new RateLimitGroup({ limiter: onePer(10, () => clock.t), turnMs: 10, now: () => clock.t });
    const heavy = group.member('heavy', 2);
    const light = group.member('light', 1);
    const granted = run(
      group,
      [
        ['light', light, 50],
        ['heavy', heavy, 50],
      ],
      300,
      clock,
    );
    const first = granted.slice(0, 30);
    expect(first.filter((name) => name === 'heavy')).to.have.length(20);
    expect(first.filter((name) => name === 'light')).to.have.length(10);
  });

  it('does not let a flow that was idle save up turns: it comes back level with the others', () => {
    const clock = { t: 0 };
    const group = new RateLimitGroup({ limiter: onePer(10, () => clock.t), turnMs: 10, now: () => clock.t });
    const busy = group.member('busy');
    const late = group.member('late');
    run(group, [['busy', busy, 20]], 200, clock);
    // Ten seconds on, the late one starts: it shares turns from now on (after the one turn it is owed
    // for starting where the busy one's last turn did), it does not take the 20 it might have had.
    clock.t = 10_000;
    const granted = run(
      group,
      [
        ['late', late, 6],
        ['busy', busy, 6],
      ],
      10_120,
      clock,
    );
    expect(granted.slice(0, 6)).to.deep.equal(['late', 'late', 'busy', 'late', 'busy', 'late']);
  });

  it('refuses a flow joining twice', () => {
    const group = new RateLimitGroup({ limiter: onePer(10, () => 0), turnMs: 10 });
    group.member('a');
    expect(() => group.member('a')).to.throw('flow "a" is already in this rate-limit group');
  });
});
