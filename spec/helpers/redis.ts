import { randomUUID } from 'node:crypto';
import { connectRedis, deleteKeys, type Redis } from '../../adapters/redis/connection.js';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Real Redis for a test, under a key prefix of its own (with a hash tag, as in production). `cleanup`
 * deletes that prefix's keys and closes every connection the test opened: nothing else is touched.
 */
export class RedisFixture {
  readonly prefix = `qa-test:{${randomUUID()}}`;
  readonly #connections: Redis[] = [];

  connect(): Redis {
    const redis = connectRedis(REDIS_URL, 'qualtrics-automations-test');
    this.#connections.push(redis);
    return redis;
  }

  async cleanup(): Promise<void> {
    const [first] = this.#connections.length > 0 ? this.#connections : [this.connect()];
    await deleteKeys(first!, this.prefix);
    await Promise.all(this.#connections.splice(0).map((redis) => redis.quit().catch(() => redis.disconnect())));
  }
}
