import { expect } from 'chai';
import { consent, ConsentOptions } from '../../operators/consent.js';
import { MemoryDeliveryLog } from '../../adapters/memory/delivery-log.js';
import { emit, EmitOptions } from '../../operators/emit.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import type { Envelope } from '../../operators/model/envelope.js';
import { compareStreamPositions } from '../../operators/model/order.js';
import { testContext } from '../helpers/contexts.js';
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
