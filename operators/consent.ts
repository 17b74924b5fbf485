import * as t from 'io-ts';
import type { OperatorFunction } from 'rxjs';
import { nonEmptyArray, struct, withDefault } from './model/codecs.js';
import { copyWith } from './model/copy-with.js';
import { defineOperator } from './model/define.js';
import type { Envelope } from './model/envelope.js';
import type { JsonObject } from './model/json.js';
import { excluded, Reasons } from './model/outcome.js';
import { getPath } from './model/paths.js';
import { perEnvelope } from './model/per-envelope.js';
import { DottedPath } from './project-attributes.js';

/** A consent value as XDM carries it: `y` / `n` (`consents.marketing.email.val`), or a flag. */
const ConsentValue = t.union([t.string, t.boolean, t.number], 'a string, boolean or number');

export const ConsentOptions = struct('ConsentOptions', {
  /** Where the profile holds the consent, like `consents.marketing.email.val`. */
  path: DottedPath,
  /** The values that mean consent (like `y`); anything else, or none, means no consent. */
  allow: nonEmptyArray(ConsentValue, 'non-empty list of values that mean consent'),
  /**
   * `exit` (as Adobe does): a person delivered for an audience who withdraws consent is sent once more,
   * with that audience `exited`, then nothing until consent returns. `ignore`: simply excluded.
   */
  onWithdraw: withDefault(t.keyof({ exit: null, ignore: null }, 'exit | ignore'), 'exit'),
});
export type ConsentOptions = t.TypeOf<typeof ConsentOptions>;

/** Why a withdrawal is not sent: the person was never told they are in one of its audiences. */
export const NOT_IN_AUDIENCES = 'no consent, and in none of these audiences as delivered';

const exitedAll = (payload: JsonObject): JsonObject => {
  const membership = payload.segmentMembership as { ups?: Record<string, JsonObject> } | undefined;
  const ups = Object.fromEntries(
    Object.entries(membership?.ups ?? {}).map(([id, entry]) => [id, { ...entry, status: 'exited' }]),
  );
  return { ...payload, segmentMembership: { ups } };
};

/**
 * Lets a profile with consent through unchanged. One without (the value at `path` not in `allow`) is
 * excluded as `no-consent`; with `onWithdraw: exit` it goes on instead as a withdrawal, its mapped
 * audiences `exited`, and `emit` sends it only to a person the delivery log says is in one of them
 * (once: after it the person is in none), excluding it as `no-consent` otherwise. The decision is
 * taken in `emit`'s per-person lane, so an earlier update of the same person still in flight is
 * counted, in this process or (with a journal) any other.
 *
 * @example
 * profiles$.pipe(qualify(...), consent({ path: 'consents.marketing.email.val', allow: ['y'], onWithdraw: 'exit' }))
 */
export const consent = (options: ConsentOptions): OperatorFunction<Envelope, Envelope> => {
  const allowed = new Set<unknown>(options.allow);
  const expected = options.allow.map((value) => JSON.stringify(value)).join(' or ');
  return perEnvelope('consent', (envelope) => {
    const value = getPath(envelope.profile, options.path);
    if (allowed.has(value)) return copyWith(envelope, { consent: 'given' });
    if (options.onWithdraw === 'ignore')
      return excluded(
        Reasons.noConsent,
        `${options.path} is ${value === undefined ? 'missing' : JSON.stringify(value)}; consent is ${expected}`,
      );
    return copyWith(envelope, { payload: exitedAll(envelope.payload), consent: 'withdrawn' });
  });
};

export const consentOperator = defineOperator({
  name: 'consent',
  summary: 'exclude profiles without consent; send one exited to a person who withdraws it',
  options: ConsentOptions,
  create: (options) => consent(options),
});
