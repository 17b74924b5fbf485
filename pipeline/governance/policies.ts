/**
 * A data-usage policy: the labels it denies (one, any of several on one field, or all of several across
 * the flow's fields) for the marketing actions it names. Custom policies from the config have this shape.
 */
export interface Policy {
  readonly name: string;
  readonly deny:
    | { readonly label: string; readonly anyOf?: undefined; readonly allOf?: undefined }
    | { readonly anyOf: readonly string[]; readonly label?: undefined; readonly allOf?: undefined }
    | { readonly allOf: readonly string[]; readonly label?: undefined; readonly anyOf?: undefined };
  readonly forActions: readonly string[];
}

/**
 * Marketing actions every flow performs whatever `governance.marketingActions` says: this destination
 * always exports each person's data to a third party (Qualtrics).
 */
export const ALWAYS_MARKETING_ACTIONS: readonly string[] = ['exportToThirdParty'];
/** Marketing actions of a flow that sends a directly identifiable identity (an email) beside every field. */
export const IDENTIFIABLE_MARKETING_ACTIONS: readonly string[] = ['combineWithPii'];

/** Marketing actions that target a person with content or ads, on a site or elsewhere (an email included). */
const TARGETING = ['emailTargeting', 'onsitePersonalization', 'onsiteAdvertising', 'crossSiteTargeting'];
/** Marketing actions that take individual data out of the platform. */
const EXPORTS = ['exportToThirdParty', 'exportOffsite'];

const core = (label: string, forbids: string, forActions: readonly string[]): Policy => ({
  name: `${label}: ${forbids}`,
  deny: { label },
  forActions,
});

/**
 * The built-in policies, one per Adobe core contract label (Adobe's "Data usage labels glossary"). This
 * destination sends one person's data at a time, never aggregated, so C1 forbids it as C2 does.
 */
export const CORE_POLICIES: readonly Policy[] = [
  core('C1', 'no export to a third party unless aggregated', ['exportToThirdParty']),
  core('C2', 'no export to a third party', ['exportToThirdParty']),
  core('C3', 'no combining with directly identifiable data', ['combineWithPii']),
  core('C4', 'no on-site or off-site targeting', TARGETING),
  core('C5', 'no interest-based targeting', ['crossSiteTargeting']),
  core('C6', 'no on-site advertising', ['onsiteAdvertising']),
  core('C7', 'no on-site targeting', ['onsitePersonalization']),
  core('C8', 'no measurement', ['analytics']),
  core('C9', 'no data science', ['dataScience']),
  core('C12', 'no export of any kind', EXPORTS),
];
