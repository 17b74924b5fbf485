import { openStateStore } from '../../adapters/embedded/state-store.js';
import { connectRedis } from '../../adapters/redis/connection.js';
import type { Config, FlowConfig } from '../config/codec.js';
import { stateDirOf } from '../config/paths.js';
import { formatRuns, selectRuns } from '../history.js';
import { historyOf } from '../wire.js';

/**
 * `qualtrics-automations history`: the last outcomes, from where `run` keeps them: the shared list in
 * Redis, or the embedded store on disk (readable while `run` writes, and after it stopped).
 */
export const historyCommand = async (
  config: Config,
  flow: FlowConfig,
  query: { failed: boolean; limit: number },
): Promise<string> => {
  const redis = config.redis ? connectRedis(config.redis.url) : undefined;
  const state = redis ? undefined : openStateStore(stateDirOf(config, flow));
  try {
    return formatRuns(selectRuns(await historyOf(config, flow, redis, state).list(), query));
  } finally {
    await redis?.quit();
    await state?.close();
  }
};
