import { expect } from 'chai';
import { BehaviorSubject, type Subscription } from 'rxjs';
import type { InboundMessage } from '../../../adapters/inbound-message.js';
import { StreamJournal } from '../../../adapters/redis/journal.js';
import { RedisTurnBook } from '../../../adapters/redis/turn-book.js';
import { redisStreamGroupSource, type PoisonEntry } from '../../../adapters/redis/stream-group-source.js';
import { redisStreamRangeSource } from '../../../adapters/redis/stream-range-source.js';
import type { Redis } from '../../../adapters/redis/connection.js';
import { RedisFixture } from '../../helpers/redis.js';
import { eventually } from '../../helpers/ws-server.js';

describe('Redis streams (real Redis)', function () {
  this.timeout(15_000);
  let fixture: RedisFixture;
  let redis: Redis;
  let stream: string;
  const subscriptions: Subscription[] = [];
  beforeEach(() => {
    fixture = new RedisFixture();
    redis = fixture.connect();
    stream = `${fixture.prefix}:updates`;
  });
  afterEach(async () => {
    for (const s of subscriptions.splice(0)) s.unsubscribe();
    await fixture.cleanup();
  });

  const add = async (count: number, from = 1): Promise<string[]> => {
    const ids: string[] = [];
    for (let n = from; n < from + count; n += 1)
      ids.push((await redis.xadd(stream, '*', 'profile', JSON.stringify({ n })))!);
    return ids;
  };
  const pendingCount = async (group = 'g'): Promise<number> => ((await redis.xpending(stream, group)) as [number])[0];

  /** A consumer with a credit it can be given more of; records what it takes. */
  const consumer = (name: string, credit: number, claimIdleMs = 60_000, connection = redis) => {
    const capacity$ = new BehaviorSubject(credit);
    const taken: InboundMessage[] = [];
    const subscription = redisStreamGroupSource({
      redis: connection,
      stream,
      group: 'g',
      consumer: name,
      field: 'profile',
      startId: '0',
      blockMs: 50,
      claimIdleMs,
      capacity: () => capacity$.value - taken.filter((m) => !(m as { acked?: boolean }).acked).length,
      capacity$,
    }).subscribe((m) => taken.push(m));
    subscriptions.push(subscription);
    const ack = (m: InboundMessage) => {
      (m as { acked?: boolean }).acked = true;
      m.ack!();
      capacity$.next(capacity$.value);
    };
    return {
      taken,
      ack,
      subscription,
      capacity$,
      numbers: () => taken.map((m) => (JSON.parse(String(m.data)) as { n: number }).n),
    };
  };

  describe('consumer group source', () => {
    it('reads no more than its credit, and acknowledges an entry only when told its outcome is final', async () => {
      const ids = await add(5);
      const c = consumer('c1', 3);
      await eventually(() => c.taken.length === 3);
      // Redis itself says what was read: an entry read is pending until acknowledged. Three, not five,
      // whenever this runs; and below, each unit of credit given back lets exactly one more in.
      expect(await pendingCount()).to.equal(3);
      expect(c.numbers()).to.deep.equal([1, 2, 3]);
      expect(c.taken.map((m) => m.position)).to.deep.equal(ids.slice(0, 3));
      expect(await pendingCount()).to.equal(3);
      c.ack(c.taken[1]!);
      await eventually(() => c.taken.length === 4);
      expect(await pendingCount()).to.equal(3);
      for (const m of c.taken.filter((t) => !(t as { acked?: boolean }).acked)) c.ack(m);
      await eventually(() => c.taken.length === 5);
      c.ack(c.taken[4]!);
      await eventually(async () => (await pendingCount()) === 0);
    });

    it("hands a killed consumer's pending entries to another after claimIdleMs", async () => {
      await add(4);
      const killed = consumer('killed', 10);
      await eventually(() => killed.taken.length === 4);
      killed.subscription.unsubscribe(); // dies without acknowledging anything
      const survivor = consumer('survivor', 10, 300);
      await eventually(() => survivor.taken.length === 4, 5_000, 'claimed entries');
      expect(survivor.numbers()).to.deep.equal([1, 2, 3, 4]);
      for (const m of survivor.taken) survivor.ack(m);
      await eventually(async () => (await pendingCount()) === 0);
    });

    it('takes back its own pending entries first when restarted under the same name', async () => {
      await add(3);
      const before = consumer('same', 10);
      await eventually(() => before.taken.length === 3);
      before.ack(before.taken[0]!);
      before.subscription.unsubscribe();
      await add(1, 4);
      const after = consumer('same', 10);
      await eventually(() => after.taken.length === 3);
      expect(after.numbers()).to.deep.equal([2, 3, 4]);
    });

    it('keeps its own slow entries from being claimed by others', async () => {
      await add(2);
      // 'slow' re-claims its entries every 0.5 s (a third of its claimIdleMs), so they are never idle for
      // much longer. The other claims entries idle for 1.2 s, every 0.6 s: only a 0.7 s stall of this
      // process could let it. And it would claim them before 'slow' itself (at 1.5 s) takes back its own.
      const slow = consumer('slow', 10, 1_500);
      await eventually(() => slow.taken.length === 2);
      // The other consumer's claim attempts, counted: its fifth comes 2.4 s after it started, by its own
      // timers, long after entries nobody re-claimed would have been claimable (1.2 s).
      const otherConnection = fixture.connect();
      let claimAttempts = 0;
      const xautoclaim = otherConnection.xautoclaim.bind(otherConnection);
      otherConnection.xautoclaim = ((...args: Parameters<typeof xautoclaim>) => {
        claimAttempts += 1;
        return xautoclaim(...args);
      }) as typeof xautoclaim;
      const other = consumer('other', 10, 1_200, otherConnection);
      await eventually(() => claimAttempts >= 5, 10_000, 'five claim attempts by the other consumer');
      expect(other.taken).to.have.length(0);
      const [, , , holders] = (await redis.xpending(stream, 'g')) as [number, string, string, Array<[string, string]>];
      expect(holders).to.deep.equal([['slow', '2']]);
      for (const m of slow.taken) slow.ack(m);
    });

    it('dead-letters an entry handed out more than maxDeliveries times as poison, instead of handing it out again', async () => {
      const [poison, healthy] = await add(2);
      await redis.xgroup('CREATE', stream, 'g', '0');
      // Crashed consumers took both; the first was handed out again and again (each XCLAIM counts one).
      await redis.xreadgroup('GROUP', 'g', 'crashed', 'COUNT', 2, 'STREAMS', stream, '>');
      for (let i = 0; i < 5; i += 1) await redis.xclaim(stream, 'g', 'crashed', 0, poison!);
      const letters: PoisonEntry[] = [];
      const taken: InboundMessage[] = [];
      const capacity$ = new BehaviorSubject(10);
      subscriptions.push(
        redisStreamGroupSource({
          redis,
          stream,
          group: 'g',
          consumer: 'survivor',
          field: 'profile',
          startId: '0',
          blockMs: 50,
          claimIdleMs: 50,
          maxDeliveries: 5,
          onPoison: async (entry) => void letters.push(entry),
          capacity: () => capacity$.value,
          capacity$,
        }).subscribe((m) => taken.push(m)),
      );
      await eventually(
        () => letters.length === 1 && taken.length === 1,
        5_000,
        'the poison letter and the healthy entry',
      );
      expect(letters[0]).to.deep.include({ id: poison, data: '{"n":1}', deliveries: 7 });
      expect(taken.map((m) => m.position)).to.deep.equal([healthy]);
      // The poison entry is acknowledged once dead-lettered; the healthy one is pending until its outcome.
      await eventually(async () => (await pendingCount()) === 1, 5_000, 'the poison entry acknowledged');
    });

    it('removes consumers that left the group with nothing pending, and keeps those that hold entries', async () => {
      await add(1);
      await redis.xgroup('CREATE', stream, 'g', '0');
      await redis.xgroup('CREATECONSUMER', stream, 'g', 'left');
      await redis.xreadgroup('GROUP', 'g', 'holding', 'COUNT', 1, 'STREAMS', stream, '>');
      const events: string[] = [];
      subscriptions.push(
        redisStreamGroupSource({
          redis,
          stream,
          group: 'g',
          consumer: 'me',
          field: 'profile',
          startId: '0',
          blockMs: 50,
          forgetConsumersAfterMs: 1,
          onEvent: (event) => event.type === 'consumer-removed' && void events.push(event.consumer),
          capacity: () => 10,
          capacity$: new BehaviorSubject(10),
        }).subscribe(),
      );
      await eventually(() => events.length === 1, 5_000, 'a consumer removed');
      expect(events).to.deep.equal(['left']);
      const names = ((await redis.xinfo('CONSUMERS', stream, 'g')) as string[][]).map((fields) => fields[1]);
      expect(names).to.include('holding');
      expect(names).not.to.include('left');
    });

    it('passes an entry without the field on as empty, so it is settled (and acknowledged), not retried', async () => {
      await redis.xadd(stream, '*', 'other', 'x');
      const c = consumer('c', 10);
      await eventually(() => c.taken.length === 1);
      expect(c.taken[0]!.data).to.equal(undefined);
    });
  });

  describe('range source (replay)', () => {
    it('reads a range in pages as the credit allows, without a group, and completes', async () => {
      const ids = await add(25);
      const capacity$ = new BehaviorSubject(10);
      const taken: InboundMessage[] = [];
      let completed = false;
      subscriptions.push(
        redisStreamRangeSource({
          redis,
          stream,
          field: 'profile',
          from: ids[2]!,
          to: ids[21]!,
          capacity: () => capacity$.value,
          capacity$,
          pageSize: 7,
        }).subscribe({
          next: (m) => taken.push(m),
          complete: () => (completed = true),
        }),
      );
      await eventually(() => completed);
      expect(taken.map((m) => m.position)).to.deep.equal(ids.slice(2, 22));
      expect(taken.every((m) => m.ack === undefined)).to.equal(true);
      expect(await redis.xinfo('GROUPS', stream)).to.deep.equal([]);
    });
  });

  describe('journal', () => {
    const journalConsumer = (name: string, credit: number) => {
      const capacity$ = new BehaviorSubject(credit);
      const taken: InboundMessage[] = [];
      subscriptions.push(
        redisStreamGroupSource({
          redis,
          stream,
          group: 'g',
          consumer: name,
          field: 'profile',
          startId: '$',
          blockMs: 50,
          deleteAcknowledged: true,
          capacity: () => capacity$.value,
          capacity$,
        }).subscribe((m) => taken.push(m)),
      );
      return taken;
    };

    it('creates its group with the stream, so a consumer starting later still reads the first entry', async () => {
      const journal = new StreamJournal({ redis, stream, groups: ['g'], field: 'profile' });
      const { appended, ids } = await journal.append([{ data: '{"n":1}' }, { data: '{"n":2}' }]);
      expect(appended).to.equal(2);
      const taken = journalConsumer('c', 10);
      await eventually(() => taken.length === 2);
      expect(taken.map((m) => m.position)).to.deep.equal(ids);
    });

    it('appends a batch in order up to maxLength and refuses the rest, never past it', async () => {
      const journal = new StreamJournal({ redis, stream, groups: ['g'], field: 'profile', maxLength: 100 });
      const first = await journal.append(Array.from({ length: 60 }, (_, n) => ({ data: JSON.stringify({ n }) })));
      expect(first).to.deep.include({ appended: 60, full: false });
      const second = await journal.append(
        Array.from({ length: 60 }, (_, n) => ({ data: JSON.stringify({ n: 60 + n }) })),
      );
      expect(second).to.deep.include({ appended: 40, full: true });
      expect(await redis.xlen(stream)).to.equal(100);
      const entries = (await redis.xrange(stream, '-', '+')) as Array<[string, string[]]>;
      expect(entries.map(([, fields]) => (JSON.parse(fields[1]!) as { n: number }).n)).to.deep.equal(
        Array.from({ length: 100 }, (_, n) => n),
      );
    });

    it("numbers each person's updates in append order, and a refused append leaves no number behind", async () => {
      const linePrefix = `${fixture.prefix}:line:`;
      const journal = new StreamJournal({ redis, stream, groups: ['g'], field: 'profile', linePrefix });
      const { ids } = await journal.append([
        { data: '{}', keys: ['email:ann', null] },
        { data: '{}', keys: ['email:ann'] },
      ]);
      // A stream that cannot take another id refuses the next append, after the script numbered it.
      await redis.xsetid(stream, '18446744073709551615-18446744073709551615');
      const refused = await journal.append([{ data: '{}', keys: ['email:ann'] }]);
      expect(refused).to.deep.include({ appended: 0 });
      expect(refused.refused).to.match(/exhausted the last possible ID/);
      await redis.xsetid(stream, ids[1]!);
      await journal.append([{ data: '{}', keys: ['email:ann', 'email:ben'] }]);
      const entries = (await redis.xrange(stream, '-', '+')) as Array<[string, string[]]>;
      expect(entries.map(([, fields]) => fields[3])).to.deep.equal([
        '[["email:ann",1],null]',
        '[["email:ann",2]]',
        // 3, not 4: the refused one gave its number back, or Ann's line would wait for it forever.
        '[["email:ann",3],["email:ben",1]]',
      ]);
    });

    it('finishes, for a flow added later, every turn its group will never read, and stops at its own', async () => {
      const linePrefix = `${fixture.prefix}:line:`;
      const before = new RedisTurnBook(redis, {
        linePrefix,
        donePrefix: `${fixture.prefix}:a:done:`,
        journal: stream,
        otherGroups: ['g:b'],
        group: 'g:a',
      });
      const journal = new StreamJournal({ redis, stream, groups: ['g:a'], field: 'profile', linePrefix });
      const { ids } = await journal.append([
        { data: '{}', keys: ['email:ann'] },
        { data: '{}', keys: ['email:ann'] },
      ]);
      // The one flow there was finishes both (the other group does not exist yet: it claims nothing).
      await redis.xreadgroup('GROUP', 'g:a', 'c', 'COUNT', 10, 'STREAMS', stream, '>');
      for (const [i, id] of ids.entries())
        await before.finishThenAck(stream, 'g:a', id, false, [{ key: 'email:ann', seq: i + 1 }]);
      // A flow added now: its group starts at the end; Ann's third update is its first.
      await redis.xgroup('CREATE', stream, 'g:b', '$');
      const added = new RedisTurnBook(redis, {
        linePrefix,
        donePrefix: `${fixture.prefix}:b:done:`,
        journal: stream,
        otherGroups: ['g:a'],
        group: 'g:b',
      });
      await journal.append([{ data: '{}', keys: ['email:ann'] }]);
      await redis.xreadgroup('GROUP', 'g:b', 'c', 'COUNT', 10, 'STREAMS', stream, '>');
      expect(await added.finishedUpTo('email:ann')).to.equal(0);
      expect(await added.skipLost('email:ann')).to.equal(true);
      // Turns 1 and 2 finished for it at once; 3 is its own, pending in its group: not skipped.
      expect(await added.finishedUpTo('email:ann')).to.equal(2);
      expect(await added.skipLost('email:ann')).to.equal(false);
    });

    it("finishes a line's next turn whose entry was deleted by hand, and only that", async () => {
      const book = new RedisTurnBook(redis, { linePrefix: `${fixture.prefix}:line:`, journal: stream });
      const journal = new StreamJournal({
        redis,
        stream,
        groups: ['g'],
        field: 'profile',
        linePrefix: book.linePrefix,
      });
      const { ids } = await journal.append([
        { data: '{}', keys: ['email:ann'] },
        { data: '{}', keys: ['email:ann'] },
      ]);
      expect(await book.skipLost('email:ann'), 'the first entry is there').to.equal(false);
      await redis.xdel(stream, ids[0]!);
      expect(await book.skipLost('email:ann')).to.equal(true);
      expect(await book.finishedUpTo('email:ann')).to.equal(1);
      expect(await book.skipLost('email:ann'), 'the second entry is there').to.equal(false);
      await book.finishThenAck(stream, 'g', ids[1]!, false, [{ key: 'email:ann', seq: 2 }]);
      expect(await book.finishedUpTo('email:ann')).to.equal(2);
      expect(await redis.hkeys(`${book.linePrefix}email:ann`)).to.have.members(['next', 'done']);
    });

    it('holds only what is pending: an acknowledged entry is deleted, so room comes back as work is done', async () => {
      const journal = new StreamJournal({ redis, stream, groups: ['g'], field: 'profile', maxLength: 100 });
      const taken = journalConsumer('c', 200);
      await journal.append(Array.from({ length: 100 }, (_, n) => ({ data: JSON.stringify({ n }) })));
      expect((await journal.append([{ data: '{"n":100}' }])).full).to.equal(true);
      await eventually(() => taken.length === 100);
      // One slow entry (the first) stays pending; everything after it is done.
      for (const m of taken.slice(1)) m.ack!();
      await eventually(async () => (await journal.length()) === 1);
      expect(((await redis.xpending(stream, 'g')) as [number])[0]).to.equal(1);
      expect(await journal.append(Array.from({ length: 99 }, () => ({ data: '{}' })))).to.deep.include({
        appended: 99,
        full: false,
      });
    });
  });
});
