import { messageOf } from './model/errors.js';
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import type { OperatorFunction } from 'rxjs';
import { NonEmptyString, struct } from './model/codecs.js';
import { formatErrors } from './model/decode-errors.js';
import { copyWith } from './model/copy-with.js';
import { defineOperator } from './model/define.js';
import { perEnvelope } from './model/per-envelope.js';
import type { Envelope } from './model/envelope.js';
import { isJsonObject } from './model/json.js';
import type { IdentityRef } from './model/envelope.js';
import { excluded, Reasons } from './model/outcome.js';

/** What a dead letter must hold to be sent again: the exact payload, and whose it was. */
export const RedrivableLetter = struct(
  'dead letter',
  { payload: NonEmptyString },
  { identity: t.string, source: t.string },
  { open: true },
);

/** `email:ann@example.com` (an identity key, as dead letters keep it) back into an identity. */
const identityFromKey = (key: string | undefined): IdentityRef | undefined => {
  const colon = key?.indexOf(':') ?? -1;
  const target = key?.slice(0, colon);
  if (!key || colon <= 0 || (target !== 'email' && target !== 'external_id')) return undefined;
  return { namespace: 'redrive', target, id: key.slice(colon + 1) };
};

export const FromDeadLetterOptions = struct('FromDeadLetterOptions', {});

/**
 * Turns a dead letter back into an envelope ready for `dedupe` and `emit`: the payload exactly as it
 * was (not mapped again) and the identity it was for (`email:ann@example.com`), keeping the letter's
 * original position so the stale-update rule applies. A letter that cannot be read is excluded as
 * `invalid-dead-letter`.
 */
export const fromDeadLetter = (): OperatorFunction<Envelope, Envelope> =>
  perEnvelope('fromDeadLetter', (envelope) => {
    const decoded = RedrivableLetter.decode(envelope.message);
    if (isLeft(decoded)) return excluded(Reasons.invalidDeadLetter, formatErrors(decoded.left).join('; '));
    let payload: unknown;
    try {
      payload = JSON.parse(decoded.right.payload);
    } catch (error) {
      // The letter itself is what cannot be read: excluded as such, not an operator's failure.
      return excluded(Reasons.invalidDeadLetter, `payload: not JSON (${messageOf(error)})`);
    }
    if (!isJsonObject(payload)) return excluded(Reasons.invalidDeadLetter, 'payload: expected a JSON object');
    const identity = identityFromKey(decoded.right.identity);
    // The letter's own source: its position is comparable with that stream's, so the stale rule applies.
    const { source } = decoded.right;
    const origin = source === undefined ? envelope.origin : { ...envelope.origin, source };
    return copyWith(envelope, { origin, message: undefined, payload, ...(identity ? { identity } : {}) });
  });

export const fromDeadLetterOperator = defineOperator({
  name: 'fromDeadLetter',
  summary: 'turn a dead letter back into an envelope with its exact payload and identity',
  options: FromDeadLetterOptions,
  create: () => fromDeadLetter(),
});
