import { connectRedis, deleteKeys } from '../adapters/redis/connection.js';
import { runBackpressure } from './backpressure.js';
import { runThroughput } from './throughput.js';

/**
 * `npm run bench [-- backpressure --updates N --rate R]`: runs a benchmark and prints its numbers.
 * Results worth keeping go to BENCHMARKS.md with the command that produced them.
 */
const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};

const backpressure = async (): Promise<void> => {
  const updates = option('updates', 20_000);
  const rate = option('rate', 1_000);
  console.log(
    `backpressure: ${updates} updates pushed as fast as the socket takes them, destination accepting ${rate}/s`,
  );
  console.log('seconds  rss MiB  produced  delivered');
  const redisUrl = args.includes('--redis') ? (process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') : undefined;
  const heap = option('max-heap', 0);
  const prefix = `qa-bench:{${Date.now()}}`;
  console.log(`stores: ${redisUrl ? `Redis (${prefix})` : 'in memory'}${heap ? `; heap capped at ${heap} MiB` : ''}`);
  const result = await runBackpressure({
    updates,
    ratePerSecond: rate,
    ...(redisUrl ? { redis: { url: redisUrl, prefix } } : {}),
    ...(heap ? { maxHeapMiB: heap } : {}),
    sampleEveryMs: Math.max(1000, Math.round(updates / rate / 60) * 1000),
    onSample: (s) =>
      console.log(
        `${s.seconds.toFixed(0).padStart(7)}  ${s.rssMiB.toFixed(1).padStart(7)}  ` +
          `${String(s.produced).padStart(8)}  ${String(s.delivered).padStart(9)}`,
      ),
  });
  if (redisUrl) {
    const redis = connectRedis(redisUrl);
    await deleteKeys(redis, prefix);
    await redis.quit();
  }
  const rss = result.samples.map((s) => s.rssMiB);
  const settled = rss.slice(Math.floor(rss.length / 4));
  console.log(
    `delivered ${result.delivered} (${result.distinctDelivered} distinct) in ${result.seconds.toFixed(0)} s; ` +
      `rss min ${Math.min(...rss).toFixed(1)} MiB, max ${Math.max(...rss).toFixed(1)} MiB, after warm-up ` +
      `${Math.min(...settled).toFixed(1)}..${Math.max(...settled).toFixed(1)} MiB; exit ${result.exitCode}`,
  );
};

const throughput = async (): Promise<void> => {
  const updates = option('updates', 100_000);
  await runThroughput(Math.min(updates, 5_000)); // warm-up: let V8 compile the hot paths
  const result = await runThroughput(updates);
  console.log(
    `throughput: ${result.updates} updates through every operator (in-memory stores, a destination answering ` +
      `at once) in ${result.seconds.toFixed(2)} s: ` +
      `${Math.round(result.perSecond)} updates/s; delivered ${result.delivered}`,
  );
};

// Usage: npm run bench -- backpressure [--updates N] [--rate R] [--redis] [--max-heap MiB]
//        npm run bench -- throughput [--updates N]
const benches: Record<string, () => Promise<void>> = { backpressure, throughput };
const name = args[0] && !args[0].startsWith('--') ? args[0] : 'backpressure';
const bench = benches[name];
if (!bench) {
  console.error(`unknown benchmark ${name}; known: ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}
await bench();
