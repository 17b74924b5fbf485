import * as t from 'io-ts';
import {
  integerIn,
  NonEmptyString,
  refine,
  struct,
  oneOf,
  unionBy,
  withDefault,
  withDefaults,
  withMessage,
  type Problem,
} from '../../operators/model/codecs.js';
import { DedupeOptions } from '../../operators/dedupe.js';
import { EmitOptions } from '../../operators/emit.js';
import { QualifyOptions } from '../../operators/qualify.js';
import { SelectIdentityOptions } from '../../operators/select-identity.js';
import { ProjectAttributesOptions } from '../../operators/project-attributes.js';
import { SecretString } from './secret.js';
import { AlertsConfig } from '../alerts.js';
import { PluginConfig } from '../plugins.js';

/**
 * The config file's codec: the one definition of what a config may hold and of its TypeScript type.
 * Keys are closed (a typo is an error, not a silently ignored setting) and every default lives here.
 */

const urlWith = (protocols: readonly string[], what: string): t.Type<string> =>
  withMessage(
    new t.Type<string>(
      what,
      (u): u is string => typeof u === 'string',
      (u, c) => {
        if (typeof u !== 'string' || !URL.canParse(u)) return t.failure(u, c);
        return protocols.includes(new URL(u).protocol) ? t.success(u) : t.failure(u, c);
      },
      t.identity,
    ),
    what,
  );

export const WebSocketUrl = urlWith(['ws:', 'wss:'], 'a ws:// or wss:// URL');
export const HttpUrl = urlWith(['http:', 'https:'], 'an http(s) URL');
export const RedisUrl = urlWith(['redis:', 'rediss:'], 'a redis:// or rediss:// URL');

/** A feed that can resume: the message field holding its id, and the query parameter to send it back in. */
export const ResumeConfig = struct('source.websocket.resume', { idField: NonEmptyString, query: NonEmptyString });

const UrlPath = withMessage(
  new t.Type<string>(
    'path',
    (u): u is string => typeof u === 'string',
    (u, c) => (typeof u === 'string' && /^\/\S*$/.test(u) ? t.success(u) : t.failure(u, c)),
    t.identity,
  ),
  'a path starting with /',
);

export const ListenConfig = struct('source.websocket.listen', {
  port: integerIn(0, 65_535),
  /** Producers send `Authorization: Bearer <token>`. */
  token: SecretString,
  host: withDefault(NonEmptyString, '127.0.0.1' as NonEmptyString),
  path: withDefault(UrlPath, '/'),
  maxPayloadBytes: withDefault(integerIn(1024, 64 * 1024 * 1024), 1024 * 1024),
});

const heartbeatSeconds = withDefault(integerIn(1, 3600), 30);

/** Connect to a feed as a client. */
export const WebSocketClientConfig = struct(
  'source.websocket',
  { url: WebSocketUrl, heartbeatSeconds },
  { headers: t.record(t.string, SecretString, 'map of header name -> value'), resume: ResumeConfig },
);

/** Let producers connect. */
export const WebSocketListenConfig = struct('source.websocket', { listen: ListenConfig, heartbeatSeconds });

/** Connect to a feed (`url`) or let producers connect (`listen`): exactly one. */
export type WebSocketSourceConfig = t.TypeOf<typeof WebSocketSourceConfig>;
export const WebSocketSourceConfig = unionBy(
  'source.websocket',
  [WebSocketClientConfig, WebSocketListenConfig],
  (ws) => {
    if (ws.url === undefined && ws.listen === undefined)
      return [{ path: [], message: 'set url (connect to a feed) or listen (let producers connect)' }];
    if (ws.listen === undefined) return WebSocketClientConfig;
    if (ws.url !== undefined) return [{ path: ['listen'], message: 'set url or listen, not both' }];
    const clientOnly = (['headers', 'resume'] as const).find((key) => ws[key] !== undefined);
    if (clientOnly !== undefined) return [{ path: [clientOnly], message: 'only for a client (url), not with listen' }];
    return WebSocketListenConfig;
  },
);

export const RedisStreamSourceConfig = struct(
  'source.redisStream',
  {
    stream: NonEmptyString,
    group: NonEmptyString,
    /** The entry field holding the update's JSON. */
    field: withDefault(NonEmptyString, 'profile' as NonEmptyString),
    /** Where a group created now starts: `$` (new entries; use replay for the past) or `0` (all). */
    startId: withDefault(t.keyof({ $: null, '0': null }, '$ | 0'), '$'),
    /** Entries another consumer left pending this long are claimed. */
    claimIdleSeconds: withDefault(integerIn(1, 86_400), 60),
    /** An entry handed out more often than this without an outcome is dead-lettered as `poison`. */
    maxDeliveries: withDefault(integerIn(1, 1000), 5),
  },
  /** Default: `<hostname>-<pid>`, unique per process. */
  { consumer: NonEmptyString },
);

export const SourceConfig = oneOf('source', { websocket: WebSocketSourceConfig, redisStream: RedisStreamSourceConfig });

/** With a WebSocket source: append every update to a stream first, and consume that stream. */
export const JournalConfig = struct(
  'journal',
  {
    stream: NonEmptyString,
    group: withDefault(NonEmptyString, 'qualtrics-automations' as NonEmptyString),
    claimIdleSeconds: withDefault(integerIn(1, 86_400), 60),
    maxDeliveries: withDefault(integerIn(1, 1000), 5),
  },
  { maxLength: integerIn(100, 1_000_000_000), consumer: NonEmptyString },
);

/** Where `run` serves /metrics, /healthz, /readyz and /runs (port 0: any free port). */
export const ObservabilityConfig = struct('observability', {
  host: withDefault(NonEmptyString, '127.0.0.1' as NonEmptyString),
  port: withDefault(integerIn(0, 65_535), 9464),
});

/** The run history: the last `size` outcomes (in Redis when configured, else in this process). */
export const HistoryConfig = struct('history', { size: withDefault(integerIn(1, 1_000_000), 10_000) });

export const PipelineConfig = struct('pipeline', {
  /** Envelopes in flight at most: at this high-water mark the intake pauses; below half of it, it resumes. */
  maxInFlight: withDefault(integerIn(1, 1_000_000), 1000),
});

export const AuthMode = t.keyof({ basic: null, header: null }, 'basic | header');

const QUALTRICS_HOST = /(^|\.)qualtrics\.com$/i;

/** The URL must be https on a qualtrics.com host unless `allowAnyHost`; Basic auth needs a username. */
const destinationProblems = (d: {
  url: string;
  auth: 'basic' | 'header';
  allowAnyHost: boolean;
  username?: string;
}): Problem[] => {
  const problems: Problem[] = [];
  const url = new URL(d.url);
  if (!d.allowAnyHost) {
    if (url.protocol !== 'https:')
      problems.push({ path: ['url'], message: `expected an https URL, got ${JSON.stringify(d.url)}` });
    else if (!QUALTRICS_HOST.test(url.hostname))
      problems.push({
        path: ['url'],
        message:
          `expected a host under qualtrics.com, got ${JSON.stringify(url.hostname)} (set ` +
          `destination.allowAnyHost: true to send elsewhere)`,
      });
  }
  if (d.auth === 'basic' && d.username === undefined)
    problems.push({
      path: ['username'],
      message: 'missing (auth: basic sends your Qualtrics username with the API token)',
    });
  return problems;
};

/** Qualtrics' limit for JSON Events: 3,000 requests a minute per brand. */
export const RateLimitConfig = struct('destination.rateLimit', {
  requests: withDefault(integerIn(1, 1_000_000), 3000),
  perSeconds: withDefault(integerIn(1, 86_400), 60),
});

export const DestinationConfig = refine(
  struct(
    'destination',
    {
      url: HttpUrl,
      apiToken: SecretString,
      auth: withDefault(AuthMode, 'basic'),
      allowAnyHost: withDefault(t.boolean, false),
      rateLimit: withDefaults(RateLimitConfig),
      timeoutMs: withDefault(integerIn(100, 600_000), 10_000),
      // How `emit` sends (concurrency, payload limit, retries): its own options, decoded here by its codec.
      ...EmitOptions.required,
    },
    { username: NonEmptyString, ...EmitOptions.optional },
  ),
  destinationProblems,
);

/** Keys share one hash tag, so every key of a destination sits in one Redis Cluster slot. */
const HashTagged = withMessage(
  new t.Type<string>(
    'prefix',
    (u): u is string => typeof u === 'string',
    (u, c) => (typeof u === 'string' && /\{[^{}]+\}/.test(u) ? t.success(u) : t.failure(u, c)),
    t.identity,
  ),
  'a key prefix with a hash tag, like qa:{checkout-survey}',
);

export const RedisConfig = struct('redis', { url: RedisUrl }, { prefix: HashTagged });

export const DeadLettersConfig = struct('deadLetters', {}, { file: NonEmptyString });

/** Without Redis: where dedupe marks, the delivery log and the run history are kept on disk (a folder per pipeline). */
export const StateConfig = struct('state', {
  dir: withDefault(NonEmptyString, '.qualtrics-automations' as NonEmptyString),
});

export const Config = refine(
  struct(
    'config',
    {
      name: NonEmptyString,
      source: SourceConfig,
      destination: DestinationConfig,
      // The mapping operators' options, taken over from their own codecs: one definition of each key.
      ...QualifyOptions.required,
      ...SelectIdentityOptions.required,
      ...ProjectAttributesOptions.required,
      dedupe: withDefaults(DedupeOptions),
      pipeline: withDefaults(PipelineConfig),
      observability: withDefaults(ObservabilityConfig),
      /** On SIGTERM or SIGINT, how long in-flight updates may take to settle before the process exits. */
      shutdownGraceMs: withDefault(integerIn(0, 3_600_000), 30_000),
      history: withDefaults(HistoryConfig),
      alerts: withDefaults(AlertsConfig),
      /** Plug-in operators, each placed after a built-in one. */
      operators: withDefault(t.array(PluginConfig), []),
      state: withDefaults(StateConfig),
    },
    {
      description: t.string,
      redis: RedisConfig,
      deadLetters: DeadLettersConfig,
      journal: JournalConfig,
      ...QualifyOptions.optional,
      ...SelectIdentityOptions.optional,
      ...ProjectAttributesOptions.optional,
    },
  ),
  (config) => {
    const problems: Problem[] = [];
    if (config.source.redisStream && !config.redis)
      problems.push({ path: ['source', 'redisStream'], message: 'needs redis.url' });
    if (config.journal && !config.redis) problems.push({ path: ['journal'], message: 'needs redis.url' });
    // A redisStream with a journal is relayed into it, in order, by one process at a time.
    if (config.journal && config.source.redisStream?.stream === config.journal.stream)
      problems.push({ path: ['journal', 'stream'], message: 'must differ from source.redisStream.stream' });
    return problems;
  },
);
export type Config = t.TypeOf<typeof Config>;
