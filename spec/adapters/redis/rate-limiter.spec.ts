import { expect } from 'chai';
import { keysFor, type Redis } from '../../../adapters/redis/connection.js';
import { RedisRateLimiter } from '../../../adapters/redis/rate-limiter.js';
import { windowPlan } from '../../../adapters/rate-limit-plan.js';
import { RedisFixture } from '../../helpers/redis.js';
import { busiestWindow } from '../../helpers/windows.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Takes `count` slots as fast as the limiter allows, waiting as told; calls `granted` after each. */
const take = async (limiter: RedisRateLimiter, count: number, onGrant: () => Promise<void>): Promise<void> => {
  for (let n = 0; n < count; ) {
    const { granted, waitMs } = await limiter.reserve();
    if (!granted) await sleep(waitMs);
    else {
      n += 1;
      await onGrant();
    }
  }
};

/** Redis' clock, which the limiter runs on, in milliseconds. */
const redisNow = async (redis: Redis): Promise<number> => {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
};

/** The grants in the shared log (the last window's), as Redis recorded them: member -> time on its clock. */
const loggedGrants = async (redis: Redis, prefix: string): Promise<Map<string, number>> => {
  const flat = await redis.zrange(keysFor(prefix).rateLog, '0', '-1', 'WITHSCORES');
  return new Map(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i]!, Number(flat[2 * i + 1])]));
};

/** `count` grants another process made a second ago, written into the shared log directly. */
const grantedElsewhere = async (redis: Redis, prefix: string, count: number): Promise<void> => {
  const at = (await redisNow(redis)) - 1000;
  const members = Array.from({ length: count }, (_, i) => [String(at), `elsewhere-${i}`]).flat();
  await redis.zadd(keysFor(prefix).rateLog, ...members);
};

describe('RedisRateLimiter (real Redis)', function () {
  this.timeout(20_000);
  let fixture: RedisFixture;
  beforeEach(() => (fixture = new RedisFixture()));
  afterEach(() => fixture.cleanup());

  it('shares one limit between processes: together they never exceed it in any window', async () => {
    const options = { requests: 10, perSeconds: 1 };
    const redis = fixture.connect();
    const a = new RedisRateLimiter(fixture.connect(), fixture.prefix, options);
    const b = new RedisRateLimiter(fixture.connect(), fixture.prefix, options);
    // Every grant as Redis logged it, read after each grant (the log itself keeps only the last window).
    const grants = new Map<string, number>();
    const collect = async () => {
      for (const [member, at] of await loggedGrants(redis, fixture.prefix)) grants.set(member, at);
    };
    const started = Date.now();
    await Promise.all([take(a, 15, collect), take(b, 15, collect)]);
    // Counted on Redis' clock, in the limiter's own window (1 s and its 50 ms margin): however slowly this
    // machine runs the two loops, no such window may hold more than 10.
    expect(grants.size).to.equal(30);
    expect(busiestWindow([...grants.values()], windowPlan(10, 1).windowMs - 1)).to.be.at.most(10);
    // Nor needlessly slow: 30 grants at 10 a second take about 3 s. A loaded machine only adds its own
    // delays (each wait is a timer plus a round trip), far below this bound.
    expect(Date.now() - started).to.be.below(15_000);
  });

  it('makes up a grant that comes a little late, as the in-memory limiter does', async () => {
    // 10 a second: one request every 105 ms. Every wait is overslept by 20 ms.
    const limiter = new RedisRateLimiter(fixture.connect(), fixture.prefix, { requests: 10, perSeconds: 1 });
    const grants: number[] = [];
    while (grants.length < 15) {
      const { granted, waitMs } = await limiter.reserve();
      if (granted) grants.push(Date.now());
      else await sleep(waitMs + 20);
    }
    // Made up: about 14 x 105 ms. Added to every interval it would be 14 x 125 = 1,750 ms or more.
    expect(grants[14]! - grants[0]!).to.be.below(1_650);
  });

  it('says with each grant when the next slot comes, as the memory limiter does', async () => {
    // 2 a second: one slot every 525 ms.
    const limiter = new RedisRateLimiter(fixture.connect(), fixture.prefix, { requests: 2, perSeconds: 1 });
    const first = await limiter.reserve();
    expect(first.granted).to.equal(true);
    expect(first.waitMs).to.be.within(1, 525);
    const early = await limiter.reserve();
    expect(early.granted).to.equal(false);
    expect(early.waitMs).to.be.at.most(first.waitMs);
    // Asked when it said: granted.
    await sleep(early.waitMs);
    expect(await limiter.reserve()).to.have.property('granted', true);
  });

  describe('the sliding log, with pacing out of the way', () => {
    // 120 a minute: a burst of 2, one request every 510 ms, a window of 61.2 s. A fresh state lets pacing
    // grant at once, so whether a request waits is decided by the log alone, by count.
    const options = { requests: 120, perSeconds: 60 };
    const plan = windowPlan(120, 60);

    it('grants while the window holds fewer than `requests`, and not at `requests`', async () => {
      const redis = fixture.connect();
      const limiter = new RedisRateLimiter(fixture.connect(), fixture.prefix, options);
      await grantedElsewhere(redis, fixture.prefix, 119);
      expect(await limiter.reserve()).to.have.property('granted', true);
      // 120 in the window now; pacing would still allow the second request of its burst.
      const { granted, waitMs: wait } = await limiter.reserve();
      expect(granted).to.equal(false);
      // It waits for the oldest grant (a second old) to leave the window: about a window less a second.
      expect(wait)
        .to.be.above(plan.windowMs / 2)
        .and.at.most(plan.windowMs - 1000);
      expect((await loggedGrants(redis, fixture.prefix)).size).to.equal(120);
    });

    it('holds a process to the limit another process lowered after a 429', async () => {
      const redis = fixture.connect();
      const a = new RedisRateLimiter(fixture.connect(), fixture.prefix, options);
      const b = new RedisRateLimiter(fixture.connect(), fixture.prefix, options);
      await a.slowDown();
      // 70 % of 120 is 84: with 83 in the window b may send one, then no more.
      await grantedElsewhere(redis, fixture.prefix, 83);
      expect(await b.reserve()).to.have.property('granted', true);
      const refused = await b.reserve();
      expect(refused.granted).to.equal(false);
      expect(refused.waitMs).to.be.above(plan.windowMs / 2);
    });

    it('counts two 429s within a second as one', async () => {
      const redis = fixture.connect();
      const limiter = new RedisRateLimiter(fixture.connect(), fixture.prefix, options);
      await limiter.slowDown();
      await limiter.slowDown();
      // Still 84 (not 58): 83 in the window leave room for one.
      await grantedElsewhere(redis, fixture.prefix, 83);
      expect(await limiter.reserve()).to.have.property('granted', true);
    });

    it('without a 429, the same 84 in the window leave room', async () => {
      const redis = fixture.connect();
      const limiter = new RedisRateLimiter(fixture.connect(), fixture.prefix, options);
      await grantedElsewhere(redis, fixture.prefix, 84);
      expect(await limiter.reserve()).to.have.property('granted', true);
      expect(await limiter.reserve()).to.have.property('granted', true);
    });
  });
});
