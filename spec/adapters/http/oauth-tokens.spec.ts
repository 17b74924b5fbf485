import { expect } from 'chai';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import {
  type OAuthClientCredentials,
  type SigningKeySource,
  type TokenAnswer,
  TokenIssuer,
  type TokenIssuerOptions,
  type TokenRequest,
} from '../../../adapters/http/oauth-tokens.js';
import { connectRedis } from '../../../adapters/redis/connection.js';
import { PrivateRedis } from '../../faults/helpers/private-redis.js';
import { RedisFixture } from '../../helpers/redis.js';

// Characters that Basic's form-encoding must carry: a colon (the separator), `+` and `%`, a space, non-ASCII.
const CLIENT: OAuthClientCredentials = { clientId: 'aep:destination 1', clientSecret: 'sëcret+/%:= value-0123456789' };
const SIGNING_SECRET = 'config-signing-secret-0123456789-abcdef';
const TTL = 300;
const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const FORM = 'application/x-www-form-urlencoded';
const NOT_CACHED = {
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
};
const CHALLENGE = { 'WWW-Authenticate': 'Basic realm="qualtrics-automations"' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B). */
const formEncode = (value: string) => new URLSearchParams({ v: value }).toString().slice('v='.length);
const basic = (clientId: string, clientSecret: string) =>
  `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64')}`;
const bodyCredentials = { client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret };

const post = (fields: Record<string, string>, headers: Record<string, string> = {}): TokenRequest => ({
  method: 'POST',
  headers: { 'content-type': FORM, ...headers },
  body: Buffer.from(new URLSearchParams(fields).toString()),
});
const grant = (fields: Record<string, string> = {}) => ({ grant_type: 'client_credentials', ...fields });

const refusal = (status: number, error: string, description: string, headers = {}): TokenAnswer => ({
  status,
  headers: { ...NOT_CACHED, ...headers },
  body: { error, error_description: description },
});
const BAD_CONTENT_TYPE = refusal(400, 'invalid_request', `the content type must be ${FORM}`);
const INVALID_CLIENT = refusal(401, 'invalid_client', 'client authentication failed');
const INVALID_CLIENT_CHALLENGED = refusal(401, 'invalid_client', 'client authentication failed', CHALLENGE);

const accessToken = (answer: TokenAnswer): string => {
  const token = answer.body.access_token;
  if (typeof token !== 'string') throw new Error(`no access_token in ${JSON.stringify(answer)}`);
  return token;
};

const rejection = async (promise: Promise<unknown>): Promise<Error> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  throw new Error('expected a rejection');
};

describe('TokenIssuer (OAuth 2.0 client credentials, RFC 6749 §4.4)', () => {
  let clock: number;
  beforeEach(() => (clock = T0));

  const start = (overrides: Partial<TokenIssuerOptions> = {}, key: SigningKeySource = { secret: SIGNING_SECRET }) =>
    TokenIssuer.start({ client: CLIENT, ttlSeconds: TTL, key, now: () => clock, ...overrides });

  /** A success answer with its token taken out, so the rest can be compared whole. */
  const granted = async (issuer: TokenIssuer, request: TokenRequest) => {
    const answer = await issuer.answer(request);
    const token = accessToken(answer);
    expect({ ...answer, body: { ...answer.body, access_token: '…' } }).to.deep.equal({
      status: 200,
      headers: NOT_CACHED,
      body: { access_token: '…', token_type: 'Bearer', expires_in: TTL },
    });
    return token;
  };

  describe('the token endpoint', () => {
    let issuer: TokenIssuer;
    beforeEach(async () => (issuer = await start()));

    it('grants an HS256 JWT for credentials in the body, with iss, sub, iat, exp and a random jti', async () => {
      const token = await granted(issuer, post(grant(bodyCredentials)));
      expect(token).to.match(JWT);
      expect(decodeProtectedHeader(token)).to.deep.equal({ alg: 'HS256', typ: 'JWT' });
      const { jti, ...claims } = decodeJwt(token);
      expect(claims).to.deep.equal({
        iss: 'qualtrics-automations',
        sub: CLIENT.clientId,
        iat: T0 / 1000,
        exp: T0 / 1000 + TTL,
      });
      expect(jti).to.match(UUID);
      expect(await issuer.verify(token)).to.deep.equal({ ok: true });
    });

    it('grants a token for credentials in Basic auth, each form-encoded before base64 (§2.3.1)', async () => {
      const token = await granted(
        issuer,
        post(grant(), { authorization: basic(CLIENT.clientId, CLIENT.clientSecret) }),
      );
      expect(decodeJwt(token).sub).to.equal(CLIENT.clientId);
      expect(await issuer.verify(token)).to.deep.equal({ ok: true });
    });

    it('takes the Basic scheme name in any case and percent-encoded spaces', async () => {
      const pair = `${encodeURIComponent(CLIENT.clientId)}:${encodeURIComponent(CLIENT.clientSecret)}`;
      const authorization = `bAsIc ${Buffer.from(pair).toString('base64')}`;
      await granted(issuer, post(grant(), { authorization }));
    });

    it('gives every token its own jti', async () => {
      const tokens = await Promise.all([1, 2, 3].map(() => granted(issuer, post(grant(bodyCredentials)))));
      expect(new Set(tokens.map((token) => decodeJwt(token).jti)).size).to.equal(3);
    });

    it('writes the configured issuer', async () => {
      const named = await start({ issuer: 'https://intake.example.com' });
      const token = await granted(named, post(grant(bodyCredentials)));
      expect(decodeJwt(token).iss).to.equal('https://intake.example.com');
    });

    it('takes a charset parameter on the content type, and ignores a scope', async () => {
      for (const contentType of [
        `${FORM}; charset=UTF-8`,
        `${FORM};charset=ISO-8859-1`,
        'Application/X-WWW-Form-Urlencoded',
      ])
        await granted(issuer, {
          ...post(grant({ ...bodyCredentials, scope: 'profiles' })),
          headers: { 'content-type': contentType },
        });
    });

    it('refuses any method but POST with 405 and Allow: POST', async () => {
      for (const method of ['GET', 'PUT', 'HEAD', 'post'])
        expect(await issuer.answer({ ...post(grant(bodyCredentials)), method })).to.deep.equal(
          refusal(405, 'invalid_request', 'the token endpoint takes POST', { Allow: 'POST' }),
        );
    });

    it('refuses a body that is not a form with 400 invalid_request', async () => {
      const request = post(grant(bodyCredentials));
      expect(await issuer.answer({ ...request, headers: {} })).to.deep.equal(BAD_CONTENT_TYPE);
      for (const contentType of [
        'application/json',
        'multipart/form-data; boundary=x',
        'text/plain',
        `${FORM}; boundary=x`,
        `${FORM}; charset=utf-8; boundary=x`,
        `${FORM}; charset=`,
        `${FORM}x`,
      ])
        expect(await issuer.answer({ ...request, headers: { 'content-type': contentType } })).to.deep.equal(
          BAD_CONTENT_TYPE,
        );
    });

    it('refuses a missing grant_type, or one sent empty, with 400 invalid_request (§3.2)', async () => {
      const missing = refusal(400, 'invalid_request', 'grant_type is missing');
      expect(await issuer.answer(post(bodyCredentials))).to.deep.equal(missing);
      expect(await issuer.answer(post({ grant_type: '', ...bodyCredentials }))).to.deep.equal(missing);
    });

    it('refuses any other grant with 400 unsupported_grant_type', async () => {
      const unsupported = refusal(400, 'unsupported_grant_type', 'only the client_credentials grant is supported');
      for (const grantType of ['password', 'authorization_code', 'refresh_token', 'Client_Credentials'])
        expect(await issuer.answer(post({ grant_type: grantType, ...bodyCredentials }))).to.deep.equal(unsupported);
    });

    it('refuses a repeated parameter with 400 invalid_request (§3.2)', async () => {
      const body = Buffer.from(`grant_type=client_credentials&${new URLSearchParams(bodyCredentials)}&client_id=x`);
      expect(await issuer.answer({ ...post({}), body })).to.deep.equal(
        refusal(400, 'invalid_request', 'a request parameter is repeated'),
      );
    });

    it('refuses a body that is not UTF-8 with 400 invalid_request', async () => {
      const body = Buffer.concat([Buffer.from('grant_type=client_credentials&client_id='), Buffer.from([0xff, 0xfe])]);
      expect(await issuer.answer({ ...post({}), body })).to.deep.equal(
        refusal(400, 'invalid_request', 'the body is not UTF-8'),
      );
    });

    it('refuses credentials in both the body and the Authorization header with 400 invalid_request (§2.3)', async () => {
      const both = refusal(
        400,
        'invalid_request',
        'client credentials are in both the body and the Authorization header',
      );
      const authorization = basic(CLIENT.clientId, CLIENT.clientSecret);
      for (const fields of [bodyCredentials, { client_id: CLIENT.clientId }, { client_secret: CLIENT.clientSecret }])
        expect(await issuer.answer(post(grant(fields), { authorization }))).to.deep.equal(both);
    });

    it('refuses wrong or missing body credentials with 401 invalid_client and no challenge', async () => {
      for (const fields of [
        { client_id: CLIENT.clientId, client_secret: 'wrong' },
        { client_id: CLIENT.clientId, client_secret: `${CLIENT.clientSecret}x` },
        { client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret.slice(0, -1) },
        { client_id: 'someone-else', client_secret: CLIENT.clientSecret },
        { client_id: CLIENT.clientId },
        { client_secret: CLIENT.clientSecret },
        { client_id: CLIENT.clientId, client_secret: '' },
        {},
      ])
        expect(await issuer.answer(post(grant(fields)))).to.deep.equal(INVALID_CLIENT);
    });

    it('refuses wrong, malformed or non-Basic Authorization with 401 invalid_client and a Basic challenge', async () => {
      const encoded = (pair: string) => `Basic ${Buffer.from(pair).toString('base64')}`;
      for (const authorization of [
        basic(CLIENT.clientId, 'wrong'),
        basic('someone-else', CLIENT.clientSecret),
        // Sent raw, not form-encoded: the id's own colon splits the pair in the wrong place.
        encoded(`${CLIENT.clientId}:${CLIENT.clientSecret}`),
        encoded(`${formEncode(CLIENT.clientId)}${formEncode(CLIENT.clientSecret)}`),
        encoded(`${formEncode(CLIENT.clientId)}:%E0%A4%A`),
        `Basic ${Buffer.from(`${CLIENT.clientId}:`).toString('base64')}!`,
        `Basic ${Buffer.from([0xff, 0x3a, 0xfe]).toString('base64')}`,
        'Basic',
        'Bearer some-token',
        '',
      ])
        expect(await issuer.answer(post(grant(), { authorization }))).to.deep.equal(INVALID_CLIENT_CHALLENGED);
    });

    it('never puts the client secret or the signing secret in an answer', async () => {
      const requests = [
        post(grant(bodyCredentials)),
        post(grant(), { authorization: basic(CLIENT.clientId, CLIENT.clientSecret) }),
        post(grant({ client_id: CLIENT.clientId, client_secret: `${CLIENT.clientSecret}!` })),
        post(grant(), { authorization: basic(CLIENT.clientId, `${CLIENT.clientSecret}!`) }),
        post(grant(bodyCredentials), { authorization: basic(CLIENT.clientId, CLIENT.clientSecret) }),
        post({ grant_type: 'password', ...bodyCredentials }),
        { ...post(grant(bodyCredentials)), method: 'GET' },
        { ...post(grant(bodyCredentials)), headers: { 'content-type': 'text/plain' } },
      ];
      const answers = await Promise.all(requests.map((request) => issuer.answer(request)));
      const tokens = answers.flatMap((answer) => (answer.status === 200 ? [accessToken(answer)] : []));
      expect(tokens).to.have.length(2);
      const seen = [
        ...answers.map((answer) => JSON.stringify(answer)),
        ...tokens.map((t) => JSON.stringify(decodeJwt(t))),
      ];
      for (const secret of [CLIENT.clientSecret, formEncode(CLIENT.clientSecret), SIGNING_SECRET])
        for (const text of seen) expect(text).not.to.include(secret);
    });
  });

  describe('verify', () => {
    it('accepts a token until its exp, and calls it expired from then on (the injected clock)', async () => {
      const issuer = await start();
      const token = accessToken(await issuer.answer(post(grant(bodyCredentials))));
      clock = T0 + TTL * 1000 - 1;
      expect(await issuer.verify(token)).to.deep.equal({ ok: true });
      clock = T0 + TTL * 1000;
      expect(await issuer.verify(token)).to.deep.equal({ ok: false, why: 'expired' });
      clock = T0 + 365 * 86_400_000;
      expect(await issuer.verify(token)).to.deep.equal({ ok: false, why: 'expired' });
    });

    it('refuses a token signed with another key as invalid, even once expired', async () => {
      const ours = await start();
      const theirs = await start({}, { secret: `another-${SIGNING_SECRET}` });
      const token = accessToken(await theirs.answer(post(grant(bodyCredentials))));
      expect(await theirs.verify(token)).to.deep.equal({ ok: true });
      expect(await ours.verify(token)).to.deep.equal({ ok: false, why: 'invalid' });
      clock = T0 + TTL * 1000;
      expect(await ours.verify(token)).to.deep.equal({ ok: false, why: 'invalid' });
    });

    it('refuses a token of another issuer name or for another client, same key, as invalid', async () => {
      const ours = await start();
      const otherClient = { clientId: 'other-client', clientSecret: CLIENT.clientSecret };
      const otherIssuer = await start({ issuer: 'someone-else' });
      const forOtherClient = await start({ client: otherClient });
      const tokens = [
        accessToken(await otherIssuer.answer(post(grant(bodyCredentials)))),
        accessToken(await forOtherClient.answer(post(grant({ ...bodyCredentials, client_id: otherClient.clientId })))),
      ];
      for (const token of tokens) expect(await ours.verify(token)).to.deep.equal({ ok: false, why: 'invalid' });
    });

    it('refuses, as invalid, a token signed with our key that lacks exp, iat or jti', async () => {
      const issuer = await start();
      const key = new TextEncoder().encode(SIGNING_SECRET);
      const signed = (omit: 'exp' | 'iat' | 'jti') => {
        const claims = { iat: T0 / 1000, exp: T0 / 1000 + TTL, jti: 'a-jti' };
        const { [omit]: _omitted, ...kept } = claims;
        return new SignJWT(kept)
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuer('qualtrics-automations')
          .setSubject(CLIENT.clientId)
          .sign(key);
      };
      for (const omit of ['exp', 'iat', 'jti'] as const)
        expect(await issuer.verify(await signed(omit))).to.deep.equal({ ok: false, why: 'invalid' });
    });

    it('refuses a tampered token, an unsigned one and garbage as invalid', async () => {
      const issuer = await start();
      const token = accessToken(await issuer.answer(post(grant(bodyCredentials))));
      const [header, payload, signature] = token.split('.') as [string, string, string];
      const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const longer = encode({ ...decodeJwt(token), exp: T0 / 1000 + 10 * TTL });
      const forged = [
        `${header}.${longer}.${signature}`,
        `${encode({ alg: 'none', typ: 'JWT' })}.${payload}.`,
        `${encode({ alg: 'HS512', typ: 'JWT' })}.${payload}.${signature}`,
        `${header}.${payload}.${signature.slice(0, -2)}`,
        `${header}.${payload}`,
        'not a token',
        '',
      ];
      for (const candidate of forged)
        expect(await issuer.verify(candidate)).to.deep.equal({ ok: false, why: 'invalid' });
    });
  });

  describe('start', () => {
    it('refuses a signing secret shorter than 32 bytes, without saying it', async () => {
      const short = 'too-short-signing-secret';
      const error = await rejection(start({}, { secret: short }));
      expect(error.message).to.equal('the token signing secret must be at least 32 bytes (RFC 7518 §3.2)');
      expect(error.stack).not.to.include(short);
    });

    it('refuses an empty client id or secret, and a lifetime that is not a positive whole number', async () => {
      for (const client of [
        { clientId: '', clientSecret: CLIENT.clientSecret },
        { clientId: CLIENT.clientId, clientSecret: '' },
      ])
        expect((await rejection(start({ client }))).message).to.equal(
          'the OAuth client id and secret must not be empty',
        );
      for (const ttlSeconds of [0, -60, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
        expect((await rejection(start({ ttlSeconds }))).message).to.equal(
          `the token lifetime must be a positive whole number of seconds, not ${ttlSeconds}`,
        );
    });
  });

  describe('a signing key shared through Redis (real Redis)', () => {
    let fixture: RedisFixture;
    let redisKey: string;
    beforeEach(() => {
      fixture = new RedisFixture();
      redisKey = `${fixture.prefix}:oauth:signing-key`;
    });
    afterEach(() => fixture.cleanup());

    const shared = (key = redisKey) => start({}, { redis: fixture.connect(), redisKey: key });

    it('makes one key, 32 random bytes with no expiry, that a later start adopts rather than replaces', async () => {
      await shared();
      const redis = fixture.connect();
      const stored = await redis.get(redisKey);
      expect(stored).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(stored!, 'base64url')).to.have.length(32);
      expect(await redis.ttl(redisKey)).to.equal(-1);
      await shared();
      expect(await redis.get(redisKey)).to.equal(stored);
    });

    it("lets two issuers sharing the key accept each other's tokens", async () => {
      const [one, other] = await Promise.all([shared(), shared()]);
      const fromOne = accessToken(await one.answer(post(grant(bodyCredentials))));
      const fromOther = accessToken(await other.answer(post(grant(bodyCredentials))));
      for (const issuer of [one, other])
        for (const token of [fromOne, fromOther]) expect(await issuer.verify(token)).to.deep.equal({ ok: true });
    });

    it('refuses, as invalid, a token signed with the key under another Redis key', async () => {
      const ours = await shared();
      const theirs = await shared(`${fixture.prefix}:oauth:other-signing-key`);
      const token = accessToken(await theirs.answer(post(grant(bodyCredentials))));
      expect(await ours.verify(token)).to.deep.equal({ ok: false, why: 'invalid' });
    });

    it('starts while Redis is down, answers 503 temporarily_unavailable and cannot verify until it is up, then works', async function () {
      // ioredis backs off up to 5 s between reconnects: the restart may wait that long to be seen.
      this.timeout(60_000);
      const redis = await PrivateRedis.notYetStarted();
      const connection = connectRedis(redis.url);
      connection.on('error', () => undefined);
      try {
        const issuer = await start({}, { redis: connection, redisKey });
        const refused = await issuer.answer(post(grant(bodyCredentials)));
        expect(refused).to.deep.include({ status: 503 });
        expect(refused.headers).to.include({ 'Retry-After': '5' });
        expect(refused.body).to.include({ error: 'temporarily_unavailable' });
        expect(await issuer.verify('any.token.here')).to.deep.equal({ ok: false, why: 'unavailable' });

        await redis.restart();
        const token = await granted(issuer, post(grant(bodyCredentials)));
        expect(await issuer.verify(token)).to.deep.equal({ ok: true });
      } finally {
        connection.disconnect();
        await PrivateRedis.stopAll();
      }
    });

    it('refuses to start on a stored key that is not 32 bytes of base64url, naming the Redis key, not its value', async () => {
      const corrupt = 'short-key-value';
      await fixture.connect().set(redisKey, corrupt);
      const error = await rejection(shared());
      expect(error.message).to.equal(
        `the token signing key at Redis key ${redisKey} is missing or is not 32 bytes of base64url`,
      );
      expect(error.stack).not.to.include(corrupt);
    });
  });
});
