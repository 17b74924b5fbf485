import { expect } from 'chai';
import { ACCEPT } from './helpers/counting-endpoint.js';
import { checkEnd, Musts } from './helpers/checker.js';
import { FaultRun, sample } from './helpers/fault-run.js';
import { distinctUpdates, keyOfBody, updateOf } from './helpers/producers.js';
import { scenario } from './helpers/scenario.js';
import { deliveredOrSettled, Sampler, until } from './helpers/waits.js';

/*
 * Issue #8, point 5: one slow update never stops the intake. Observed: with journal.maxLength 200 and
 * one identity answered 503, all intake paused for 87 s while 1 entry was unacknowledged, and the
 * journal then overshot to 459. Must: the journal's fullness counts what is pending, not the distance
 * to the oldest pending entry; acknowledged entries are removed so the stream's size follows what is
 * pending; maxLength is never overshot by more than one read; /readyz reflects the journal's pauses.
 */

const MAX_LENGTH = 100;
/** One read of the journal takes at most the credit: this many entries. */
const MAX_IN_FLIGHT = 50;
const RATE = { requests: 100, perSeconds: 1 };

interface JournalSample {
  readonly length: number;
  readonly journalPaused: boolean;
  readonly readyz: number;
}

describe('fault: one slow identity with a small journal (issue #8 point 5)', () => {
  const s = scenario();

  it(
    `journal.maxLength ${MAX_LENGTH}, one identity answered 503: the other 300 are delivered without waiting for it, ` +
      `the journal never holds more than maxLength + one read, shrinks with what is acknowledged, /readyz 503 ` +
      'whenever the journal pauses the intake; the slow one is delivered once it recovers',
    async () => {
      const musts = new Musts();
      const slow = updateOf('slow@example.com', 1);
      let holding = true;
      const endpoint = await s.endpoint((arrival) =>
        holding && arrival.identity === slow.email ? { status: 503, body: 'slow identity' } : ACCEPT,
      );
      const redis = await s.redis();
      const client = redis.client();
      await redis.ready(client);
      const feed = await s.feed();
      const journal = `${s.prefix}:journal`;
      const run = await FaultRun.start((port) =>
        FaultRun.config(port, {
          source: `{ websocket: { url: "${feed.url}" } }`,
          endpoint,
          destination: [
            `rateLimit: { requests: ${RATE.requests}, perSeconds: ${RATE.perSeconds} }`,
            // The slow one keeps retrying for the whole scenario: its attempts are not used up.
            'retry: { maxAttempts: 100, baseMs: 200, maxMs: 500 }',
          ],
          redisUrl: redis.url,
          prefix: s.prefix,
          extra: [
            `journal: { stream: "${journal}", maxLength: ${MAX_LENGTH}, claimIdleSeconds: 2 }`,
            `pipeline: { maxInFlight: ${MAX_IN_FLIGHT} }`,
          ],
        }),
      );
      await feed.connection(1);
      const others = distinctUpdates(300, 'fast-');
      const watch = new Sampler(async (): Promise<JournalSample> => {
        const [length, metrics, readyz] = await Promise.all([
          client.xlen(journal).catch(() => -1),
          run.metrics(1_500),
          run.readyz(),
        ]);
        const paused = sample(metrics.body, 'qualtrics_automations_paused{reason="journal-full"}') === 1;
        return { length, journalPaused: paused, readyz: readyz.status };
      }, 100);
      feed.send([slow, ...others]);

      const fast = (): number => endpoint.accepted().filter((a) => a.identity !== slow.email).length;
      await musts.checkAsync('the other 300 delivered while the slow one is held (intake not stopped by it)', () =>
        until(
          () => fast() >= others.length,
          25_000,
          () => `300 deliveries (${fast()} so far)`,
        ),
      );
      holding = false;
      await musts.checkAsync('the slow one delivered once it recovers', () =>
        deliveredOrSettled(endpoint, run, others.length + 1, 20_000),
      );
      await musts.checkAsync('the journal follows what is pending: empty once everything is acknowledged', () =>
        until(
          async () => (await client.xlen(journal)) === 0,
          5_000,
          () => `XLEN 0 (${watch.values.at(-1)?.length})`,
        ),
      );
      const seen = await watch.stop();

      musts.check(`the journal never over maxLength + one read (${MAX_LENGTH} + ${MAX_IN_FLIGHT})`, () => {
        const longest = Math.max(...seen.map((x) => x.length));
        expect(longest, 'longest journal seen').to.be.at.most(MAX_LENGTH + MAX_IN_FLIGHT);
      });
      musts.check('/readyz 503 whenever the journal pauses the intake', () => {
        const lying = seen.filter((x) => x.journalPaused && x.readyz === 200).length;
        expect(lying, `samples with the journal paused and /readyz 200 (of ${seen.length})`).to.equal(0);
      });
      musts.check('the slow identity delivered exactly once, after its 503s', () => {
        const delivered = endpoint.accepted().filter((a) => keyOfBody(a.body) === slow.key);
        expect(delivered).to.have.length(1);
      });
      await checkEnd(musts, run, {
        expected: [slow, ...others],
        endpoint,
        rateLimit: RATE,
        received: others.length + 1,
      });
      musts.verify();
    },
  );
});
