import { createHash } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import type { NonEmptyString } from '../../operators/model/codecs.js';
import type { Config } from './codec.js';

/** `Post-purchase survey` -> `post-purchase-survey`: for file and directory names. */
export const slug = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'pipeline';

/** The default dead-letter file without Redis: `dead-letters/<slug of name>.jsonl`. */
export const defaultDeadLetterFile = (config: Config): string => join('dead-letters', `${slug(config.name)}.jsonl`);

/** The embedded store's directory of this pipeline: `<state.dir>/<slug of name>`, one per pipeline. */
export const stateDirOf = (config: Config): string => join(config.state.dir, slug(config.name));

/**
 * The config with its file paths anchored at `baseDir` (the config file's directory), so a config means
 * the same files whatever directory `run` is started from. Absolute paths are kept.
 */
export const anchorPaths = (config: Config, baseDir: string): Config => {
  // A resolved non-empty path is non-empty still.
  const anchored = (path: string): NonEmptyString =>
    (isAbsolute(path) ? path : resolve(baseDir, path)) as NonEmptyString;
  // Without Redis, dead letters go to a file even when none is named: anchor the default too.
  const deadLetterFile = config.deadLetters?.file ?? (config.redis ? undefined : defaultDeadLetterFile(config));
  return {
    ...config,
    state: { ...config.state, dir: anchored(config.state.dir) },
    ...(deadLetterFile === undefined ? {} : { deadLetters: { ...config.deadLetters, file: anchored(deadLetterFile) } }),
  };
};

/**
 * The Redis key prefix of a destination: `redis.prefix`, or one derived from the destination URL, so
 * that every process sending to the same JSON Event shares its rate limit and dedupe. The hash tag keeps
 * all of a destination's keys in one Redis Cluster slot.
 */
export const redisPrefixOf = (config: Config): string =>
  config.redis?.prefix ?? `qa:{${createHash('sha256').update(config.destination.url).digest('hex').slice(0, 16)}}`;
