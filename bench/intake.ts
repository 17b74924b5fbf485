import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connectRedis, deleteKeys, type Redis } from '../adapters/redis/connection.js';
import { cpuMsOf, rssMiBOf, updateOf } from './flows.js';

/** The `qualtrics-automations run` process with `source.http`, or the hand-written minimal intake. */
export type IntakeTarget = 'contender' | 'baseline';

export interface IntakeRun {
  readonly target: IntakeTarget;
  /** Requests measured, each one profile; a warm-up of a tenth as many (at most 2,000) goes first. */
  readonly requests: number;
  /** Requests in flight at once, each on its own keep-alive connection. */
  readonly concurrency: number;
  readonly redisUrl: string;
  /** Every key of the run starts with it (`<prefix>:...`); they are deleted at the end. */
  readonly prefix: string;
}

export interface IntakeResult {
  readonly seconds: number;
  readonly perSecond: number;
  /** Answer times seen by the client, ms: from writing the request to the end of the answer. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** CPU (user + system, every thread) of the intake process over the measured requests. */
  readonly cpuMs: number;
  readonly rssMiB: number;
  /** CPU of this process (the client) and of redis-server over the same time: they share the cores. */
  readonly clientCpuMs: number;
  readonly redisCpuMs: number | undefined;
  /** Answers other than 200, by status: always none (a run with any throws). */
  readonly refused: Readonly<Record<number, number>>;
  /** Entries in the journal stream at the end: every request, warm-up included (a run with fewer throws). */
  readonly stored: number;
  /** Requests the paused destination received (each answered 401): the contender's retries. */
  readonly destinationRequests: number;
}

const CLI = 'bin/qualtrics-automations.js';
const TOKEN = 'bench-intake-bearer-token';
const CHECKOUT = '5b6f8f7e-3d1c-4a57-9a8e-2f0c6d1e4b21';

/** redis-server's pid, when it runs on this machine and its /proc entry is readable. */
const redisPidOf = async (redis: Redis): Promise<number | undefined> => {
  const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
  try {
    cpuMsOf(pid);
    return pid;
  } catch {
    return undefined;
  }
};

/** Starts the contender: `run` from dist/ with `source.http` (bearer, plain HTTP on loopback) and a journal. */
const startContender = async (
  { redisUrl, prefix }: IntakeRun,
  destination: string,
  dir: string,
): Promise<{ child: ChildProcess; url: string }> => {
  const port = await freePort();
  const config = {
    name: 'intake-bench',
    source: { http: { host: '127.0.0.1', port, path: '/profiles', auth: { bearer: TOKEN } } },
    redis: { url: redisUrl, prefix },
    // No maxLength: the journal holds everything taken in (it grows, as with a paused Qualtrics).
    journal: { stream: `${prefix}:journal` },
    destination: { url: destination, apiToken: 'bench-token', auth: 'header', allowAnyHost: true },
    audiences: [{ id: CHECKOUT }],
    identities: [{ source: 'Email', target: 'email' }],
    attributes: [{ source: 'person.name.firstName', target: 'firstName' }],
    observability: { port: 0 },
    state: { dir: join(dir, 'state') },
    shutdownGraceMs: 10_000,
  };
  const file = join(dir, 'config.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, [CLI, 'run', '--config', file], {
    env: { PATH: process.env.PATH, LOG_LEVEL: 'error' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return { child, url: `http://127.0.0.1:${port}/profiles` };
};

/** Starts the baseline (bench/intake-baseline.ts, through tsx) and reads the port it prints. */
const startBaseline = ({ redisUrl, prefix }: IntakeRun): Promise<{ child: ChildProcess; url: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/intake-baseline.ts'], {
      env: {
        PATH: process.env.PATH,
        REDIS_URL: redisUrl,
        BASELINE_TOKEN: TOKEN,
        BASELINE_STREAM: `${prefix}:journal`,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.once('exit', (code) => reject(new Error(`the baseline exited (${code}) before listening`)));
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const port = /listening (\d+)/.exec(out)?.[1];
      if (port) resolve({ child, url: `http://127.0.0.1:${port}/profiles` });
    });
  });

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });

/** One request, its status (0: no answer yet: the server is not listening). */
const post = (url: string, agent: Agent | undefined, body: Buffer, method = 'POST'): Promise<number> =>
  new Promise((resolve) => {
    const req = request(
      url,
      {
        method,
        ...(agent ? { agent } : {}),
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          'content-length': body.length,
        },
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('error', () => resolve(0));
    req.end(body);
  });

/** Waits until the intake answers (a GET: 405 from the pipeline, 400 from the baseline; nothing stored). */
const listening = async (url: string, died: Promise<never>): Promise<void> => {
  const deadline = Date.now() + 30_000;
  while ((await Promise.race([post(url, undefined, Buffer.alloc(0), 'GET'), died])) === 0) {
    if (Date.now() > deadline) throw new Error(`${url} does not answer after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

/**
 * Posts `count` bodies (from `bodies[from]` on), `concurrency` at a time over a keep-alive agent: each
 * slot sends its next request as soon as the last one is answered. Answer times in ms, by request.
 */
const drive = async (
  url: string,
  agent: Agent,
  bodies: readonly Buffer[],
  from: number,
  count: number,
  concurrency: number,
): Promise<{ times: Float64Array; refused: Record<number, number> }> => {
  const times = new Float64Array(count);
  const refused: Record<number, number> = {};
  let next = 0;
  const slot = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const start = performance.now();
      const status = await post(url, agent, bodies[from + i]!);
      times[i] = performance.now() - start;
      if (status !== 200) refused[status] = (refused[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, slot));
  return { times, refused };
};

const percentile = (sorted: Float64Array, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;

/**
 * One run against a fresh intake process: the contender (`qualtrics-automations run`, from dist/, so
 * `npm run build` first) or the baseline, both appending to a stream under `prefix`. The destination is
 * paused: a local endpoint answering every request 401, so the pipeline delivers nothing and the
 * journal only grows. A warm-up (so V8 has compiled the hot paths) goes before the measured requests.
 */
export const runIntake = async (run: IntakeRun): Promise<IntakeResult> => {
  if (!existsSync('dist/pipeline/cli.js')) throw new Error('run `npm run build` first: the bench starts dist/');
  const { requests, concurrency, target, prefix } = run;
  const warmUp = Math.min(2_000, Math.ceil(requests / 10));
  const bodies = Array.from({ length: warmUp + requests }, (_, n) => Buffer.from(updateOf(n)));

  let destinationRequests = 0;
  const destination = createServer((req, res) => {
    destinationRequests += 1;
    req.resume();
    req.once('end', () => res.writeHead(401, { 'content-type': 'application/json' }).end('{"meta":{}}'));
  });
  await new Promise<void>((resolve) => destination.listen(0, '127.0.0.1', resolve));
  const destinationUrl = `http://127.0.0.1:${(destination.address() as AddressInfo).port}/events`;

  const redis = connectRedis(run.redisUrl, 'qa-bench-intake');
  const redisPid = await redisPidOf(redis);
  const dir = mkdtempSync(join(tmpdir(), 'qa-bench-intake-'));
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const { child, url } =
    target === 'contender' ? await startContender(run, destinationUrl, dir) : await startBaseline(run);
  const died = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`the ${target} exited (${code}) before the end`))),
  );
  try {
    await listening(url, died);
    await Promise.race([drive(url, agent, bodies, 0, warmUp, concurrency), died]);
    const cpuBefore = cpuMsOf(child.pid!);
    const redisBefore = redisPid === undefined ? 0 : cpuMsOf(redisPid);
    const clientBefore = process.cpuUsage();
    const start = performance.now();
    const { times, refused } = await Promise.race([drive(url, agent, bodies, warmUp, requests, concurrency), died]);
    const seconds = (performance.now() - start) / 1000;
    const client = process.cpuUsage(clientBefore);
    const cpuMs = cpuMsOf(child.pid!) - cpuBefore;
    const redisCpuMs = redisPid === undefined ? undefined : cpuMsOf(redisPid) - redisBefore;
    // Numbers from an intake that lost or refused bodies would flatter it: none are given.
    const stored = await redis.xlen(`${prefix}:journal`);
    if (stored !== warmUp + requests || Object.keys(refused).length > 0)
      throw new Error(`${target}: ${stored} stored of ${warmUp + requests}; refused ${JSON.stringify(refused)}`);
    times.sort();
    return {
      seconds,
      perSecond: requests / seconds,
      p50Ms: percentile(times, 0.5),
      p99Ms: percentile(times, 0.99),
      maxMs: times[times.length - 1]!,
      cpuMs,
      rssMiB: rssMiBOf(child.pid!),
      clientCpuMs: (client.user + client.system) / 1000,
      redisCpuMs,
      refused,
      stored,
      destinationRequests,
    };
  } finally {
    died.catch(() => {}); // it exits below, on purpose
    agent.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    destination.closeAllConnections();
    await new Promise((resolve) => destination.close(resolve));
    await deleteKeys(redis, prefix);
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  }
};
