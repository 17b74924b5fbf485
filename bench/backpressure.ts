import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { QualtricsStandIn } from '../pipeline/demo/qualtrics-stand-in.js';

export interface BackpressureRun {
  readonly updates: number;
  /** What the destination accepts: the pipeline's rate limit, requests per second. */
  readonly ratePerSecond: number;
  readonly maxInFlight?: number;
  /** Keep dedupe and the delivery log in Redis (as a production setup at volume would) under this prefix. */
  readonly redis?: { readonly url: string; readonly prefix: string };
  /** Cap the pipeline process's V8 heap (MiB): if memory were not bounded, it would fail. */
  readonly maxHeapMiB?: number;
  readonly sampleEveryMs?: number;
  /** Unmapped filler per update, so that TCP buffers hold few of them and the push-back shows. */
  readonly paddingBytes?: number;
  readonly onSample?: (sample: MemorySample) => void;
}

export interface MemorySample {
  readonly seconds: number;
  /** Resident memory of the pipeline process, MiB. */
  readonly rssMiB: number;
  /** Updates the producer has handed to its socket so far. */
  readonly produced: number;
  readonly delivered: number;
}

export interface BackpressureResult {
  readonly samples: readonly MemorySample[];
  readonly delivered: number;
  readonly distinctDelivered: number;
  readonly seconds: number;
  readonly exitCode: number | null;
}

/** Resident memory of a process in MiB (0 once it is gone). */
const rssOf = (pid: number): number => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
};

/** The most messages the producer has handed to its socket and not yet seen flushed. */
const PRODUCER_WINDOW = 256;

/**
 * Pushes `updates` profile updates as fast as a WebSocket takes them at a pipeline (a separate
 * process, as `qualtrics-automations run` runs) whose destination accepts `ratePerSecond`, and samples
 * the pipeline's resident memory until every update is delivered. The producer respects TCP: it stops
 * when its socket stops draining, which is what the pipeline's paused reads cause.
 */
export const runBackpressure = async ({
  updates,
  ratePerSecond,
  maxInFlight = 1000,
  redis,
  maxHeapMiB,
  sampleEveryMs = 1000,
  paddingBytes = 1000,
  onSample,
}: BackpressureRun): Promise<BackpressureResult> => {
  const standIn = await QualtricsStandIn.start({ apiToken: 'bench-token' });
  // Keep only a count: 200,000 stored requests would measure this process, not the pipeline.
  standIn.requests.push = () => 0;
  standIn.runs.push = () => 0;
  let delivered = 0;
  const seen = new Set<number>();
  const original = standIn.answer.bind(standIn);
  standIn.answer = (request, path, options) => {
    const answer = original(request, path, options);
    if (answer.status === 202) {
      delivered += 1;
      seen.add(Number(/"id":"p(\d+)@/.exec(request.body.toString('utf8'))?.[1]));
    }
    return answer;
  };

  const feed = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => feed.once('listening', resolve));
  const feedUrl = `ws://127.0.0.1:${(feed.address() as { port: number }).port}/feed`;
  let produced = 0;
  const padding = 'x'.repeat(paddingBytes);
  feed.on('connection', (socket: WebSocket) => {
    let outstanding = 0;
    const pump = (): void => {
      while (produced < updates && outstanding < PRODUCER_WINDOW && socket.readyState === socket.OPEN) {
        const n = produced;
        produced += 1;
        outstanding += 1;
        const update = {
          person: { name: { firstName: `n${n}` } },
          notes: padding,
          identityMap: { Email: [{ id: `p${n}@example.com` }] },
          segmentMembership: { ups: { a1: { status: 'realized', lastQualificationTime: '2026-11-29T09:00:00Z' } } },
        };
        socket.send(JSON.stringify(update), () => {
          outstanding -= 1;
          setImmediate(pump);
        });
      }
    };
    pump();
  });

  const dir = mkdtempSync(join(tmpdir(), 'qa-bench-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    `
name: Backpressure bench
source: { websocket: { url: "${feedUrl}" } }
destination:
  url: ${standIn.url}
  apiToken: bench-token
  auth: header
  allowAnyHost: true
  rateLimit: { requests: ${ratePerSecond}, perSeconds: 1 }
  concurrency: 16
pipeline: { maxInFlight: ${maxInFlight} }
observability: { port: 0 }
deadLetters: { file: ${join(dir, 'dead.jsonl')} }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
attributes: [{ source: person.name.firstName, target: firstName }]
${redis ? `redis: { url: "${redis.url}", prefix: "${redis.prefix}" }` : ''}
`,
  );
  const heap = maxHeapMiB ? [`--max-old-space-size=${maxHeapMiB}`] : [];
  const child = spawn(process.execPath, [...heap, '--import', 'tsx', 'pipeline/cli.ts', 'run', '--config', config], {
    env: { PATH: process.env.PATH, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const started = Date.now();
  const samples: MemorySample[] = [];
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const sample = { seconds: (Date.now() - started) / 1000, rssMiB: rssOf(child.pid!), produced, delivered };
      samples.push(sample);
      onSample?.(sample);
      // Done, or the pipeline died (out of memory, say): the exit code tells which.
      if (delivered >= updates || child.exitCode !== null || child.signalCode !== null) {
        clearInterval(timer);
        resolve();
      }
    }, sampleEveryMs);
  });
  const seconds = (Date.now() - started) / 1000;
  child.kill('SIGTERM');
  const exitCode = await exited;
  for (const client of feed.clients) client.terminate();
  await new Promise((resolve) => feed.close(resolve));
  await standIn.close();
  return { samples, delivered, distinctDelivered: seen.size, seconds, exitCode };
};
