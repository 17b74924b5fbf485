import { expect } from 'chai';
import { checkEnd, checkReadyAgain, expectNotReady, Musts } from './helpers/checker.js';
import { FaultRun, type Readiness } from './helpers/fault-run.js';
import { distinctUpdates, xaddUpdates } from './helpers/producers.js';
import { scenario } from './helpers/scenario.js';
import { deliveredOrSettled, lasting, Sampler, until } from './helpers/waits.js';

/*
 * Issue #8, points 1 and 3: Redis down at start (a stream source, a journal) and Redis restarted
 * mid-run. Must: an outage is retried, never fatal by itself; /readyz says 503 naming Redis until
 * reading really resumes and then recovers by itself; /metrics answers at once; nothing is failed or
 * dead-lettered because of our own outage; every error reaches the structured log.
 */

/** How long Redis stays down at start: the outage the issue observed. */
const OUTAGE_MS = 20_000;
const RATE = { requests: 20, perSeconds: 1 };

/** What the health endpoints said during an outage. */
interface HealthSample {
  readonly healthz: number;
  readonly readyz: Readiness;
  readonly metricsStatus: number;
  readonly metricsMs: number;
}

const probeHealth = (run: FaultRun) => async (): Promise<HealthSample> => {
  // /metrics gets 1.5 s: it must answer in under 1 s, and a stuck one must not slow the sampling.
  const [healthz, readyz, metrics] = await Promise.all([run.healthz(), run.readyz(), run.metrics(1_500)]);
  return { healthz: healthz.status, readyz, metricsStatus: metrics.status, metricsMs: metrics.ms };
};

/** During the outage: alive, not ready because of Redis, and /metrics answering at once. */
const checkOutageHealth = (musts: Musts, samples: readonly HealthSample[]): void => {
  musts.check('health sampled during the outage', () => expect(samples.length).to.be.at.least(3));
  musts.check('/healthz 200 while Redis is down (the process is alive)', () => {
    expect(samples.map((s) => s.healthz)).to.satisfy((all: number[]) => all.every((status) => status === 200));
  });
  musts.check('/readyz 503 naming redis while Redis is down', () => {
    for (const s of samples) expectNotReady(s.readyz, 'redis');
  });
  musts.check('/metrics answers at once while Redis is down', () => {
    const slow = samples.filter((s) => s.metricsStatus !== 200 || s.metricsMs >= 1_000);
    const seen = slow.map((s) => `${s.metricsStatus || 'no answer'} after ${s.metricsMs} ms`);
    expect(seen, `${slow.length} of ${samples.length} scrapes slow or failed`).to.deep.equal([]);
  });
};

describe('fault: Redis outages (issue #8 points 1 and 3)', () => {
  const s = scenario();

  it(
    'redisStream source, Redis down 20 s at start: stays up with /healthz 200, /readyz 503 naming redis and /metrics ' +
      'at once; once Redis is back it reads again by itself and delivers every update once; SIGTERM exits 0',
    async () => {
      const musts = new Musts();
      const redis = await s.redis({ down: true });
      const endpoint = await s.endpoint();
      const stream = `${s.prefix}:updates`;
      const run = await FaultRun.start((port) =>
        FaultRun.config(port, {
          source: `{ redisStream: { stream: "${stream}", group: workers, startId: "0", claimIdleSeconds: 2 } }`,
          endpoint,
          destination: [`rateLimit: { requests: ${RATE.requests}, perSeconds: ${RATE.perSeconds} }`],
          redisUrl: redis.url,
          prefix: s.prefix,
        }),
      );
      const downSince = Date.now();
      await until(async () => (await run.healthz()).status === 200, 15_000, 'the health server while Redis is down');
      const outage = new Sampler(probeHealth(run), 500);
      await lasting(OUTAGE_MS - (Date.now() - downSince));
      checkOutageHealth(musts, await outage.stop());
      musts.check('a Redis outage at start is not fatal by itself', () => expect(run.alive).to.equal(true));

      await redis.restart();
      const updates = distinctUpdates(30, 'down-at-start-');
      const client = redis.client();
      await redis.ready(client);
      await xaddUpdates(client, stream, updates);
      await musts.checkAsync('reads again by itself once Redis is back: every update delivered', () =>
        deliveredOrSettled(endpoint, run, updates.length, 20_000),
      );
      await checkReadyAgain(musts, run);
      await checkEnd(musts, run, { expected: updates, endpoint, rateLimit: RATE, received: updates.length });
      musts.verify();
    },
  );

  it(
    'journal, Redis down 20 s at start: health server up at once (/healthz 200, /readyz 503 naming redis), the feed ' +
      'waits in TCP, every update is delivered once Redis is back; SIGTERM exits 0 with no unhandled rejection',
    async () => {
      const musts = new Musts();
      const redis = await s.redis({ down: true });
      const endpoint = await s.endpoint();
      const feed = await s.feed();
      const run = await FaultRun.start((port) =>
        FaultRun.config(port, {
          source: `{ websocket: { url: "${feed.url}" } }`,
          endpoint,
          destination: [`rateLimit: { requests: ${RATE.requests}, perSeconds: ${RATE.perSeconds} }`],
          redisUrl: redis.url,
          prefix: s.prefix,
          extra: [`journal: { stream: "${s.prefix}:journal", claimIdleSeconds: 2 }`],
        }),
      );
      const downSince = Date.now();
      const updates = distinctUpdates(30, 'journal-down-');
      // Sent as soon as the pipeline connects, outage or not: what it cannot journal must wait in TCP.
      let sent = false;
      void feed.connection(1).then(() => {
        feed.send(updates);
        sent = true;
      });
      const up = await musts.checkAsync('the health server answers while Redis is down', () =>
        until(async () => (await run.healthz()).status === 200, 10_000, '/healthz 200'),
      );
      if (up) {
        const outage = new Sampler(probeHealth(run), 500);
        await lasting(OUTAGE_MS - (Date.now() - downSince));
        checkOutageHealth(musts, await outage.stop());
      } else {
        await lasting(OUTAGE_MS - (Date.now() - downSince));
      }
      musts.check('a Redis outage at start is not fatal by itself', () => expect(run.alive).to.equal(true));
      musts.check('nothing delivered while it cannot be journaled', () =>
        expect(endpoint.accepted()).to.have.length(0),
      );

      await redis.restart();
      await musts.checkAsync('the pipeline connects to the feed', () => until(() => sent, 10_000, 'a connection'));
      await musts.checkAsync('every update delivered once Redis is back', () =>
        deliveredOrSettled(endpoint, run, updates.length, 20_000),
      );
      await checkReadyAgain(musts, run);
      await checkEnd(musts, run, { expected: updates, endpoint, rateLimit: RATE, received: updates.length });
      musts.check('no unhandled rejection at stop', () => {
        const all = [...run.rawLines, ...run.logs.map((l) => l.msg)].join('\n');
        expect(all).not.to.match(/unhandled|UnhandledPromiseRejection/i);
      });
      musts.verify();
    },
  );

  it(
    'redisStream source, Redis restarted mid-run: nothing failed or dead-lettered for it (updates in flight wait), ' +
      '/readyz 503 naming redis while down and 200 again by itself, every update delivered once; SIGTERM exits 0',
    async () => {
      const musts = new Musts();
      // A restart keeps the data, as a production Redis with persistence does: the stream must survive.
      const redis = await s.redis({ persistent: true });
      const endpoint = await s.endpoint();
      const client = redis.client();
      await redis.ready(client);
      const stream = `${s.prefix}:updates`;
      const updates = distinctUpdates(120, 'restart-');
      await xaddUpdates(client, stream, updates);
      const run = await FaultRun.start((port) =>
        FaultRun.config(port, {
          source: `{ redisStream: { stream: "${stream}", group: workers, startId: "0", claimIdleSeconds: 2 } }`,
          endpoint,
          destination: [
            `rateLimit: { requests: ${RATE.requests}, perSeconds: ${RATE.perSeconds} }`,
            'retry: { baseMs: 100, maxMs: 1000 }',
          ],
          redisUrl: redis.url,
          prefix: s.prefix,
          extra: ['dedupe: { leaseSeconds: 3 }'],
        }),
      );
      await until(() => endpoint.accepted().length >= 30, 20_000, 'some deliveries before the restart');

      await redis.stop();
      const outage = new Sampler(probeHealth(run), 500);
      await lasting(6_000);
      const during = await outage.stop();
      await redis.restart();
      checkOutageHealth(musts, during);

      await musts.checkAsync('every update delivered after the restart', () =>
        deliveredOrSettled(endpoint, run, updates.length, 30_000),
      );
      await checkReadyAgain(musts, run);
      await redis.ready(client);
      const deadLetters = await client.xlen(`${s.prefix}:dead`);
      musts.check('no dead letters because Redis was down', () => expect(deadLetters).to.equal(0));
      await checkEnd(musts, run, { expected: updates, endpoint, rateLimit: RATE, received: updates.length });
      musts.verify();
    },
  );
  it(
    'journal, Redis restarted mid-run while the feed keeps sending: appends wait and are retried in order, nothing ' +
      'failed or dead-lettered, /readyz 503 naming redis while down, every update delivered once; SIGTERM exits 0',
    async () => {
      const musts = new Musts();
      const redis = await s.redis({ persistent: true });
      const client = redis.client();
      await redis.ready(client);
      const endpoint = await s.endpoint();
      const feed = await s.feed();
      const run = await FaultRun.start((port) =>
        FaultRun.config(port, {
          source: `{ websocket: { url: "${feed.url}" } }`,
          endpoint,
          destination: [
            `rateLimit: { requests: ${RATE.requests}, perSeconds: ${RATE.perSeconds} }`,
            'retry: { baseMs: 100, maxMs: 1000 }',
          ],
          redisUrl: redis.url,
          prefix: s.prefix,
          extra: [`journal: { stream: "${s.prefix}:journal", claimIdleSeconds: 2 }`, 'dedupe: { leaseSeconds: 3 }'],
        }),
      );
      await feed.connection(1);
      const before = distinctUpdates(60, 'journal-before-');
      const during = distinctUpdates(40, 'journal-during-');
      feed.send(before);
      await until(() => endpoint.accepted().length >= 20, 20_000, 'some deliveries before the restart');

      await redis.stop();
      // What the feed sends now cannot be journaled: it must wait (TCP, then the retried append), not fail.
      feed.send(during);
      const outage = new Sampler(probeHealth(run), 500);
      await lasting(6_000);
      const seen = await outage.stop();
      await redis.restart();
      checkOutageHealth(musts, seen);

      const all = [...before, ...during];
      await musts.checkAsync('every update delivered after the restart', () =>
        deliveredOrSettled(endpoint, run, all.length, 30_000),
      );
      await checkReadyAgain(musts, run);
      await redis.ready(client);
      const deadLetters = await client.xlen(`${s.prefix}:dead`);
      musts.check('no dead letters because Redis was down', () => expect(deadLetters).to.equal(0));
      await checkEnd(musts, run, { expected: all, endpoint, rateLimit: RATE, received: all.length });
      musts.verify();
    },
  );
});
