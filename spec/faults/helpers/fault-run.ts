import type { LedgerCounts } from '../../../operators/model/ledger.js';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { CliProcesses } from '../../helpers/cli.js';
import { freePort } from '../../helpers/ports.js';
import { tempDir } from '../../helpers/temp.js';
import type { CountingEndpoint } from './counting-endpoint.js';

export const API_TOKEN = 'fault-suite-api-token';

/** One structured log line (pino JSON) of a run. */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly time: number;
  readonly [field: string]: unknown;
}

/** The final counts `run` logs when it stops (`pipeline stopped`). */
/** What a process logs as its final counts (`pipeline stopped`): the ledger's counts, as JSON. */
export type FinalCounts = LedgerCounts;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface HttpResult {
  /** 0 when nothing answered (refused, reset, timed out). */
  readonly status: number;
  readonly body: string;
  /** How long the answer took. */
  readonly ms: number;
}

export interface Readiness {
  readonly status: number;
  readonly ready: boolean | undefined;
  readonly checks: Readonly<Record<string, { readonly ok: boolean; readonly detail: string }>>;
  readonly body: string;
}

export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** GET on loopback with a deadline: health checks must not hang a test when the process is stuck. */
export const httpGet = (url: string, timeoutMs = 3_000): Promise<HttpResult> =>
  new Promise((resolve) => {
    const started = Date.now();
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - started }));
      res.on('error', () => resolve({ status: 0, body, ms: Date.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error) => resolve({ status: 0, body: error.message, ms: Date.now() - started }));
    req.end();
  });

import { sample } from '../../helpers/metrics.js';

export { sample };

export interface FaultConfigOptions {
  readonly name?: string;
  /** The `source:` value as YAML flow, e.g. `{ redisStream: { stream: s, group: g } }`. */
  readonly source: string;
  readonly endpoint: CountingEndpoint;
  /** Lines under `destination:` besides url and credentials, e.g. `rateLimit: { requests: 20, perSeconds: 1 }`. */
  readonly destination?: readonly string[];
  readonly redisUrl?: string;
  readonly prefix?: string;
  /** Top-level YAML lines added as they are (journal, pipeline, dedupe, shutdownGraceMs...). */
  readonly extra?: readonly string[];
}

/**
 * Runs `qualtrics-automations run` as a real process for a fault scenario: writes its YAML config into
 * a temp dir, picks a free observability port, spawns it (through CliProcesses, so `afterEach` can kill
 * what a failed test left), parses its JSON log lines from stderr, polls /healthz, /readyz and
 * /metrics, sends signals and reports the exit.
 */
export class FaultRun {
  static readonly #processes = new CliProcesses();
  static readonly #dirs: string[] = [];

  readonly logs: LogLine[] = [];
  /** Lines of stderr that are not JSON: every error must reach the structured log instead. */
  readonly rawLines: string[] = [];
  stdout = '';
  readonly #exit: Promise<Exit>;
  readonly #waiters = new Set<() => void>();

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly configFile: string,
  ) {
    let partial = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.#take(line);
      for (const wake of [...this.#waiters]) wake();
    });
    child.stdout?.on('data', (chunk: Buffer) => (this.stdout += chunk.toString('utf8')));
    this.#exit = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        if (partial !== '') this.#take(partial);
        for (const wake of [...this.#waiters]) wake();
        resolve({ code, signal });
      }),
    );
  }

  #take(line: string): void {
    if (line.trim() === '') return;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed === 'object' && parsed !== null && 'msg' in parsed) {
        this.logs.push(parsed as LogLine);
        return;
      }
    } catch {
      // not JSON: kept below
    }
    this.rawLines.push(line);
  }

  /** Writes a config file for a run (in a temp dir removed by `FaultRun.cleanup`) and returns its path. */
  static writeConfig(yaml: string): string {
    const dir = tempDir('qa-fault-run-');
    FaultRun.#dirs.push(dir);
    const file = join(dir, 'config.yaml');
    writeFileSync(file, yaml);
    return file;
  }

  /** A path in a temp dir removed by `FaultRun.cleanup` (a dead-letter file, say). */
  static tempFile(name: string): string {
    const dir = tempDir('qa-fault-file-');
    FaultRun.#dirs.push(dir);
    return join(dir, name);
  }

  /** A config for a fault run: the counting endpoint as destination, one audience, Email, a first name. */
  static config(port: number, options: FaultConfigOptions): string {
    const { name = 'Fault run', source, endpoint, destination = [], redisUrl, prefix, extra = [] } = options;
    return [
      `name: ${name}`,
      `source: ${source}`,
      'destination:',
      `  url: "${endpoint.url}"`,
      `  apiToken: ${API_TOKEN}`,
      '  auth: header',
      '  allowAnyHost: true',
      ...destination.map((line) => `  ${line}`),
      'audiences: [{ id: a1 }]',
      'identities: [{ source: Email, target: email }]',
      'attributes: [{ source: person.name.firstName, target: firstName }]',
      ...(redisUrl ? [`redis: { url: "${redisUrl}"${prefix ? `, prefix: "${prefix}"` : ''} }`] : []),
      `observability: { port: ${port} }`,
      ...extra,
      '',
    ].join('\n');
  }

  /** Picks a free port, writes the config `build(port)` makes and starts `run` with it. */
  static async start(build: (observabilityPort: number) => string, env: NodeJS.ProcessEnv = {}): Promise<FaultRun> {
    const port = await freePort();
    return FaultRun.startWith(FaultRun.writeConfig(build(port)), port, env);
  }

  /** Starts `run` with a config file already written (a second process of the same config, a restart). */
  static startWith(configFile: string, port: number, env: NodeJS.ProcessEnv = {}): FaultRun {
    const child = FaultRun.#processes.start(['run', '--config', configFile], { LOG_LEVEL: 'info', ...env });
    return new FaultRun(child, port, configFile);
  }

  /** Kills every run still alive and removes the config dirs: for `afterEach`, even after a failure. */
  static cleanup(): void {
    FaultRun.#processes.killAll();
    for (const dir of FaultRun.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  healthz(): Promise<HttpResult> {
    return httpGet(`${this.base}/healthz`);
  }

  metrics(timeoutMs?: number): Promise<HttpResult> {
    return httpGet(`${this.base}/metrics`, timeoutMs);
  }

  async readyz(): Promise<Readiness> {
    const { status, body } = await httpGet(`${this.base}/readyz`);
    try {
      const parsed = JSON.parse(body) as { ready?: boolean; checks?: Readiness['checks'] };
      return { status, ready: parsed.ready, checks: parsed.checks ?? {}, body };
    } catch {
      return { status, ready: undefined, checks: {}, body };
    }
  }

  /** One metric sample now, or undefined if /metrics did not answer or lacks it. */
  async metric(series: string): Promise<number | undefined> {
    const { status, body } = await this.metrics();
    return status === 200 ? sample(body, series) : undefined;
  }

  /**
   * True once the process received at least `received` updates and holds none in flight (read from
   * /metrics): past that point, waiting longer for deliveries is waiting for nothing.
   */
  async settled(received: number): Promise<boolean> {
    const { status, body } = await this.metrics(1_500);
    if (status !== 200) return false;
    const got = sample(body, 'qualtrics_automations_profiles_received_total') ?? 0;
    return got >= received && sample(body, 'qualtrics_automations_in_flight') === 0;
  }

  /** Resolves with the first log line matching, waiting for it (or rejects after `timeoutMs` or at exit). */
  async waitForLog(match: string | RegExp | ((line: LogLine) => boolean), timeoutMs = 10_000): Promise<LogLine> {
    const test =
      typeof match === 'function'
        ? match
        : (line: LogLine) => (typeof match === 'string' ? line.msg.includes(match) : match.test(line.msg));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find(test);
      if (found) return found;
      if (!this.alive) throw new Error(`the process exited before logging ${String(match)}\n${this.tail()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no log line ${String(match)} within ${timeoutMs} ms\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 250));
        this.#waiters.add(wake);
      });
    }
  }

  /** The log lines at `level` or above. */
  at(level: number): LogLine[] {
    return this.logs.filter((line) => line.level >= level);
  }

  /** The last lines of output, for a failure message. */
  tail(lines = 15): string {
    const all = [...this.logs.map((l) => `${l.level} ${l.msg} ${JSON.stringify(l).slice(0, 300)}`), ...this.rawLines];
    return all.slice(-lines).join('\n');
  }

  signal(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  /** Resolves with the exit; rejects after `timeoutMs` (killing the process, so a stuck one cannot hang the suite). */
  async exited(timeoutMs = 60_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.signal('SIGKILL');
        reject(new Error(`the process did not exit within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.#exit, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` and measures how long the process took to exit. */
  async stopWith(signal: NodeJS.Signals, timeoutMs = 60_000): Promise<Exit & { readonly ms: number }> {
    const at = Date.now();
    this.signal(signal);
    const exit = await this.exited(timeoutMs);
    return { ...exit, ms: Date.now() - at };
  }

  /** The counts of the `pipeline stopped` line (a process that did not stop cleanly has none). */
  finalCounts(): FinalCounts | undefined {
    return this.logs.find((line) => line.msg === 'pipeline stopped')?.counts as FinalCounts | undefined;
  }
}
