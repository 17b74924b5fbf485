import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { freePort } from '../../helpers/ports.js';
import { tempDir } from '../../helpers/temp.js';

const REDIS_SERVER = '/usr/bin/redis-server';

export interface PrivateRedisOptions {
  /** A port of its own; default: one free now. Never 6379: the fault suite leaves the shared Redis alone. */
  readonly port?: number;
  /**
   * Keep the data across `stop()` and `restart()` (append-only file, fsync always), as a production
   * Redis does. Default false: `--save "" --appendonly no`, so a restart starts empty.
   */
  readonly persistent?: boolean;
}

/** Resolves true once something on `port` answers PING with PONG, false if it does not within `ms`. */
const answersPing = (port: number, ms = 500): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });

const exitOf = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));

/**
 * A redis-server of the fault suite's own, on a port of its own, spawned as a child (`--daemonize no`)
 * so that a scenario can stop it, kill it and start it again on the same port. Every instance is
 * remembered: `PrivateRedis.stopAll()` in an `afterEach` ends whatever a failed test left running.
 */
export class PrivateRedis {
  static readonly #running = new Set<PrivateRedis>();
  #child: ChildProcess | undefined;
  #log = '';
  readonly #clients: Redis[] = [];

  private constructor(
    readonly port: number,
    readonly persistent: boolean,
    /** The server's working directory (its append-only file, if persistent). */
    readonly dir: string,
  ) {}

  /** Starts a server and resolves once it answers PING. */
  static async start({ port, persistent = false }: PrivateRedisOptions = {}): Promise<PrivateRedis> {
    const chosen = port ?? (await freePort());
    if (chosen === 6379) throw new Error('the fault suite never touches the shared Redis on 6379');
    const redis = new PrivateRedis(chosen, persistent, tempDir('qa-fault-redis-'));
    PrivateRedis.#running.add(redis);
    await redis.#spawn();
    return redis;
  }

  /**
   * A server that is not running yet, on a port chosen now: for "Redis down at start". `restart()`
   * starts it.
   */
  static async notYetStarted({ port, persistent = false }: PrivateRedisOptions = {}): Promise<PrivateRedis> {
    const redis = new PrivateRedis(port ?? (await freePort()), persistent, tempDir('qa-fault-redis-'));
    PrivateRedis.#running.add(redis);
    return redis;
  }

  /** Stops every server started here (and closes their clients): for `afterEach`, even after a failure. */
  static async stopAll(): Promise<void> {
    await Promise.all([...PrivateRedis.#running].map((redis) => redis.dispose()));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** What the server wrote to stdout and stderr: for a failure message. */
  get log(): string {
    return this.#log;
  }

  async #spawn(): Promise<void> {
    const persistence = this.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    const where = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir];
    const args = [...where, '--save', '', ...persistence, '--daemonize', 'no'];
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    child.stdout?.on('data', (chunk: Buffer) => (this.#log += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (this.#log += chunk.toString('utf8')));
    const deadline = Date.now() + 10_000;
    while (!(await answersPing(this.port))) {
      if (!this.running) throw new Error(`redis-server on port ${this.port} exited at start:\n${this.#log}`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer PING within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** SIGTERM by its PID, and resolves once it has exited. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    child.kill('SIGTERM');
    await exitOf(child);
  }

  /** SIGKILL: Redis dies at once, mid-command. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    child.kill('SIGKILL');
    await exitOf(child);
  }

  /** Starts the server again on the same port (stopping it first if it runs). */
  async restart(): Promise<void> {
    await this.stop();
    await this.#spawn();
  }

  /**
   * A client of this server for the test itself. It reconnects quietly across stops and restarts
   * (every 100 ms), and a command fails at once rather than queueing while the server is down.
   */
  client(): Redis {
    const client = new Redis(this.url, {
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: () => 100,
      connectionName: 'qa-fault-suite',
    });
    // Expected while the server is down: the scenario asks the server, not the client, what happened.
    client.on('error', () => {});
    this.#clients.push(client);
    return client;
  }

  /** Resolves once a new client can run a command (ioredis reconnects on its own schedule). */
  async ready(client: Redis, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (client.status === 'ready' && (await client.ping().catch(() => '')) === 'PONG') return;
      if (Date.now() > deadline) throw new Error(`client of redis on ${this.port} not ready (${client.status})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Closes its clients, kills the server and removes its directory. */
  async dispose(): Promise<void> {
    PrivateRedis.#running.delete(this);
    for (const client of this.#clients.splice(0)) client.disconnect();
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** XINFO's flat `[key, value, key, value, ...]` reply as an object. */
export const infoOf = (reply: unknown): Record<string, unknown> => {
  const flat = reply as unknown[];
  return Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [String(flat[2 * i]), flat[2 * i + 1]]));
};

/**
 * True once `group` has read every entry of `stream` and has none pending: everything appended has an
 * outcome (an acknowledged entry's outcome is final).
 */
export const drained = async (client: Redis, stream: string, group: string): Promise<boolean> => {
  try {
    const last = String(infoOf(await client.xinfo('STREAM', stream))['last-generated-id']);
    const groups = ((await client.xinfo('GROUPS', stream)) as unknown[]).map(infoOf);
    const info = groups.find((g) => g.name === group);
    return info !== undefined && Number(info.pending) === 0 && String(info['last-delivered-id']) === last;
  } catch {
    return false;
  }
};
