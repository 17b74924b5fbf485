import * as t from 'io-ts';
import type { OperatorFunction } from 'rxjs';
import { distinctBy, NonEmptyString, nonEmptyArray, refine, struct } from './model/codecs.js';
import { copyWith } from './model/copy-with.js';
import { defineOperator } from './model/define.js';
import { perEnvelope } from './model/per-envelope.js';
import type { Envelope } from './model/envelope.js';
import type { Json } from './model/json.js';
import type { IdentityRef } from './model/envelope.js';
import { excluded, Reasons } from './model/outcome.js';
import type { IdentityEntry } from './model/profile.js';

/** Qualtrics' two identity fields: a plain-text email address, or any custom id. */
export const IdentityTarget = t.keyof({ email: null, external_id: null }, 'email | external_id');
export type IdentityTarget = t.TypeOf<typeof IdentityTarget>;

/** An identity namespace of the profile (`Email`, `ECID`, `CRMID`...) mapped to a Qualtrics identity. */
export const IdentityMapping = struct('IdentityMapping', { source: NonEmptyString, target: IdentityTarget });
export type IdentityMapping = t.TypeOf<typeof IdentityMapping>;

export const IdentityMappings = refine(
  nonEmptyArray(IdentityMapping, 'non-empty list of {source, target}; at least one identity mapping is mandatory'),
  distinctBy((m) => m.source, 'identity namespace'),
);

export const SelectIdentityOptions = struct('SelectIdentityOptions', {
  /** In order of preference: the first mapping with a usable id names the identity that orders and dedupes. */
  identities: IdentityMappings,
});
export type SelectIdentityOptions = t.TypeOf<typeof SelectIdentityOptions>;

// Deliberately plain: one @, no white space, a dot in the domain. Qualtrics validates further.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
const SHA256_HEX = /^[0-9a-f]{64}$/i;
const MAX_EMAIL_LENGTH = 254;

/** Why an id cannot be sent as the given target, or `undefined` when it can. */
export const rejectionOf = (id: string, target: IdentityTarget): string | undefined => {
  if (target === 'external_id') return undefined;
  if (SHA256_HEX.test(id)) return 'is a SHA-256 hash; Qualtrics accepts plain-text email addresses only';
  if (id.length > MAX_EMAIL_LENGTH) return `is longer than ${MAX_EMAIL_LENGTH} characters`;
  if (!EMAIL.test(id)) return 'is not a plain-text email address';
  return undefined;
};

/** What a profile's `identityMap` offers under a mapping: the ids to send, the identity chosen, what was refused. */
export interface IdentityChoice {
  /** Every usable id of each mapped namespace, under the namespace's own name. */
  readonly sent: Readonly<Record<string, Json>>;
  /** The identity that orders and dedupes the update; absent when no mapped namespace has a usable id. */
  readonly chosen?: IdentityRef;
  /** Why ids were left out (`identityMap.Email[0] is a SHA-256 hash...`), without the ids themselves. */
  readonly rejected: readonly string[];
}

/**
 * The identity choice itself, for `selectIdentity` and for whoever must know the identity before the
 * pipeline runs (the journal numbers each person's updates as it appends them).
 */
export const chooseIdentity = (
  identityMap: Readonly<Record<string, readonly IdentityEntry[]>>,
  identities: readonly IdentityMapping[],
): IdentityChoice => {
  const sent: Record<string, Json> = {};
  const rejected: string[] = [];
  let chosen: IdentityRef | undefined;
  for (const { source, target } of identities) {
    const entries: readonly IdentityEntry[] = Object.hasOwn(identityMap, source) ? (identityMap[source] ?? []) : [];
    // Plain loops, one object per id sent: this runs for every update.
    const usable: Array<{ readonly id: string }> = [];
    let preferred: string | undefined;
    for (let index = 0; index < entries.length; index += 1) {
      const entry = entries[index]!;
      const id = entry.id.trim();
      const why = rejectionOf(id, target);
      // The id itself stays out of the reason: reasons end up in logs and history.
      if (why) rejected.push(`identityMap.${source}[${index}] ${why}`);
      else {
        usable.push({ id });
        if (entry.primary === true) preferred ??= id;
      }
    }
    if (usable.length === 0) continue;
    sent[source] = usable;
    chosen ??= { namespace: source, target, id: preferred ?? usable[0]!.id };
  }
  return chosen ? { sent, chosen, rejected } : { sent, rejected };
};

/**
 * Puts every usable id of each mapped namespace in `payload.identityMap` under the namespace's own name
 * (`{"Email": [{"id": "ann@example.com"}]}`) and picks the identity that orders and dedupes the update:
 * the primary id of the first mapping that has one, else its first usable id. Ids mapped to `email` must be
 * plain-text addresses; hashed or malformed ones are left out. No usable id at all: `missing-identity`.
 *
 * @example
 * profiles$.pipe(
 *   selectIdentity({ identities: [{ source: 'Email', target: 'email' }, { source: 'ECID', target: 'external_id' }] }),
 * )
 */
export const selectIdentity = (options: SelectIdentityOptions): OperatorFunction<Envelope, Envelope> =>
  perEnvelope('selectIdentity', (envelope) => {
    const { sent, chosen, rejected } = chooseIdentity(envelope.profile?.identityMap ?? {}, options.identities);
    if (!chosen) {
      const mapped = options.identities.map((m) => m.source).join(', ');
      const detail = rejected.length > 0 ? rejected.join('; ') : `the profile has no id in ${mapped}`;
      return excluded(Reasons.missingIdentity, detail);
    }
    return copyWith(envelope, { identity: chosen, payload: copyWith(envelope.payload, { identityMap: sent }) });
  });

export const selectIdentityOperator = defineOperator({
  name: 'selectIdentity',
  summary: 'keep the mapped identities (plain-text emails only) and pick the one that orders and dedupes',
  options: SelectIdentityOptions,
  create: (options) => selectIdentity(options),
});
