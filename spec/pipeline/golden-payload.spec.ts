import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../../pipeline/config/load.js';
import { runOperators } from '../helpers/run-operators.js';

/** The "Exported data" sample of shared/reference/qualtrics-automations.md, copied verbatim. */
const pagePayload: unknown = JSON.parse(readFileSync('spec/fixtures/connector-page-payload.json', 'utf8'));

const A1 = '046456e3b-18e1-48a6-9bda-d68547861283';
const A2 = '007844dd1-9e5d-4531-a4ee-05470doe759dd';

// The page maps Email -> email, but its sample id "Email-2Sf6C" is a placeholder, not an address: mapped
// to `email` it is (rightly) refused. Mapped to external_id, which any namespace may use, the rest of
// the mapping is the page's own.
const configFor = (target: 'email' | 'external_id') =>
  parseConfig(
    `
name: Connector page example
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://iad1.qualtrics.com/e", username: u, apiToken: t }
audiences: [{ id: ${A1} }, { id: ${A2} }]
identities: [{ source: Email, target: ${target} }]
attributes:
  - { source: person.name.firstName, target: person.name.firstName }
  - { source: mobilePhone.number, target: mobilePhone.number }
`,
    {},
  );

/** What Adobe streams for Dave: more than is mapped, all of which must stay out of the payload. */
const daveProfile = {
  person: { name: { firstName: 'Dave', lastName: 'not mapped' }, birthDate: '1980-01-01' },
  mobilePhone: { number: '0123456789', status: 'active' },
  homeAddress: { city: 'not mapped' },
  identityMap: {
    Email: [{ id: 'Email-2Sf6C', primary: true, authenticatedState: 'authenticated' }],
    ECID: [{ id: '33333333333333333333333333333333333333' }],
  },
  segmentMembership: {
    ups: {
      [A1]: { lastQualificationTime: '2023-09-05T10:43:55.602687Z', status: 'realized' },
      'ffffffff-not-mapped': { lastQualificationTime: '2023-09-05T10:43:55.6Z', status: 'realized' },
      [A2]: { lastQualificationTime: '2023-09-05T10:43:55.602689Z', status: 'realized' },
    },
  },
};

describe('golden payload: the connector page example', () => {
  it("produces the page's JSON exactly, byte for byte in its key order", async () => {
    const { bodies, counts } = await runOperators(configFor('external_id'), [JSON.stringify(daveProfile)]);
    expect(counts).to.include({ received: 1, delivered: 1 });
    expect(bodies).to.have.length(1);
    expect(JSON.parse(bodies[0]!)).to.deep.equal(pagePayload);
    expect(bodies[0]).to.equal(JSON.stringify(pagePayload));
  });

  it('refuses the placeholder id when it is mapped as an email, and sends a real address', async () => {
    const refused = await runOperators(configFor('email'), [JSON.stringify(daveProfile)]);
    expect(refused.bodies).to.deep.equal([]);
    expect(refused.counts.excluded).to.deep.equal({ 'missing-identity': 1 });

    const withAddress = { ...daveProfile, identityMap: { Email: [{ id: 'dave@example.com' }] } };
    const sent = await runOperators(configFor('email'), [JSON.stringify(withAddress)]);
    const expected = { ...(pagePayload as object), identityMap: { Email: [{ id: 'dave@example.com' }] } };
    expect(sent.bodies).to.deep.equal([JSON.stringify(expected)]);
  });
});
