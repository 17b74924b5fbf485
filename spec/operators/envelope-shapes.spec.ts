import { expect } from 'chai';
import { from, lastValueFrom, type MonoTypeOperatorFunction, tap, toArray } from 'rxjs';
import { ConsentOptions, consent } from '../../operators/consent.js';
import { decode } from '../../operators/decode.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import type { Envelope } from '../../operators/model/envelope.js';
import { Ledger } from '../../operators/model/ledger.js';
import { ProjectAttributesOptions, projectAttributes } from '../../operators/project-attributes.js';
import { QualifyOptions, qualify } from '../../operators/qualify.js';
import { SelectIdentityOptions, selectIdentity } from '../../operators/select-identity.js';
import { hasFastProperties, sameHiddenClass } from '../helpers/hidden-class.js';
import { messageEnvelope } from '../helpers/marbles.js';

const AUDIENCE = 'a1b2c3d4-0000-4000-8000-000000000001';

const updateOf = (n: number) =>
  JSON.stringify({
    person: { name: { firstName: `First${n}` } },
    consents: { marketing: { val: 'y' } },
    identityMap: { Email: [{ id: `person${n}@example.com` }], ECID: [{ id: `${1000 + n}` }] },
    segmentMembership: { ups: { [AUDIENCE]: { lastQualificationTime: '2026-11-29T09:15:02Z', status: 'realized' } } },
  });

describe('envelope shapes', () => {
  it('gives every update leaving the chain one hidden class for its envelope and one for its payload', async () => {
    // Each operator copies the envelope and its payload, adding keys. Made with the spread, each copy
    // got a hidden class of its own in Node 20's V8 (a class allocated per update, and one more shape
    // for every later read to meet); copies of the same shape share one.
    const ledger = new Ledger();
    // The last two envelopes each operator passed on.
    const lastTwo = new Map<string, Envelope[]>();
    const seen = (name: string): MonoTypeOperatorFunction<Envelope> =>
      tap((envelope) => lastTwo.set(name, [...(lastTwo.get(name) ?? []), envelope].slice(-2)));
    const messages = Array.from({ length: 500 }, (_, n) => messageEnvelope(ledger, updateOf(n), `${n}`));
    const passed = await lastValueFrom(
      from(messages)
        .pipe(
          decode(),
          seen('decode'),
          qualify(decodeOrThrow(QualifyOptions, { audiences: [{ id: AUDIENCE }] })),
          seen('qualify'),
          selectIdentity(
            decodeOrThrow(SelectIdentityOptions, {
              identities: [
                { source: 'Email', target: 'email' },
                { source: 'ECID', target: 'external_id' },
              ],
            }),
          ),
          seen('selectIdentity'),
        )
        .pipe(
          projectAttributes(
            decodeOrThrow(ProjectAttributesOptions, {
              attributes: [{ source: 'person.name.firstName', target: 'person.firstName' }],
            }),
          ),
          seen('projectAttributes'),
          consent(decodeOrThrow(ConsentOptions, { path: 'consents.marketing.val', allow: ['y'] })),
          seen('consent'),
          toArray(),
        ),
    );
    expect(passed).to.have.length(500);
    expect(passed.at(-1)!.payload).to.deep.equal({
      segmentMembership: { ups: { [AUDIENCE]: { lastQualificationTime: '2026-11-29T09:15:02Z', status: 'realized' } } },
      identityMap: { Email: [{ id: 'person499@example.com' }], ECID: [{ id: '1499' }] },
      person: { firstName: 'First499' },
    });
    const shared = [...lastTwo].map(([name, [before, last]]) => [
      name,
      sameHiddenClass(before!, last!),
      sameHiddenClass(before!.payload, last!.payload),
      hasFastProperties(last!) && hasFastProperties(last!.payload),
    ]);
    expect(shared).to.deep.equal(
      ['decode', 'qualify', 'selectIdentity', 'projectAttributes', 'consent'].map((name) => [name, true, true, true]),
    );
  });
});
