import { consentOperator } from './consent.js';
import { decodeOperator } from './decode.js';
import { dedupeOperator } from './dedupe.js';
import { emitOperator } from './emit.js';
import { keepOrderOperator } from './keep-order.js';
import { projectAttributesOperator } from './project-attributes.js';
import { qualifyOperator } from './qualify.js';
import { selectIdentityOperator } from './select-identity.js';

/** The built-in operators, in the order every pipeline runs them (DESIGN.md's flow); `consent` only when configured. */
export const BUILT_INS = [
  decodeOperator,
  qualifyOperator,
  consentOperator,
  selectIdentityOperator,
  projectAttributesOperator,
  keepOrderOperator,
  dedupeOperator,
  emitOperator,
] as const;

export type BuiltIn = (typeof BUILT_INS)[number];
export type BuiltInName = BuiltIn['name'];

/**
 * The built-ins a plug-in may follow. Not `keepOrder`, `dedupe` or `emit`: `dedupe` takes the
 * payload's fingerprint, which must be of exactly what `emit` sends, so nothing that could change the
 * payload may come between them (and `keepOrder` only holds an update back until its person's turn).
 * Refusing the place is simpler and cheaper than fingerprinting again at `emit`.
 */
export const PLUGIN_PLACES = [
  'decode',
  'qualify',
  'selectIdentity',
  'projectAttributes',
] as const satisfies readonly BuiltInName[];
export type PluginPlace = (typeof PLUGIN_PLACES)[number];
