import { expect } from 'chai';
import { RedisRateLimiter } from '../../../adapters/redis/rate-limiter.js';
import { RedisFixture } from '../../helpers/redis.js';
import { busiestWindow } from '../../helpers/windows.js';

/** Takes `count` slots as fast as the limiter allows, waiting as told; answers the local grant times. */
const take = async (limiter: RedisRateLimiter, count: number): Promise<number[]> => {
  const grants: number[] = [];
  while (grants.length < count) {
    const wait = await limiter.reserve();
    if (wait === 0) grants.push(Date.now());
    else await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return grants;
};


describe('RedisRateLimiter (real Redis)', function () {
  this.timeout(20_000);
  let fixture: RedisFixture;
  beforeEach(() => (fixture = new RedisFixture()));
  afterEach(() => fixture.cleanup());

  it('shares one limit between processes: together they never exceed it in any window', async () => {
    const options = { requests: 10, perSeconds: 1 };
    const a = new RedisRateLimiter(fixture.connect(), fixture.prefix, options);
    const b = new RedisRateLimiter(fixture.connect(), fixture.prefix, options);
    const [fromA, fromB] = await Promise.all([take(a, 15), take(b, 15)]);
    const all = [...fromA, ...fromB];
    expect(busiestWindow(all, 1000)).to.be.at.most(10);
    // And it is not needlessly slow: 30 grants at 10 a second (plus the margin) take about 3 s.
    expect(Math.max(...all) - Math.min(...all)).to.be.within(2_500, 5_000);
  });

  it('slows every process down after a 429', async () => {
    const options = { requests: 20, perSeconds: 1 };
    const a = new RedisRateLimiter(fixture.connect(), fixture.prefix, options);
    const b = new RedisRateLimiter(fixture.connect(), fixture.prefix, options);
    const before = await take(b, 6);
    await a.slowDown();
    const after = await take(b, 6);
    const gap = (grants: number[]) => (grants[grants.length - 1]! - grants[0]!) / (grants.length - 1);
    expect(gap(after) / gap(before)).to.be.within(1.15, 2.2);
  });
});
