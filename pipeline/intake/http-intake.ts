import { readFileSync } from 'node:fs';
import { messageOf } from '../../operators/model/errors.js';
import { filter, type Subscription } from 'rxjs';
import type { Authorize, HttpIntakeOptions, Stored } from '../../adapters/http/intake-server.js';
import { TokenIssuer } from '../../adapters/http/oauth-tokens.js';
import type { Redis } from '../../adapters/redis/connection.js';
import { bearerTokenOf, sameSecret } from '../../adapters/same-secret.js';
import type { ProducedMessage } from '../../adapters/websocket/listen-source.js';
import type { HttpSourceConfig } from '../config/codec.js';
import type { IntakeValve } from '../valve.js';
import type { JournalWriter } from './journal-writer.js';

/** How long AEP is asked to wait before retrying a body that could not be stored (it retries twice). */
const RETRY_AFTER_SECONDS = 5;

/**
 * How a body is stored: appended to the journal through the writer (in arrival order with everything
 * else), answered once it is there. While the journal cannot take it (full, Redis down, a backlog) it
 * is refused at once, so AEP retries later rather than waits; one already waiting when the journal turns
 * out full, or waiting longer than `patienceMs`, is taken back and refused too, unless it is already
 * being appended: then its answer is waited for, so a 503 means "not stored". (Except after an append
 * Redis did not answer in time: it may land when Redis wakes, and AEP's retry is then a duplicate the
 * pipeline counts as one and does not send twice.)
 */
export const storeThrough =
  (writer: JournalWriter, pauses: IntakeValve, patienceMs: number) =>
  (body: Buffer): Promise<Stored> => {
    if (pauses.isClosed) {
      const why = [...pauses.reasons.values()].join('; ');
      return Promise.resolve({ stored: false, why, retryAfterSeconds: RETRY_AFTER_SECONDS });
    }
    return new Promise<Stored>((resolve) => {
      let answered = false;
      let paused: Subscription | undefined;
      const done = (stored: Stored): void => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        paused?.unsubscribe();
        resolve(stored);
      };
      const giveUp = (why: string): void => {
        if (writer.withdraw(message)) done({ stored: false, why, retryAfterSeconds: RETRY_AFTER_SECONDS });
      };
      const message: ProducedMessage = {
        data: body,
        reply: (ok, error) =>
          done(
            ok ? { stored: true } : { stored: false, why: error ?? 'refused', retryAfterSeconds: RETRY_AFTER_SECONDS },
          ),
      };
      const timer = setTimeout(() => giveUp('the journal did not take it in time'), patienceMs);
      writer.write(message);
      // Subscribed after the write: if the journal closes the intake from now on, this one is taken back too.
      paused = pauses.closed$.pipe(filter(Boolean)).subscribe(() => giveUp([...pauses.reasons.values()].join('; ')));
      if (answered) paused.unsubscribe();
    });
  };

type Verdict = Awaited<ReturnType<Authorize>>;

/** A request with `Authorization: Bearer <token>`, the token judged by `check`. */
const bearerAuthorizer =
  (check: (token: string) => Promise<Verdict>): Authorize =>
  async (authorization) => {
    const given = bearerTokenOf(authorization);
    return given === undefined ? { ok: false, why: 'a bearer token is required' } : check(given);
  };

/**
 * How the intake authenticates AEP, as `auth` says: a static bearer token (compared in constant time),
 * OAuth 2.0 client credentials (the token endpoint served here, and only its own unexpired tokens
 * accepted), or nothing. Without a signing key in the config, the first process makes one and every
 * other uses it, through Redis under `sharedKey`.
 */
export const authenticationOf = async (
  auth: HttpSourceConfig['auth'],
  redis: Redis,
  sharedKey: string,
): Promise<{ authorize: Authorize; token?: HttpIntakeOptions['token'] }> => {
  if (auth.bearer) {
    const expected = auth.bearer.reveal();
    return {
      authorize: bearerAuthorizer(async (given) =>
        sameSecret(given, expected) ? { ok: true } : { ok: false, why: 'the bearer token is not valid' },
      ),
    };
  }
  if (auth.oauth2) {
    const { clientId, clientSecret, tokenPath, tokenTtlSeconds, signingKey } = auth.oauth2;
    const issuer = await TokenIssuer.start({
      client: { clientId, clientSecret: clientSecret.reveal() },
      ttlSeconds: tokenTtlSeconds,
      key: signingKey ? { secret: signingKey.reveal() } : { redis, redisKey: sharedKey },
    });
    return {
      token: { path: tokenPath, answer: (request) => issuer.answer(request) },
      authorize: bearerAuthorizer(async (given) => {
        const verdict = await issuer.verify(given);
        if (verdict.ok) return { ok: true };
        return verdict.why === 'unavailable'
          ? { ok: false, why: 'the token cannot be checked now', retryAfterSeconds: RETRY_AFTER_SECONDS }
          : { ok: false, why: `the token is ${verdict.why}` };
      }),
    };
  }
  return { authorize: async () => ({ ok: true }) };
};

/** The certificate, key and CA files of `tls`, read once at start; a file that cannot be read names its key. */
export const tlsFiles = (tls: NonNullable<HttpSourceConfig['tls']>) => {
  const read = (key: 'cert' | 'key' | 'ca', path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new Error(`source.http.tls.${key}: cannot read ${path}: ${messageOf(error)}`);
    }
  };
  return {
    cert: read('cert', tls.cert),
    key: read('key', tls.key),
    ...(tls.ca ? { ca: read('ca', tls.ca) } : {}),
    requireClientCert: tls.requireClientCert,
  };
};
