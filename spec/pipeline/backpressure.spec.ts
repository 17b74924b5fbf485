import { expect } from 'chai';
import { runBackpressure } from '../../bench/backpressure.js';
import { killChildren } from '../helpers/cli.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';

/**
 * The scaled-down form of `npm run bench -- backpressure --updates 200000 --rate 50 --redis
 * --max-heap 64` (see BENCHMARKS.md): a backlog many times the credit, a slow destination, a pipeline
 * process with its heap capped. Speed is the benchmark's business; this checks the shape.
 */
describe('backpressure end to end (a separate pipeline process, real Redis, real endpoint)', function () {
  this.timeout(180_000);
  let fixture: RedisFixture;
  beforeEach(() => (fixture = new RedisFixture()));
  afterEach(async () => {
    // The bench starts the pipeline process and stops it only once every update is delivered: if this
    // test fails first (a timeout), kill it here, so that its end also ends the bench and mocha exits.
    killChildren('pipeline/cli.ts');
    await fixture.cleanup();
  });

  it('keeps memory flat under a backlog of 15,000 at a slow destination, pushes back on the producer, and delivers all', async () => {
    const updates = 15_000;
    const result = await runBackpressure({
      updates,
      ratePerSecond: 1_000,
      maxInFlight: 1_000,
      redis: { url: REDIS_URL, prefix: fixture.prefix },
      maxHeapMiB: 64,
    });
    expect(result.exitCode, 'no crash, no out-of-memory with a 64 MiB heap').to.equal(0);
    expect(result.delivered).to.equal(updates);
    expect(result.distinctDelivered).to.equal(updates);

    // Push-back: while the pipeline worked through its credit, the producer could not hand over the rest.
    expect(
      result.samples.some((s) => s.produced < updates && s.delivered > 0),
      'the producer was held back',
    ).to.equal(true);

    // Bounded: the exit code above is the proof. The process ran with its V8 heap capped at 64 MiB under a
    // backlog of 15,000 updates of about 1 KB each, and the same run without backpressure dies of it
    // (BENCHMARKS.md). That holds however fast this machine is: a slower one holds the same credit.
    // Comparing the first half of one-second RSS samples with the second, as this test once did, measured
    // when the garbage collector happened to run. What is left to check is the memory outside the heap
    // (socket buffers, native allocations): measured at 131-146 MiB; a leak there would pass any bound
    // over time, and no machine's speed brings a correct run near twice that.
    const rss = result.samples.map((s) => s.rssMiB);
    expect(Math.max(...rss), `rss MiB: ${rss.map((r) => r.toFixed(0)).join(' ')}`).to.be.below(300);
  });
});
