import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, type WebSocket } from 'ws';

/** How N flows run: all in one process (`flows: [...]`), or one single-flow process each on the same feed. */
export type Layout = 'one-process' | 'process-per-flow';

export interface FlowsRun {
  readonly updates: number;
  readonly flows: number;
  readonly layout: Layout;
}

export interface FlowsResult {
  /** From the first message sent until every flow's endpoint has all its requests. */
  readonly seconds: number;
  /** CPU (user + system, every thread) of the pipeline process(es) over those seconds. */
  readonly cpuMs: number;
  /** Resident memory of the pipeline process(es) at the end, summed. */
  readonly rssMiB: number;
  /** CPU of this process (the feed and the endpoints) over the same seconds: shared cores, so it matters. */
  readonly harnessCpuMs: number;
}

const CLI = 'bin/qualtrics-automations.js';
// The kernel counts CPU in clock ticks (100 a second on Linux, so 10 ms resolution: fine over seconds).
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
/** The most messages the feed hands one socket and has not seen flushed: TCP, not this, holds it back. */
const WINDOW = 256;
export const CHECKOUT = '5b6f8f7e-3d1c-4a57-9a8e-2f0c6d1e4b21';
export const LOYALTY = '9c2d4e6f-1a3b-4c5d-8e7f-0a1b2c3d4e5f';

/**
 * CPU time of a process so far, ms: utime + stime from /proc/<pid>/stat, which cover all its threads
 * (libuv's pool, V8's GC helpers, LMDB), unlike anything the child could report about itself. With
 * `thread`, that thread's alone (the main thread's id is the process's).
 */
export const cpuMsOf = (pid: number, thread?: number): number => {
  const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // the name may hold spaces
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS; // fields 14 and 15 of proc(5)
};

/**
 * How often a process's main thread has gone to sleep and been woken so far: its voluntary context
 * switches (/proc/<pid>/task/<pid>/status), each an event-loop wait that ended (a timer, a socket, a
 * worker's completion) or a wait on another thread. Goal 5's "one wake-up per send", counted.
 */
export const wakeUpsOf = (pid: number): number =>
  Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'))?.[1] ?? NaN);

export const rssMiBOf = (pid: number): number =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/**
 * About 650 bytes, the shape of an AEP profile update: three audiences (two mapped by some flow, one
 * by none), Email and ECID, a few attributes. Every update is realized in both mapped audiences, so
 * every flow sends every update once.
 */
export const updateOf = (n: number): string =>
  JSON.stringify({
    person: { name: { firstName: `First${n}`, lastName: `Last${n}` } },
    homeAddress: { city: 'Lyon', country: 'FR' },
    mobilePhone: { number: `+3361234${String(n).padStart(4, '0')}` },
    loyalty: { tier: n % 3 ? 'gold' : 'silver' },
    identityMap: {
      Email: [{ id: `person${n}@example.com`, primary: true }],
      ECID: [{ id: `2750932749638011809354911774${String(n).padStart(10, '0')}` }],
    },
    segmentMembership: {
      ups: {
        [CHECKOUT]: { lastQualificationTime: '2026-11-29T09:15:02.417Z', status: 'realized' },
        [LOYALTY]: { lastQualificationTime: '2026-11-28T17:40:11.002Z', status: 'realized' },
        'e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b': { lastQualificationTime: '2026-11-20T08:00:00Z', status: 'existing' },
      },
    },
  });

/** Flow i: its own path on the endpoint, one of the two audiences, its own mapping. */
const flowOf = (i: number, endpoint: string) => ({
  destination: {
    url: `${endpoint}/flow-${i}`,
    apiToken: 'bench-token',
    auth: 'header',
    allowAnyHost: true,
    // Far above what the pipeline reaches: the limiter is consulted, never waits.
    rateLimit: { requests: 1_000_000, perSeconds: 1 },
    concurrency: 16,
  },
  audiences: [{ id: i % 2 ? LOYALTY : CHECKOUT }],
  identities:
    i % 2
      ? [
          { source: 'ECID', target: 'external_id' },
          { source: 'Email', target: 'email' },
        ]
      : [{ source: 'Email', target: 'email' }],
  attributes: [
    { source: 'person.name.firstName', target: 'firstName' },
    { source: i % 2 ? 'loyalty.tier' : 'person.name.lastName', target: i % 2 ? 'tier' : 'lastName' },
  ],
});

/** The configs to start: JSON (a YAML document too), no Redis, state and dead letters in `dir`. */
const configsOf = ({ flows, layout }: FlowsRun, feedUrl: string, endpoint: string, dir: string): object[] => {
  const shared = {
    source: { websocket: { url: feedUrl } },
    observability: { port: 0 },
    state: { dir: join(dir, 'state') },
    // Room to finish: the grace timer's process.exit() during an LMDB write can hang the process (see finally).
    shutdownGraceMs: 10_000,
  };
  const indexes = Array.from({ length: flows }, (_, i) => i);
  if (layout === 'one-process')
    return [
      { name: 'flows-bench', ...shared, flows: indexes.map((i) => ({ name: `flow-${i}`, ...flowOf(i, endpoint) })) },
    ];
  return indexes.map((i) => ({ name: `flows-bench-${i}`, ...shared, ...flowOf(i, endpoint) }));
};

/**
 * Feeds `updates` profile updates over one WebSocket feed (client mode: the pipelines connect to it) to
 * either one `qualtrics-automations run` process with `flows` flows or `flows` single-flow processes,
 * each connection receiving every message, and measures until each flow's endpoint path has received
 * every update. Needs the compiled CLI (`npm run build`).
 */
export const runFlows = async (run: FlowsRun): Promise<FlowsResult> => {
  if (!existsSync('dist/pipeline/cli.js')) throw new Error('run `npm run build` first: the bench starts dist/');
  const { updates, flows } = run;
  const messages = Array.from({ length: updates }, (_, n) => updateOf(n));

  // The endpoints: one HTTP server, a path per flow, counting 2xx answers it gave.
  const received = new Array<number>(flows).fill(0);
  let allReceived: () => void = () => {};
  const done = new Promise<void>((resolve) => (allReceived = resolve));
  let complete = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(202).end();
      const i = Number(request.url?.slice('/flow-'.length));
      received[i]! += 1;
      if (received[i] === updates && ++complete === flows) allReceived();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const feed = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => feed.once('listening', resolve));
  const feedUrl = `ws://127.0.0.1:${(feed.address() as AddressInfo).port}/feed`;
  const sockets: WebSocket[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'qa-bench-flows-'));
  const configs = configsOf(run, feedUrl, endpoint, dir);
  // A pipeline connects once it is wired and subscribed: then it is ready to take input.
  const connected = new Promise<void>((resolve) =>
    feed.on('connection', (socket: WebSocket) => sockets.push(socket) === configs.length && resolve()),
  );

  const children: ChildProcess[] = configs.map((config, index) => {
    const file = join(dir, `config-${index}.yaml`);
    writeFileSync(file, JSON.stringify(config, null, 2));
    return spawn(process.execPath, [CLI, 'run', '--config', file], {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  });
  const died = new Promise<never>((_, reject) => {
    for (const child of children)
      child.once('exit', (code) => reject(new Error(`a pipeline exited (${code}) before the end`)));
  });
  try {
    await Promise.race([connected, died]);
    const cpuBefore = children.map((child) => cpuMsOf(child.pid!));
    const harnessBefore = process.cpuUsage();
    const start = performance.now();
    for (const socket of sockets) {
      // Each connection gets every message, as fast as its socket drains.
      let sent = 0;
      let outstanding = 0;
      const pump = (): void => {
        while (sent < updates && outstanding < WINDOW && socket.readyState === socket.OPEN) {
          outstanding += 1;
          socket.send(messages[sent++]!, () => {
            outstanding -= 1;
            setImmediate(pump);
          });
        }
      };
      pump();
    }
    await Promise.race([done, died]);
    const seconds = (performance.now() - start) / 1000;
    const harness = process.cpuUsage(harnessBefore);
    return {
      seconds,
      cpuMs: children.reduce((sum, child, i) => sum + cpuMsOf(child.pid!) - cpuBefore[i]!, 0),
      rssMiB: children.reduce((sum, child) => sum + rssMiBOf(child.pid!), 0),
      harnessCpuMs: (harness.user + harness.system) / 1000,
    };
  } finally {
    died.catch(() => {}); // the processes exit below, on purpose
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('close', resolve));
        child.kill('SIGTERM');
        // Seen once: process.exit() with an LMDB write under way waits forever (lmdb-js issue #336).
        const timer = setTimeout(() => {
          console.error(`pipeline ${child.pid} still running 20 s after SIGTERM: SIGKILL`);
          child.kill('SIGKILL');
        }, 20_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    for (const socket of feed.clients) socket.terminate();
    await new Promise((resolve) => feed.close(resolve));
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
};
