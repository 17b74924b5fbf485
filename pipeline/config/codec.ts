import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { slug } from './slug.js';
import {
  integerIn,
  matching,
  NonEmptyString,
  nonEmptyArray,
  refine,
  struct,
  oneOf,
  unionBy,
  withDefault,
  withDefaults,
  withMessage,
  type Problem,
} from '../../operators/model/codecs.js';
import { withShape } from '../../operators/model/codec-shape.js';
import { DedupeOptions } from '../../operators/dedupe.js';
import { EmitOptions } from '../../operators/emit.js';
import { QualifyOptions } from '../../operators/qualify.js';
import { ConsentOptions } from '../../operators/consent.js';
import { SelectIdentityOptions } from '../../operators/select-identity.js';
import { ProjectAttributesOptions } from '../../operators/project-attributes.js';
import { SecretString } from './secret.js';
import { AccessConfig, observabilityProblems } from './access.js';
import { isLoopback } from './loopback.js';
import { AlertsConfig } from '../alerts.js';
import { PluginConfig } from '../plugins.js';
import { GovernanceConfig } from '../governance/codec.js';
import { PrivacyConfig } from './privacy.js';

/**
 * The config file's codec: the one definition of what a config may hold and of its TypeScript type.
 * Keys are closed (a typo is an error, not a silently ignored setting) and every default lives here.
 */

const urlWith = (protocols: readonly string[], what: string): t.Type<string> =>
  withMessage(
    withShape(
      new t.Type<string>(
        what,
        (u): u is string => typeof u === 'string',
        (u, c) => {
          if (typeof u !== 'string' || !URL.canParse(u)) return t.failure(u, c);
          return protocols.includes(new URL(u).protocol) ? t.success(u) : t.failure(u, c);
        },
        t.identity,
      ),
      { kind: 'string', pattern: `^(${protocols.map((p) => p.slice(0, -1)).join('|')})://` },
    ),
    what,
  );

export const WebSocketUrl = urlWith(['ws:', 'wss:'], 'a ws:// or wss:// URL');
export const HttpUrl = urlWith(['http:', 'https:'], 'an http(s) URL');
export const RedisUrl = urlWith(['redis:', 'rediss:'], 'a redis:// or rediss:// URL');

/** A feed that can resume: the message field holding its id, and the query parameter to send it back in. */
export const ResumeConfig = struct('source.websocket.resume', { idField: NonEmptyString, query: NonEmptyString });

const UrlPath = withMessage(
  withShape(
    new t.Type<string>(
      'path',
      (u): u is string => typeof u === 'string',
      (u, c) => (typeof u === 'string' && /^\/\S*$/.test(u) ? t.success(u) : t.failure(u, c)),
      t.identity,
    ),
    { kind: 'string', pattern: '^/\\S*$' },
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

/** How AEP authenticates to the HTTP intake: exactly one of these. */
export const HttpAuthConfig = oneOf('source.http.auth', {
  /** A static token AEP sends as `Authorization: Bearer <token>`. */
  bearer: SecretString,
  /** OAuth 2.0 client credentials: this program serves the token endpoint and accepts only its tokens. */
  oauth2: struct(
    'source.http.auth.oauth2',
    {
      clientId: NonEmptyString,
      clientSecret: SecretString,
      tokenPath: withDefault(UrlPath, '/oauth/token'),
      tokenTtlSeconds: withDefault(integerIn(1, 86_400), 3600),
    },
    /** The key tokens are signed with; without it, one is made once and shared through Redis. */
    { signingKey: SecretString },
  ),
  /** No authentication: only on a loopback address (behind a proxy that authenticates). */
  none: withMessage(t.literal(true), 'true'),
});

/** HTTPS for the intake: file paths, relative to the config file. */
export const HttpTlsConfig = struct(
  'source.http.tls',
  { cert: NonEmptyString, key: NonEmptyString, requireClientCert: withDefault(t.boolean, false) },
  { ca: NonEmptyString },
);

/** The HTTP(S) intake Adobe Experience Platform's HTTP API destination posts profiles to. */
export const HttpSourceConfig = refine(
  struct(
    'source.http',
    {
      host: withDefault(NonEmptyString, '127.0.0.1' as NonEmptyString),
      port: integerIn(0, 65_535),
      path: withDefault(UrlPath, '/profiles'),
      auth: HttpAuthConfig,
      maxBodyBytes: withDefault(integerIn(1024, 64 * 1024 * 1024), 1024 * 1024),
      requestTimeoutMs: withDefault(integerIn(1000, 600_000), 30_000),
    },
    { tls: HttpTlsConfig, maxConnections: integerIn(1, 1_000_000) },
  ),
  (http) => {
    const problems: Problem[] = [];
    if (http.auth.none && !isLoopback(http.host))
      problems.push({ path: ['auth', 'none'], message: `only on a loopback host, not ${JSON.stringify(http.host)}` });
    if (http.tls?.requireClientCert && !http.tls.ca)
      problems.push({ path: ['tls', 'ca'], message: 'missing (requireClientCert checks clients against this CA)' });
    if (http.auth.oauth2 && http.auth.oauth2.tokenPath === http.path)
      problems.push({ path: ['auth', 'oauth2', 'tokenPath'], message: 'must differ from path' });
    return problems;
  },
);

export type HttpSourceConfig = t.TypeOf<typeof HttpSourceConfig>;

/** Whether an intake binds a non-loopback host without TLS: allowed, but `validate` says so. */
export const plainTextOnNetwork = (http: t.TypeOf<typeof HttpSourceConfig>): boolean =>
  !http.tls && !isLoopback(http.host);

export const SourceConfig = oneOf('source', {
  websocket: WebSocketSourceConfig,
  redisStream: RedisStreamSourceConfig,
  http: HttpSourceConfig,
});

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

/**
 * Qualtrics' limit for JSON Events: 3,000 requests a minute per brand. Flows in one `group` (by default,
 * those whose URLs share a host: one brand) share one limit, each taking turns weighted by `share`.
 */
export const RateLimitConfig = struct(
  'destination.rateLimit',
  {
    requests: withDefault(integerIn(1, 1_000_000), 3000),
    perSeconds: withDefault(integerIn(1, 86_400), 60),
    /** This flow's weight when flows of its group all have updates waiting (2: twice the requests of 1). */
    share: withDefault(integerIn(1, 100), 1),
  },
  /** Default: the destination URL's host. */
  { group: NonEmptyString },
);

/** The rate-limit group of a flow's destination: `rateLimit.group`, or the URL's host (one brand). */
export const rateGroupOf = (destination: { readonly url: string; readonly rateLimit: { readonly group?: string } }) =>
  destination.rateLimit.group ?? new URL(destination.url).host;

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
  withShape(
    new t.Type<string>(
      'prefix',
      (u): u is string => typeof u === 'string',
      (u, c) => (typeof u === 'string' && /\{[^{}]+\}/.test(u) ? t.success(u) : t.failure(u, c)),
      t.identity,
    ),
    { kind: 'string', pattern: '\\{[^{}]+\\}' },
  ),
  'a key prefix with a hash tag, like qa:{checkout-survey}',
);

export const RedisConfig = struct('redis', { url: RedisUrl }, { prefix: HashTagged });

export const DeadLettersConfig = struct('deadLetters', {}, { file: NonEmptyString });

/** Without Redis: where dedupe marks, the delivery log and the run history are kept on disk (a folder per pipeline). */
export const StateConfig = struct('state', {
  dir: withDefault(NonEmptyString, '.qualtrics-automations' as NonEmptyString),
});

/** A flow's name: a slug, since it is part of Redis keys, metric labels and commands (`--flow nps`). */
export interface FlowNameBrand {
  readonly FlowName: unique symbol;
}
export const FlowName = matching<'FlowName', FlowNameBrand>(
  'FlowName',
  /^[a-z0-9][a-z0-9-]{0,62}$/,
  'a slug of lower-case letters, digits and dashes (like nps-survey)',
);
export type FlowName = t.TypeOf<typeof FlowName>;

/** What every flow has: where it sends, what it sends, and how it is watched. */
const flowRequired = {
  destination: DestinationConfig,
  // The mapping operators' options, taken over from their own codecs: one definition of each key.
  ...QualifyOptions.required,
  ...SelectIdentityOptions.required,
  ...ProjectAttributesOptions.required,
  dedupe: withDefaults(DedupeOptions),
  history: withDefaults(HistoryConfig),
  alerts: withDefaults(AlertsConfig),
  /** Plug-in operators, each placed after a built-in one. */
  operators: withDefault(t.array(PluginConfig), []),
};
const flowOptional = {
  description: t.string,
  deadLetters: DeadLettersConfig,
  /** Data-usage labels, marketing actions and policies (README: "Governance, consent and privacy"). */
  governance: GovernanceConfig,
  /** Per-profile consent: who is excluded, and whether a withdrawal sends one `exited`. */
  consent: ConsentOptions,
  ...QualifyOptions.optional,
  ...SelectIdentityOptions.optional,
  ...ProjectAttributesOptions.optional,
};

/** One dataflow: a feed's updates, qualified by its audiences and mapped, to one Qualtrics workflow. */
export const FlowConfig = struct(
  'flow',
  { name: FlowName, enabled: withDefault(t.boolean, true), ...flowRequired },
  flowOptional,
);
export type FlowConfig = t.TypeOf<typeof FlowConfig>;

/** What every flow of a config shares: the intake, Redis, the process. */
const sharedRequired = {
  name: NonEmptyString,
  source: SourceConfig,
  pipeline: withDefaults(PipelineConfig),
  observability: withDefaults(ObservabilityConfig),
  /** On SIGTERM or SIGINT, how long in-flight updates may take to settle before the process exits. */
  shutdownGraceMs: withDefault(integerIn(0, 3_600_000), 30_000),
  state: withDefaults(StateConfig),
};
const sharedOptional = {
  description: t.string,
  redis: RedisConfig,
  journal: JournalConfig,
  /** Tokens and roles for the console, `/metrics` and `/runs`. */
  access: AccessConfig,
  privacy: PrivacyConfig,
};

/** `flows: [...]`: several dataflows from one intake. */
const ManyFlows = struct(
  'config',
  { ...sharedRequired, flows: nonEmptyArray(FlowConfig, 'non-empty list of flows') },
  sharedOptional,
);

/** The original form: one flow's keys at the top level. */
const OneFlow = struct('config', { ...sharedRequired, ...flowRequired }, { ...sharedOptional, ...flowOptional });

/**
 * The config file's codec: either form, decoded to one shape. `flows` always lists the flows; in the
 * one-flow form it is the single flow named after `name` (`singleFlowForm`, which keeps that flow's
 * Redis keys and consumer group as they were before flows existed).
 */
const EitherForm = unionBy('config', [ManyFlows, OneFlow], (u) => ('flows' in u ? ManyFlows : OneFlow));

/** The decoded config, whichever form it was written in. */
export type Config = t.TypeOf<typeof ManyFlows> & { readonly singleFlowForm: boolean };

/** The keys that belong to a flow; in the one-flow form they sit at the top level. */
const FLOW_KEYS = new Set([...Object.keys(flowRequired), ...Object.keys(flowOptional)]);

const normalized = (config: t.TypeOf<typeof EitherForm>): Config => {
  if ('flows' in config) return { ...config, singleFlowForm: false };
  const flowPart: Record<string, unknown> = { name: slug(config.name), enabled: true };
  const shared: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config))
    if (value !== undefined) (FLOW_KEYS.has(key) ? flowPart : shared)[key] = value;
  // The description says what the config is for: with one flow, also what the flow is for.
  if (config.description !== undefined) shared.description = config.description;
  return {
    ...(shared as Omit<Config, 'flows' | 'singleFlowForm'>),
    flows: [flowPart as FlowConfig],
    singleFlowForm: true,
  };
};

export const Config = refine(
  withShape(
    new t.Type<Config, unknown>(
      'config',
      (u): u is Config => typeof u === 'object' && u !== null && 'flows' in u,
      (u, c) => {
        const decoded = EitherForm.validate(u, c);
        return isLeft(decoded) ? decoded : t.success(normalized(decoded.right));
      },
      t.identity,
    ),
    { kind: 'like', of: EitherForm },
  ),
  (config) => {
    const problems: Problem[] = [...observabilityProblems(config)];
    if (config.source.redisStream && !config.redis)
      problems.push({ path: ['source', 'redisStream'], message: 'needs redis.url' });
    if (config.journal && !config.redis) problems.push({ path: ['journal'], message: 'needs redis.url' });
    // AEP drops an export after two failed retries: every profile is stored before it is answered 200.
    if (config.source.http && !config.journal)
      problems.push({
        path: ['source', 'http'],
        message: 'needs journal (and redis): profiles are stored before AEP is answered',
      });
    // A redisStream with a journal is relayed into it, in order, by one process at a time.
    if (config.journal && config.source.redisStream?.stream === config.journal.stream)
      problems.push({ path: ['journal', 'stream'], message: 'must differ from source.redisStream.stream' });
    if (!config.singleFlowForm) {
      for (const [index, flow] of config.flows.entries())
        if (config.flows.findIndex((other) => other.name === flow.name) < index)
          problems.push({
            path: ['flows', index, 'name'],
            message: `flow ${JSON.stringify(flow.name)} is listed twice`,
          });
      const limits = new Map<string, { requests: number; perSeconds: number; at: number }>();
      for (const [index, { destination }] of config.flows.entries()) {
        const group = rateGroupOf(destination);
        const { requests, perSeconds } = destination.rateLimit;
        const first = limits.get(group);
        if (!first) limits.set(group, { requests, perSeconds, at: index });
        else if (first.requests !== requests || first.perSeconds !== perSeconds)
          problems.push({
            path: ['flows', index, 'destination', 'rateLimit'],
            message: `shares the limit of group ${JSON.stringify(group)} with flows[${first.at}], so it must be the same (${first.requests} per ${first.perSeconds} s), or name another rateLimit.group`,
          });
      }
      if (config.flows.every((flow) => !flow.enabled))
        problems.push({ path: ['flows'], message: 'every flow is disabled (enabled: false): nothing would run' });
    }
    return problems;
  },
);
