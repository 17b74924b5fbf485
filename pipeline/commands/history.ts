import got from 'got';
import { connectRedis } from '../../adapters/redis/connection.js';
import { RedisHistory } from '../../adapters/redis/history.js';
import type { Config } from '../config/codec.js';
import { formatRuns, selectRuns, type RunEntry } from '../history.js';
import { redisPrefixOf } from '../wire.js';

/**
 * `qualtrics-automations history`: the last outcomes. With Redis they are read from the shared list;
 * without, from the running process's `/runs` (the history lives in its memory).
 */
export const historyCommand = async (config: Config, query: { failed: boolean; limit: number }): Promise<string> => {
  let entries: RunEntry[];
  if (config.redis) {
    const redis = connectRedis(config.redis.url);
    try {
      entries = await new RedisHistory<RunEntry>(redis, redisPrefixOf(config), config.history.size).list();
    } finally {
      await redis.quit();
    }
  } else {
    const { host, port } = config.observability;
    if (port === 0) throw new Error('the history lives in the running process; give observability.port a fixed port (or use redis) to read it');
    const url = `http://${host}:${port}/runs?limit=${config.history.size}`;
    try {
      entries = await got(url, { timeout: { request: 5000 }, retry: { limit: 0 } }).json<RunEntry[]>();
    } catch (error) {
      throw new Error(`could not read the history from the running pipeline at ${url}: ${(error as Error).message}`);
    }
  }
  return formatRuns(selectRuns(entries, query));
};
