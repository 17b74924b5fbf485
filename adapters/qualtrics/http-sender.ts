import got, { type Got } from 'got';
import { publicOnlyLookup, refuseLiteralPrivateHost } from './public-address.js';

/** How the JSON Event authenticates: Basic (Qualtrics username + API token) or the X-API-TOKEN header. */
export type QualtricsAuth =
  | { readonly kind: 'basic'; readonly username: string; readonly apiToken: string }
  | { readonly kind: 'header'; readonly apiToken: string };

export interface QualtricsHttpSenderOptions {
  /** The JSON Event URL of the workflow. */
  readonly url: string;
  readonly auth: QualtricsAuth;
  /** Whole-request timeout. Default 10 s. */
  readonly timeoutMs?: number;
  readonly userAgent?: string;
  /**
   * Refuse to connect to a private, loopback or link-local address (`destination.allowAnyHost` off):
   * the host is checked as resolved for the connection itself. Default false.
   */
  readonly publicAddressesOnly?: boolean;
}

/** What the endpoint answered. */
export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
  /** The `Retry-After` header, if any (seconds or an HTTP date), for the caller's retry policy. */
  readonly retryAfter?: string;
}

export const authorizationHeaders = (auth: QualtricsAuth): Record<string, string> =>
  auth.kind === 'basic'
    ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.apiToken}`, 'utf8').toString('base64')}` }
    : { 'x-api-token': auth.apiToken };

/**
 * Posts JSON bodies to a Qualtrics workflow's JSON Event URL with got. One attempt per call: retrying,
 * pacing and ordering belong to the pipeline, which knows what else is in flight. Every answer is
 * returned (a 3xx, 4xx or 5xx is not an exception); network errors and timeouts reject. A redirect is
 * never followed: it is returned with its status (a profile must not be posted wherever a 302 points).
 */
export class QualtricsHttpSender {
  readonly #client: Got;
  readonly #url: string;

  constructor({
    url,
    auth,
    timeoutMs = 10_000,
    userAgent = 'qualtrics-automations',
    publicAddressesOnly = false,
  }: QualtricsHttpSenderOptions) {
    if (publicAddressesOnly) refuseLiteralPrivateHost(url);
    this.#url = url;
    // Measured setting by setting in `npm run bench -- got` (BENCHMARKS.md): one instance with its options
    // merged once; no retries (the pipeline's); no decompression (Qualtrics answers a few bytes, and not
    // asking for gzip spares a decompressing stream per answer). Hooks: none. Connections are kept alive
    // by Node's global agent (keep-alive since Node 19). An agent of its own measured within the noise
    // and is left out: passed in got's options, it rides along in every got error, and its sockets hold
    // the request's header text, credentials included, where a logged error would show them.
    this.#client = got.extend({
      headers: { 'content-type': 'application/json', 'user-agent': userAgent, ...authorizationHeaders(auth) },
      throwHttpErrors: false,
      retry: { limit: 0 },
      followRedirect: false,
      decompress: false,
      timeout: { request: timeoutMs },
      ...(publicAddressesOnly ? { dnsLookup: publicOnlyLookup } : {}),
    });
  }

  async send(body: string): Promise<HttpAnswer> {
    const response = await this.#client.post(this.#url, { body });
    const retryAfter = response.headers['retry-after'];
    return { status: response.statusCode, body: response.body, ...(retryAfter === undefined ? {} : { retryAfter }) };
  }
}
