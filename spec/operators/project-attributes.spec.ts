import { expect } from 'chai';
import { of } from 'rxjs';
import type { Envelope } from '../../operators/model/envelope.js';
import { serializePayload } from '../../operators/model/payload.js';
import { isLeft } from 'fp-ts/lib/Either.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import { formatErrors } from '../../operators/model/decode-errors.js';
import { projectAttributes, ProjectAttributesOptions } from '../../operators/project-attributes.js';
import { Books, profileEnvelope, profileOf, testScheduler } from '../helpers/marbles.js';
import { behavesLikeAnOperator } from '../helpers/operator-contract.js';

const options = decodeOrThrow(ProjectAttributesOptions, {
  attributes: [
    { source: 'person.name.firstName', target: 'person.name.firstName' },
    { source: 'person.name.lastName', target: 'lastName' },
    { source: 'mobilePhone.number', target: 'contact.mobile' },
    { source: 'loyalty.points', target: 'loyaltyPoints' },
    { source: 'emails.1.address', target: 'secondEmail' },
  ],
});

describe('projectAttributes', () => {
  it('maps no attribute by default: only memberships and the identity are sent', () => {
    expect(decodeOrThrow(ProjectAttributesOptions, {})).to.deep.equal({ attributes: [] });
  });

  it('places each mapped value at its target path, nesting dotted targets, keeping what the payload had', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const profile = profileOf({
        person: { name: { firstName: 'Ann', lastName: 'Lee', middleName: 'not mapped' } },
        mobilePhone: { number: '+14155550101' },
        loyalty: { points: 0 },
        emails: [{ address: 'a@example.com' }, { address: 'b@example.com' }],
      });
      const envelope = profileEnvelope(books.ledger, profile, '1', {
        identityMap: { Email: [{ id: 'a@example.com' }] },
      });
      expectObservable(cold('-a|', { a: envelope }).pipe(projectAttributes(options))).toBe('-a|', {
        a: {
          ...envelope,
          payload: {
            identityMap: { Email: [{ id: 'a@example.com' }] },
            person: { name: { firstName: 'Ann' } },
            lastName: 'Lee',
            contact: { mobile: '+14155550101' },
            loyaltyPoints: 0,
            secondEmail: 'b@example.com',
          },
        },
      });
    });
  });

  it('writes a __proto__ target as a key of the payload, never as its prototype', () => {
    const special = decodeOrThrow(ProjectAttributesOptions, {
      attributes: [
        { source: 'a', target: '__proto__' },
        { source: 'b', target: 'nested.__proto__.value' },
      ],
    });
    let sent: Envelope | undefined;
    const books = new Books();
    of(profileEnvelope(books.ledger, profileOf({ a: { polluted: true }, b: 2 })))
      .pipe(projectAttributes(special))
      .subscribe((envelope) => (sent = envelope));
    expect(Object.getPrototypeOf(sent!.payload)).to.equal(Object.prototype);
    expect(serializePayload(sent!.payload)).to.equal(
      '{"__proto__":{"polluted":true},"nested":{"__proto__":{"value":2}}}',
    );
  });

  it('leaves a missing source out, and sends null and objects as they are', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const objectOptions = decodeOrThrow(ProjectAttributesOptions, {
      attributes: [
        { source: 'person.name', target: 'name' },
        { source: 'loyalty.tier', target: 'tier' },
        { source: 'absent.deeply', target: 'absent' },
      ],
    });
    scheduler.run(({ cold, expectObservable }) => {
      const envelope = profileEnvelope(
        books.ledger,
        profileOf({ person: { name: { firstName: 'Ann' } }, loyalty: { tier: null } }),
      );
      expectObservable(cold('a|', { a: envelope }).pipe(projectAttributes(objectOptions))).toBe('a|', {
        a: { ...envelope, payload: { name: { firstName: 'Ann' }, tier: null } },
      });
    });
    expect(books.settled).to.deep.equal([]);
  });

  describe('options', () => {
    it('refuse reserved, repeated and overlapping targets, and malformed paths, each at its path', () => {
      const decoded = ProjectAttributesOptions.decode({
        attributes: [
          { source: 'a', target: 'person.name' },
          { source: 'b', target: 'person.name.firstName' },
          { source: 'c', target: 'identityMap.x' },
          { source: 'd', target: 'person.name' },
          { source: 'e..f', target: 'g' },
        ],
      });
      expect(isLeft(decoded) && formatErrors(decoded.left)).to.deep.equal([
        'attributes[4].source: expected a dotted path like person.name.firstName, got "e..f"',
      ]);
      const valid = ProjectAttributesOptions.decode({
        attributes: [
          { source: 'a', target: 'person.name' },
          { source: 'b', target: 'person.name.firstName' },
          { source: 'c', target: 'identityMap.x' },
          { source: 'd', target: 'person.name' },
          { source: 'e', target: 'personal' },
        ],
      });
      expect(isLeft(valid) && formatErrors(valid.left)).to.deep.equal([
        'attributes[1].target: "person.name.firstName" overlaps attributes[0].target "person.name"',
        'attributes[2].target: "identityMap" is filled by the pipeline itself; choose another target',
        'attributes[3].target: "person.name" overlaps attributes[0].target "person.name"',
      ]);
    });
  });

  behavesLikeAnOperator(() => projectAttributes(options));
});
