import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connectRedis, deleteKeys } from '../adapters/redis/connection.js';
import { runBackpressure } from './backpressure.js';
import { type FlowsResult, type Layout, runFlows } from './flows.js';
import { type IntakeResult, type IntakeTarget, runIntake } from './intake.js';
import { type HotPathResult, type HotPathTarget, type HotPathWork, runHotPath } from './hot-path.js';
import { type ReplayResult, type ReplayTarget, runReplay } from './replay.js';
import { type RedisCostResult, runRedisCost } from './redis-cost.js';
import { type EmbeddedCostResult, runEmbeddedCost } from './embedded-cost.js';
import { GOT_VARIANTS, type GotResult, runGot, startEndpoint } from './got-settings.js';
import { runThroughput } from './throughput.js';
import {
  buildBaseline,
  type CommandCount,
  type CommandsResult,
  type E2EStores,
  profileInto,
  type E2ETarget,
  type PacedResult,
  readsSettled,
  runCommands,
  runPaced,
  runStream,
  runThroughput as runEndToEndThroughput,
  nodeRedFrom,
  type StreamResult,
  type ThroughputResult,
  type ThroughputTarget,
} from './end-to-end.js';
import { NODE_RED_HOME, nodeRedMain, nodeRedVersion } from './node-red.js';

/**
 * `npm run bench [-- backpressure --updates N --rate R]`: runs a benchmark and prints its numbers.
 * Results worth keeping go to BENCHMARKS.md with the command that produced them.
 */
const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};
/** `--name text`: the text, or undefined when the option is not given. */
const optionText = (name: string): string | undefined => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? args[index + 1] : undefined;
};

/**
 * Throws unless every run sent a body and all sent the same one for the same update: a baseline that
 * does less than the contender (or more) would make the ratio say something untrue.
 */
const sameBodies = (bodies: ReadonlyArray<string | undefined>): void => {
  const distinct = new Set(bodies);
  if (distinct.size !== 1 || distinct.has(undefined))
    throw new Error(`the targets sent different bodies for one update (or none): ${[...distinct].join('\n')}`);
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

/** Adds one round's result under `key`: each contender's results, in round order. */
const addRound = <R>(results: Map<string, R[]>, key: string, result: R): void => {
  const runs = results.get(key);
  if (runs) runs.push(result);
  else results.set(key, [result]);
};

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/**
 * One process with N flows against N single-flow processes (the baseline) on the same feed. Each round
 * runs every N, the two layouts back to back (one process, then N processes), so drift on a shared
 * machine hits both alike; the table gives medians over rounds, and ratios are medians of each round's
 * own ratio.
 */
const flows = async (): Promise<void> => {
  const updates = option('updates', 2_000);
  const rounds = option('rounds', 3);
  const counts = [1, 3, 10];
  const layouts: Layout[] = ['one-process', 'process-per-flow'];
  console.log(`flows: ${updates} updates (~670 bytes) over one WebSocket feed, no Redis, ${rounds} rounds`);
  const results = new Map<string, FlowsResult[]>();
  for (let round = 1; round <= rounds; round++)
    for (const n of counts)
      for (const layout of layouts) {
        const result = await runFlows({ updates, flows: n, layout });
        addRound(results, `${n} ${layout}`, result);
        console.log(
          `round ${round}  N=${String(n).padStart(2)}  ${layout.padEnd(16)}  ${result.seconds.toFixed(2)} s  ` +
            `cpu ${Math.round(result.cpuMs)} ms  rss ${Math.round(result.rssMiB)} MiB  ` +
            `(feed and endpoints: cpu ${Math.round(result.harnessCpuMs)} ms)`,
        );
      }
  const perSecond = (r: FlowsResult): number => updates / r.seconds;
  const cpuPerEvent = (r: FlowsResult): number => r.cpuMs / updates;
  console.log(
    '\n| N | one process: events/s | CPU ms/event | RSS MiB | N processes: events/s | CPU ms/event | RSS MiB |' +
      ' events/s ratio | CPU ratio |',
  );
  console.log('| -: | -: | -: | -: | -: | -: | -: | -: | -: |');
  for (const n of counts) {
    const one = results.get(`${n} one-process`)!;
    const many = results.get(`${n} process-per-flow`)!;
    const cells = [one, many].flatMap((runs) => [
      Math.round(median(runs.map(perSecond))).toLocaleString('en'),
      median(runs.map(cpuPerEvent)).toFixed(2),
      Math.round(median(runs.map((r) => r.rssMiB))).toString(),
    ]);
    const speed = median(one.map((r, i) => perSecond(r) / perSecond(many[i]!)));
    const cpu = median(one.map((r, i) => cpuPerEvent(r) / cpuPerEvent(many[i]!)));
    console.log(`| ${n} | ${cells.join(' | ')} | ${speed.toFixed(2)} | ${cpu.toFixed(2)} |`);
  }
};

/**
 * The HTTP intake (`source.http`, the pipeline as a `run` process) against a hand-written minimal intake
 * (token, read, JSON.parse, one XADD, 200), both fed single profiles by the same keep-alive client with
 * the destination paused. Rounds interleave the two (contender, then baseline); medians of rounds, and
 * ratios are medians of each round's own ratio.
 */
const intake = async (): Promise<void> => {
  const requests = option('requests', 20_000);
  const concurrency = option('concurrency', 32);
  const rounds = option('rounds', 3);
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const targets: IntakeTarget[] = ['contender', 'baseline'];
  console.log(
    `intake: ${requests} POSTs of one ~650-byte profile, ${concurrency} at a time over keep-alive, ` +
      `destination answering 401 (paused), ${rounds} rounds`,
  );
  const results: Record<IntakeTarget, IntakeResult[]> = { contender: [], baseline: [] };
  for (let round = 1; round <= rounds; round++)
    for (const target of targets) {
      const prefix = `qa-bench-intake:{${Date.now()}-${target}}`;
      const r = await runIntake({ target, requests, concurrency, redisUrl, prefix });
      results[target].push(r);
      console.log(
        `round ${round}  ${target.padEnd(9)}  ${Math.round(r.perSecond)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  ` +
          `p99 ${r.p99Ms.toFixed(2)} ms  max ${r.maxMs.toFixed(1)} ms  ` +
          `cpu ${(r.cpuMs / requests).toFixed(3)} ms/req  ` +
          `rss ${Math.round(r.rssMiB)} MiB  (client cpu ${Math.round(r.clientCpuMs)} ms, redis cpu ` +
          `${r.redisCpuMs === undefined ? '?' : Math.round(r.redisCpuMs)} ms)  stored ${r.stored}  ` +
          `destination ${r.destinationRequests}×401`,
      );
    }
  const [a, b] = [results.contender, results.baseline];
  const cells = (runs: IntakeResult[]): string[] => [
    Math.round(median(runs.map((r) => r.perSecond))).toLocaleString('en'),
    median(runs.map((r) => r.p50Ms)).toFixed(2),
    median(runs.map((r) => r.p99Ms)).toFixed(2),
    median(runs.map((r) => r.cpuMs / requests)).toFixed(3),
    median(runs.map((r) => (r.redisCpuMs ?? Number.NaN) / requests)).toFixed(3),
  ];
  const ratio = (of: (r: IntakeResult) => number): string => median(a.map((r, i) => of(r) / of(b[i]!))).toFixed(2);
  console.log('\n| intake | requests/s | p50 ms | p99 ms | CPU ms/request | Redis CPU ms/request |');
  console.log('| - | -: | -: | -: | -: | -: |');
  console.log(`| contender: \`run\`, source.http | ${cells(a).join(' | ')} |`);
  console.log(`| baseline: node:http + XADD | ${cells(b).join(' | ')} |`);
  console.log(
    `| ratio (contender / baseline) | ${ratio((r) => r.perSecond)} | ${ratio((r) => r.p50Ms)} | ` +
      `${ratio((r) => r.p99Ms)} | ${ratio((r) => r.cpuMs)} | ${ratio((r) => r.redisCpuMs ?? Number.NaN)} |`,
  );
};

/**
 * The pipeline's own cost per update, in one process, against a hand-written loop doing the same work
 * with the same libraries: updates no mapped audience qualifies (with everything `run` attaches to a
 * flow's outcomes), and qualified ones through the whole chain to a sender answering at once. Rounds
 * interleave contender and baseline; medians of rounds, ratios are medians of each round's own ratio.
 */
const HOT_PATH_WORKS: readonly HotPathWork[] = ['not-qualified', 'qualified'];
/** Updates each hot-path contender runs before it is measured: its code optimized, its caches warm. */
const warmUpOf = (updates: number): number => Math.min(updates, 10_000);

const hotPath = async (): Promise<void> => {
  const updates = option('updates', 50_000);
  const rounds = option('rounds', 3);
  const against = optionText('against');
  if (against !== undefined) return hotPathAgainst(against, updates, rounds);
  const targets: HotPathTarget[] = ['contender', 'baseline'];
  console.log(`hot-path: ${updates} updates (~650 bytes) in one process, ${rounds} rounds after a warm-up`);
  for (const work of HOT_PATH_WORKS) for (const target of targets) await runHotPath(work, target, warmUpOf(updates));
  const results = new Map<string, HotPathResult[]>();
  for (let round = 1; round <= rounds; round++)
    for (const work of HOT_PATH_WORKS)
      for (const target of targets) {
        const r = await runHotPath(work, target, updates);
        addRound(results, `${work} ${target}`, r);
        console.log(
          `round ${round}  ${work.padEnd(13)}  ${target.padEnd(9)}  ${Math.round(r.perSecond)} updates/s  ` +
            `cpu ${r.cpuUsPerUpdate.toFixed(1)} us/update`,
        );
      }
  sameBodies([...results.get('qualified contender')!, ...results.get('qualified baseline')!].map((r) => r.firstBody));
  console.log('\n| work | contender updates/s | CPU us/update | baseline updates/s | CPU us/update | speed ratio |');
  console.log('| - | -: | -: | -: | -: | -: |');
  for (const work of HOT_PATH_WORKS) {
    const [a, b] = [results.get(`${work} contender`)!, results.get(`${work} baseline`)!];
    const cells = (runs: HotPathResult[]) => [
      Math.round(median(runs.map((r) => r.perSecond))).toLocaleString('en'),
      median(runs.map((r) => r.cpuUsPerUpdate)).toFixed(1),
    ];
    // Contender over baseline, by CPU per update (throughput on a shared machine is noisier).
    const ratio = median(a.map((r, i) => b[i]!.cpuUsPerUpdate / r.cpuUsPerUpdate));
    console.log(`| ${work} | ${[...cells(a), ...cells(b)].join(' | ')} | ${ratio.toFixed(2)}x |`);
  }
};

/**
 * `hot-path --against DIR`: this tree's contender against another tree's, DIR being that tree's compiled
 * bench (`.bench` after `npx tsc -p tsconfig.bench.json` in a worktree of it), both loaded into this one
 * process and run in turn, `rounds` pairs a work, the first of each pair alternating. Within one process
 * the spread between runs of the same code is smaller than between processes (BENCHMARKS.md, "seventh
 * session"): a change of some per cent shows in the medians and in how many pairs each side won.
 */
const hotPathAgainst = async (dir: string, updates: number, rounds: number): Promise<void> => {
  const other = (await import(pathToFileURL(resolve(dir, 'bench/hot-path.js')).href)) as {
    runHotPath: typeof runHotPath;
  };
  const sides = { before: other.runHotPath, after: runHotPath };
  console.log(`hot-path: this tree (after) against ${dir} (before), ${rounds} pairs of ${updates} updates a work`);
  console.log('\n| work | before: CPU us/update | after: CPU us/update | after / before | pairs after won |');
  console.log('| - | -: | -: | -: | -: |');
  for (const work of HOT_PATH_WORKS) {
    for (const run of Object.values(sides)) await run(work, 'contender', warmUpOf(updates));
    const cpu = { before: [] as number[], after: [] as number[] };
    for (let pair = 0; pair < rounds; pair++) {
      const order = pair % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const);
      for (const side of order) cpu[side].push((await sides[side](work, 'contender', updates)).cpuUsPerUpdate);
    }
    const won = cpu.after.filter((after, i) => after < cpu.before[i]!).length;
    const [before, after] = [median(cpu.before), median(cpu.after)];
    console.log(
      `| ${work} | ${before.toFixed(1)} | ${after.toFixed(1)} | ${(after / before).toFixed(2)} | ${won} of ${rounds} |`,
    );
  }
};

/**
 * Replay of a stream range most of which was already delivered: `qualtrics-automations replay`'s code
 * against a hand-written XRANGE reader with one pipelined dedupe lookup per page, both against the same
 * local Redis and a local endpoint answering 202. Also Redis commands per delivered update (the untimed
 * pass that delivers the first 95 %) and per replayed entry. Interleaved rounds, medians.
 */
const replay = async (): Promise<void> => {
  const entries = option('entries', 20_000);
  const rounds = option('rounds', 3);
  const share = option('delivered', 0.95);
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const targets: ReplayTarget[] = ['contender', 'baseline'];
  console.log(`replay: ${entries} entries, ${share * 100} % already delivered, ${rounds} rounds`);
  const results: Record<ReplayTarget, ReplayResult[]> = { contender: [], baseline: [] };
  for (let round = 1; round <= rounds; round++)
    for (const target of targets) {
      const r = await runReplay(target, entries, share, redisUrl);
      results[target].push(r);
      console.log(
        `round ${round}  ${target.padEnd(9)}  ${Math.round(r.perSecond)} entries/s  sent ${r.sent}  ` +
          `redis commands: ${r.commandsPerEntry.toFixed(3)}/entry replayed, ${r.commandsPerDelivered.toFixed(2)}/update delivered`,
      );
    }
  const [a, b] = [results.contender, results.baseline];
  sameBodies([...a, ...b].map((r) => r.firstEntryBody));
  const cells = (runs: ReplayResult[]) => [
    Math.round(median(runs.map((r) => r.perSecond))).toLocaleString('en'),
    median(runs.map((r) => r.commandsPerEntry)).toFixed(3),
    median(runs.map((r) => r.commandsPerDelivered)).toFixed(2),
  ];
  console.log('\n| replay | entries/s | Redis commands/entry | Redis commands/delivered update |');
  console.log('| - | -: | -: | -: |');
  console.log(`| contender: startReplay | ${cells(a).join(' | ')} |`);
  console.log(`| baseline: XRANGE + MGET per page | ${cells(b).join(' | ')} |`);
  console.log(`| ratio | ${median(a.map((r, i) => r.perSecond / b[i]!.perSecond)).toFixed(2)} | | |`);
};

/**
 * The HTTP client, setting by setting: got's defaults, the sender's one instance, each tuning added, the
 * sender as it is, and `node:http` by hand (the minimum). CPU per POST of this process (the endpoint
 * runs in a child process). Interleaved rounds after a warm-up, medians; ratios against the hand-written.
 */
const gotSettings = async (): Promise<void> => {
  const requests = option('requests', 20_000);
  const rounds = option('rounds', 3);
  const { url, child } = await startEndpoint();
  console.log(
    `got: ${requests} POSTs of ~650 bytes, 16 at a time, endpoint answering 202 (another process), ${rounds} rounds`,
  );
  try {
    for (const variant of GOT_VARIANTS) await runGot(variant, url, Math.min(requests, 2_000));
    const results = new Map<string, GotResult[]>();
    for (let round = 1; round <= rounds; round++)
      for (const variant of GOT_VARIANTS) {
        const r = await runGot(variant, url, requests);
        addRound(results, variant, r);
        console.log(
          `round ${round}  ${variant.padEnd(28)}  ${Math.round(r.perSecond)} req/s  cpu ${r.cpuUsPerRequest.toFixed(1)} us/req`,
        );
      }
    const hand = results.get('node:http by hand')!;
    console.log('\n| client | requests/s | CPU us/request | CPU ratio to node:http |');
    console.log('| - | -: | -: | -: |');
    for (const variant of GOT_VARIANTS) {
      const runs = results.get(variant)!;
      const ratio = median(runs.map((r, i) => r.cpuUsPerRequest / hand[i]!.cpuUsPerRequest));
      console.log(
        `| ${variant} | ${Math.round(median(runs.map((r) => r.perSecond))).toLocaleString('en')} | ` +
          `${median(runs.map((r) => r.cpuUsPerRequest)).toFixed(1)} | ${ratio.toFixed(2)} |`,
      );
    }
  } finally {
    child.kill();
  }
};

/**
 * A table's rows for each kind of store: the contender's and the baseline's cells (from their rounds in
 * `results`, keyed `<stores> <target>`), then the row of their ratios.
 */
const pairRows = <R>(
  storesOf: readonly string[],
  results: ReadonlyMap<string, R[]>,
  cells: (runs: readonly R[]) => string,
  ratios: (contender: readonly R[], baseline: readonly R[], stores: string) => string,
): void => {
  for (const stores of storesOf) {
    const [a, b] = [results.get(`${stores} contender`)!, results.get(`${stores} baseline`)!];
    console.log(`| ${stores}, contender | ${cells(a)} |`);
    console.log(`| ${stores}, baseline | ${cells(b)} |`);
    console.log(`| ${stores}, ratio | ${ratios(a, b, stores)} |`);
  }
};

/** `--name 1,2,3`: a list of numbers. */
const listOption = (name: string, fallback: readonly number[]): number[] => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? args[index + 1]!.split(',').map(Number) : [...fallback];
};

/**
 * What goal 5's Redis CPU is made of, command by command: redis-server's CPU per call of the contender's
 * two scripts a delivered update at the limit and of the hand-written loop's SET NX, back to back and
 * one every `--spacing-ms` (as at a limit of 1000 / spacing a second). Medians of rounds.
 */
const redisCost = async (): Promise<void> => {
  const calls = option('calls', 150);
  const spacingMs = option('spacing-ms', 20);
  const rounds = option('rounds', 3);
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  console.log(`redis-cost: ${calls} calls of each, back to back, then one every ${spacingMs} ms; ${rounds} rounds`);
  const results = new Map<string, RedisCostResult[]>();
  for (let round = 1; round <= rounds; round++)
    for (const r of await runRedisCost(redisUrl, calls, spacingMs)) {
      addRound(results, r.command, r);
      console.log(
        `round ${round}  ${r.command.padEnd(28)}  back to back ${r.backToBackUs.toFixed(1)} us  ` +
          `spaced ${r.spacedUs.toFixed(1)} us`,
      );
    }
  console.log(`\n| command | Redis CPU us/call, back to back | one every ${spacingMs} ms (Redis idle between) |`);
  console.log('| - | -: | -: |');
  for (const [command, runs] of results)
    console.log(
      `| ${command} | ${median(runs.map((r) => r.backToBackUs)).toFixed(1)} | ` +
        `${median(runs.map((r) => r.spacedUs)).toFixed(1)} |`,
    );
};

/**
 * What goal 5's CPU without Redis is made of: the durable dedupe of a paced update (`EmbeddedDedupeStore`)
 * against a `Set`, one update every `--spacing-ms`, process CPU per update beyond a bare timer's. Medians.
 */
const embeddedCost = async (): Promise<void> => {
  const updates = option('updates', 300);
  const spacingMs = option('spacing-ms', 20);
  const rounds = option('rounds', 3);
  console.log(`embedded-cost: ${updates} updates, one every ${spacingMs} ms, ${rounds} rounds`);
  const results = new Map<string, EmbeddedCostResult[]>();
  for (let round = 1; round <= rounds; round++)
    for (const r of await runEmbeddedCost(updates, spacingMs)) {
      addRound(results, r.work, r);
      console.log(`round ${round}  ${r.work.padEnd(46)}  ${r.cpuUsPerUpdate.toFixed(0)} us/update`);
    }
  console.log(`\n| dedupe of one update every ${spacingMs} ms | process CPU us/update (beyond the timer's) |`);
  console.log('| - | -: |');
  for (const [work, runs] of results)
    console.log(`| ${work} | ${median(runs.map((r) => r.cpuUsPerUpdate)).toFixed(0)} |`);
};

/**
 * End to end (issue #13, goals 4 to 8): `qualtrics-automations run` (dist/) against the hand-written
 * pipeline of bench/end-to-end-baseline.ts, each a process of its own fed by this one (a WebSocket feed
 * or a Redis stream) and POSTing to an endpoint here answering 202. Parts: `throughput` (all qualified,
 * no effective rate limit; goal 4, peak RSS of goal 6), `paced` (idle RSS, then below the limit: latency;
 * then a backlog at the limit: CPU per delivered update, quota, busiest second; goals 5 to 7), `commands`
 * (Redis commands per delivered update below and at the limit, by command; goal 5), `streams`
 * (1, 2, 3 processes in one consumer group draining a backlog; goal 8) and `backlog` (memory of one
 * contender against backlog size; goal 8). Rounds interleave contender and baseline; medians of rounds,
 * ratios are medians of each round's own ratio; latency percentiles pool every round's updates (so do
 * their ratios).
 */
const endToEnd = async (): Promise<void> => {
  const updates = option('updates', 3_000);
  const warmUp = option('warm-up', 500);
  const rounds = option('rounds', 3);
  const paced = {
    idleSeconds: option('idle-seconds', 5),
    // Past V8's memory reducer, which first runs some seconds after start-up's last collection; not past
    // --idle-seconds (0, say): not read.
    settledSeconds: option('settled-seconds', 20),
    limit: option('limit', 50),
    belowRate: option('below-rate', 20),
    // 200 updates a round, so that the p99 is not simply the first update after idle (`firstMs`).
    belowSeconds: option('below-seconds', 10),
    atSeconds: option('at-seconds', 3),
  };
  const entries = option('entries', 4_000);
  const streamWarmUp = option('stream-warm-up', 300);
  const processCounts = listOption('processes', [1, 2, 3]);
  const backlogs = listOption('backlogs', [20_000]);
  const partsAt = args.indexOf('--parts');
  const parts = new Set(
    partsAt >= 0 ? args[partsAt + 1]!.split(',') : ['throughput', 'paced', 'commands', 'streams', 'backlog'],
  );
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const targets: E2ETarget[] = ['contender', 'baseline'];
  const storesOf: E2EStores[] = ['memory', 'redis'];
  buildBaseline();
  const profiles = args.indexOf('--cpu-prof');
  if (profiles >= 0) profileInto(args[profiles + 1]!);
  console.log(
    `end-to-end: updates of ~670 bytes (3 audiences, 2 mapped; Email and ECID), ${rounds} rounds; ` +
      `parts: ${[...parts].join(', ')}`,
  );
  const ms = (value: number | undefined, digits = 2): string =>
    value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits);
  const ratioOf = <R>(a: readonly R[], b: readonly R[], of: (r: R) => number): string =>
    median(a.map((r, i) => of(r) / of(b[i]!))).toFixed(2);
  const mib = <R>(runs: readonly R[], of: (r: R) => number): string => Math.round(median(runs.map(of))).toString();
  /** updates/s, CPU ms per update and peak RSS of one target: the throughput and streams tables' cells. */
  const cells = (runs: ReadonlyArray<ThroughputResult | StreamResult>): string[] => [
    Math.round(median(runs.map((r) => r.perSecond))).toLocaleString('en'),
    median(runs.map((r) => r.cpuMsPerUpdate)).toFixed(3),
    mib(runs, (r) => r.peakRssMiB),
  ];
  const sum = (values: Iterable<number>): number => [...values].reduce((total, value) => total + value, 0);
  /**
   * Commands (labelled `label`, or all) per delivered update, every round's counts together: a count is a
   * whole number of a few hundred at most, so a median of rounds would add little but rounding.
   */
  const perUpdate = (counts: readonly CommandCount[], label?: string): number =>
    sum(counts.map((c) => (label === undefined ? sum(c.commands.values()) : (c.commands.get(label) ?? 0)))) /
    sum(counts.map((c) => c.delivered));
  /** A percentile of every round's latencies together: a round has too few updates for its own p99. */
  const pooled = (runs: readonly PacedResult[], p: number): number => {
    const all = runs.flatMap((r) => r.latenciesMs).sort((x, y) => x - y);
    return all[Math.max(0, Math.ceil(p * all.length) - 1)] ?? Number.NaN;
  };

  if (parts.has('throughput')) {
    const nodeRedHome = optionText('node-red');
    const nodeRed = nodeRedMain(nodeRedHome ?? NODE_RED_HOME);
    // Asked for by name and not there: an error, not a run quietly without it.
    if (nodeRedHome !== undefined && !nodeRed)
      throw new Error(`--node-red ${nodeRedHome}: no node_modules/node-red there`);
    if (nodeRed) nodeRedFrom(nodeRed);
    console.log(
      `\nthroughput: ${warmUp} updates to warm up, then ${updates} timed, as fast as each takes them; ` +
        (nodeRed
          ? `Node-RED ${nodeRedVersion(nodeRed)} from ${nodeRed}, in memory`
          : 'Node-RED not installed (`npm run bench:node-red`)'),
    );
    const results = new Map<string, ThroughputResult[]>();
    // Node-RED keeps its dedupe in the function node's memory: it has no Redis run.
    const targetsOf = (stores: E2EStores): ThroughputTarget[] =>
      nodeRed && stores === 'memory' ? [...targets, 'node-red'] : targets;
    for (let round = 1; round <= rounds; round++)
      for (const stores of storesOf)
        for (const target of targetsOf(stores)) {
          const r = await runEndToEndThroughput(target, stores, updates, warmUp, redisUrl);
          addRound(results, `${stores} ${target}`, r);
          console.log(
            `round ${round}  ${stores.padEnd(6)}  ${target.padEnd(9)}  ${Math.round(r.perSecond)} updates/s  ` +
              `cpu ${r.cpuMsPerUpdate.toFixed(3)} ms/update  peak rss ${Math.round(r.peakRssMiB)} MiB` +
              (r.redisCpuMsPerUpdate === undefined ? '' : `  redis cpu ${r.redisCpuMsPerUpdate.toFixed(3)} ms/update`),
          );
        }
    sameBodies([...results.values()].flat().map((r) => r.sampleBody));
    console.log(
      '\n| stores | contender updates/s | CPU ms/update | peak RSS MiB | baseline updates/s | CPU ms/update |' +
        ' peak RSS MiB | updates/s ratio | CPU ratio | peak RSS ratio | Redis CPU ms/update (contender / baseline) |',
    );
    console.log('| - | -: | -: | -: | -: | -: | -: | -: | -: | -: | -: |');
    for (const stores of storesOf) {
      const [a, b] = [results.get(`${stores} contender`)!, results.get(`${stores} baseline`)!];
      const redisCpu = (runs: ThroughputResult[]) => ms(median(runs.map((r) => r.redisCpuMsPerUpdate ?? NaN)), 3);
      console.log(
        `| ${stores} | ${[...cells(a), ...cells(b)].join(' | ')} | ${ratioOf(a, b, (r) => r.perSecond)} | ` +
          `${ratioOf(a, b, (r) => r.cpuMsPerUpdate)} | ${ratioOf(a, b, (r) => r.peakRssMiB)} | ` +
          `${stores === 'redis' ? `${redisCpu(a)} / ${redisCpu(b)}` : '–'} |`,
      );
    }
    const red = results.get('memory node-red');
    if (red && nodeRed) {
      const a = results.get('memory contender')!;
      console.log(
        '\n| in memory | Node-RED updates/s | CPU ms/update | peak RSS MiB | contender / Node-RED updates/s |' +
          ' CPU ratio | peak RSS ratio |',
      );
      console.log('| - | -: | -: | -: | -: | -: | -: |');
      console.log(
        `| Node-RED ${nodeRedVersion(nodeRed)} | ${cells(red).join(' | ')} | ` +
          `${ratioOf(a, red, (r) => r.perSecond)} | ` +
          `${ratioOf(a, red, (r) => r.cpuMsPerUpdate)} | ${ratioOf(a, red, (r) => r.peakRssMiB)} |`,
      );
    }
  }

  if (parts.has('paced')) {
    const settled = readsSettled(paced);
    console.log(
      `\npaced: destination limited to ${paced.limit}/s; idle ${paced.idleSeconds} s` +
        `${settled ? ` (and on to ${paced.settledSeconds} s)` : ''}, then ${paced.belowRate} ` +
        `updates/s for ${paced.belowSeconds} s, then a backlog counted over ${paced.atSeconds} s`,
    );
    const results = new Map<string, PacedResult[]>();
    for (let round = 1; round <= rounds; round++)
      for (const stores of storesOf) {
        const pair = await runPaced(stores, paced, redisUrl);
        for (const target of targets) {
          const r = pair[target];
          addRound(results, `${stores} ${target}`, r);
          console.log(
            `round ${round}  ${stores.padEnd(6)}  ${target.padEnd(9)}  idle rss ${Math.round(r.idleRssMiB)} MiB` +
              `${r.settledRssMiB === undefined ? '' : `, settled ${Math.round(r.settledRssMiB)} MiB`}  ` +
              `below: p50 ${r.p50Ms.toFixed(1)} p99 ${r.p99Ms.toFixed(1)} max ${r.maxMs.toFixed(1)} ` +
              `first ${r.firstMs.toFixed(1)} ms, ` +
              `cpu ${r.belowCpuMsPerUpdate.toFixed(2)} ms/update, ` +
              `${r.belowWakeUpsPerUpdate.toFixed(2)} wake-ups/update` +
              `  at limit: quota ${r.quota.toFixed(3)}, busiest second ${r.busiestSecond}, ` +
              `cpu ${r.atCpuMsPerUpdate.toFixed(2)} ms/delivered (main thread ${r.atMainCpuMsPerUpdate.toFixed(2)}), ` +
              `${r.atWakeUpsPerUpdate.toFixed(2)} wake-ups/delivered` +
              (r.atRedisCpuMsPerUpdate === undefined ? '' : `, redis cpu ${r.atRedisCpuMsPerUpdate.toFixed(3)}`) +
              `  idle cpu ${r.idleCpuMsPerSecond.toFixed(1)} ms/s`,
          );
        }
      }
    console.log(
      `\n| idle, ${paced.idleSeconds} s after connecting | contender RSS MiB | baseline RSS MiB | RSS ratio |` +
        ' contender CPU ms/s | baseline CPU ms/s |' +
        (settled ? ` settled, ${paced.settledSeconds} s: contender RSS MiB | baseline RSS MiB | RSS ratio |` : ''),
    );
    console.log(`| - | -: | -: | -: | -: | -: |${settled ? ' -: | -: | -: |' : ''}`);
    for (const stores of storesOf) {
      const [a, b] = [results.get(`${stores} contender`)!, results.get(`${stores} baseline`)!];
      const settledRss = (r: PacedResult): number => r.settledRssMiB ?? Number.NaN;
      console.log(
        `| ${stores} | ${mib(a, (r) => r.idleRssMiB)} | ${mib(b, (r) => r.idleRssMiB)} | ` +
          `${ratioOf(a, b, (r) => r.idleRssMiB)} | ${median(a.map((r) => r.idleCpuMsPerSecond)).toFixed(1)} | ` +
          `${median(b.map((r) => r.idleCpuMsPerSecond)).toFixed(1)} |` +
          (settled ? ` ${mib(a, settledRss)} | ${mib(b, settledRss)} | ${ratioOf(a, b, settledRss)} |` : ''),
      );
    }
    console.log(
      `\n| at the limit (${paced.limit}/s, a backlog waiting) | quota use | busiest second (most of any round) |` +
        ' CPU ms/delivered update | main thread | main-thread wake-ups/delivered update |' +
        ' Redis CPU ms/delivered update |',
    );
    console.log('| - | -: | -: | -: | -: | -: | -: |');
    pairRows(
      storesOf,
      results,
      (runs) =>
        `${median(runs.map((r) => r.quota)).toFixed(3)} | ${Math.max(...runs.map((r) => r.busiestSecond))} | ` +
        `${median(runs.map((r) => r.atCpuMsPerUpdate)).toFixed(2)} | ` +
        `${median(runs.map((r) => r.atMainCpuMsPerUpdate)).toFixed(2)} | ` +
        `${median(runs.map((r) => r.atWakeUpsPerUpdate)).toFixed(2)} | ` +
        `${ms(median(runs.map((r) => r.atRedisCpuMsPerUpdate ?? NaN)), 3)}`,
      (a, b, stores) =>
        `${ratioOf(a, b, (r) => r.quota)} | | ${ratioOf(a, b, (r) => r.atCpuMsPerUpdate)} | ` +
        `${ratioOf(a, b, (r) => r.atMainCpuMsPerUpdate)} | ${ratioOf(a, b, (r) => r.atWakeUpsPerUpdate)} | ` +
        `${stores === 'redis' ? ratioOf(a, b, (r) => r.atRedisCpuMsPerUpdate!) : ''}`,
    );
    console.log(
      `\n| below the limit (${paced.belowRate}/s), feed to endpoint | p50 ms | p99 ms | max ms |` +
        ' first after idle ms | CPU ms/update | main-thread wake-ups/update |',
    );
    console.log('| - | -: | -: | -: | -: | -: | -: |');
    pairRows(
      storesOf,
      results,
      (runs) =>
        `${pooled(runs, 0.5).toFixed(1)} | ${pooled(runs, 0.99).toFixed(1)} | ${pooled(runs, 1).toFixed(1)} | ` +
        `${median(runs.map((r) => r.firstMs)).toFixed(1)} | ` +
        `${median(runs.map((r) => r.belowCpuMsPerUpdate)).toFixed(2)} | ` +
        `${median(runs.map((r) => r.belowWakeUpsPerUpdate)).toFixed(2)}`,
      (a, b) =>
        `${(pooled(a, 0.5) / pooled(b, 0.5)).toFixed(2)} | ${(pooled(a, 0.99) / pooled(b, 0.99)).toFixed(2)} | | ` +
        `${ratioOf(a, b, (r) => r.firstMs)} | ` +
        `${ratioOf(a, b, (r) => r.belowCpuMsPerUpdate)} | ${ratioOf(a, b, (r) => r.belowWakeUpsPerUpdate)}`,
    );
  }

  if (parts.has('commands')) {
    // Below the limit at the paced part's rate; at it, a backlog of three seconds' worth, held through
    // renewals of the dedupe lease (every second with the default `--lease-seconds`).
    const run = {
      warmUp: 10,
      below: 40,
      belowRate: paced.belowRate,
      backlog: 3 * paced.limit,
      limit: paced.limit,
      leaseSeconds: option('lease-seconds', 3),
    };
    const situations = [
      ['below', `below the limit (${run.below} at ${run.belowRate}/s)`],
      ['at', `at the limit (${run.backlog} at once, ${run.limit}/s)`],
    ] as const;
    console.log(
      `\ncommands: Redis stores; commands naming the run's prefix, read with MONITOR (a script counts as one), ` +
        `after ${run.warmUp} updates to warm up; below the limit each update arrives alone; ` +
        `dedupe leases of ${run.leaseSeconds} s, renewed every ${run.leaseSeconds / 3} s`,
    );
    const results: Record<E2ETarget, CommandsResult[]> = { contender: [], baseline: [] };
    for (let round = 1; round <= rounds; round++) {
      // Side by side: nothing here is timed or a CPU figure, and each target's commands name its own prefix.
      const pair = await Promise.all(targets.map((target) => runCommands(target, run, redisUrl)));
      for (const [i, target] of targets.entries()) {
        const r = pair[i]!;
        results[target].push(r);
        console.log(
          `round ${round}  ${target.padEnd(9)}  ` +
            situations
              .map(([at]) => `${at}: ${perUpdate([r[at]]).toFixed(2)} commands/update (${r[at].delivered} delivered)`)
              .join('  '),
        );
      }
    }
    const columns = situations.flatMap(([at]) => targets.map((target) => results[target].map((r) => r[at])));
    const labels = [...new Set(columns.flat().flatMap((count) => [...count.commands.keys()]))].sort();
    console.log(
      '\n| Redis commands per delivered update (goal 5: at most 3) | ' +
        `${situations.flatMap(([, what]) => targets.map((target) => `${what}: ${target}`)).join(' | ')} |`,
    );
    console.log(`| - |${' -: |'.repeat(columns.length)}`);
    for (const label of labels)
      console.log(
        `| \`${label}\` | ${columns.map((counts) => ms(perUpdate(counts, label) || undefined)).join(' | ')} |`,
      );
    console.log(`| all | ${columns.map((counts) => ms(perUpdate(counts))).join(' | ')} |`);
  }

  if (parts.has('streams')) {
    console.log(
      `\nstreams: ${streamWarmUp} entries a process to warm up, then ${entries} appended at once and timed, Redis stores`,
    );
    const results = new Map<string, StreamResult[]>();
    for (let round = 1; round <= rounds; round++)
      for (const n of processCounts)
        for (const target of targets) {
          const r = await runStream(target, n, entries, { warmUp: streamWarmUp }, redisUrl);
          addRound(results, `${n} ${target}`, r);
          console.log(
            `round ${round}  ${n} process${n > 1 ? 'es' : '  '}  ${target.padEnd(9)}  ${Math.round(r.perSecond)} updates/s  ` +
              `cpu ${r.cpuMsPerUpdate.toFixed(3)} ms/update  peak rss ${Math.round(r.peakRssMiB)} MiB  ` +
              `redis cpu ${ms(r.redisCpuMsPerUpdate, 3)} ms/update`,
          );
        }
    console.log(
      '\n| processes | contender updates/s | CPU ms/update | peak RSS MiB | baseline updates/s | CPU ms/update |' +
        ' peak RSS MiB | updates/s ratio | CPU ratio | Redis CPU ms/update (contender / baseline) |',
    );
    console.log('| -: | -: | -: | -: | -: | -: | -: | -: | -: | -: |');
    for (const n of processCounts) {
      const [a, b] = [results.get(`${n} contender`)!, results.get(`${n} baseline`)!];
      console.log(
        `| ${n} | ${[...cells(a), ...cells(b)].join(' | ')} | ${ratioOf(a, b, (r) => r.perSecond)} | ` +
          `${ratioOf(a, b, (r) => r.cpuMsPerUpdate)} | ${ms(median(a.map((r) => r.redisCpuMsPerUpdate ?? NaN)), 3)} / ` +
          `${ms(median(b.map((r) => r.redisCpuMsPerUpdate ?? NaN)), 3)} |`,
      );
    }
  }

  if (parts.has('backlog')) {
    console.log(`\nbacklog: one contender started on a stream already holding the backlog, Redis stores`);
    console.log(
      '\n| backlog (entries) | contender peak RSS MiB | RSS MiB at the end | updates/s (start-up included) |',
    );
    console.log('| -: | -: | -: | -: |');
    for (const backlog of backlogs) {
      const r = await runStream('contender', 1, backlog, { prefilled: true }, redisUrl);
      console.log(
        `| ${backlog.toLocaleString('en')} | ${Math.round(r.peakRssMiB)} | ${Math.round(r.endRssMiB)} | ` +
          `${Math.round(r.perSecond).toLocaleString('en')} |`,
      );
    }
  }
};

// Usage: npm run bench -- backpressure [--updates N] [--rate R] [--redis] [--max-heap MiB]
//        npm run bench -- throughput [--updates N]
//        npm run bench -- hot-path [--updates N] [--rounds R] [--against DIR]   (DIR: another tree's .bench)
//        npm run bench -- replay [--entries N] [--delivered 0.95] [--rounds R]
//        npm run bench -- got [--requests N] [--rounds R]
//        npm run bench -- redis-cost [--calls N] [--spacing-ms MS] [--rounds R]
//        npm run bench -- embedded-cost [--updates N] [--spacing-ms MS] [--rounds R]
//        npm run bench -- all [--quick]   (or just --quick): every figure; the full run writes BENCHMARKS.md
//        npm run bench -- flows [--updates N] [--rounds R]   (after npm run build: it starts dist/)
//        npm run bench -- intake [--requests N] [--concurrency C] [--rounds R]   (after npm run build too)
//        npm run bench -- end-to-end [--updates N] [--rounds R] [--idle-seconds S] [--settled-seconds S]
//               [--limit L] [--below-rate R] [--below-seconds S] [--at-seconds S] [--entries N]
//               [--processes 1,2,3] [--backlogs 20000,200000]
//               [--stream-warm-up N] [--lease-seconds S] [--parts throughput,paced,commands,streams,backlog]
//               [--cpu-prof DIR]
//               [--node-red DIR] (after npm run build; Node-RED joins the throughput part when
//               `npm run bench:node-red` installed it, or DIR holds node_modules/node-red)
const benches: Record<string, () => Promise<void>> = {
  backpressure,
  throughput,
  flows,
  intake,
  'hot-path': hotPath,
  replay,
  got: gotSettings,
  'redis-cost': redisCost,
  'embedded-cost': embeddedCost,
  'end-to-end': endToEnd,
};
/**
 * What `all` runs, each with the sizes of a full run and of `--quick` (every figure, small, in under
 * three minutes on the project's machine). `backpressure` and `throughput` are left out: the first runs
 * for minutes by design, the second is `hot-path`'s qualified work without a baseline.
 */
const SUITE: ReadonlyArray<{ readonly name: string; readonly full: string[]; readonly quick: string[] }> = [
  { name: 'hot-path', full: ['--updates', '50000'], quick: ['--updates', '6000'] },
  { name: 'replay', full: ['--entries', '20000'], quick: ['--entries', '3000'] },
  { name: 'got', full: ['--requests', '20000'], quick: ['--requests', '3000'] },
  { name: 'redis-cost', full: [], quick: ['--calls', '50', '--rounds', '1'] },
  { name: 'embedded-cost', full: [], quick: ['--updates', '50', '--rounds', '1'] },
  { name: 'intake', full: ['--requests', '20000'], quick: ['--requests', '3000', '--rounds', '1'] },
  { name: 'flows', full: ['--updates', '2000'], quick: ['--updates', '300', '--rounds', '1'] },
  {
    name: 'end-to-end',
    full: [],
    quick: [
      ...['--updates', '800', '--warm-up', '200', '--rounds', '1', '--idle-seconds', '2', '--settled-seconds', '0'],
      ...[
        '--below-seconds',
        '3',
        '--at-seconds',
        '2',
        '--entries',
        '800',
        '--stream-warm-up',
        '100',
        '--backlogs',
        '4000',
      ],
    ],
  },
];

const BEGIN = '<!-- bench all: begin (written by `npm run bench -- all`) -->';
const END = '<!-- bench all: end -->';

/**
 * Every benchmark of the suite, one after the other, printing as each does. The full run also writes
 * its tables into BENCHMARKS.md (between the markers), with the machine, the versions, the load and the
 * commands; `--quick` only prints.
 */
const all = async (): Promise<void> => {
  const quick = args.includes('--quick');
  const redis = connectRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
  await redis.quit();
  const report = [
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB; ` +
      `Node ${process.version}; Redis ${redisVersion}; load average at start ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}.`,
  ];
  const print = console.log;
  const started = performance.now();
  for (const { name, full, quick: small } of SUITE) {
    if (['intake', 'flows', 'end-to-end'].includes(name) && !existsSync('dist/pipeline/cli.js')) {
      print(`${name}: skipped, it starts dist/ (run npm run build first)`);
      continue;
    }
    args.splice(0, args.length, name, ...(quick ? small : full));
    const command = `npm run bench -- ${args.join(' ')}`;
    print(`\n## ${command}`);
    const lines: string[] = [];
    console.log = (...parts: unknown[]) => {
      lines.push(parts.join(' '));
      print(...parts);
    };
    try {
      await benches[name]!();
    } finally {
      console.log = print;
    }
    // A table's header is printed after a blank line, in the same call: look at each line of the output.
    const tableLines = lines.flatMap((line) => line.split('\n')).filter((line) => line.startsWith('|'));
    report.push('', `\`${command}\`:`, '', ...tableLines);
  }
  report.push(
    '',
    `Load average at the end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}.`,
  );
  print(`\nall: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (quick) return;
  const text = readFileSync('BENCHMARKS.md', 'utf8');
  const at = text.indexOf(BEGIN);
  const rest = at < 0 ? '' : text.slice(text.indexOf(END, at) + END.length);
  writeFileSync(
    'BENCHMARKS.md',
    `${at < 0 ? `${text}\n` : text.slice(0, at)}${BEGIN}\n${report.join('\n')}\n${END}${rest}`,
  );
  print('written to BENCHMARKS.md');
};

benches.all = all;
const name = args[0] && !args[0].startsWith('--') ? args[0] : args.includes('--quick') ? 'all' : 'backpressure';
const bench = benches[name];
if (!bench) {
  console.error(`unknown benchmark ${name}; known: ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}
await bench();
