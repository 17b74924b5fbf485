import { overlaps } from '../../operators/model/paths.js';
import { ALWAYS_MARKETING_ACTIONS, CORE_POLICIES, IDENTIFIABLE_MARKETING_ACTIONS, type Policy } from './policies.js';

/** A source path a flow sends, and where the config maps it (for messages). */
export interface MappedField {
  readonly path: string;
  readonly mappedAt: string;
}

/** One field, one label, one marketing action, one policy: why a flow may not send. */
export interface Violation {
  readonly field: string;
  readonly mappedAt: string;
  readonly label: string;
  /** The labelled path the label comes from (the field itself, a parent, or a child the field contains). */
  readonly labelledAt: string;
  readonly action: string;
  readonly policy: string;
}

/** What of a flow the policies look at: the same shapes as its config sections. */
export interface GovernedFlow {
  readonly attributes: ReadonlyArray<{ readonly source: string }>;
  readonly identities: ReadonlyArray<{ readonly source: string; readonly target?: string }>;
  readonly audiences: ReadonlyArray<{ readonly id: string }>;
  readonly governance?: {
    readonly marketingActions: readonly string[];
    readonly labels: Readonly<Record<string, readonly string[]>>;
    readonly policies: readonly Policy[];
  };
}

/** Every source path a flow sends: mapped attributes, identity namespaces and audiences, as labels name them. */
export const mappedFields = (flow: GovernedFlow): MappedField[] => [
  ...flow.attributes.map(({ source }, index) => ({ path: source, mappedAt: `attributes[${index}].source` })),
  ...flow.identities.map(({ source }, index) => ({
    path: `identityMap.${source}`,
    mappedAt: `identities[${index}].source`,
  })),
  ...flow.audiences.map(({ id }, index) => ({ path: `segmentMembership.ups.${id}`, mappedAt: `audiences[${index}]` })),
];

/** The labels a field carries, each with the labelled path it comes from. */
export const labelsOf = (
  field: string,
  labels: Readonly<Record<string, readonly string[]>>,
): Array<{ readonly label: string; readonly labelledAt: string }> =>
  Object.entries(labels).flatMap(([path, list]) =>
    // `person` covers `person.name`; mapping `person` also sends a labelled `person.birthDate`.
    overlaps(field, path) ? list.map((label) => ({ label, labelledAt: path })) : [],
  );

/**
 * The marketing actions a flow performs: those it declares, and always `exportToThirdParty` (Qualtrics
 * is a third party: leaving it out of `marketingActions` cannot switch off C1, C2 or C12); with an
 * identity sent as `email` (directly identifiable), `combineWithPii` too (every field goes beside it).
 */
export const marketingActionsOf = (flow: GovernedFlow): string[] => [
  ...new Set([
    ...(flow.governance?.marketingActions ?? []),
    ...ALWAYS_MARKETING_ACTIONS,
    ...(flow.identities.some(({ target }) => target === 'email') ? IDENTIFIABLE_MARKETING_ACTIONS : []),
  ]),
];

/**
 * Every violation of a flow's mapping: each (field, label, marketing action, policy) where a policy
 * denies a label a mapped field carries for one of the flow's marketing actions. The built-in policies
 * for Adobe's core contract labels always apply; `governance.policies` add to them. A flow without a
 * `governance` section declares no labels and so breaks no policy. Pure: `validate` and `run` share it.
 */
export const violationsOf = (flow: GovernedFlow): Violation[] => {
  const { governance } = flow;
  if (!governance) return [];
  const fields = mappedFields(flow).map((field) => ({ ...field, labels: labelsOf(field.path, governance.labels) }));
  const found: Violation[] = [];
  const performed = marketingActionsOf(flow);
  for (const policy of [...CORE_POLICIES, ...governance.policies]) {
    const actions = policy.forActions.filter((action) => performed.includes(action));
    if (actions.length === 0) continue;
    const { deny } = policy;
    // allOf: the flow as a whole sends every one of the labels; each field carrying one of them is named.
    const denied = deny.label !== undefined ? [deny.label] : (deny.anyOf ?? deny.allOf);
    if (deny.allOf) {
      const carried = new Set(fields.flatMap((field) => field.labels.map(({ label }) => label)));
      if (!deny.allOf.every((label) => carried.has(label))) continue;
    }
    for (const action of actions)
      for (const field of fields)
        for (const { label, labelledAt } of field.labels)
          if (denied.includes(label))
            found.push({
              field: field.path,
              mappedAt: field.mappedAt,
              label,
              labelledAt,
              action,
              policy: policy.name,
            });
  }
  return found;
};

/** One line naming the field, the label, the marketing action and the policy. */
export const describeViolation = (v: Violation): string =>
  `${v.mappedAt} maps ${v.field}, labelled ${v.label}` +
  `${v.labelledAt === v.field ? '' : ` (through governance.labels.${v.labelledAt})`}: ` +
  `policy "${v.policy}" forbids it for marketing action ${v.action}`;
