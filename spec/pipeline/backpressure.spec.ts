import { expect } from 'chai';
import { runBackpressure } from '../../bench/backpressure.js';
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
  afterEach(() => fixture.cleanup());

  it('keeps memory flat under a backlog of 15,000 at a slow destination, pushes back on the producer, and delivers all', async () => {
    const updates = 15_000;
    const result = await runBackpressure({ updates, ratePerSecond: 1_000, maxInFlight: 1_000, redis: { url: REDIS_URL, prefix: fixture.prefix }, maxHeapMiB: 64 });
    expect(result.exitCode, 'no crash, no out-of-memory with a 64 MiB heap').to.equal(0);
    expect(result.delivered).to.equal(updates);
    expect(result.distinctDelivered).to.equal(updates);

    // Push-back: while the pipeline worked through its credit, the producer could not hand over the rest.
    expect(result.samples.some((s) => s.produced < updates && s.delivered > 0), 'the producer was held back').to.equal(true);

    // Flat: after warm-up, the second half of the run uses no more memory than the first half did.
    const rss = result.samples.map((s) => s.rssMiB);
    const warm = rss.slice(2);
    const half = Math.floor(warm.length / 2);
    const firstHalf = Math.max(...warm.slice(0, half));
    const secondHalf = Math.max(...warm.slice(half));
    expect(secondHalf - firstHalf, `rss MiB: ${rss.map((r) => r.toFixed(0)).join(' ')}`).to.be.below(25);
  });
});
