import { backoffMs } from './backoff.js';
import type * as t from 'io-ts';
import { integerIn, struct, withDefault } from './codecs.js';
import { httpReason } from './outcome.js';
import type { SendResult } from './ports.js';

export const RetryOptions = struct('RetryOptions', {
  /** Attempts in all, the first included, before an update goes to the dead letters. */
  maxAttempts: withDefault(integerIn(1, 100), 10),
  /** The first retry waits about this long; each next one twice as long. */
  baseMs: withDefault(integerIn(1, 600_000), 500),
  /** No wait is longer (a `Retry-After` may be, up to `MAX_RETRY_AFTER_MS`); also the pace of retries while paused. */
  maxMs: withDefault(integerIn(1, 3_600_000), 30_000),
  /**
   * Failed attempts in a row (no answer, 5xx, 408), for more than one update, that mean the destination
   * is down: the intake pauses and one probe retries, without spending anyone's attempts.
   */
  downAfter: withDefault(integerIn(2, 10_000), 5),
});
export type RetryOptions = t.TypeOf<typeof RetryOptions>;

const cut = (text: string, max = 500): string => (text.length > max ? `${text.slice(0, max)}...` : text);

/** A `Retry-After` longer than this is capped: a typo on the server should not park an update for days. */
export const MAX_RETRY_AFTER_MS = 15 * 60_000;

/**
 * What one attempt came to: an answer, no answer at all (refused, reset, timed out), or not sent because
 * the destination as configured may not be sent to (a private address: see `MisconfiguredDestinationError`).
 */
export type AttemptResult =
  | { readonly kind: 'answer'; readonly answer: SendResult }
  | { readonly kind: 'no-answer'; readonly error: string }
  | { readonly kind: 'misconfigured'; readonly message: string };

/** No answer, or an answer that says the destination itself is failing (5xx, 408): what a breaker counts. */
export const isDestinationFailure = (result: AttemptResult): boolean =>
  result.kind === 'no-answer' ||
  (result.kind === 'answer' && (result.answer.status >= 500 || result.answer.status === 408));

/** A one-line account of an attempt's result, for messages. */
export const describeResult = (result: AttemptResult): string =>
  result.kind === 'no-answer'
    ? `no answer: ${cut(result.error, 120)}`
    : result.kind === 'misconfigured'
      ? result.message
      : `HTTP ${result.answer.status}`;

/** What to do next, and why. */
export type Verdict =
  | { readonly kind: 'delivered'; readonly status: number }
  | { readonly kind: 'retry'; readonly delayMs: number; readonly slowDown: boolean }
  | { readonly kind: 'misconfigured'; readonly delayMs: number; readonly status?: number; readonly message: string }
  | { readonly kind: 'give-up'; readonly reason: string; readonly status?: number; readonly detail: string };

const RETRYABLE_STATUS = new Set([408, 429]);
const MISCONFIGURED: Readonly<Record<number, string>> = {
  401: 'the destination rejected the credentials (401): check destination.username and destination.apiToken',
  403: 'the destination refused access (403): check that the API token belongs to a user who may trigger this workflow',
  404: 'no JSON Event at destination.url (404): check the URL and that the workflow is enabled',
};

/** Milliseconds from a `Retry-After` value (delta seconds or HTTP date), or undefined if absent or unreadable. */
export const parseRetryAfter = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed) * 1000, MAX_RETRY_AFTER_MS);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.min(Math.max(0, date - now), MAX_RETRY_AFTER_MS);
};

/**
 * Judges attempt number `attempt` (1-based): 2xx is delivered; 408, 429, 5xx and no answer are retried
 * with backoff (or after `Retry-After`) until `maxAttempts`; 401, 403 and 404, and a send refused as
 * misconfigured (a private address), mean the destination is misconfigured, which no number of attempts
 * fixes quickly: retry slowly and without limit; any other answer is final.
 */
export const judge = (
  result: AttemptResult,
  attempt: number,
  options: RetryOptions,
  now: number,
  random: () => number = Math.random,
): Verdict => {
  if (result.kind === 'misconfigured')
    return {
      kind: 'misconfigured',
      message: result.message,
      delayMs: backoffMs(Number.MAX_SAFE_INTEGER, options, random),
    };
  if (result.kind === 'no-answer') {
    if (attempt < options.maxAttempts)
      return { kind: 'retry', delayMs: backoffMs(attempt, options, random), slowDown: false };
    return {
      kind: 'give-up',
      reason: 'retries-exhausted',
      detail: `no answer after ${attempt} attempt(s): ${cut(result.error)}`,
    };
  }
  const { status, body, retryAfter } = result.answer;
  if (status >= 200 && status < 300) return { kind: 'delivered', status };
  const misconfigured = MISCONFIGURED[status];
  if (misconfigured)
    return {
      kind: 'misconfigured',
      status,
      message: misconfigured,
      delayMs: backoffMs(Number.MAX_SAFE_INTEGER, options, random),
    };
  if (RETRYABLE_STATUS.has(status) || status >= 500) {
    if (attempt >= options.maxAttempts)
      return {
        kind: 'give-up',
        reason: 'retries-exhausted',
        status,
        detail: `${status} after ${attempt} attempt(s): ${cut(body)}`,
      };
    const delayMs = parseRetryAfter(retryAfter, now) ?? backoffMs(attempt, options, random);
    return { kind: 'retry', delayMs, slowDown: status === 429 };
  }
  return { kind: 'give-up', reason: httpReason(status), status, detail: cut(body) };
};
