import * as t from 'io-ts';
import { matching, NonEmptyString, nonEmptyArray, oneOf, struct, withDefault } from '../../operators/model/codecs.js';

/**
 * A flow's data-governance section: which data-usage labels its source fields carry, which marketing
 * actions its destination performs, and any policies of the customer's own on top of the built-in ones.
 */

export interface LabelBrand {
  readonly Label: unique symbol;
}
export interface MarketingActionBrand {
  readonly MarketingAction: unique symbol;
}

/**
 * A data-usage label, as Adobe writes them: C1..C12 (contract), I1, S1... (identity, sensitive), or a
 * custom one. Adobe's labels are upper-case: `c2` would match no policy, so a lower-case letter followed
 * only by digits is refused rather than silently let through.
 */
export const Label = matching<'Label', LabelBrand>(
  'Label',
  /^(?![a-z]\d+$)[A-Za-z][\w-]*$/,
  'a data-usage label like C2 (upper-case, as Adobe writes them)',
);
export type Label = t.TypeOf<typeof Label>;

/** A marketing action, as Adobe names them (`exportToThirdParty`, `emailTargeting`, `dataScience`...). */
export const MarketingAction = matching<'MarketingAction', MarketingActionBrand>(
  'MarketingAction',
  /^[a-z][A-Za-z0-9]*$/,
  'a camelCase marketing action like exportToThirdParty',
);
export type MarketingAction = t.TypeOf<typeof MarketingAction>;

/** What this destination does with the data: Qualtrics is a third party, and the workflows email people. */
export const DEFAULT_MARKETING_ACTIONS = ['exportToThirdParty', 'emailTargeting'] as MarketingAction[];

/** Which labels a policy forbids: one label, any of several (on one field), or all of several (across the flow). */
export const PolicyDeny = oneOf('governance.policies[].deny', {
  label: Label,
  anyOf: nonEmptyArray(Label, 'non-empty list of labels'),
  allOf: nonEmptyArray(Label, 'non-empty list of labels'),
});
export type PolicyDeny = t.TypeOf<typeof PolicyDeny>;

/** A policy of the customer's own: `deny` is forbidden for each of `forActions`. */
export const CustomPolicy = struct('governance.policies[]', {
  name: NonEmptyString,
  deny: PolicyDeny,
  forActions: nonEmptyArray(MarketingAction, 'non-empty list of marketing actions'),
});
export type CustomPolicy = t.TypeOf<typeof CustomPolicy>;

export const GovernanceConfig = struct('governance', {
  /**
   * What the destination does with the data. Default: `exportToThirdParty` and `emailTargeting`.
   * `exportToThirdParty` applies whatever is listed (Qualtrics is a third party), and `combineWithPii`
   * whenever an identity is sent as `email`.
   */
  marketingActions: withDefault(t.array(MarketingAction), DEFAULT_MARKETING_ACTIONS),
  /**
   * Labels by source path: a path covers everything under it (`person` labels `person.name.firstName`);
   * identity namespaces are `identityMap.<namespace>`, audiences `segmentMembership.ups.<id>`.
   */
  labels: withDefault(t.record(NonEmptyString, t.array(Label), 'map of source path -> labels'), {}),
  /** Policies in addition to the built-in ones for Adobe's core contract labels. */
  policies: withDefault(t.array(CustomPolicy), []),
});
export type GovernanceConfig = t.TypeOf<typeof GovernanceConfig>;
