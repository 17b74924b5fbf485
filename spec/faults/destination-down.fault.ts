import { expect } from 'chai';
import { checkEnd, checkReadyAgain, Musts } from './helpers/checker.js';
import type { Outage } from './helpers/counting-endpoint.js';
import { FaultRun, type Readiness } from './helpers/fault-run.js';
import { distinctUpdates, xaddUpdates } from './helpers/producers.js';
import { scenario } from './helpers/scenario.js';
import { deliveredOrSettled, lasting, Sampler, until } from './helpers/waits.js';

/*
 * Issue #8, point 3: a destination down longer than the retry budget. Observed: a 90 s outage
 * dead-lettered what was in flight. Must: after a run of consecutive failures across identities the
 * destination is treated as down (a circuit breaker): the intake pauses, updates in flight stop
 * spending attempts, a probe retries and the first success resumes; nothing is failed or
 * dead-lettered for the outage; /readyz says so while it lasts.
 */

const RATE = { requests: 20, perSeconds: 1 };
const LIMIT = `rateLimit: { requests: ${RATE.requests}, perSeconds: ${RATE.perSeconds} }`;
/** Three attempts 100-400 ms apart: the budget is spent in about a second, the outage lasts eight. */
const RETRY = 'retry: { maxAttempts: 3, baseMs: 100, maxMs: 400 }';
const OUTAGE_MS = 8_000;

/** /readyz is 503 with a failing check that names the destination. */
const saysDestinationDown = (readiness: Readiness): boolean =>
  readiness.status === 503 &&
  Object.entries(readiness.checks).some(([name, check]) => !check.ok && /destination/i.test(`${name} ${check.detail}`));

describe('fault: the destination down longer than the retry budget (issue #8 point 3)', () => {
  const s = scenario();

  const outage = (kind: Outage, what: string) =>
    it(
      `${what} for 8 s (retry budget ~1 s): the intake pauses and /readyz says the destination is down, nothing is ` +
        'failed or dead-lettered, every update is delivered once it is back; SIGTERM exits 0',
      async () => {
        const musts = new Musts();
        const redis = await s.redis();
        const endpoint = await s.endpoint();
        const client = redis.client();
        await redis.ready(client);
        const stream = `${s.prefix}:updates`;
        const updates = distinctUpdates(60, `${kind}-`);
        await xaddUpdates(client, stream, updates);
        const run = await FaultRun.start((port) =>
          FaultRun.config(port, {
            source: `{ redisStream: { stream: "${stream}", group: workers, startId: "0", claimIdleSeconds: 2 } }`,
            endpoint,
            destination: [LIMIT, RETRY, 'concurrency: 4'],
            redisUrl: redis.url,
            prefix: s.prefix,
          }),
        );
        await until(() => endpoint.accepted().length >= 10, 20_000, 'some deliveries before the outage');

        await endpoint.down(kind);
        const readiness = new Sampler(() => run.readyz(), 250);
        await lasting(OUTAGE_MS);
        const during = await readiness.stop();
        await endpoint.up();
        musts.check('/readyz says the destination is down during the outage', () => {
          const seen = [...new Set(during.map((r) => `${r.status} ${JSON.stringify(r.checks)}`))];
          expect(during.some(saysDestinationDown), `readiness seen: ${seen.join(' | ')}`).to.equal(true);
        });
        const deadDuring = await client.xlen(`${s.prefix}:dead`);
        musts.check('nothing dead-lettered during the outage', () => expect(deadDuring).to.equal(0));

        await musts.checkAsync('every update settled once the destination is back', () =>
          deliveredOrSettled(endpoint, run, updates.length, 30_000),
        );
        await checkReadyAgain(musts, run);
        const deadLetters = await client.xlen(`${s.prefix}:dead`);
        musts.check('no dead letters in the end', () => expect(deadLetters).to.equal(0));
        await checkEnd(musts, run, { expected: updates, endpoint, rateLimit: RATE, received: updates.length });
        musts.verify();
      },
    );

  outage('refuse', 'connection refused');
  outage('unavailable', '503 for every request');
});
