import { expect } from 'chai';
import { decodeOrThrow } from '../../../operators/model/codecs.js';
import { GovernanceConfig } from '../../../pipeline/governance/codec.js';
import { describeViolation, violationsOf, type GovernedFlow } from '../../../pipeline/governance/evaluate.js';

const flow = (governance: unknown, attributes: string[] = ['person.birthDate']): GovernedFlow => ({
  attributes: attributes.map((source) => ({ source })),
  identities: [{ source: 'Email' }],
  audiences: [{ id: 'a1' }],
  governance: decodeOrThrow(GovernanceConfig, governance),
});

describe('governance: data-usage policies over a flow’s mapping', () => {
  it('refuses a C2-labelled field for exportToThirdParty (the default action), naming field, label, action, policy', () => {
    const [violation, ...rest] = violationsOf(flow({ labels: { 'person.birthDate': ['C2'] } }));
    expect(rest).to.deep.equal([]);
    expect(violation).to.deep.equal({
      field: 'person.birthDate',
      mappedAt: 'attributes[0].source',
      label: 'C2',
      labelledAt: 'person.birthDate',
      action: 'exportToThirdParty',
      policy: 'C2: no export to a third party',
    });
    expect(describeViolation(violation!)).to.equal(
      'attributes[0].source maps person.birthDate, labelled C2: policy "C2: no export to a third party" ' +
        'forbids it for marketing action exportToThirdParty',
    );
  });

  it('allows a C9-labelled field (no data science is not this destination’s action)', () => {
    expect(violationsOf(flow({ labels: { 'person.birthDate': ['C9'] } }))).to.deep.equal([]);
  });

  it('a flow without a governance section breaks nothing', () => {
    expect(violationsOf({ attributes: [{ source: 'x' }], identities: [], audiences: [] })).to.deep.equal([]);
  });

  it('a label on a parent path covers its children; a mapped parent carries its children’s labels', () => {
    const parent = violationsOf(flow({ labels: { person: ['C12'] } }, ['person.name.firstName']));
    expect(parent.map((v) => [v.field, v.labelledAt, v.action])).to.deep.equal([
      ['person.name.firstName', 'person', 'exportToThirdParty'],
    ]);
    expect(describeViolation(parent[0]!)).to.include('(through governance.labels.person)');
    const child = violationsOf(flow({ labels: { 'person.birthDate': ['C2'] } }, ['person']));
    expect(child.map((v) => v.field)).to.deep.equal(['person']);
    expect(violationsOf(flow({ labels: { personal: ['C2'] } }, ['person.name']))).to.deep.equal([]);
  });

  it('labels identity namespaces as identityMap.<namespace> and audiences as segmentMembership.ups.<id>', () => {
    const found = violationsOf(
      flow({ labels: { 'identityMap.Email': ['C4'], 'segmentMembership.ups.a1': ['C1'] } }, []),
    );
    expect(found.map((v) => [v.mappedAt, v.label, v.action])).to.deep.equal([
      ['audiences[0]', 'C1', 'exportToThirdParty'],
      ['identities[0].source', 'C4', 'emailTargeting'],
    ]);
  });

  it('applies each core label only to the actions it restricts', () => {
    const labels = { 'person.birthDate': ['C5', 'C6', 'C7', 'C8', 'C9'] };
    expect(violationsOf(flow({ labels }))).to.deep.equal([]);
    const actions = ['crossSiteTargeting', 'onsiteAdvertising', 'onsitePersonalization', 'analytics', 'dataScience'];
    const found = violationsOf(flow({ labels, marketingActions: actions }));
    expect(found.map((v) => `${v.label}/${v.action}`)).to.deep.equal([
      'C5/crossSiteTargeting',
      'C6/onsiteAdvertising',
      'C7/onsitePersonalization',
      'C8/analytics',
      'C9/dataScience',
    ]);
    expect(violationsOf(flow({ labels, marketingActions: ['emailTargeting'] }))).to.deep.equal([]);
  });

  it('applies custom policies: a label, any of several, all of several across the flow', () => {
    const policies = [
      { name: 'no health data', deny: { label: 'S2' }, forActions: ['emailTargeting'] },
      { name: 'no location or contract', deny: { anyOf: ['L1', 'L2'] }, forActions: ['exportToThirdParty'] },
      { name: 'not both', deny: { allOf: ['P1', 'P2'] }, forActions: ['emailTargeting'] },
    ];
    const labels = { 'person.birthDate': ['S2', 'L2', 'P1'], 'person.gender': ['P2'] };
    const found = violationsOf(flow({ labels, policies }, ['person.birthDate', 'person.gender']));
    expect(found.map((v) => `${v.policy}: ${v.field} ${v.label} ${v.action}`)).to.deep.equal([
      'no health data: person.birthDate S2 emailTargeting',
      'no location or contract: person.birthDate L2 exportToThirdParty',
      'not both: person.birthDate P1 emailTargeting',
      'not both: person.gender P2 emailTargeting',
    ]);
    // allOf needs every label somewhere in the flow: one alone is allowed.
    expect(violationsOf(flow({ labels, policies }, ['person.gender']))).to.deep.equal([]);
  });

  it('names what is wrong in a governance section', () => {
    expect(() => decodeOrThrow(GovernanceConfig, { policies: [{ name: 'x', deny: {}, forActions: [] }] }))
      .to.throw()
      .with.property('problems')
      .that.deep.equals([
        'policies[0].deny: set exactly one of label, anyOf or allOf',
        'policies[0].forActions: expected at least one entry, got an empty list',
      ]);
  });

  it('refuses a core label written in lower case (c2 would match no policy and pass silently)', () => {
    expect(() => decodeOrThrow(GovernanceConfig, { labels: { 'person.birthDate': ['c2'] } }))
      .to.throw()
      .with.property('problems')
      .that.deep.equals([
        'labels["person.birthDate"][0]: expected a data-usage label like C2 (upper-case, as Adobe writes them), got "c2"',
      ]);
    expect(() =>
      decodeOrThrow(GovernanceConfig, {
        policies: [{ name: 'x', deny: { label: 'c12' }, forActions: ['dataScience'] }],
      }),
    ).to.throw(/upper-case/);
  });

  it('always counts exportToThirdParty: leaving it out of marketingActions does not switch off C1, C2 or C12', () => {
    const labels = { 'person.birthDate': ['C1', 'C2', 'C12'] };
    const found = violationsOf(flow({ labels, marketingActions: ['emailTargeting'] }));
    expect(found.map((v) => `${v.label}/${v.action}`)).to.deep.equal([
      'C1/exportToThirdParty',
      'C2/exportToThirdParty',
      'C12/exportToThirdParty',
    ]);
    expect(violationsOf(flow({ labels, marketingActions: [] })).length).to.equal(3);
  });

  it('C3 (no combining with directly identifiable data) applies when an identity is sent as email', () => {
    const labels = { 'person.birthDate': ['C3'] };
    const withEmail = { ...flow({ labels }), identities: [{ source: 'Email', target: 'email' }] };
    expect(violationsOf(withEmail).map((v) => `${v.label}/${v.action}/${v.policy}`)).to.deep.equal([
      'C3/combineWithPii/C3: no combining with directly identifiable data',
    ]);
    const withEcid = { ...flow({ labels }), identities: [{ source: 'ECID', target: 'external_id' }] };
    expect(violationsOf(withEcid)).to.deep.equal([]);
  });
});
