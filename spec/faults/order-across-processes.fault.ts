import { totalOf } from '../../operators/model/ledger.js';
import { expect } from 'chai';
import { checkDelivery, checkExit, checkStructuredLogs, Musts } from './helpers/checker.js';
import { ACCEPT, type Answer, type Arrival, type CountingEndpoint } from './helpers/counting-endpoint.js';
import { FaultRun, type FinalCounts } from './helpers/fault-run.js';
import { AckingProducer, keyOfBody, updateOf, xaddUpdates, type Update } from './helpers/producers.js';
import { drained } from './helpers/private-redis.js';
import { scenario } from './helpers/scenario.js';
import { deliveredOrSettled, until } from './helpers/waits.js';
import { freePort } from '../helpers/ports.js';

/*
 * Issue #8, point 6: order per person across processes. Observed: three processes in one consumer
 * group, with no kill at all, dropped 2 of 401 payloads as `stale`: a person's `realized` and then
 * `exited` went to different consumers, `exited` was sent first and `realized` was never sent. Must:
 * per-identity order holds across any number of processes sharing a stream or a journal, and no update
 * is dropped because another process overtook it. A stream the program does not write is relayed into
 * the journal (source.redisStream with a journal), where each person's updates are numbered in order.
 */

const PEOPLE = 200;
const PROCESSES = 3;
/** Shared by the three through Redis. */
const RATE = { requests: 150, perSeconds: 1 };
const LIMIT = `rateLimit: { requests: ${RATE.requests}, perSeconds: ${RATE.perSeconds} }`;
const INGEST_TOKEN = 'fault-ingest-token';
/**
 * A destination with jitter, as real ones have, and slower for a person's first request (`realized`,
 * 50-100 ms) than for the second: when the first is slow, another process may send the second before
 * it (what the issue observed). Order must not depend on timing.
 */
const jittery = (arrival: Arrival): Answer => {
  const first = keyOfBody(arrival.body)?.endsWith('|realized') === true;
  return { ...ACCEPT, delayMs: Math.floor(Math.random() * 50) + (first ? 50 : 0) };
};
/** The journal's consumer group (the config's default). */
const JOURNAL_GROUP = 'qualtrics-automations';

/** Each person's `realized` (v1) and then `exited` (v2). */
const pairs = (prefix: string): Array<readonly [Update, Update]> =>
  Array.from({ length: PEOPLE }, (_, i) => {
    const email = `${prefix}${i}@example.com`;
    return [updateOf(email, 1, 'realized'), updateOf(email, 2, 'exited')] as const;
  });

/** Each person's accepted payloads are exactly `realized` then `exited`, in that order. */
type Pair = readonly [Update, Update];

const checkOrder = (musts: Musts, endpoint: CountingEndpoint, people: readonly Pair[]): void => {
  musts.check('per person: realized delivered before exited, each once, none dropped', () => {
    const order = endpoint.orderByIdentity();
    const wrong = people
      .map(([realized, exited]) => ({
        email: realized.email,
        got: (order.get(realized.email) ?? []).map((body) => keyOfBody(body) ?? '?'),
        want: [realized.key, exited.key],
      }))
      .filter(({ got, want }) => JSON.stringify(got) !== JSON.stringify(want))
      .map(({ email, got }) => `${email}: ${got.map((k) => k.split('|')[2]).join(' -> ') || 'nothing'}`);
    const preview = wrong.slice(0, 4).join('; ');
    expect(wrong, `${wrong.length} of ${people.length} out of order or incomplete (${preview})`).to.deep.equal([]);
  });
};

/** Stops every run with SIGTERM and checks each exit and the counts they add up to. */
const endAll = async (musts: Musts, runs: readonly FaultRun[], received: number): Promise<void> => {
  const exits = await Promise.all(runs.map((run) => run.stopWith('SIGTERM', 35_000)));
  for (const [i, exit] of exits.entries())
    musts.check(`process ${i + 1} exits 0 on SIGTERM`, () => checkExit(runs[i]!, exit, 0));
  const counts = runs.map((run) => run.finalCounts());
  musts.check('every process logged its final counts', () =>
    expect(counts.filter((c) => c === undefined)).to.have.length(0),
  );
  const all = counts.filter((c): c is FinalCounts => c !== undefined);
  musts.check('one outcome per update across the processes', () => {
    expect(
      all.reduce((n, c) => n + c.received, 0),
      'received in all',
    ).to.equal(received);
    expect(
      all.reduce((n, c) => n + c.inFlight, 0),
      'left in flight',
    ).to.equal(0);
    expect(
      all.reduce((n, c) => n + totalOf(c.failed), 0),
      'failed',
    ).to.equal(0);
  });
  musts.check('nothing excluded as stale because another process overtook it', () =>
    expect(all.reduce((n, c) => n + (c.excluded.stale ?? 0), 0)).to.equal(0),
  );
  for (const [i, run] of runs.entries())
    musts.check(`process ${i + 1}: every error in the structured log`, () => checkStructuredLogs(run));
};

describe('fault: three consumers in one group keep per-identity order (issue #8 point 6)', () => {
  const s = scenario();

  it(
    `redisStream relayed into a journal shared by ${PROCESSES} processes, realized then exited for ${PEOPLE} ` +
      'people: each person gets realized then exited, none dropped as stale, nothing twice, the limit held; all exit 0',
    async () => {
      const musts = new Musts();
      const redis = await s.redis();
      const client = redis.client();
      await redis.ready(client);
      const endpoint = await s.endpoint(jittery);
      const stream = `${s.prefix}:updates`;
      await client.xgroup('CREATE', stream, 'workers', '0', 'MKSTREAM');
      const configFile = (port: number): string =>
        FaultRun.config(port, {
          source: `{ redisStream: { stream: "${stream}", group: workers, startId: "0", claimIdleSeconds: 2 } }`,
          endpoint,
          destination: [LIMIT, 'concurrency: 8'],
          redisUrl: redis.url,
          prefix: s.prefix,
          extra: ['pipeline: { maxInFlight: 20 }', `journal: { stream: "${s.prefix}:journal", claimIdleSeconds: 2 }`],
        });
      const runs = await Promise.all(Array.from({ length: PROCESSES }, () => FaultRun.start(configFile)));
      await until(
        async () =>
          ((await client.xinfo('CONSUMERS', `${s.prefix}:journal`, JOURNAL_GROUP).catch(() => [])) as unknown[])
            .length === PROCESSES,
        20_000,
        `${PROCESSES} consumers of the journal`,
      );

      // Appended a few at a time while the three read, so one person's two updates land in different reads.
      const people = pairs('group-');
      for (let i = 0; i < people.length; i += 5) {
        await xaddUpdates(client, stream, people.slice(i, i + 5).flat());
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const all = people.flat();
      await musts.checkAsync('every update settled', () =>
        deliveredOrSettled(
          endpoint,
          {
            // Relayed out of the stream, and settled out of the journal.
            settled: async () =>
              (await drained(client, stream, 'workers')) && drained(client, `${s.prefix}:journal`, JOURNAL_GROUP),
          },
          all.length,
          40_000,
        ),
      );
      checkOrder(musts, endpoint, people);
      checkDelivery(musts, { expected: all, endpoint, rateLimit: RATE });
      await endAll(musts, runs, all.length);
      musts.verify();
    },
  );

  it(
    `journal shared by ${PROCESSES} listen-mode processes, realized to one and exited (after its ack) to another, ` +
      `for ${PEOPLE} people: each person gets realized then exited, none dropped as stale, nothing twice; all exit 0`,
    async () => {
      const musts = new Musts();
      const redis = await s.redis();
      const client = redis.client();
      await redis.ready(client);
      const endpoint = await s.endpoint(jittery);
      const journal = `${s.prefix}:journal`;
      const listenPorts = await Promise.all(Array.from({ length: PROCESSES }, () => freePort()));
      const runs = await Promise.all(
        listenPorts.map((listenPort) =>
          FaultRun.start((port) =>
            FaultRun.config(port, {
              source: `{ websocket: { listen: { port: ${listenPort}, path: /ingest, token: ${INGEST_TOKEN} } } }`,
              endpoint,
              destination: [LIMIT, 'concurrency: 8'],
              redisUrl: redis.url,
              prefix: s.prefix,
              extra: [`journal: { stream: "${journal}", claimIdleSeconds: 2 }`, 'pipeline: { maxInFlight: 20 }'],
            }),
          ),
        ),
      );
      const producers: AckingProducer[] = [];
      for (const listenPort of listenPorts) {
        const url = `ws://127.0.0.1:${listenPort}/ingest`;
        let producer: AckingProducer | undefined;
        await until(
          async () => (producer = await AckingProducer.connect(url, INGEST_TOKEN).catch(() => undefined)) !== undefined,
          20_000,
          `the listener on ${listenPort}`,
          200,
        );
        producers.push(producer!);
        s.defer(() => producer!.close());
      }

      // realized to process i, and once it is journaled (acknowledged), exited to process i + 1. Ten
      // people at a time, so a person's two entries lie close together in the journal, read by two
      // processes at about the same time.
      const people = pairs('journal-');
      const CHAINS = 10;
      await Promise.all(
        Array.from({ length: CHAINS }, async (_, chain) => {
          for (let i = chain; i < people.length; i += CHAINS) {
            const [realized, exited] = people[i]!;
            await producers[i % PROCESSES]!.send(realized);
            await producers[(i + 1) % PROCESSES]!.send(exited);
          }
        }),
      );
      const all = people.flat();
      await musts.checkAsync('every update settled', () =>
        deliveredOrSettled(endpoint, { settled: () => drained(client, journal, JOURNAL_GROUP) }, all.length, 40_000),
      );
      checkOrder(musts, endpoint, people);
      checkDelivery(musts, { expected: all, endpoint, rateLimit: RATE });
      await endAll(musts, runs, all.length);
      musts.verify();
    },
  );
});
