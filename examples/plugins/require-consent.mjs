// A plug-in operator, made the way the built-ins are: an options codec, a factory, a definition.
// Use it from a config:
//   operators:
//     - use: ./plugins/require-consent.mjs
//       after: selectIdentity
//       with: { path: consents.marketing.email.val, allowed: [y] }
import * as t from 'io-ts';
import {
  defineOperator,
  excluded,
  getPath,
  NonEmptyString,
  perEnvelope,
  struct,
  withDefault,
} from 'qualtrics-automations';

/** Its options, as one codec: the config's `with` is decoded by it, and errors name their path. */
export const RequireConsentOptions = struct('RequireConsentOptions', {
  /** Where the consent value is in the profile (XDM consents). */
  path: withDefault(NonEmptyString, 'consents.marketing.email.val'),
  /** The values that mean yes. */
  allowed: withDefault(t.array(t.string), ['y']),
});

/**
 * Excludes, as `no-consent`, every profile whose consent value is not one of `allowed`: Adobe's consent
 * policies act per profile, and a profile without consent is excluded and counted as such.
 */
export const requireConsent = (options) =>
  perEnvelope('requireConsent', (envelope) => {
    const value = getPath(envelope.profile, options.path);
    return options.allowed.includes(value)
      ? envelope
      : excluded(
          'no-consent',
          `${options.path} is ${JSON.stringify(value ?? null)}, not one of ${options.allowed.join(', ')}`,
        );
  });

export default defineOperator({
  name: 'requireConsent',
  summary: 'exclude profiles without consent',
  options: RequireConsentOptions,
  create: (options) => requireConsent(options),
});
