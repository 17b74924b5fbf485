import * as t from 'io-ts';
import { decodeOrThrow, integerIn, NonEmptyString, nonEmptyArray, refine, struct, withDefault, withMessage, type Problem } from '../../operators/model/codecs.js';
import { RetryOptions } from '../../operators/model/retry-policy.js';
import { Audiences, DEFAULT_STATUSES, Status } from '../../operators/qualify.js';
import { IdentityMappings } from '../../operators/select-identity.js';
import { AttributeMappings } from '../../operators/project-attributes.js';
import { SecretString } from './secret.js';

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

export const WebSocketSourceConfig = struct(
  'source.websocket',
  { url: WebSocketUrl },
  { headers: t.record(t.string, SecretString, 'map of header name -> value') },
);

export const SourceConfig = struct('source', { websocket: WebSocketSourceConfig });

export const AuthMode = t.keyof({ basic: null, header: null }, 'basic | header');

const QUALTRICS_HOST = /(^|\.)qualtrics\.com$/i;

/** The URL must be https on a qualtrics.com host unless `allowAnyHost`; Basic auth needs a username. */
const destinationProblems = (d: { url: string; auth: 'basic' | 'header'; allowAnyHost: boolean; username?: string }): Problem[] => {
  const problems: Problem[] = [];
  const url = new URL(d.url);
  if (!d.allowAnyHost) {
    if (url.protocol !== 'https:') problems.push({ path: ['url'], message: `expected an https URL, got ${JSON.stringify(d.url)}` });
    else if (!QUALTRICS_HOST.test(url.hostname))
      problems.push({
        path: ['url'],
        message: `expected a host under qualtrics.com, got ${JSON.stringify(url.hostname)} (set destination.allowAnyHost: true to send elsewhere)`,
      });
  }
  if (d.auth === 'basic' && d.username === undefined)
    problems.push({ path: ['username'], message: 'missing (auth: basic sends your Qualtrics username with the API token)' });
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
      rateLimit: withDefault(RateLimitConfig, decodeOrThrow(RateLimitConfig, {})),
      concurrency: withDefault(integerIn(1, 256), 8),
      timeoutMs: withDefault(integerIn(100, 600_000), 10_000),
      retry: withDefault(RetryOptions, decodeOrThrow(RetryOptions, {})),
    },
    { username: NonEmptyString },
  ),
  destinationProblems,
);

export const DedupeConfig = struct('dedupe', {
  /** How long a delivered payload is remembered per identity. Default 7 days. */
  ttlSeconds: withDefault(integerIn(1, 365 * 86_400), 7 * 86_400),
  /** How long a payload in flight is held before another process may send it. */
  leaseSeconds: withDefault(integerIn(1, 86_400), 60),
});

/** Keys share one hash tag, so every key of a destination sits in one Redis Cluster slot. */
const HashTagged = withMessage(
  new t.Type<string>('prefix', (u): u is string => typeof u === 'string', (u, c) => (typeof u === 'string' && /\{[^{}]+\}/.test(u) ? t.success(u) : t.failure(u, c)), t.identity),
  'a key prefix with a hash tag, like qa:{checkout-survey}',
);

export const RedisConfig = struct('redis', { url: RedisUrl }, { prefix: HashTagged });

export const DeadLettersConfig = struct('deadLetters', {}, { file: NonEmptyString });

export const Config = struct(
  'config',
  {
    name: NonEmptyString,
    source: SourceConfig,
    destination: DestinationConfig,
    audiences: Audiences,
    statuses: withDefault(nonEmptyArray(Status), DEFAULT_STATUSES),
    identities: IdentityMappings,
    attributes: withDefault(AttributeMappings, []),
    dedupe: withDefault(DedupeConfig, decodeOrThrow(DedupeConfig, {})),
  },
  {
    description: t.string,
    redis: RedisConfig,
    deadLetters: DeadLettersConfig,
  },
);
export type Config = t.TypeOf<typeof Config>;
