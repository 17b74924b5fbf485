import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, type WebSocket } from 'ws';
import { connectRedis, deleteKeys, type Redis } from '../adapters/redis/connection.js';
import { CHECKOUT, cpuMsOf, LOYALTY, rssMiBOf, updateOf, wakeUpsOf } from './flows.js';
import { writeNodeRed } from './node-red.js';
import { commandLabel, commandsNaming, productScripts } from './redis-commands.js';

/**
 * End to end (issue #13, goals 4 to 8): the real product (`qualtrics-automations run` from dist/, a process
 * of its own) against a hand-written pipeline doing the same work with the same libraries
 * (bench/end-to-end-baseline.ts, a process of its own, reading the same config file). Both read updates
 * from a WebSocket feed served here (or from a Redis stream filled here) and POST to an endpoint served
 * here that answers 202 at once; the CPU counted is the target process's own (utime + stime from
 * /proc/<pid>/stat, every thread), never this process's feed and endpoint.
 */
export type E2ETarget = 'contender' | 'baseline';
/** The throughput part has a third contender when Node-RED is installed (bench/node-red.ts). */
export type ThroughputTarget = E2ETarget | 'node-red';
/** Without Redis (contender: its embedded LMDB state; baseline: a `Set`) or with Redis for dedupe and the rest. */
export type E2EStores = 'memory' | 'redis';

const CLI = 'bin/qualtrics-automations.js';
const BASELINE_SOURCE = 'bench/end-to-end-baseline.ts';
const BASELINE_BUILT = 'dist/bench/end-to-end-baseline.mjs';
/** What both targets allow: POSTs in flight, updates held before the intake pauses (the product's default). */
const CONCURRENCY = 16;
const MAX_IN_FLIGHT = 1000;
/** A rate limit far above what either reaches: consulted, never waited for. */
const NO_LIMIT = { requests: 1_000_000, perSeconds: 1 };
/** The most messages the feed hands its socket without seeing them flushed: TCP, not this, holds it back. */
const WINDOW = 256;

/**
 * Compiles the baseline (with the product code it imports; packages stay imports) into one file under
 * dist/, with esbuild (tsx's transpiler, so no dependency of its own): started through tsx instead, it
 * would carry tsx's loader thread, about 28 MiB of resident memory the contender (plain JS from dist/) has not.
 */
export const buildBaseline = (): void => {
  execFileSync(
    'node_modules/.bin/esbuild',
    [
      BASELINE_SOURCE,
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--packages=external',
      '--target=node20',
      '--log-level=warning',
      `--outfile=${BASELINE_BUILT}`,
    ],
    { stdio: 'inherit' },
  );
};

/** Peak resident memory of a process since it started (VmHWM), MiB: exact, nothing sampled. */
const peakRssMiBOf = (pid: number): number =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/**
 * redis-server's CPU so far (user + system, ms), from INFO cpu: getrusage's microseconds, where
 * /proc/<pid>/stat counts 10 ms ticks, too coarse for a few hundred paced updates at 50 us each.
 */
export const redisCpuMsOf = async (redis: Redis): Promise<number> => {
  const info = await redis.info('cpu');
  const seconds = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000;
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;

/**
 * The destination: answers every POST 202 with an empty body, and notes when each arrived (at the
 * request's headers, `performance.now()` of this process, the feed's clock) and which update it carried
 * (the `n` of `person<n>@example.com`).
 */
class Endpoint {
  readonly arrivals: number[] = [];
  readonly numbers: number[] = [];
  readonly distinct = new Set<number>();
  /** The first body seen for each `n` asked for by `keepBody`. */
  readonly bodies = new Map<number, string>();
  readonly #keep = new Set<number>();
  #waiters: Array<{ readonly count: number; readonly resolve: () => void }> = [];
  #onArrival: ((at: number, n: number) => void) | undefined;

  private constructor(
    readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<Endpoint> {
    let endpoint: Endpoint | undefined;
    const server = createServer((request, response) => {
      const at = performance.now();
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        response.writeHead(202, { 'content-length': '0' }).end();
        endpoint!.arrived(at, Buffer.concat(chunks).toString('utf8'));
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = new Endpoint(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/event`);
    return endpoint;
  }

  keepBody(n: number): void {
    this.#keep.add(n);
  }

  onArrival(listener: ((at: number, n: number) => void) | undefined): void {
    this.#onArrival = listener;
  }

  arrived(at: number, body: string): void {
    const n = Number(/person(\d+)@example\.com/.exec(body)?.[1] ?? -1);
    this.arrivals.push(at);
    this.numbers.push(n);
    this.distinct.add(n);
    if (this.#keep.has(n) && !this.bodies.has(n)) this.bodies.set(n, body);
    this.#onArrival?.(at, n);
    this.#waiters = this.#waiters.filter((waiter) => (this.distinct.size >= waiter.count ? waiter.resolve() : true));
  }

  /** Resolves once `count` different updates have arrived. */
  until(count: number): Promise<void> {
    if (this.distinct.size >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** The WebSocket feed the target connects to (its `source.websocket.url`). */
class Feed {
  #socket: WebSocket | undefined;
  readonly connected: Promise<void>;

  private constructor(
    readonly server: WebSocketServer,
    readonly url: string,
  ) {
    this.connected = new Promise((resolve) =>
      server.on('connection', (socket: WebSocket) => {
        this.#socket = socket;
        resolve();
      }),
    );
  }

  static async start(): Promise<Feed> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    return new Feed(server, `ws://127.0.0.1:${(server.address() as AddressInfo).port}/feed`);
  }

  /** Sends every message as fast as the socket drains (a reader that pauses holds this back through TCP). */
  flood(messages: readonly string[]): Promise<void> {
    const socket = this.#socket!;
    return new Promise((resolve) => {
      let sent = 0;
      let outstanding = 0;
      const pump = (): void => {
        while (sent < messages.length && outstanding < WINDOW && socket.readyState === socket.OPEN) {
          outstanding += 1;
          socket.send(messages[sent++]!, () => {
            outstanding -= 1;
            if (sent === messages.length && outstanding === 0) resolve();
            else setImmediate(pump);
          });
        }
      };
      pump();
    });
  }

  /** Sends message i at `i / perSecond` seconds from now (drift-corrected), noting when each went. */
  paced(messages: readonly string[], perSecond: number, sentAt: Float64Array): Promise<void> {
    const socket = this.#socket!;
    const start = performance.now();
    let i = 0;
    return new Promise((resolve) => {
      const tick = (): void => {
        while (i < messages.length && performance.now() >= start + (i * 1000) / perSecond) {
          sentAt[i] = performance.now();
          socket.send(messages[i++]!);
        }
        if (i < messages.length) setTimeout(tick, start + (i * 1000) / perSecond - performance.now());
        else resolve();
      };
      tick();
    });
  }

  async close(): Promise<void> {
    for (const socket of this.server.clients) socket.terminate();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** A running target process: its pid, a promise that rejects if it exits before it is stopped, and stop. */
interface Target {
  readonly pid: number;
  readonly died: Promise<never>;
  stop(): Promise<void>;
}

let nodeRed: string | undefined;
/** Node-RED's start script (bench/node-red.ts `nodeRedMain`), for runs of the `node-red` target. */
export const nodeRedFrom = (main: string): void => {
  nodeRed = main;
};

let profileDir: string | undefined;
/** Every target started from now on writes a CPU profile (`node --cpu-prof`) into `dir` when it exits. */
export const profileInto = (dir: string): void => {
  profileDir = dir;
};

/** What each target is started with: all three read the same config file. */
const argvOf = (target: ThroughputTarget, configFile: string): string[] => {
  if (target === 'contender') return [CLI, 'run', '--config', configFile];
  if (target === 'baseline') return [BASELINE_BUILT, configFile];
  if (!nodeRed) throw new Error('Node-RED is not installed: `npm run bench:node-red`');
  return writeNodeRed(nodeRed, dirname(configFile), JSON.parse(readFileSync(configFile, 'utf8')));
};

const startTarget = (target: ThroughputTarget, configFile: string): Target => {
  const argv = [
    ...(profileDir
      ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${target}-${Date.now()}.cpuprofile`]
      : []),
    ...argvOf(target, configFile),
  ];
  const child: ChildProcess = spawn(process.execPath, argv, {
    env: { PATH: process.env.PATH, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const died = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) => reject(new Error(`the ${target} exited (${code ?? signal}) before the end`))),
  );
  died.catch(() => {}); // noticed where it is awaited; stopping it on purpose is no failure
  return {
    pid: child.pid!,
    died,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGTERM');
      // A backlog still waiting on the rate limit has a grace period to settle: not worth waiting for.
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
};

/** `promise`, unless a target dies first or `seconds` pass. */
const within = async <T>(
  promise: Promise<T>,
  targets: readonly Target[],
  seconds: number,
  what: string,
): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([promise, timeout, ...targets.map((t) => t.died)]);
  } finally {
    clearTimeout(timer);
  }
};

interface Source {
  readonly websocket?: { readonly url: string };
  readonly redisStream?: { readonly stream: string; readonly group: string; readonly startId: '$' | '0' };
}

/**
 * The config both targets read (JSON, which is YAML too): one flow, two of the update's three audiences
 * mapped (every update qualifies in both), Email then ECID, four attributes.
 */
const writeConfig = (
  name: string,
  dir: string,
  source: Source,
  endpoint: string,
  rateLimit: { readonly requests: number; readonly perSeconds: number },
  redis: { readonly url: string; readonly prefix: string } | undefined,
  dedupe?: { readonly leaseSeconds: number },
): string => {
  const config = {
    name,
    source,
    destination: {
      url: endpoint,
      apiToken: 'bench-token',
      auth: 'header',
      allowAnyHost: true,
      rateLimit,
      concurrency: CONCURRENCY,
    },
    pipeline: { maxInFlight: MAX_IN_FLIGHT },
    audiences: [{ id: CHECKOUT }, { id: LOYALTY }],
    identities: [
      { source: 'Email', target: 'email' },
      { source: 'ECID', target: 'external_id' },
    ],
    attributes: [
      { source: 'person.name.firstName', target: 'person.name.firstName' },
      { source: 'person.name.lastName', target: 'person.name.lastName' },
      { source: 'homeAddress.city', target: 'homeAddress.city' },
      { source: 'loyalty.tier', target: 'loyalty.tier' },
    ],
    observability: { port: 0 },
    state: { dir: join(dir, 'state') },
    shutdownGraceMs: 1_000,
    ...(redis ? { redis } : {}),
    ...(dedupe ? { dedupe } : {}),
  };
  const file = join(dir, 'config.yaml');
  // Owner-only: the contender warns about a readable file holding a token.
  writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  return file;
};

/** Everything one run needs, set up and torn down around `body` (keys under the run's prefix deleted). */
const withRun = async <T>(
  name: string,
  redisUrl: string,
  body: (run: {
    endpoint: Endpoint;
    feed: Feed;
    dir: string;
    prefix: string;
    redis: Redis;
    /** The config's name: unique to the run, so its Redis connections can be told from others'. */
    name: string;
  }) => Promise<T>,
): Promise<T> => {
  if (!existsSync('dist/pipeline/cli.js')) throw new Error('run `npm run build` first: the bench starts dist/');
  const id = `${name}-${Date.now().toString(36)}`;
  const prefix = `qa-bench-e2e:{${id}}`;
  const endpoint = await Endpoint.start();
  const feed = await Feed.start();
  const dir = mkdtempSync(join(tmpdir(), 'qa-bench-e2e-'));
  const redis = connectRedis(redisUrl, 'qa-bench-e2e');
  try {
    return await body({ endpoint, feed, dir, prefix, redis, name: `e2e-${id}` });
  } finally {
    await feed.close();
    await endpoint.close();
    await deleteKeys(redis, prefix);
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  }
};

const messagesOf = (from: number, count: number): string[] =>
  Array.from({ length: count }, (_, i) => updateOf(from + i));

export interface ThroughputResult {
  readonly perSecond: number;
  readonly cpuMsPerUpdate: number;
  /** redis-server's CPU over the measured updates, per update (undefined without Redis or /proc access). */
  readonly redisCpuMsPerUpdate: number | undefined;
  /** VmHWM at the end: the process's peak resident memory. */
  readonly peakRssMiB: number;
  /** The POST body of update 0, to check both targets send the same. */
  readonly sampleBody: string;
}

/**
 * Goal 4: every update qualified, no effective rate limit. A warm-up (so V8 has compiled the hot paths),
 * then `updates` more fed as fast as the target takes them, timed from the first sent to the last
 * received; CPU is the target's over that time.
 */
export const runThroughput = (
  target: ThroughputTarget,
  stores: E2EStores,
  updates: number,
  warmUp: number,
  redisUrl: string,
): Promise<ThroughputResult> =>
  withRun(`${target}-${stores}`, redisUrl, async ({ endpoint, feed, dir, prefix, redis, name }) => {
    const config = writeConfig(
      name,
      dir,
      { websocket: { url: feed.url } },
      endpoint.url,
      NO_LIMIT,
      stores === 'redis' ? { url: redisUrl, prefix } : undefined,
    );
    endpoint.keepBody(0);
    const warm = messagesOf(0, warmUp);
    const measured = messagesOf(warmUp, updates);
    const proc = startTarget(target, config);
    try {
      await within(feed.connected, [proc], 30, `${target} connecting`);
      void feed.flood(warm);
      await within(endpoint.until(warmUp), [proc], 60, `${target} warm-up`);
      const cpu = cpuMsOf(proc.pid);
      const redisCpu = await redisCpuMsOf(redis);
      const start = performance.now();
      void feed.flood(measured);
      await within(endpoint.until(warmUp + updates), [proc], 300, `${target} ${stores}`);
      const seconds = (performance.now() - start) / 1000;
      const cpuMs = cpuMsOf(proc.pid) - cpu;
      if (endpoint.arrivals.length !== warmUp + updates)
        throw new Error(`${target}: ${endpoint.arrivals.length} POSTs for ${warmUp + updates} updates`);
      return {
        perSecond: updates / seconds,
        cpuMsPerUpdate: cpuMs / updates,
        redisCpuMsPerUpdate: stores === 'redis' ? ((await redisCpuMsOf(redis)) - redisCpu) / updates : undefined,
        peakRssMiB: peakRssMiBOf(proc.pid),
        sampleBody: endpoint.bodies.get(0) ?? '',
      };
    } finally {
      await proc.stop();
    }
  });

export interface PacedRun {
  readonly idleSeconds: number;
  /**
   * When, after connecting, resident memory is read again, still idle: once V8's memory reducer has run
   * (some seconds after start-up's last collection), what a long-lived process holds. Not past
   * `idleSeconds` (0, say): not read.
   */
  readonly settledSeconds: number;
  /** The destination's limit: `limit` requests per second. */
  readonly limit: number;
  /** Below the limit: `belowRate` updates a second fed for `belowSeconds`. */
  readonly belowRate: number;
  readonly belowSeconds: number;
  /** At the limit: a backlog waiting, deliveries counted over `atSeconds` from the first. */
  readonly atSeconds: number;
}

/** Whether a paced run reads resident memory a second time (`settledSeconds` past `idleSeconds`). */
export const readsSettled = (run: PacedRun): boolean => run.settledSeconds > run.idleSeconds;

export interface PacedResult {
  /** VmRSS `idleSeconds` after the target connected, nothing sent yet. */
  readonly idleRssMiB: number;
  /** CPU over those seconds, per second: what it spends with nothing to do (timers, polling). */
  readonly idleCpuMsPerSecond: number;
  /** VmRSS `settledSeconds` after the target connected, still idle; undefined when not read. */
  readonly settledRssMiB: number | undefined;
  /** Below the limit: feed (send) to endpoint (arrival) of each update, ms, in arrival order. */
  readonly latenciesMs: readonly number[];
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /**
   * The first update after the idle phase: its latency is the cold path's (code run for the first time,
   * a new connection to the endpoint, the first store writes), which a p99 of few updates would be.
   */
  readonly firstMs: number;
  readonly belowCpuMsPerUpdate: number;
  /** Below the limit: the main thread's wake-ups (`wakeUpsOf`) per update. */
  readonly belowWakeUpsPerUpdate: number;
  /** At the limit: POSTs that arrived within `atSeconds` of the first, over what the limit allows then. */
  readonly quota: number;
  /** The most POSTs that arrived within any one second (at the limit and below). */
  readonly busiestSecond: number;
  readonly atCpuMsPerUpdate: number;
  /** At the limit: the main thread's share of that CPU (the rest: V8's helpers, libuv's pool, LMDB's writer). */
  readonly atMainCpuMsPerUpdate: number;
  /** At the limit: the main thread's wake-ups (`wakeUpsOf`) per delivered update. */
  readonly atWakeUpsPerUpdate: number;
  readonly atRedisCpuMsPerUpdate: number | undefined;
}

/** The run of one target: its endpoint, feed, folder and keys. */
type RunContext = Parameters<Parameters<typeof withRun>[2]>[0];

/** Below, then at the limit, in a target already connected and idle. */
const pacedPhases = async (
  target: E2ETarget,
  run: PacedRun,
  { endpoint, feed }: RunContext,
  proc: Target,
  redis: Redis | undefined,
): Promise<Omit<PacedResult, 'idleRssMiB' | 'idleCpuMsPerSecond' | 'settledRssMiB'>> => {
  const below = Math.round(run.belowRate * run.belowSeconds);
  // A second more than the window takes: it waits throughout, and is all delivered soon after.
  const backlog = run.limit * (run.atSeconds + 1);

  const sentAt = new Float64Array(below);
  const belowCpu = cpuMsOf(proc.pid);
  const belowWakeUpsFrom = wakeUpsOf(proc.pid);
  await feed.paced(messagesOf(0, below), run.belowRate, sentAt);
  await within(endpoint.until(below), [proc], 30, `${target} below the limit`);
  const belowCpuMs = cpuMsOf(proc.pid) - belowCpu;
  const belowWakeUps = wakeUpsOf(proc.pid) - belowWakeUpsFrom;
  const latenciesMs = endpoint.numbers.map((n, i) => endpoint.arrivals[i]! - sentAt[n]!);
  const firstMs = latenciesMs[endpoint.numbers.indexOf(0)] ?? Number.NaN;
  const latencies = [...latenciesMs].sort((a, b) => a - b);

  // At the limit: counted from the first POST of the backlog, over atSeconds.
  let first: { at: number; cpu: number; mainCpu: number; wakeUps: number; redisCpu: Promise<number> } | undefined;
  let firstSeen: () => void = () => {};
  const started = new Promise<void>((resolve) => (firstSeen = resolve));
  endpoint.onArrival((at, n) => {
    if (first || n < below) return;
    first = {
      at,
      cpu: cpuMsOf(proc.pid),
      mainCpu: cpuMsOf(proc.pid, proc.pid),
      wakeUps: wakeUpsOf(proc.pid),
      redisCpu: redis ? redisCpuMsOf(redis) : Promise.resolve(0),
    };
    firstSeen();
  });
  void feed.flood(messagesOf(below, backlog));
  await within(started, [proc], 30, `${target} at the limit`);
  await sleep(first!.at + run.atSeconds * 1000 - performance.now());
  const atCpuMs = cpuMsOf(proc.pid) - first!.cpu;
  const atMainCpuMs = cpuMsOf(proc.pid, proc.pid) - first!.mainCpu;
  const atWakeUps = wakeUpsOf(proc.pid) - first!.wakeUps;
  const atRedisCpuMs = redis ? (await redisCpuMsOf(redis)) - (await first!.redisCpu) : undefined;
  const end = first!.at + run.atSeconds * 1000;
  const delivered = endpoint.arrivals.filter((at) => at >= first!.at && at < end).length;
  // Stopped with nothing left: a contender stopped with updates in hand reports them lost (at error).
  await within(endpoint.until(below + backlog), [proc], 60, `${target} draining the backlog`);

  let busiestSecond = 0;
  const arrivals = [...endpoint.arrivals].sort((a, b) => a - b);
  for (let i = 0, j = 0; i < arrivals.length; i++) {
    while (arrivals[i]! - arrivals[j]! >= 1000) j++;
    busiestSecond = Math.max(busiestSecond, i - j + 1);
  }
  return {
    latenciesMs,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies[latencies.length - 1] ?? Number.NaN,
    firstMs,
    belowCpuMsPerUpdate: belowCpuMs / below,
    belowWakeUpsPerUpdate: belowWakeUps / below,
    quota: delivered / (run.limit * run.atSeconds),
    busiestSecond,
    atCpuMsPerUpdate: atCpuMs / delivered,
    atMainCpuMsPerUpdate: atMainCpuMs / delivered,
    atWakeUpsPerUpdate: atWakeUps / delivered,
    atRedisCpuMsPerUpdate: atRedisCpuMs === undefined ? undefined : atRedisCpuMs / delivered,
  };
};

/**
 * Goals 5, 6 (idle) and 7, the destination limited to `limit` a second. Both targets start together,
 * each with its own feed and endpoint, and sit idle for `idleSeconds` (resident memory, CPU) and on to
 * `settledSeconds` (resident memory once V8 has shrunk its heap after start-up); then the
 * contender, and after it the baseline, is fed below the limit at an even pace (receive-to-POST
 * latency, CPU per update), then a backlog as fast as it is taken (CPU per delivered update, quota use
 * and the busiest second at the endpoint). One target's measured phases never overlap the other's.
 */
export const runPaced = (stores: E2EStores, run: PacedRun, redisUrl: string): Promise<Record<E2ETarget, PacedResult>> =>
  withRun(`contender-${stores}-paced`, redisUrl, (contender) =>
    withRun(`baseline-${stores}-paced`, redisUrl, async (baseline) => {
      const sides = [
        ['contender', contender],
        ['baseline', baseline],
      ] as const;
      const procs = sides.map(([target, { name, dir, feed, endpoint, prefix }]) =>
        startTarget(
          target,
          writeConfig(
            name,
            dir,
            { websocket: { url: feed.url } },
            endpoint.url,
            { requests: run.limit, perSeconds: 1 },
            stores === 'redis' ? { url: redisUrl, prefix } : undefined,
          ),
        ),
      );
      try {
        await within(Promise.all(sides.map(([, side]) => side.feed.connected)), procs, 30, 'connecting');
        const cpu = procs.map((p) => cpuMsOf(p.pid));
        await sleep(run.idleSeconds * 1000);
        const idle = procs.map((p, i) => ({
          idleRssMiB: rssMiBOf(p.pid),
          idleCpuMsPerSecond: (cpuMsOf(p.pid) - cpu[i]!) / run.idleSeconds,
        }));
        if (readsSettled(run)) await sleep((run.settledSeconds - run.idleSeconds) * 1000);
        const settled = procs.map((p) => (readsSettled(run) ? rssMiBOf(p.pid) : undefined));
        const results: Partial<Record<E2ETarget, PacedResult>> = {};
        for (const [i, [target, side]] of sides.entries()) {
          results[target] = {
            ...idle[i]!,
            settledRssMiB: settled[i],
            ...(await pacedPhases(target, run, side, procs[i]!, stores === 'redis' ? side.redis : undefined)),
          };
          await procs[i]!.stop();
        }
        return results as Record<E2ETarget, PacedResult>;
      } finally {
        await Promise.all(procs.map((p) => p.stop()));
      }
    }),
  );

export interface CommandsRun {
  /** Updates delivered before counting starts: every script is loaded by then (no EVALSHA falling back to EVAL). */
  readonly warmUp: number;
  /** Below the limit: `below` updates at `belowRate` a second, each arriving alone. */
  readonly below: number;
  readonly belowRate: number;
  /** At the limit: `backlog` updates sent at once to a destination limited to `limit` a second. */
  readonly backlog: number;
  readonly limit: number;
  /**
   * The contender's dedupe lease, renewed every third of it while an update waits. Short here, so that a
   * backlog of a few seconds sees the renewals that a real one (a thousand updates held at 30 a second,
   * the default lease renewed every 20 s) sees over half a minute.
   */
  readonly leaseSeconds: number;
}

/** The Redis commands naming the run's prefix while `delivered` updates went through, by `commandLabel`. */
export interface CommandCount {
  readonly delivered: number;
  readonly commands: ReadonlyMap<string, number>;
}

export type CommandsResult = Record<'below' | 'at', CommandCount>;

/**
 * After the last POST arrives, the target still commits its dedupe mark and writes its history, which
 * gathers for up to a second (HistoryWriter): time for both.
 */
const SETTLE_MS = 1_300;

const tally = (labels: readonly string[]): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const label of labels) counts.set(label, (counts.get(label) ?? 0) + 1);
  return counts;
};

/**
 * Goal 5's "at most 3 Redis commands per delivered update": one target with Redis stores, its commands
 * counted with MONITOR (which slows Redis: so this runs on its own, outside every CPU figure) while
 * updates go through below the limit (each alone) and at it (a backlog, batched where the target
 * batches). A warm-up first loads the scripts; commands are counted until the last update settled.
 */
export const runCommands = (target: E2ETarget, run: CommandsRun, redisUrl: string): Promise<CommandsResult> =>
  withRun(`${target}-commands`, redisUrl, async ({ endpoint, feed, dir, prefix, redis, name }) => {
    const config = writeConfig(
      name,
      dir,
      { websocket: { url: feed.url } },
      endpoint.url,
      { requests: run.limit, perSeconds: 1 },
      { url: redisUrl, prefix },
      { leaseSeconds: run.leaseSeconds },
    );
    const label = commandLabel(prefix, productScripts());
    const proc = startTarget(target, config);
    /** Sends `updates` updates from `from` (by `send`) and counts the commands until all arrived and settled. */
    const counted = async (
      from: number,
      updates: number,
      send: (messages: readonly string[]) => Promise<void>,
      what: string,
    ): Promise<CommandCount> => {
      const posted = endpoint.arrivals.length;
      const labels = await commandsNaming(
        redis,
        prefix,
        async () => {
          await send(messagesOf(from, updates));
          await within(endpoint.until(from + updates), [proc], 60, `${target} ${what}`);
          await sleep(SETTLE_MS);
        },
        label,
      );
      return { delivered: endpoint.arrivals.length - posted, commands: tally(labels) };
    };
    try {
      await within(feed.connected, [proc], 30, `${target} connecting`);
      await feed.flood(messagesOf(0, run.warmUp));
      await within(endpoint.until(run.warmUp), [proc], 30, `${target} warm-up`);
      await sleep(SETTLE_MS);
      const sentAt = new Float64Array(run.below);
      const below = await counted(
        run.warmUp,
        run.below,
        (messages) => feed.paced(messages, run.belowRate, sentAt),
        'below the limit',
      );
      const at = await counted(run.warmUp + run.below, run.backlog, (messages) => feed.flood(messages), 'at the limit');
      return { below, at };
    } finally {
      await proc.stop();
    }
  });

export interface StreamResult {
  readonly perSecond: number;
  /** CPU of all the processes, per update. */
  readonly cpuMsPerUpdate: number;
  readonly redisCpuMsPerUpdate: number | undefined;
  /** The largest VmHWM among the processes. */
  readonly peakRssMiB: number;
  /** VmRSS of the first process once every entry arrived. */
  readonly endRssMiB: number;
}

/** Appends `updateOf(from..from+count)` to a stream, 2,000 entries a pipeline. */
const fillStream = async (redis: Redis, stream: string, from: number, count: number): Promise<void> => {
  for (let at = 0; at < count; at += 2000) {
    const batch = redis.pipeline();
    for (let n = at; n < Math.min(count, at + 2000); n++) batch.xadd(stream, '*', 'profile', updateOf(from + n));
    for (const [error] of (await batch.exec())!) if (error) throw error;
  }
};

/**
 * Goal 8: `processes` target processes in one consumer group of one Redis stream (Redis stores, the
 * same prefix, as N processes of one deployment), no effective rate limit. `prefilled`: the backlog is
 * in the stream before the processes start (for memory against backlog size; the time then includes
 * start-up). Otherwise the processes start on an empty stream; once each has joined the group,
 * `warmUp` entries a process are appended a few at a time (so each process gets some and V8 compiles
 * its hot paths), and once they are through, the `entries` are appended (far faster than they are
 * taken: a backlog), timed from the first appended to the last received.
 */
export const runStream = (
  target: E2ETarget,
  processes: number,
  entries: number,
  { prefilled = false, warmUp = 0 }: { readonly prefilled?: boolean; readonly warmUp?: number },
  redisUrl: string,
): Promise<StreamResult> =>
  withRun(`${target}-stream-${processes}`, redisUrl, async ({ endpoint, dir, prefix, redis, name }) => {
    const stream = `${prefix}:updates`;
    const group = 'e2e-bench';
    const config = writeConfig(name, dir, { redisStream: { stream, group, startId: '0' } }, endpoint.url, NO_LIMIT, {
      url: redisUrl,
      prefix,
    });
    if (prefilled) await fillStream(redis, stream, 0, entries);
    else await redis.xgroup('CREATE', stream, group, '$', 'MKSTREAM');
    const procs: Target[] = [];
    try {
      for (let i = 0; i < processes; i++) procs.push(startTarget(target, config));
      const cpu = procs.map((p) => cpuMsOf(p.pid));
      let redisCpu = await redisCpuMsOf(redis);
      let start = performance.now();
      if (!prefilled) {
        // Each process reads on a connection of its own, named after the config: all of them reading
        // (XREADGROUP, blocked on the empty stream) is all of them ready. XINFO CONSUMERS cannot tell:
        // Redis 7.0 adds a consumer only once a read hands it an entry.
        const joined = async (): Promise<void> => {
          for (;;) {
            const clients = ((await redis.client('LIST')) as string).split('\n');
            if (clients.filter((c) => c.includes(name) && c.includes('cmd=xreadgroup')).length >= processes) return;
            await sleep(50);
          }
        };
        await within(joined(), procs, 30, `${target} joining the group`);
        for (let n = 0; n < warmUp * processes; n += 10) {
          await fillStream(redis, stream, n, Math.min(10, warmUp * processes - n));
          await sleep(5);
        }
        await within(endpoint.until(warmUp * processes), procs, 60, `${target} warming up`);
        for (const [i, p] of procs.entries()) cpu[i] = cpuMsOf(p.pid);
        redisCpu = await redisCpuMsOf(redis);
        start = performance.now();
        await fillStream(redis, stream, warmUp * processes, entries);
      }
      const all = entries + (prefilled ? 0 : warmUp * processes);
      await within(endpoint.until(all), procs, 900, `${target} draining ${entries}`);
      const seconds = (performance.now() - start) / 1000;
      const cpuMs = procs.reduce((sum, p, i) => sum + cpuMsOf(p.pid) - cpu[i]!, 0);
      if (endpoint.arrivals.length !== all)
        throw new Error(`${target}: ${endpoint.arrivals.length} POSTs for ${all} entries`);
      return {
        perSecond: entries / seconds,
        cpuMsPerUpdate: cpuMs / entries,
        redisCpuMsPerUpdate: ((await redisCpuMsOf(redis)) - redisCpu) / entries,
        peakRssMiB: Math.max(...procs.map((p) => peakRssMiBOf(p.pid))),
        endRssMiB: rssMiBOf(procs[0]!.pid),
      };
    } finally {
      await Promise.all(procs.map((p) => p.stop()));
    }
  });
