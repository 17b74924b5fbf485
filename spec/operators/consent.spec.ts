import { expect } from 'chai';
import { consent, ConsentOptions } from '../../operators/consent.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
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

  it('passes a profile with consent unchanged', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const envelope = withConsent(books, 'y');
      expectObservable(cold('a|', { a: envelope }).pipe(consent(options()))).toBe('a|', { a: envelope });
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
          withdrawal: true,
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
