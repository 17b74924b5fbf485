import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { RedisDeadLetterStream } from '../../adapters/redis/dead-letter-stream.js';
import { IdentityHasher } from '../../adapters/redis/identity-hasher.js';
import { RedisDedupeStore } from '../../adapters/redis/dedupe-store.js';
import { dedupeKeyOf, withIdentityRenamed } from '../../operators/dedupe.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import { Profile } from '../../operators/model/profile.js';
import { Harness, updateFor } from '../helpers/harness.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { busiestWindow } from '../helpers/windows.js';

describe('delivery to a real local endpoint (and real Redis)', function () {
  this.timeout(30_000);
  let harnesses: Harness[] = [];
  let fixture: RedisFixture;
  beforeEach(() => {
    harnesses = [];
    fixture = new RedisFixture();
  });
  afterEach(async () => {
    await Promise.all(harnesses.map((h) => h.stop()));
    await fixture.cleanup();
  });
  const start = async (...args: Parameters<typeof Harness.start>) => {
    const harness = await Harness.start(...args);
    harnesses.push(harness);
    return harness;
  };
  const redisConfig = () => `redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }`;

  it('never exceeds the rate limit, measured at the endpoint, and delays rather than drops', async () => {
    const h = await start({ destination: ['rateLimit: { requests: 10, perSeconds: 1 }', 'concurrency: 16'] });
    h.send(...Array.from({ length: 35 }, (_, i) => updateFor(`p${i}@example.com`)));
    const counts = await h.started.flows[0]!.pipeline.ledger.whenSettled(35);
    expect(counts).to.deep.include({ delivered: 35, inFlight: 0 });
    const arrivals = h.standIn.requests.map((r) => r.at);
    expect(busiestWindow(arrivals, 1000)).to.be.at.most(10);
  });

  it('shares the rate limit through Redis: two processes together stay under it', async () => {
    // Each process has its own stand-in (its own port, so its own host): the group names the brand they share.
    const options = {
      destination: ['rateLimit: { requests: 10, perSeconds: 1, group: brand }'],
      topLevel: redisConfig(),
    };
    const [a, b] = [await start(options), await start(options)];
    a.send(...Array.from({ length: 15 }, (_, i) => updateFor(`a${i}@example.com`)));
    b.send(...Array.from({ length: 15 }, (_, i) => updateFor(`b${i}@example.com`)));
    await Promise.all([
      a.started.flows[0]!.pipeline.ledger.whenSettled(15),
      b.started.flows[0]!.pipeline.ledger.whenSettled(15),
    ]);
    const arrivals = [...a.standIn.requests, ...b.standIn.requests].map((r) => r.at);
    expect(arrivals).to.have.length(30);
    expect(busiestWindow(arrivals, 1000)).to.be.at.most(10);
  });

  it('obeys Retry-After on a 429', async () => {
    let calls = 0;
    const h = await start({
      respond: () =>
        calls++ === 0
          ? { status: 429, body: { meta: { error: 'slow down' } }, headers: { 'retry-after': '1' } }
          : undefined,
    });
    h.send(updateFor('ann@example.com'));
    await h.started.flows[0]!.pipeline.ledger.whenSettled(1);
    const [first, second] = h.standIn.requests;
    expect(second!.at - first!.at).to.be.at.least(1000);
    expect(h.started.flows[0]!.pipeline.ledger.counts().delivered).to.equal(1);
  });

  it('retries 5xx with backoff, then delivers', async () => {
    let calls = 0;
    const h = await start({
      destination: ['retry: { baseMs: 20, maxMs: 100 }'],
      respond: () => (calls++ < 2 ? { status: 503 } : undefined),
    });
    h.send(updateFor('ann@example.com'));
    await h.started.flows[0]!.pipeline.ledger.whenSettled(1);
    expect(h.standIn.requests).to.have.length(3);
    expect(h.started.flows[0]!.pipeline.ledger.counts().delivered).to.equal(1);
  });

  it('dead-letters a 400 with its response body, to the Redis stream, and does not retry it', async () => {
    const h = await start({
      topLevel: redisConfig(),
      respond: () => ({ status: 400, body: { meta: { error: { errorMessage: 'firstName must be a string' } } } }),
    });
    h.send(updateFor('ann@example.com'));
    await h.started.flows[0]!.pipeline.ledger.whenSettled(1);
    expect(h.standIn.requests).to.have.length(1);
    expect(h.started.flows[0]!.pipeline.ledger.counts().failed).to.deep.equal({ 'http-400': 1 });
    const letters = await new RedisDeadLetterStream(fixture.connect(), fixture.prefix).list();
    expect(letters).to.have.length(1);
    expect(letters[0]!.letter).to.deep.include({
      reason: 'http-400',
      status: 400,
      response: '{"meta":{"error":{"errorMessage":"firstName must be a string"}}}',
      attempts: 1,
      identity: 'email:ann@example.com',
      payload: h.standIn.requests[0]!.body.toString('utf8'),
    });
  });

  it('dead-letters to a JSON-lines file without Redis', async () => {
    const h = await start({
      destination: ['retry: { maxAttempts: 2, baseMs: 10, maxMs: 20 }'],
      respond: () => ({ status: 500, body: 'down' }),
    });
    h.send(updateFor('ann@example.com'));
    await h.started.flows[0]!.pipeline.ledger.whenSettled(1);
    const file = (h.started.flows[0]!.wiring.core.deadLetters as { path: string }).path;
    const letters = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as object);
    expect(letters).to.have.length(1);
    expect(letters[0]).to.deep.include({ reason: 'retries-exhausted', status: 500, attempts: 2 });
  });

  it("keeps each identity's updates in arrival order under concurrency 16 with random delays and failures", async () => {
    const h = await start({
      destination: ['concurrency: 16', 'retry: { baseMs: 5, maxMs: 20 }'],
      respond: () =>
        new Promise((resolve) =>
          setTimeout(() => resolve(Math.random() < 0.15 ? { status: 503 } : undefined), Math.random() * 15),
        ),
    });
    const people = Array.from({ length: 8 }, (_, i) => `p${i}@example.com`);
    const updates = Array.from({ length: 25 }, (_, version) => people.map((email) => updateFor(email, version))).flat();
    h.send(...updates);
    const counts = await h.started.flows[0]!.pipeline.ledger.whenSettled(updates.length);
    expect(counts).to.deep.include({ delivered: updates.length, inFlight: 0 });
    for (const email of people) {
      const versions = h.standIn.runs
        .map((run) => run.payload as { firstName: string; identityMap: { Email: Array<{ id: string }> } })
        .filter((p) => p.identityMap.Email[0]!.id === email)
        .map((p) => Number(p.firstName.slice(1)));
      expect(versions, email).to.deep.equal(Array.from({ length: 25 }, (_, v) => v));
    }
  });

  it('does not send an identical update twice, across processes sharing Redis', async () => {
    const a = await start({ topLevel: redisConfig() });
    a.send(updateFor('ann@example.com'));
    await a.started.flows[0]!.pipeline.ledger.whenSettled(1);
    const b = await start({ topLevel: redisConfig() });
    b.send(updateFor('ann@example.com'), updateFor('ann@example.com', 2));
    const counts = await b.started.flows[0]!.pipeline.ledger.whenSettled(2);
    expect(counts).to.deep.include({ duplicate: 1, delivered: 1 });
    expect(b.arrived.map((p) => p.firstName)).to.deep.equal(['v2']);
  });

  it('does not remember a failed send as sent: the same update goes out when it comes again', async () => {
    let rejecting = true;
    const h = await start({
      topLevel: redisConfig(),
      respond: () => (rejecting ? { status: 422, body: 'not now' } : undefined),
    });
    h.send(updateFor('ann@example.com'));
    await h.started.flows[0]!.pipeline.ledger.whenSettled(1);
    rejecting = false;
    h.send(updateFor('ann@example.com'));
    const counts = await h.started.flows[0]!.pipeline.ledger.whenSettled(2);
    expect(counts).to.deep.include({ delivered: 1, duplicate: 0, failed: { 'http-422': 1 } });
    expect(h.standIn.requests).to.have.length(2);
  });

  it('sends a payload whose lease a killed process left behind, once that lease expires', async () => {
    // The killed process: it leased Ann's payload for 1.5 s and never renewed, committed or released it.
    const update = updateFor('ann@example.com');
    const key = dedupeKeyOf({
      origin: { source: 'x', position: '1' },
      receivedAt: 0,
      ticket: undefined as never,
      identity: { namespace: 'Email', target: 'email', id: 'ann@example.com' },
      payload: {
        firstName: 'v1',
        identityMap: { Email: [{ id: 'ann@example.com' }] },
        segmentMembership: { ups: { a1: { lastQualificationTime: '2026-11-29T09:00:00Z', status: 'realized' } } },
      },
      profile: decodeOrThrow(Profile, update),
    })!;
    // Taken before the lease is: the lease cannot expire earlier than leftAt + 1.5 s.
    const leftAt = Date.now();
    // Named as the pipeline names it: the identity hashed under the key the pipeline shares through Redis.
    const redis = fixture.connect();
    const hasher = new IdentityHasher({ redis, redisKey: `${fixture.prefix}:identity-hash-key` });
    const killedProcess = new RedisDedupeStore(redis, fixture.prefix, (dedupeKey) =>
      withIdentityRenamed(dedupeKey, (identity) => hasher.hash(identity)),
    );
    expect(await killedProcess.acquire(key, 'killed-process', 1500)).to.equal('acquired');

    const h = await start({ topLevel: `${redisConfig()}\ndedupe: { leaseSeconds: 5 }` });
    h.send(update);
    await h.started.flows[0]!.pipeline.ledger.whenSettled(1);
    expect(h.standIn.requests).to.have.length(1);
    // Held while the lease was live: sent no earlier than its expiry. A lower bound on a duration holds
    // on any machine (a slow one only sends later); a check after a fixed sleep would not, since a slow
    // start could outlast the lease. Redis and this process read the same clock (1 ms resolution).
    expect(h.standIn.requests[0]!.at - leftAt, 'held while the lease is live').to.be.at.least(1499);
    expect(h.started.flows[0]!.pipeline.ledger.counts().delivered).to.equal(1);
  });
});
