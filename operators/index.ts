/** The operators' public API: the envelope model, the built-in operators, and what a plug-in needs. */
export { decode, decodeOperator, DecodeOptions } from './decode.js';
export { qualify, qualifyOperator, QualifyOptions, Audience, Audiences, Status, DEFAULT_STATUSES } from './qualify.js';
export {
  selectIdentity,
  selectIdentityOperator,
  SelectIdentityOptions,
  IdentityMapping,
  IdentityMappings,
  IdentityTarget,
  rejectionOf,
} from './select-identity.js';
export { projectAttributes, projectAttributesOperator, ProjectAttributesOptions, AttributeMapping, AttributeMappings, DottedPath } from './project-attributes.js';
export { keepOrder, keepOrderOperator, KeepOrderOptions } from './keep-order.js';
export { dedupe, dedupeOperator, DedupeOptions, dedupeKeyOf } from './dedupe.js';
export { emit, emitOperator, EmitOptions, MAX_PAYLOAD_BYTES, DESTINATION_REJECTED } from './emit.js';
export { fromDeadLetter, fromDeadLetterOperator } from './from-dead-letter.js';

export { defineOperator, perEnvelope, type OperatorDefinition, type OperatorContext, type StepResult } from './model/define.js';
export { settle, identityKey, type Envelope } from './model/envelope.js';
export { Ledger, type LedgerCounts, type Settlement, type Origin, type IdentityRef } from './model/ledger.js';
export { Ticket, TicketError, type SettleHook } from './model/ticket.js';
export * from './model/outcome.js';
export { Profile, IdentityEntry, Membership } from './model/profile.js';
export { serializePayload, fingerprint, RESERVED_KEYS } from './model/payload.js';
export { formatErrors, pathOf } from './model/decode-errors.js';
export { struct, refine, withDefault, withMessage, nonEmptyArray, integerIn, distinctBy, NonEmptyString, describe, decodeOrThrow, DecodeError, type Problem } from './model/codecs.js';
export { getPath, setPath } from './model/paths.js';
export { testOperator, type OperatorTestResult, type OperatorTestInput } from './testing.js';
export type { DedupeStore, LeaseResult, QualtricsSender, SendResult, MaybePromise, TurnBook } from './model/ports.js';
export { DESTINATION_DOWN } from './model/circuit-breaker.js';
export { STORE_UNAVAILABLE } from './model/waits.js';
export type { Turn, Turns } from './model/turns.js';
export type { Json, JsonObject } from './model/json.js';
