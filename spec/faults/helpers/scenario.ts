import { randomUUID } from 'node:crypto';
import { CountingEndpoint, type Script } from './counting-endpoint.js';
import { FaultRun } from './fault-run.js';
import { PrivateRedis, type PrivateRedisOptions } from './private-redis.js';
import { Feed } from './producers.js';

/**
 * What a fault scenario starts, remembered so that `afterEach` ends all of it even when the test
 * failed half-way: runs are killed first (so none writes into a Redis being stopped), then the
 * endpoints, feeds and other closers, then every private Redis.
 */
export class Scenario {
  readonly #closers: Array<() => unknown> = [];

  /** A Redis key prefix with a hash tag, unique to this scenario. */
  readonly prefix = `qa-fault:{${randomUUID().slice(0, 8)}}`;

  async endpoint(script?: Script): Promise<CountingEndpoint> {
    const endpoint = await CountingEndpoint.start(script ? { script } : {});
    this.#closers.push(() => endpoint.close());
    return endpoint;
  }

  async feed(): Promise<Feed> {
    const feed = await Feed.start();
    this.#closers.push(() => feed.close());
    return feed;
  }

  /** A private redis-server, running; with `down: true`, on a port chosen now but not started yet. */
  redis({ down = false, ...options }: PrivateRedisOptions & { readonly down?: boolean } = {}): Promise<PrivateRedis> {
    return down ? PrivateRedis.notYetStarted(options) : PrivateRedis.start(options);
  }

  /** Anything else to undo: a server holding a port, a producer's socket. */
  defer(close: () => unknown): void {
    this.#closers.push(close);
  }

  async cleanup(): Promise<void> {
    FaultRun.cleanup();
    for (const close of this.#closers.splice(0).reverse()) {
      try {
        await close();
      } catch {
        // Cleaning up after a failure must not hide it behind a second one.
      }
    }
    await PrivateRedis.stopAll();
  }
}

/** A scenario for this `describe`, cleaned up after each test. */
export const scenario = (): Scenario => {
  const s = new Scenario();
  afterEach(async () => s.cleanup());
  return s;
};
