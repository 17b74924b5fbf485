import { expect } from 'chai';
import { RedisDeadLetterStream } from '../../../adapters/redis/dead-letter-stream.js';
import { RedisDedupeStore } from '../../../adapters/redis/dedupe-store.js';
import { RedisDeliveryLog } from '../../../adapters/redis/delivery-log.js';
import { IntegerReply, keysFor, luaScript } from '../../../adapters/redis/connection.js';
import { IdentityHasher } from '../../../adapters/redis/identity-hasher.js';
import { withIdentityRenamed } from '../../../operators/dedupe.js';
import { RedisHistory } from '../../../adapters/redis/history.js';
import { RedisFixture } from '../../helpers/redis.js';
import { commandsNaming } from '../../../bench/redis-commands.js';
import { eventually } from '../../helpers/ws-server.js';

describe('Redis stores (real Redis)', () => {
  let fixture: RedisFixture;
  beforeEach(() => (fixture = new RedisFixture()));
  afterEach(() => fixture.cleanup());

  describe('RedisDedupeStore', () => {
    it('leases once, shares the lease across processes, and reports a commit', async () => {
      const one = new RedisDedupeStore(fixture.connect(), fixture.prefix);
      const other = new RedisDedupeStore(fixture.connect(), fixture.prefix);
      expect(await one.acquire('k', 'a', 10_000)).to.equal('acquired');
      expect(await other.acquire('k', 'b', 10_000)).to.equal('leased');
      await one.commit('k', 'a', 10_000);
      expect(await other.acquire('k', 'b', 10_000)).to.equal('committed');
    });

    it('answers acquired to the same acquire run again (a resend after a dropped connection), leased to any other', async () => {
      const store = new RedisDedupeStore(fixture.connect(), fixture.prefix);
      expect(await store.acquire('k', 'a', 10_000)).to.equal('acquired');
      // Without this, the update would wait on its own lease until it lapsed.
      expect(await store.acquire('k', 'a', 10_000)).to.equal('acquired');
      expect(await store.acquire('k', 'b', 10_000)).to.equal('leased');
    });

    it('acquires and commits what is asked in one turn with one command each, answering each in order', async () => {
      // Named as the pipeline names them (wire.ts): each key's identity hashed under the key shared through Redis.
      const redis = fixture.connect();
      const hasher = new IdentityHasher({ redis, redisKey: `${fixture.prefix}:identity-hash-key` });
      const rename = (key: string) => withIdentityRenamed(key, (identity) => hasher.hash(identity));
      const store = new RedisDedupeStore(redis, fixture.prefix, rename);
      const [a, b, done] = ['email:a@example.com:fa', 'email:b@example.com:fb', 'email:c@example.com:fc'];
      await store.acquire('email:w@example.com:fw', 'w', 10_000); // loads the scripts and the hashing key
      await store.commit('email:w@example.com:fw', 'w', 10_000);
      await store.commit(done, 'x', 10_000);
      let answers: string[] = [];
      const acquiring = await commandsNaming(redis, fixture.prefix, async () => {
        answers = await Promise.all([
          store.acquire(a, 't1', 10_000),
          store.acquire(done, 't2', 10_000),
          store.acquire(a, 't3', 10_000),
          store.acquire(b, 't4', 10_000),
        ]);
      });
      expect(answers).to.deep.equal(['acquired', 'committed', 'leased', 'acquired']);
      expect(acquiring).to.deep.equal(['evalsha']);
      const committing = await commandsNaming(redis, fixture.prefix, () =>
        Promise.all([store.commit(a, 't1', 10_000), store.commit(b, 't4', 20_000)]),
      );
      expect(committing).to.deep.equal(['evalsha']);
      expect(await store.acquire(b, 't5', 10_000)).to.equal('committed');
      expect(await redis.exists(`${fixture.prefix}:sent:${b}`)).to.equal(0);
      const ttl = await redis.pttl(keysFor(fixture.prefix).sent(await rename(b)));
      expect(ttl).to.be.within(10_001, 20_000);
    });

    it("renews and releases what is asked in one turn with one command each, only the holder's leases", async () => {
      // A backlog waiting at the rate limit holds a lease per update: the renewal timer renews them all in
      // one turn, and a stop releases them all in one; one script for all, not one each.
      const redis = fixture.connect();
      const store = new RedisDedupeStore(redis, fixture.prefix);
      const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
      await Promise.all(keys.map((key) => store.acquire(key, 'mine', 20_000)));
      await store.acquire('theirs', 'other', 20_000);
      await store.renew('warm-up', 'x', 1_000); // loads the script
      await store.release('warm-up', 'x');
      const renewing = await commandsNaming(redis, fixture.prefix, () =>
        Promise.all([...keys, 'theirs'].map((key) => store.renew(key, 'mine', 60_000))),
      );
      expect(renewing).to.deep.equal(['evalsha']);
      expect(await redis.pttl(`${fixture.prefix}:sent:k49`)).to.be.above(30_000);
      expect(await redis.pttl(`${fixture.prefix}:sent:theirs`)).to.be.at.most(20_000);
      const releasing = await commandsNaming(redis, fixture.prefix, () =>
        Promise.all([...keys.slice(0, 25), 'theirs'].map((key) => store.release(key, 'mine'))),
      );
      expect(releasing).to.deep.equal(['evalsha']);
      expect(await store.acquire('k0', 'next', 1_000)).to.equal('acquired');
      expect(await store.acquire('k25', 'next', 1_000)).to.equal('leased');
      expect(await store.acquire('theirs', 'next', 1_000)).to.equal('leased');
    });

    it('sends a batch of more than 1,000 keys in slices, each answered in order', async () => {
      // One script call holds Redis for every other client while it runs: a turn's batch is sliced.
      const redis = fixture.connect();
      const store = new RedisDedupeStore(redis, fixture.prefix);
      const keys = Array.from({ length: 2_500 }, (_, i) => `k${i}`);
      await store.acquire('k1', 'early', 10_000);
      await store.renew('warm-up', 'x', 1_000); // loads the scripts
      let answers: string[] = [];
      const acquiring = await commandsNaming(redis, fixture.prefix, async () => {
        answers = await Promise.all(keys.map((key) => store.acquire(key, 'mine', 10_000)));
      });
      expect(acquiring).to.deep.equal(['evalsha', 'evalsha', 'evalsha']);
      expect(answers.filter((answer) => answer === 'acquired')).to.have.length(2_499);
      expect(answers[1]).to.equal('leased');
      const renewing = await commandsNaming(redis, fixture.prefix, () =>
        Promise.all(keys.map((key) => store.renew(key, 'mine', 60_000))),
      );
      expect(renewing).to.deep.equal(['evalsha', 'evalsha', 'evalsha']);
      expect(await redis.pttl(`${fixture.prefix}:sent:k2499`)).to.be.above(30_000);
      expect(await redis.pttl(`${fixture.prefix}:sent:k1`)).to.be.at.most(10_000);
    });

    it('releases only its own lease, and never a commit', async () => {
      const store = new RedisDedupeStore(fixture.connect(), fixture.prefix);
      await store.acquire('k', 'mine', 10_000);
      await store.release('k', 'theirs');
      expect(await store.acquire('k', 'x', 10_000)).to.equal('leased');
      await store.release('k', 'mine');
      expect(await store.acquire('k', 'x', 10_000)).to.equal('acquired');
      await store.commit('k', 'x', 10_000);
      await store.release('k', 'x');
      expect(await store.acquire('k', 'y', 10_000)).to.equal('committed');
    });

    it('lets a lease lapse unless renewed by its holder', async () => {
      const redis = fixture.connect();
      const store = new RedisDedupeStore(redis, fixture.prefix);
      await store.acquire('lapsing', 'a', 200);
      await store.acquire('renewed', 'a', 200);
      await store.renew('renewed', 'a', 60_000);
      await store.renew('lapsing', 'someone-else', 60_000);
      // Decided on the keys' own expiry, not on how long these steps took: only the holder's renewal counts.
      expect(await redis.pttl(`${fixture.prefix}:sent:renewed`)).to.be.above(30_000);
      expect(await redis.pttl(`${fixture.prefix}:sent:lapsing`)).to.be.at.most(200);
      // The unrenewed lease lapses (Redis expires it) and another process may take it, while the renewed
      // one, a minute long, is still held: no fixed sleep to outlast.
      const takenOver = async () => (await store.acquire('lapsing', 'b', 60_000)) === 'acquired';
      await eventually(takenOver, 10_000, 'the lapsed lease');
      expect(await store.acquire('renewed', 'b', 100)).to.equal('leased');
      expect(await store.acquire('lapsing', 'c', 100)).to.equal('leased');
    });

    it('autopipelines: a burst of acquires costs a handful of round trips, not one each', async () => {
      const redis = fixture.connect();
      const store = new RedisDedupeStore(redis, fixture.prefix);
      await store.acquire('warm-up', 't', 1000);
      let writes = 0;
      const stream = (redis as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream;
      const write = stream.write.bind(stream);
      stream.write = (...args: unknown[]) => ((writes += 1), write(...args));
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.acquire(`k${i}`, 't', 1000)));
      stream.write = write;
      expect(results.every((r) => r === 'acquired')).to.equal(true);
      expect(writes).to.be.at.most(5);
    });
  });

  describe('RedisDeliveryLog', () => {
    it('keeps the latest position per identity, whatever order they are recorded in', async () => {
      const log = new RedisDeliveryLog(fixture.connect(), fixture.prefix, 60_000);
      expect(await log.lastDelivered('email:a@example.com')).to.equal(undefined);
      await log.recordDelivered('email:a@example.com', 's@1700000000000-5');
      await log.recordDelivered('email:a@example.com', 's@1700000000000-4');
      await log.recordDelivered('email:a@example.com', 's@999-0');
      expect(await log.lastDelivered('email:a@example.com')).to.equal('s@1700000000000-5');
      await log.recordDelivered('email:a@example.com', 's@1700000000000-5#1');
      expect(await log.lastDelivered('email:a@example.com')).to.equal('s@1700000000000-5#1');
      await log.recordDelivered('email:a@example.com', 's@1700000000001-0');
      expect(await log.lastDelivered('email:a@example.com')).to.equal('s@1700000000001-0');
      // Another stream's position is not ordered against this one's: it replaces.
      await log.recordDelivered('email:a@example.com', 'other@5-0');
      expect(await log.lastDelivered('email:a@example.com')).to.equal('other@5-0');
      expect(await log.lastDelivered('email:b@example.com')).to.equal(undefined);
    });

    it('reads and records what is asked in one turn with one command each, in call order', async () => {
      // Named as the pipeline names them (wire.ts): identities hashed under the key shared through Redis.
      const redis = fixture.connect();
      const hasher = new IdentityHasher({ redis, redisKey: `${fixture.prefix}:identity-hash-key` });
      const log = new RedisDeliveryLog(redis, fixture.prefix, 60_000, (identity) => hasher.hash(identity));
      await log.recordDelivered('warm', 's@1-0'); // loads the script and the hashing key
      let read: Array<string | undefined> = [];
      const recording = await commandsNaming(redis, fixture.prefix, async () => {
        await Promise.all([
          log.recordDelivered('email:a@example.com', 's@5-0'),
          log.recordDelivered('email:a@example.com', 's@4-0'),
          log.recordDelivered('email:b@example.com', 's@3-0'),
          log.recordDelivered('email:a@example.com', 's@6-0'),
        ]);
      });
      expect(recording).to.deep.equal(['evalsha']);
      const reading = await commandsNaming(redis, fixture.prefix, async () => {
        read = await Promise.all(
          ['email:a@example.com', 'email:b@example.com', 'email:c@example.com'].map((i) => log.lastDelivered(i)),
        );
      });
      expect(reading).to.deep.equal(['mget']);
      expect(read).to.deep.equal(['s@6-0', 's@3-0', undefined]);
      expect(await redis.exists(`${fixture.prefix}:last:email:b@example.com`)).to.equal(0);
      const lastOfB = keysFor(fixture.prefix).last(await hasher.hash('email:b@example.com'));
      expect(await redis.pttl(lastOfB)).to.be.within(1, 60_000);
      // A consent flow's reads (withdrawals, audiences in) join the same MGET as the positions.
      await log.recordWithdrawal('email:a@example.com');
      await log.recordAudiencesIn('email:b@example.com', ['aud-1']);
      let mixed: unknown[] = [];
      const mixedReading = await commandsNaming(redis, fixture.prefix, async () => {
        mixed = await Promise.all([
          log.withdrawals('email:a@example.com'),
          log.audiencesIn('email:b@example.com'),
          log.lastDelivered('email:a@example.com'),
          log.forgottenAt('email:a@example.com'),
        ]);
      });
      expect(mixedReading).to.deep.equal(['mget']);
      expect(mixed).to.deep.equal([1, ['aud-1'], 's@6-0', undefined]);
    });
  });

  describe('RedisDeadLetterStream', () => {
    it('appends letters to <prefix>:dead and lists them back', async () => {
      const stream = new RedisDeadLetterStream(fixture.connect(), fixture.prefix);
      expect(stream.key).to.equal(`${fixture.prefix}:dead`);
      await stream.add({ reason: 'http-400', payload: '{}' } as { reason: string });
      await stream.add({ reason: 'retries-exhausted', payload: '{"a":1}' } as { reason: string });
      const letters = await stream.list();
      expect(letters.map((l) => l.letter)).to.deep.equal([
        { reason: 'http-400', payload: '{}' },
        { reason: 'retries-exhausted', payload: '{"a":1}' },
      ]);
      expect(letters[0]!.id).to.match(/^\d+-\d+$/);
    });
  });

  describe('RedisHistory', () => {
    const isEntry = (value: unknown): value is { n: number } =>
      typeof value === 'object' && value !== null && typeof (value as { n?: unknown }).n === 'number';

    it('lists the newest first, trimmed to its size, leaving out what is not an entry', async () => {
      const redis = fixture.connect();
      const history = new RedisHistory(redis, fixture.prefix, 3, isEntry);
      await history.add({ n: 1 });
      await redis.lpush(history.key, 'not json', JSON.stringify({ other: true }));
      await history.add({ n: 2 });
      expect(await history.list()).to.deep.equal([{ n: 2 }]);
      await history.add({ n: 3 });
      await history.add({ n: 4 });
      expect(await history.list()).to.deep.equal([{ n: 4 }, { n: 3 }, { n: 2 }]);
    });

    it('adds a batch in one command, oldest first, trimmed, a batch larger than a script takes in slices', async () => {
      const redis = fixture.connect();
      const history = new RedisHistory(redis, fixture.prefix, 1500, isEntry);
      await history.addAll([{ n: 0 }]); // loads the script
      await redis.del(history.key);
      const commands = await commandsNaming(redis, fixture.prefix, () =>
        history.addAll([{ n: 1 }, { n: 2 }, { n: 3 }]),
      );
      expect(commands).to.deep.equal(['evalsha']);
      expect(await history.list()).to.deep.equal([{ n: 3 }, { n: 2 }, { n: 1 }]);
      await history.addAll(Array.from({ length: 2500 }, (_, i) => ({ n: 4 + i })));
      const listed = await history.list();
      expect(listed).to.have.length(1500);
      expect(listed[0]).to.deep.equal({ n: 2503 });
      expect(listed[1499]).to.deep.equal({ n: 1004 });
    });
  });

  describe('a script and its caller that disagree', () => {
    it('fail with an error naming the script, not a wrong value further on', async () => {
      const redis = fixture.connect();
      const answersNonsense = luaScript(redis, 'qaTestNonsense', 0, "return 'nonsense'", IntegerReply);
      const error = await answersNonsense().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error?.message).to.match(/^the reply of qaTestNonsense: .*"nonsense"/);
    });
  });
});
