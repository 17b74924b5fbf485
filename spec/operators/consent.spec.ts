import { expect } from 'chai';
import { consent, ConsentOptions } from '../../operators/consent.js';
import { MemoryDeliveryLog } from '../../adapters/memory/delivery-log.js';
import { emit, EmitOptions } from '../../operators/emit.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import type { Envelope } from '../../operators/model/envelope.js';
import { compareStreamPositions } from '../../operators/model/order.js';
import { rmSync } from 'node:fs';
import { Subject } from 'rxjs';
import { EmbeddedDeliveryLog } from '../../adapters/embedded/delivery-log.js';
import { openStateStore } from '../../adapters/embedded/state-store.js';
import { RedisDeliveryLog } from '../../adapters/redis/delivery-log.js';
import { dedupe, DedupeOptions } from '../../operators/dedupe.js';
import type { DeliveryLog } from '../../operators/model/ports.js';
import { testContext } from '../helpers/contexts.js';
import { RedisFixture } from '../helpers/redis.js';
import { tempDir } from '../helpers/temp.js';
import { Books, profileEnvelope, profileOf, testScheduler } from '../helpers/marbles.js';

const PATH = 'consents.marketing.email.val';
const payload = { segmentMembership: { ups: { a1: { lastQualificationTime: 't', status: 'realized' } } } };
const withConsent = (books: Books, value: unknown) => ({
  ...profileEnvelope(
    books.ledger,
    profileOf({
      identityMap: { Email: [{ id: 'ann@example.com' }] },
      ...(value === undefined ? {} : { consents: { marketing: { email: { val: value } } } }),
    }),
  ),
  payload,
});

describe('consent', () => {
  const options = (more: object = {}) => decodeOrThrow(ConsentOptions, { path: PATH, allow: ['y'], ...more });

  it('passes a profile with consent, its payload unchanged', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const envelope = withConsent(books, 'y');
      expectObservable(cold('a|', { a: envelope }).pipe(consent(options()))).toBe('a|', {
        a: { ...envelope, consent: 'given' },
      });
    });
    expect(books.settled).to.deep.equal([]);
  });

  it('onWithdraw exit (the default): turns one without consent into a withdrawal, its audiences exited', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const envelope = withConsent(books, 'n');
      expectObservable(cold('a|', { a: envelope }).pipe(consent(options()))).toBe('a|', {
        a: {
          ...envelope,
          consent: 'withdrawn',
          payload: { segmentMembership: { ups: { a1: { lastQualificationTime: 't', status: 'exited' } } } },
        },
      });
    });
  });

  it('onWithdraw ignore: excludes one without consent (or with none at all) as no-consent, saying why', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('ab|', { a: withConsent(books, 'n'), b: withConsent(books, undefined) });
      expectObservable(source.pipe(consent(options({ onWithdraw: 'ignore' })))).toBe('--|');
    });
    expect(books.ledger.counts().excluded).to.deep.equal({ 'no-consent': 2 });
  });

  it('names a bad consent section', () => {
    expect(() => decodeOrThrow(ConsentOptions, { path: 'consents..val', allow: [], onWithdraw: 'drop' }))
      .to.throw()
      .with.property('problems')
      .that.deep.equals([
        'path: expected a dotted path like person.name.firstName, got "consents..val"',
        'allow: expected at least one entry, got an empty list',
        'onWithdraw: expected exit | ignore, got "drop"',
      ]);
  });
});

describe('emit with consent: what a delivery leaves a person in, and who hears a withdrawal', () => {
  const ann = { namespace: 'Email', target: 'email' as const, id: 'ann@example.com' };
  const envelope = (books: Books, status: string, consent?: 'given' | 'withdrawn'): Envelope => ({
    ...withConsent(books, 'y'),
    identity: ann,
    payload: { segmentMembership: { ups: { a1: { status } } } },
    ...(consent ? { consent } : {}),
  });
  const run = (envelopes: (books: Books) => Envelope[]) => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const deliveryLog = new MemoryDeliveryLog({ compare: compareStreamPositions });
    const sent: string[] = [];
    const sender = { send: (body: string) => (sent.push(body), [{ status: 202, body: '' }]) };
    scheduler.run(({ cold }) => {
      const list = envelopes(books);
      const marbles = `${list.map((_, i) => String.fromCharCode(97 + i)).join('-')}|`;
      const values = Object.fromEntries(list.map((e, i) => [String.fromCharCode(97 + i), e]));
      cold(marbles, values)
        .pipe(emit(decodeOrThrow(EmitOptions, {}), testContext(scheduler, { deliveryLog, sender })))
        .subscribe();
    });
    return { sent, books, audiences: deliveryLog.audiencesIn('email:ann@example.com') };
  };

  it('records nothing for a flow without consent', () => {
    expect(run((books) => [envelope(books, 'realized')]).audiences).to.deep.equal([]);
  });

  it('sends a withdrawal once to a person delivered in the audience, then excludes the next as no-consent', () => {
    const { sent, books, audiences } = run((books) => [
      envelope(books, 'realized', 'given'),
      envelope(books, 'exited', 'withdrawn'),
      envelope(books, 'exited', 'withdrawn'),
    ]);
    expect(sent.map((body) => JSON.parse(body).segmentMembership.ups.a1.status)).to.deep.equal(['realized', 'exited']);
    expect(books.ledger.counts().excluded).to.deep.equal({ 'no-consent': 1 });
    expect(audiences).to.deep.equal([]);
  });

  it('never sends a withdrawal to a person never delivered', () => {
    const { sent, books } = run((books) => [envelope(books, 'exited', 'withdrawn')]);
    expect(sent).to.deep.equal([]);
    expect(books.ledger.counts().excluded).to.deep.equal({ 'no-consent': 1 });
  });
});

describe('consent with dedupe and the delivery log: consenting again, other audiences, no expiry', () => {
  const ann = { namespace: 'Email', target: 'email' as const, id: 'ann@example.com' };
  /** One update of Ann's, `status` for `audience`, always with the same qualification time. */
  const update = (books: Books, position: string, consent: 'given' | 'withdrawn', audience = 'a1'): Envelope => ({
    ...profileEnvelope(books.ledger, profileOf({}), `${position}-0`),
    identity: ann,
    payload: {
      segmentMembership: {
        ups: { [audience]: { lastQualificationTime: 'T1', status: consent === 'given' ? 'realized' : 'exited' } },
      },
    },
    consent,
  });
  const upsSent = (sent: string[]) =>
    sent.map((body) => (JSON.parse(body) as { segmentMembership: { ups: unknown } }).segmentMembership.ups);

  it('sends a person who consents again, with the same qualification time throughout, and exits them again', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const sent: string[] = [];
    scheduler.run(({ cold }) => {
      const context = testContext(scheduler, {
        sender: { send: (body: string) => (sent.push(body), [{ status: 202, body: '' }]) },
      });
      const list = [
        update(books, '1', 'given'),
        update(books, '2', 'given'), // the same payload again: a duplicate
        update(books, '3', 'withdrawn'),
        update(books, '4', 'given'), // consent again: sent again
        update(books, '5', 'withdrawn'), // withdrawn again: exited again
        update(books, '6', 'withdrawn'), // in no audience any more: silence
      ];
      const values = Object.fromEntries(list.map((e, i) => [String.fromCharCode(97 + i), e]));
      cold('a-b-c-d-e-f|', values)
        .pipe(dedupe(decodeOrThrow(DedupeOptions, {}), context), emit(decodeOrThrow(EmitOptions, {}), context))
        .subscribe();
    });
    const realized = { a1: { lastQualificationTime: 'T1', status: 'realized' } };
    const exited = { a1: { lastQualificationTime: 'T1', status: 'exited' } };
    expect(upsSent(sent)).to.deep.equal([realized, exited, realized, exited]);
    expect(books.summary()).to.deep.equal({
      '1-0': 'delivered',
      '2-0': 'duplicate',
      '3-0': 'delivered',
      '4-0': 'delivered',
      '5-0': 'delivered',
      '6-0': 'excluded:no-consent',
    });
  });

  it('a withdrawal naming other audiences exits every audience the person is in as delivered, and its own', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const sent: string[] = [];
    scheduler.run(({ cold }) => {
      const context = testContext(scheduler, {
        sender: { send: (body: string) => (sent.push(body), [{ status: 202, body: '' }]) },
      });
      cold('a-b|', { a: update(books, '1', 'given', 'a1'), b: update(books, '2', 'withdrawn', 'a2') })
        .pipe(emit(decodeOrThrow(EmitOptions, {}), context))
        .subscribe();
    });
    expect(upsSent(sent)).to.deep.equal([
      { a1: { lastQualificationTime: 'T1', status: 'realized' } },
      { a2: { lastQualificationTime: 'T1', status: 'exited' }, a1: { status: 'exited' } },
    ]);
  });

  /**
   * Delivers `given` then `withdrawn` through emit on `deliveryLog`, `between()` running in between; answers what was
   * sent.
   */
  const realizedThenWithdrawn = async (deliveryLog: DeliveryLog, between: () => Promise<void>) => {
    const books = new Books();
    const sent: string[] = [];
    const updates = new Subject<Envelope>();
    const context = testContext(undefined, {
      deliveryLog,
      sender: { send: async (body: string) => (sent.push(body), { status: 202, body: '' }) },
    });
    updates.pipe(emit(decodeOrThrow(EmitOptions, {}), context)).subscribe();
    updates.next(update(books, '1', 'given'));
    await books.ledger.whenSettled(1);
    await between();
    updates.next(update(books, '2', 'withdrawn'));
    await books.ledger.whenSettled(2);
    updates.complete();
    return { sent: upsSent(sent), summary: books.summary() };
  };

  it('embedded log: a withdrawal after the dedupe TTL has passed still gets its exited', async () => {
    const dir = tempDir('qa-state-');
    const state = openStateStore(dir);
    let now = 1_000;
    const ttlMs = 7 * 24 * 60 * 60 * 1000;
    try {
      const log = new EmbeddedDeliveryLog(state, { compare: compareStreamPositions, ttlMs, now: () => now });
      const { sent, summary } = await realizedThenWithdrawn(log, async () => {
        now += ttlMs + 1;
        await log.sweep();
      });
      expect(summary).to.deep.equal({ '1-0': 'delivered', '2-0': 'delivered' });
      expect(sent[1]).to.deep.equal({ a1: { lastQualificationTime: 'T1', status: 'exited' } });
    } finally {
      await state.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('Redis log: the audiences a person is in are kept without a TTL', async () => {
    const fixture = new RedisFixture();
    const redis = fixture.connect();
    try {
      const log = new RedisDeliveryLog(redis, fixture.prefix, 60_000);
      const { summary } = await realizedThenWithdrawn(log, async () => {
        expect(await redis.pttl(`${fixture.prefix}:in:email:ann@example.com`)).to.equal(-1);
      });
      expect(summary).to.deep.equal({ '1-0': 'delivered', '2-0': 'delivered' });
      expect(await redis.get(`${fixture.prefix}:withdrawn:email:ann@example.com`)).to.equal('1');
    } finally {
      await fixture.cleanup();
    }
  });
});
