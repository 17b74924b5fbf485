/**
 * The public API, `import ... from 'qualtrics-automations'`: what a plug-in author needs, and nothing
 * of the pipeline's internals (the ledger, tickets, fingerprints, the built-in operators). The list is
 * checked by spec/package/exports.spec.ts; a change to it is a change to the package's contract.
 */
export { defineOperator, type OperatorDefinition, type OperatorContext } from './model/define.js';
export { perEnvelope, perEnvelopeAsync, type StepResult, type AsyncStepOptions } from './model/per-envelope.js';
export { settle, type Envelope, type IdentityRef, type Origin } from './model/envelope.js';
export {
  delivered,
  duplicate,
  excluded,
  failed,
  Reasons,
  type Outcome,
  type Delivered,
  type Duplicate,
  type Excluded,
  type Failed,
} from './model/outcome.js';
export type { Profile } from './model/profile.js';
export type { Json, JsonObject } from './model/json.js';
export {
  struct,
  refine,
  withDefault,
  withDefaults,
  withMessage,
  nonEmptyArray,
  integerIn,
  distinctBy,
  NonEmptyString,
  decodeOrThrow,
  DecodeError,
  type Problem,
} from './model/codecs.js';
export { getPath, setPath } from './model/paths.js';
export { copyWith } from './model/copy-with.js';
