import { randomUUID } from 'node:crypto';
import { sameSecret } from '../same-secret.js';
import type { IncomingHttpHeaders } from 'node:http';
import type { Redis } from '../redis/connection.js';
import { BadSharedKey, SHARED_KEY_BYTES, sharedKey } from '../redis/shared-key.js';

/**
 * jose, loaded when the first token issuer starts: a process without an OAuth intake never loads it. The
 * promise is kept (each request awaits it, no import per request), and `start` awaits it, so a jose that
 * cannot load stops the intake at start, not at its first request.
 */
let joseLoading: Promise<typeof import('jose')> | undefined;
const jose = (): Promise<typeof import('jose')> => (joseLoading ??= import('jose'));

export interface OAuthClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

/**
 * Where the signing key comes from: a secret from config (every process that has it accepts every token),
 * or a key generated once and shared through Redis (SET NX under `redisKey`, so every process of the
 * deployment uses the first one made).
 */
export type SigningKeySource = { readonly secret: string } | { readonly redis: Redis; readonly redisKey: string };

export interface TokenIssuerOptions {
  /** The one client allowed to take tokens (Adobe Experience Platform's HTTP API destination). */
  readonly client: OAuthClientCredentials;
  /** How long a token lasts, in whole seconds; also the answer's `expires_in`. */
  readonly ttlSeconds: number;
  readonly key: SigningKeySource;
  /** The `iss` claim written into every token and required of every token verified. */
  readonly issuer?: string;
  /** The clock, in milliseconds since the epoch as `Date.now`: injectable so tests can expire a token. */
  readonly now?: () => number;
}

export interface TokenAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Readonly<Record<string, unknown>>;
}

/** `unavailable`: the signing key could not be had yet (Redis down at start), so nothing can be checked now. */
export type TokenVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly why: 'expired' | 'invalid' | 'unavailable' };

export interface TokenRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export const DEFAULT_ISSUER = 'qualtrics-automations';
const REALM = 'qualtrics-automations';
const FORM_TYPE = 'application/x-www-form-urlencoded';
/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output. */
const MIN_KEY_BYTES = SHARED_KEY_BYTES;
/** RFC 7617: `Basic` and a token68 of standard base64. */
const BASIC = /^Basic +([A-Za-z0-9+/]+={0,2})$/i;

/** RFC 6749 §5.1 and §5.2: no answer from the token endpoint, success or error, may be cached. */
const NOT_CACHED = {
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
};

/** A refused token request: an RFC 6749 §5.2 error answer, thrown by the checks and caught by `answer`. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(description);
  }

  toAnswer(): TokenAnswer {
    return {
      status: this.status,
      headers: { ...NOT_CACHED, ...this.headers },
      body: { error: this.error, error_description: this.description },
    };
  }
}

const invalidRequest = (description: string) => new Refusal(400, 'invalid_request', description);

/** RFC 6749 §5.2: a client that tried the Authorization header is told which scheme to use. */
const invalidClient = (triedHeader: boolean) =>
  new Refusal(401, 'invalid_client', 'client authentication failed', {
    ...(triedHeader ? { 'WWW-Authenticate': `Basic realm="${REALM}"` } : {}),
  });

const UTF8 = new TextDecoder('utf-8', { fatal: true });

const decodeUtf8 = (bytes: Uint8Array): string | undefined => {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
};

/** The application/x-www-form-urlencoded decoding of one value (RFC 6749 Appendix B): `+` is a space. */
const formDecode = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
};

/** The form media type, with no parameter but charset. Any charset: a form body is percent-encoded ASCII. */
const isFormContentType = (contentType: string | undefined): boolean => {
  const [type, ...parameters] = (contentType ?? '').split(';').map((part) => part.trim());
  return type?.toLowerCase() === FORM_TYPE && parameters.every((p) => /^charset=\S+$/i.test(p));
};

/**
 * The request's parameters. RFC 6749 §3.2: one sent without a value is as if omitted, and none may be
 * sent twice (which one would count?).
 */
const readForm = (body: Buffer): ReadonlyMap<string, string> => {
  const text = decodeUtf8(body);
  if (text === undefined) throw invalidRequest('the body is not UTF-8');
  const fields = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(text)) {
    if (value === '') continue;
    if (fields.has(name)) throw invalidRequest('a request parameter is repeated');
    fields.set(name, value);
  }
  return fields;
};

const requireClientCredentialsGrant = (form: ReadonlyMap<string, string>): void => {
  const grant = form.get('grant_type');
  if (grant === undefined) throw invalidRequest('grant_type is missing');
  if (grant !== 'client_credentials')
    throw new Refusal(400, 'unsupported_grant_type', 'only the client_credentials grant is supported');
};

/** RFC 6749 §2.3.1: id and secret each form-encoded, then joined by a colon and base64-encoded. */
const basicCredentials = (authorization: string): OAuthClientCredentials | undefined => {
  const token = BASIC.exec(authorization.trim())?.[1];
  const pair = token === undefined ? undefined : decodeUtf8(Buffer.from(token, 'base64'));
  const colon = pair?.indexOf(':') ?? -1;
  if (pair === undefined || colon < 0) return undefined;
  const clientId = formDecode(pair.slice(0, colon));
  const clientSecret = formDecode(pair.slice(colon + 1));
  return clientId === undefined || clientSecret === undefined ? undefined : { clientId, clientSecret };
};

const bodyCredentials = (form: ReadonlyMap<string, string>): OAuthClientCredentials | undefined => {
  const clientId = form.get('client_id');
  const clientSecret = form.get('client_secret');
  return clientId === undefined || clientSecret === undefined ? undefined : { clientId, clientSecret };
};

/**
 * Compares the presented credentials with the configured ones in constant time (`sameSecret`: hashed
 * first, so lengths do not leak); both halves are always compared, so it does not reveal which was wrong.
 */
const credentialsMatch = (presented: OAuthClientCredentials, expected: OAuthClientCredentials): boolean => {
  const idMatches = sameSecret(presented.clientId, expected.clientId);
  const secretMatches = sameSecret(presented.clientSecret, expected.clientSecret);
  return idMatches && secretMatches;
};

/** RFC 6749 §2.3: one authentication method per request, so not the body and the header both. */
const authenticate = (
  headers: IncomingHttpHeaders,
  form: ReadonlyMap<string, string>,
  expected: OAuthClientCredentials,
): void => {
  const { authorization } = headers;
  const triedHeader = authorization !== undefined;
  if (triedHeader && (form.has('client_id') || form.has('client_secret')))
    throw invalidRequest('client credentials are in both the body and the Authorization header');
  const presented = triedHeader ? basicCredentials(authorization) : bodyCredentials(form);
  if (presented === undefined || !credentialsMatch(presented, expected)) throw invalidClient(triedHeader);
};

/** A signing secret that is unusable: waiting will not mend it, so `run` stops at start. */
class BadSigningKey extends Error {}

const secretKey = (secret: string): Uint8Array => {
  const key = new TextEncoder().encode(secret);
  if (key.length < MIN_KEY_BYTES)
    throw new BadSigningKey(`the token signing secret must be at least ${MIN_KEY_BYTES} bytes (RFC 7518 §3.2)`);
  return key;
};

/** Whether a key failure is for good (a bad key) rather than for now (Redis not answering). */
const isBadKey = (error: unknown): boolean => error instanceof BadSigningKey || error instanceof BadSharedKey;

const resolveKey = (source: SigningKeySource): Promise<Uint8Array> =>
  'secret' in source
    ? Promise.resolve(secretKey(source.secret))
    : sharedKey(source.redis, source.redisKey, 'the token signing key');

const checkOptions = ({ client, ttlSeconds }: TokenIssuerOptions): void => {
  if (client.clientId === '' || client.clientSecret === '')
    throw new Error('the OAuth client id and secret must not be empty');
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0)
    throw new Error(`the token lifetime must be a positive whole number of seconds, not ${ttlSeconds}`);
};

const EXPIRED: TokenVerdict = { ok: false, why: 'expired' };
const INVALID: TokenVerdict = { ok: false, why: 'invalid' };
const UNAVAILABLE: TokenVerdict = { ok: false, why: 'unavailable' };
/** How long a client is asked to wait while the signing key cannot be had (RFC 6749 temporarily_unavailable). */
const KEY_RETRY_AFTER_SECONDS = 5;

/**
 * The OAuth 2.0 token endpoint of the client credentials grant (RFC 6749 §4.4) for the one configured
 * client, and the check of the bearer tokens it hands out: HS256 JWTs, so any process holding the key
 * verifies them without asking the one that issued them.
 */
export class TokenIssuer {
  readonly #client: OAuthClientCredentials;
  readonly #ttlSeconds: number;
  readonly #issuer: string;
  readonly #now: () => number;
  readonly #keySource: SigningKeySource;
  #key: Uint8Array | undefined;
  #loading: Promise<Uint8Array> | undefined;

  private constructor(options: TokenIssuerOptions) {
    this.#keySource = options.key;
    this.#client = options.client;
    this.#ttlSeconds = options.ttlSeconds;
    this.#issuer = options.issuer ?? DEFAULT_ISSUER;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Checks the options and tries to resolve the signing key (one Redis round trip when it is shared
   * there). A bad key stops the start; a Redis that does not answer yet does not: the key is fetched on
   * first use, and until then the token endpoint and the intake answer 503, so AEP retries.
   */
  static async start(options: TokenIssuerOptions): Promise<TokenIssuer> {
    checkOptions(options);
    const issuer = new TokenIssuer(options);
    await jose();
    await issuer.#signingKey();
    return issuer;
  }

  /**
   * The key, fetched once it can be (one fetch at a time; a failed one is tried again on next use), or
   * undefined while it cannot be read (Redis not answering). A bad key throws: waiting will not mend it.
   */
  async #signingKey(): Promise<Uint8Array | undefined> {
    if (this.#key) return this.#key;
    this.#loading ??= resolveKey(this.#keySource).finally(() => (this.#loading = undefined));
    try {
      this.#key = await this.#loading;
    } catch (error) {
      if (isBadKey(error)) throw error;
    }
    return this.#key;
  }

  /** Answers one request to the token endpoint. */
  async answer(request: TokenRequest): Promise<TokenAnswer> {
    try {
      this.#admit(request);
    } catch (error) {
      if (error instanceof Refusal) return error.toAnswer();
      throw error;
    }
    const key = await this.#signingKey();
    if (key) return this.#granted(key);
    return {
      status: 503,
      headers: { ...NOT_CACHED, 'Retry-After': String(KEY_RETRY_AFTER_SECONDS) },
      body: { error: 'temporarily_unavailable', error_description: 'the token signing key cannot be read now' },
    };
  }

  /** Whether `token` is one this deployment issued and it has not expired. */
  async verify(token: string): Promise<TokenVerdict> {
    const key = await this.#signingKey();
    if (!key) return UNAVAILABLE;
    const { errors, jwtVerify } = await jose();
    try {
      await jwtVerify(token, key, {
        algorithms: ['HS256'],
        issuer: this.#issuer,
        subject: this.#client.clientId,
        requiredClaims: ['iat', 'exp', 'jti'],
        currentDate: new Date(this.#now()),
      });
      return { ok: true };
    } catch (error) {
      // jose checks the signature before the claims, so "expired" is only said of a token we signed.
      if (error instanceof errors.JWTExpired) return EXPIRED;
      if (error instanceof errors.JOSEError) return INVALID;
      throw error;
    }
  }

  /** Throws the Refusal of the first rule the request breaks, in the order RFC 6749 states them. */
  #admit({ method, headers, body }: TokenRequest): void {
    if (method !== 'POST')
      throw new Refusal(405, 'invalid_request', 'the token endpoint takes POST', { Allow: 'POST' });
    if (!isFormContentType(headers['content-type'])) throw invalidRequest(`the content type must be ${FORM_TYPE}`);
    const form = readForm(body);
    requireClientCredentialsGrant(form);
    authenticate(headers, form, this.#client);
  }

  async #granted(key: Uint8Array): Promise<TokenAnswer> {
    const body = { access_token: await this.#sign(key), token_type: 'Bearer', expires_in: this.#ttlSeconds };
    return { status: 200, headers: NOT_CACHED, body };
  }

  async #sign(key: Uint8Array): Promise<string> {
    const issuedAt = Math.floor(this.#now() / 1000);
    const { SignJWT } = await jose();
    return new SignJWT()
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(this.#issuer)
      .setSubject(this.#client.clientId)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + this.#ttlSeconds)
      .setJti(randomUUID())
      .sign(key);
  }
}
