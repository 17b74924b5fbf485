/**
 * Profile updates as Adobe Experience Platform streams them, for the demo: several audiences and
 * statuses, email and ECID identities, one message holding an array, and the kinds of bad input a real
 * feed carries (broken JSON, a wrong type, a hashed email, a payload too large, a repeat).
 */

export const AUDIENCES = {
  checkout: { id: '5b6f8f7e-3d1c-4a57-9a8e-2f0c6d1e4b21', name: 'Completed checkout (last 24 h)' },
  onboarding: { id: '9c2d4e6f-1a3b-4c5d-8e7f-0a1b2c3d4e5f', name: 'New hires, day 30' },
  unmapped: { id: 'e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b', name: 'Web visitors (not mapped)' },
} as const;

const qualified = (id: string, status: string, time = '2026-11-29T09:15:02.417Z') => ({
  [id]: { lastQualificationTime: time, status },
});

const profile = (identityMap: object, ups: object, attributes: object = {}) => ({
  ...attributes,
  identityMap,
  segmentMembership: { ups },
});

const ann = profile(
  { Email: [{ id: 'ann.lee@example.com', primary: true }], ECID: [{ id: '27509327496380118093549117744658230471' }] },
  qualified(AUDIENCES.checkout.id, 'realized'),
  {
    person: { name: { firstName: 'Ann', lastName: 'Lee' } },
    mobilePhone: { number: '+14155550101' },
    loyalty: { tier: 'gold' },
  },
);

/** The demo's messages, in the order the feed sends them. Each comment says what should become of it. */
export const sampleMessages = (): string[] => [
  // delivered: a realized member of a mapped audience, email and ECID
  JSON.stringify(ann),
  // delivered: left the audience (exited is sent so the workflow can react)
  JSON.stringify(
    profile(
      { Email: [{ id: 'ben.okafor@example.org' }] },
      qualified(AUDIENCES.checkout.id, 'exited', '2026-11-29T09:16:40.002Z'),
      {
        person: { name: { firstName: 'Ben' } },
      },
    ),
  ),
  // one message, two profiles: chloe is only "existing" (not a listed status), david is realized
  JSON.stringify([
    profile({ Email: [{ id: 'chloe.martin@example.fr' }] }, qualified(AUDIENCES.onboarding.id, 'existing')),
    profile({ Email: [{ id: 'david.kim@example.com' }] }, qualified(AUDIENCES.onboarding.id, 'realized'), {
      person: { name: { firstName: 'David' } },
    }),
  ]),
  // excluded missing-identity: the only email is a SHA-256 hash, which Qualtrics cannot use
  JSON.stringify(
    profile(
      { Email: [{ id: 'b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514' }] },
      qualified(AUDIENCES.checkout.id, 'realized'),
    ),
  ),
  // excluded not-qualified: only in an audience that is not mapped
  JSON.stringify(
    profile({ Email: [{ id: 'frank.moreau@example.com' }] }, qualified(AUDIENCES.unmapped.id, 'realized')),
  ),
  // excluded invalid-json: cut off mid-message
  '{"identityMap": {"Email": [{"id": "gina@example.com"',
  // excluded invalid-profile: an id that is a number
  JSON.stringify(profile({ Email: [{ id: 42 }] }, qualified(AUDIENCES.checkout.id, 'realized'))),
  // duplicate: ann's update again, identical
  JSON.stringify(ann),
  // delivered as external_id: no email, an ECID
  JSON.stringify(
    profile(
      { ECID: [{ id: '61746519348250935285210376329408751093' }] },
      qualified(AUDIENCES.onboarding.id, 'realized'),
    ),
  ),
  // failed payload-too-large: a mapped attribute makes the payload exceed Qualtrics' 100 KB
  JSON.stringify(
    profile({ Email: [{ id: 'hugo.berg@example.se' }] }, qualified(AUDIENCES.checkout.id, 'realized'), {
      loyalty: { tier: 'x'.repeat(120_000) },
    }),
  ),
];

/** How many envelopes a set of messages becomes: one per profile of an array, one for anything else. */
export const envelopeCount = (messages: readonly string[]): number =>
  messages.reduce((total, message) => {
    try {
      const parsed: unknown = JSON.parse(message);
      return total + (Array.isArray(parsed) && parsed.length > 0 ? parsed.length : 1);
    } catch {
      return total + 1;
    }
  }, 0);
