import { expect } from 'chai';
import { decodeOrThrow } from '../../../operators/model/codecs.js';
import {
  describeResult,
  isDestinationFailure,
  judge,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
  RetryOptions,
  type AttemptResult,
} from '../../../operators/model/retry-policy.js';

const options = decodeOrThrow(RetryOptions, { maxAttempts: 3, baseMs: 100, maxMs: 1000 });
const NOW = Date.parse('2026-11-29T09:00:00Z');
const answer = (status: number, body = '', retryAfter?: string): AttemptResult => ({
  kind: 'answer',
  answer: { status, body, ...(retryAfter === undefined ? {} : { retryAfter }) },
});
const longest = () => 1;
const shortest = () => 0;

describe('retry policy', () => {
  describe('judge', () => {
    it('delivers every 2xx, and only those', () => {
      for (const status of [200, 201, 202, 204, 299])
        expect(judge(answer(status), 1, options, NOW)).to.deep.equal({ kind: 'delivered', status });
      for (const status of [199, 300, 302])
        expect(judge(answer(status), 1, options, NOW).kind, String(status)).to.equal('give-up');
    });

    it('pauses on 401, 403 and 404 (the destination is misconfigured): never gives up, retries every maxMs', () => {
      for (const status of [401, 403, 404]) {
        // Attempt 50 of 3: a misconfigured destination does not use up attempts.
        const verdict = judge(answer(status, 'no'), 50, options, NOW, longest);
        expect(verdict, String(status)).to.deep.include({ kind: 'misconfigured', status, delayMs: 1000 });
        expect(judge(answer(status), 1, options, NOW, shortest), String(status)).to.deep.include({ delayMs: 500 });
      }
      const messages = [401, 403, 404].map(
        (status) => (judge(answer(status), 1, options, NOW) as { message: string }).message,
      );
      expect(messages).to.deep.equal([
        'the destination rejected the credentials (401): check destination.username and destination.apiToken',
        'the destination refused access (403): ' +
          'check that the API token belongs to a user who may trigger this workflow',
        'no JSON Event at destination.url (404): check the URL and that the workflow is enabled',
      ]);
    });

    it('retries 408, 429 and 5xx with backoff until the last attempt, and only 429 slows the rate down', () => {
      for (const status of [408, 429, 500, 502, 503, 599]) {
        expect(judge(answer(status), 1, options, NOW, longest), String(status)).to.deep.equal({
          kind: 'retry',
          delayMs: 100,
          slowDown: status === 429,
        });
        expect(judge(answer(status), 2, options, NOW, longest), String(status)).to.deep.include({
          kind: 'retry',
          delayMs: 200,
        });
        expect(judge(answer(status, 'busy'), 3, options, NOW), String(status)).to.deep.equal({
          kind: 'give-up',
          reason: 'retries-exhausted',
          status,
          detail: `${status} after 3 attempt(s): busy`,
        });
      }
    });

    it('gives up at once on any other 4xx, with its status and the body cut at 500 characters', () => {
      for (const status of [400, 402, 405, 409, 413, 422, 499]) {
        expect(judge(answer(status, 'bad'), 1, options, NOW), String(status)).to.deep.equal({
          kind: 'give-up',
          reason: `http-${status}`,
          status,
          detail: 'bad',
        });
      }
      const long = judge(answer(400, 'y'.repeat(501)), 1, options, NOW) as { detail: string };
      expect(long.detail).to.equal(`${'y'.repeat(500)}...`);
      expect((judge(answer(400, 'y'.repeat(500)), 1, options, NOW) as { detail: string }).detail).to.equal(
        'y'.repeat(500),
      );
    });

    it('retries when there is no answer, then gives up naming the error', () => {
      const noAnswer: AttemptResult = { kind: 'no-answer', error: 'connect ECONNREFUSED' };
      expect(judge(noAnswer, 2, options, NOW, longest)).to.deep.equal({ kind: 'retry', delayMs: 200, slowDown: false });
      expect(judge(noAnswer, 3, options, NOW)).to.deep.equal({
        kind: 'give-up',
        reason: 'retries-exhausted',
        detail: 'no answer after 3 attempt(s): connect ECONNREFUSED',
      });
    });

    it('waits as long as Retry-After says, in seconds or as an HTTP date, instead of the backoff', () => {
      expect(judge(answer(503, '', '7'), 1, options, NOW, longest)).to.deep.equal({
        kind: 'retry',
        delayMs: 7000,
        slowDown: false,
      });
      const inNinetySeconds = new Date(NOW + 90_000).toUTCString();
      expect(judge(answer(429, '', inNinetySeconds), 1, options, NOW, longest)).to.deep.equal({
        kind: 'retry',
        delayMs: 90_000,
        slowDown: true,
      });
      // Unreadable: the backoff decides.
      expect(judge(answer(503, '', 'soon'), 1, options, NOW, longest)).to.deep.include({ delayMs: 100 });
    });
  });

  describe('parseRetryAfter', () => {
    it('reads delta seconds, surrounding spaces allowed', () => {
      expect(parseRetryAfter('0', NOW)).to.equal(0);
      expect(parseRetryAfter('120', NOW)).to.equal(120_000);
      expect(parseRetryAfter(' 5 ', NOW)).to.equal(5_000);
    });

    it('reads an HTTP date as the time left until it; a date past is no wait', () => {
      expect(parseRetryAfter('Sun, 29 Nov 2026 09:02:30 GMT', NOW)).to.equal(150_000);
      expect(parseRetryAfter('Sun, 29 Nov 2026 08:59:00 GMT', NOW)).to.equal(0);
    });

    it('caps either form at 15 minutes', () => {
      expect(MAX_RETRY_AFTER_MS).to.equal(900_000);
      expect(parseRetryAfter('900', NOW)).to.equal(900_000);
      expect(parseRetryAfter('901', NOW)).to.equal(900_000);
      expect(parseRetryAfter('86400', NOW)).to.equal(900_000);
      expect(parseRetryAfter(new Date(NOW + 899_000).toUTCString(), NOW)).to.equal(899_000);
      expect(parseRetryAfter(new Date(NOW + 901_000).toUTCString(), NOW)).to.equal(900_000);
      expect(parseRetryAfter('Fri, 01 Jan 2100 00:00:00 GMT', NOW)).to.equal(900_000);
    });

    it('answers undefined when absent or unreadable', () => {
      expect(parseRetryAfter(undefined, NOW)).to.equal(undefined);
      expect(parseRetryAfter('', NOW)).to.equal(undefined);
      expect(parseRetryAfter('later', NOW)).to.equal(undefined);
      // Digits with anything around them are not delta seconds (nor a date).
      expect(parseRetryAfter('x5', NOW)).to.equal(undefined);
      expect(parseRetryAfter('5x', NOW)).to.equal(undefined);
    });
  });

  it('decodes its options with defaults and bounds', () => {
    expect(decodeOrThrow(RetryOptions, {})).to.deep.equal({
      maxAttempts: 10,
      baseMs: 500,
      maxMs: 30_000,
      downAfter: 5,
    });
    expect(() => decodeOrThrow(RetryOptions, { maxAttempts: 101, baseMs: 0, maxMs: 3_600_001 })).to.throw(
      'RetryOptions: maxAttempts: expected an integer from 1 to 100, got 101; ' +
        'baseMs: expected an integer from 1 to 600000, got 0; ' +
        'maxMs: expected an integer from 1 to 3600000, got 3600001',
    );
  });

  it('counts no answer, 5xx and 408 as the destination failing; any other status is an answer', () => {
    const noAnswer: AttemptResult = { kind: 'no-answer', error: 'ECONNRESET' };
    expect(
      [noAnswer, answer(500), answer(503), answer(408), answer(499), answer(429), answer(400), answer(202)].map(
        isDestinationFailure,
      ),
    ).to.deep.equal([true, true, true, true, false, false, false, false]);
  });

  it('describes an attempt in one short line', () => {
    expect(describeResult(answer(503, 'a long body that is not shown'))).to.equal('HTTP 503');
    expect(describeResult({ kind: 'no-answer', error: 'ECONNRESET' })).to.equal('no answer: ECONNRESET');
    expect(describeResult({ kind: 'no-answer', error: 'x'.repeat(121) })).to.equal(`no answer: ${'x'.repeat(120)}...`);
  });
});
