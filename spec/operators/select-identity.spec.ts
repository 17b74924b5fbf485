import { expect } from 'chai';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import { formatErrors } from '../../operators/model/decode-errors.js';
import { rejectionOf, selectIdentity, SelectIdentityOptions } from '../../operators/select-identity.js';
import { isLeft } from 'fp-ts/lib/Either.js';
import { Books, profileEnvelope, profileOf, testScheduler } from '../helpers/marbles.js';
import { behavesLikeAnOperator } from '../helpers/operator-contract.js';

const options = decodeOrThrow(SelectIdentityOptions, {
  identities: [
    { source: 'Email', target: 'email' },
    { source: 'ECID', target: 'external_id' },
  ],
});

const HASHED = 'b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514';

describe('selectIdentity', () => {
  it('keeps every usable id of each mapped namespace under its own name, and nothing else', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const envelope = profileEnvelope(
        books.ledger,
        profileOf({
          identityMap: {
            Email: [
              { id: 'ann@example.com' },
              { id: ' ann.work@example.org ', primary: true, authenticatedState: 'authenticated' },
            ],
            ECID: [{ id: '2750932749638' }],
            Phone: [{ id: '+14155550101' }],
          },
        }),
      );
      expectObservable(cold('-a|', { a: envelope }).pipe(selectIdentity(options))).toBe('-a|', {
        a: {
          ...envelope,
          identity: { namespace: 'Email', target: 'email', id: 'ann.work@example.org' },
          payload: {
            identityMap: {
              Email: [{ id: 'ann@example.com' }, { id: 'ann.work@example.org' }],
              ECID: [{ id: '2750932749638' }],
            },
          },
        },
      });
    });
  });

  it('leaves out hashed and malformed emails, and falls back to the next mapping for the identity', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const envelope = profileEnvelope(
        books.ledger,
        profileOf({ identityMap: { Email: [{ id: HASHED }, { id: 'not an email' }], ECID: [{ id: 'e-1' }] } }),
      );
      expectObservable(cold('a|', { a: envelope }).pipe(selectIdentity(options))).toBe('a|', {
        a: {
          ...envelope,
          identity: { namespace: 'ECID', target: 'external_id', id: 'e-1' },
          payload: { identityMap: { ECID: [{ id: 'e-1' }] } },
        },
      });
    });
  });

  it('excludes a profile with no usable identity as missing-identity, without echoing the ids', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const hashedOnly = profileEnvelope(books.ledger, profileOf({ identityMap: { Email: [{ id: HASHED }] } }), '1');
      const unmappedOnly = profileEnvelope(books.ledger, profileOf({ identityMap: { Phone: [{ id: '+1415' }] } }), '2');
      const none = profileEnvelope(books.ledger, profileOf({}), '3');
      expectObservable(cold('abc|', { a: hashedOnly, b: unmappedOnly, c: none }).pipe(selectIdentity(options))).toBe(
        '---|',
      );
    });
    expect(books.settled.map(({ outcome }) => outcome)).to.deep.equal([
      {
        kind: 'excluded',
        reason: 'missing-identity',
        detail: 'identityMap.Email[0] is a SHA-256 hash; Qualtrics accepts plain-text email addresses only',
      },
      { kind: 'excluded', reason: 'missing-identity', detail: 'the profile has no id in Email, ECID' },
      { kind: 'excluded', reason: 'missing-identity', detail: 'the profile has no id in Email, ECID' },
    ]);
    expect(JSON.stringify(books.settled)).not.to.contain(HASHED);
  });

  it('prefers the primary id and otherwise the first, within the first mapping that has one', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const ecidFirst = decodeOrThrow(SelectIdentityOptions, {
      identities: [
        { source: 'ECID', target: 'external_id' },
        { source: 'Email', target: 'email' },
      ],
    });
    scheduler.run(({ cold, expectObservable }) => {
      const envelope = profileEnvelope(
        books.ledger,
        profileOf({
          identityMap: { Email: [{ id: 'a@example.com', primary: true }], ECID: [{ id: 'e-1' }, { id: 'e-2' }] },
        }),
      );
      expectObservable(cold('a|', { a: envelope }).pipe(selectIdentity(ecidFirst))).toBe('a|', {
        a: {
          ...envelope,
          identity: { namespace: 'ECID', target: 'external_id', id: 'e-1' },
          payload: { identityMap: { ECID: [{ id: 'e-1' }, { id: 'e-2' }], Email: [{ id: 'a@example.com' }] } },
        },
      });
    });
  });

  describe('rejectionOf', () => {
    it('accepts plain addresses and any external id', () => {
      expect(rejectionOf('ann@example.com', 'email')).to.equal(undefined);
      expect(rejectionOf('o.brien+tag@mail.example.co.uk', 'email')).to.equal(undefined);
      expect(rejectionOf(HASHED, 'external_id')).to.equal(undefined);
    });

    it('refuses hashes, malformed and overlong addresses', () => {
      expect(rejectionOf(HASHED.toUpperCase(), 'email')).to.match(/SHA-256/);
      for (const bad of [
        'ann',
        'ann@',
        '@example.com',
        'ann@example',
        'ann @example.com',
        'a@b@c.com',
        'ann@example..com',
      ])
        expect(rejectionOf(bad, 'email'), bad).to.equal('is not a plain-text email address');
      expect(rejectionOf(`${'a'.repeat(250)}@example.com`, 'email')).to.match(/longer than 254/);
    });
  });

  describe('options', () => {
    it('require at least one mapping, a known target and no namespace twice', () => {
      const decoded = SelectIdentityOptions.decode({
        identities: [
          { source: 'Email', target: 'email' },
          { source: 'Email', target: 'phone' },
        ],
      });
      expect(isLeft(decoded) && formatErrors(decoded.left)).to.deep.equal([
        'identities[1].target: expected email | external_id, got "phone"',
      ]);
      const repeated = SelectIdentityOptions.decode({
        identities: [
          { source: 'Email', target: 'email' },
          { source: 'Email', target: 'external_id' },
        ],
      });
      expect(isLeft(repeated) && formatErrors(repeated.left)).to.deep.equal([
        'identities[1]: identity namespace "Email" is listed twice',
      ]);
      const none = SelectIdentityOptions.decode({ identities: [] });
      expect(isLeft(none) && formatErrors(none.left)).to.deep.equal([
        'identities: expected at least one entry, got an empty list',
      ]);
    });
  });

  behavesLikeAnOperator(() => selectIdentity(options));
});
