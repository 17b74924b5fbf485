import { createHash } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import type { NonEmptyString } from '../../operators/model/codecs.js';
import type { Config, FlowConfig } from './codec.js';
import { slug } from './slug.js';

export { slug };

/**
 * A flow's name in file names: the config's slug in the one-flow form (so its files keep the names they
 * had before flows), `<config>.<flow>` with several.
 */
const fileStemOf = (config: Config, flow: FlowConfig): string =>
  config.singleFlowForm ? slug(config.name) : `${slug(config.name)}.${flow.name}`;

/** The default dead-letter file of a flow without Redis: `dead-letters/<stem>.jsonl`. */
export const defaultDeadLetterFile = (config: Config, flow: FlowConfig): string =>
  join('dead-letters', `${fileStemOf(config, flow)}.jsonl`);

/**
 * The embedded store's directory of a flow: `<state.dir>/<slug of name>` in the one-flow form,
 * `<state.dir>/<slug of name>/<flow>` with several: one store per flow, as each has its own marks.
 */
export const stateDirOf = (config: Config, flow: FlowConfig): string =>
  config.singleFlowForm
    ? join(config.state.dir, slug(config.name))
    : join(config.state.dir, slug(config.name), flow.name);

/**
 * The config with its file paths anchored at `baseDir` (the config file's directory), so a config means
 * the same files whatever directory `run` is started from. Absolute paths are kept.
 */
export const anchorPaths = (config: Config, baseDir: string): Config => {
  // A resolved non-empty path is non-empty still.
  const anchored = (path: string): NonEmptyString =>
    (isAbsolute(path) ? path : resolve(baseDir, path)) as NonEmptyString;
  const withDeadLetters = (flow: FlowConfig): FlowConfig => {
    // Without Redis, dead letters go to a file even when none is named: anchor the default too.
    const file = flow.deadLetters?.file ?? (config.redis ? undefined : defaultDeadLetterFile(config, flow));
    return file === undefined ? flow : { ...flow, deadLetters: { ...flow.deadLetters, file: anchored(file) } };
  };
  const { http } = config.source;
  const tls = http?.tls && {
    ...http.tls,
    cert: anchored(http.tls.cert),
    key: anchored(http.tls.key),
    ...(http.tls.ca ? { ca: anchored(http.tls.ca) } : {}),
  };
  return {
    ...config,
    ...(http && tls ? { source: { http: { ...http, tls } } } : {}),
    state: { ...config.state, dir: anchored(config.state.dir) },
    flows: config.flows.map(withDeadLetters),
  };
};

/**
 * The Redis key prefix of a flow. In the one-flow form: `redis.prefix`, or one derived from the
 * destination URL, so that every process sending to the same JSON Event shares its dedupe (as before
 * flows). With several: `<redis.prefix or qa:{<config>}>:<flow>`, one hash tag for the whole config, so
 * a journal and every flow's keys can sit in one Redis Cluster slot.
 */
export const redisPrefixOf = (config: Config, flow: FlowConfig): string =>
  config.singleFlowForm ? basePrefixOf(config) : `${basePrefixOf(config)}:${flow.name}`;

/**
 * The prefix of what the flows of a config share in Redis (the journal's lines, the relay's lock): in
 * the one-flow form, the flow's own (as before flows); with several, `redis.prefix` or `qa:{<config>}`.
 */
export const basePrefixOf = (config: Config): string => {
  if (config.redis?.prefix) return config.redis.prefix;
  if (!config.singleFlowForm) return `qa:{${slug(config.name)}}`;
  const url = config.flows[0]!.destination.url;
  return `qa:{${createHash('sha256').update(url).digest('hex').slice(0, 16)}}`;
};

/** Where the journal numbers people's lines: shared by every flow. */
export const journalLinePrefixOf = (config: Config): string => `${basePrefixOf(config)}:line:`;
