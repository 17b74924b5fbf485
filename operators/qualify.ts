import * as t from 'io-ts';
import type { OperatorFunction } from 'rxjs';
import { distinctBy, NonEmptyString, nonEmptyArray, refine, struct, withDefault } from './model/codecs.js';
import { copyWith } from './model/copy-with.js';
import { defineOperator } from './model/define.js';
import { perEnvelope } from './model/per-envelope.js';
import type { Envelope } from './model/envelope.js';
import type { JsonObject } from './model/json.js';
import { excluded, type Outcome, Reasons } from './model/outcome.js';
import type { Profile } from './model/profile.js';

/** Audience membership statuses Adobe sends: entered, left, and (older feeds) still in. */
export const Status = t.keyof({ realized: null, exited: null, existing: null }, 'realized | exited | existing');
export type Status = t.TypeOf<typeof Status>;

export const DEFAULT_STATUSES: Status[] = ['realized', 'exited'];

/** A mapped audience: its id in `segmentMembership.ups`, and a name for people. */
export const Audience = struct('Audience', { id: NonEmptyString }, { name: t.string });
export type Audience = t.TypeOf<typeof Audience>;

export const Audiences = refine(
  nonEmptyArray(Audience, 'non-empty list of {id, name?}'),
  distinctBy((a) => a.id, 'audience'),
);

export const QualifyOptions = struct('QualifyOptions', {
  /** The mapped audiences, in the order their memberships appear in the payload. */
  audiences: Audiences,
  /** Which statuses qualify a membership to be sent. Default: realized and exited. */
  statuses: withDefault(nonEmptyArray(Status), DEFAULT_STATUSES),
});
export type QualifyOptions = t.TypeOf<typeof QualifyOptions>;

/**
 * Keeps a profile only if at least one mapped audience has a listed status, and puts exactly those
 * memberships in `payload.segmentMembership.ups` (`{lastQualificationTime, status}` each). Unmapped
 * audiences are never sent. A profile with none left is excluded as `not-qualified`.
 *
 * @example
 * profiles$.pipe(qualify({ audiences: [{ id: 'a1' }], statuses: ['realized', 'exited'] }))
 */
export const qualify = (options: QualifyOptions): OperatorFunction<Envelope, Envelope> => {
  const statuses = new Set<string>(options.statuses);
  const notQualified = notQualifiedOutcome(options);
  return perEnvelope('qualify', (envelope) => {
    const ups = envelope.profile?.segmentMembership?.ups ?? {};
    const qualified: Record<string, JsonObject> = {};
    for (const { id } of options.audiences) {
      const membership = Object.hasOwn(ups, id) ? ups[id] : undefined;
      if (!membership || !statuses.has(membership.status)) continue;
      qualified[id] =
        membership.lastQualificationTime === undefined
          ? { status: membership.status }
          : { lastQualificationTime: membership.lastQualificationTime, status: membership.status };
    }
    if (Object.keys(qualified).length === 0) return notQualified(ups);
    return copyWith(envelope, { payload: copyWith(envelope.payload, { segmentMembership: { ups: qualified } }) });
  });
};

type Memberships = NonNullable<NonNullable<Profile['segmentMembership']>['ups']>;

/** Distinct not-qualified outcomes kept for reuse; statuses come from the feed, so the cache is bounded. */
const MAX_KEPT_OUTCOMES = 64;

/**
 * The outcome of a profile in none of the mapped audiences with a listed status, saying why. Most of a
 * feed is not qualified, in a few ways (absent from every mapped audience, `existing` in one): the same
 * outcome is made once per way (the statuses of the mapped audiences) and reused, instead of a detail
 * string built for every update. Outcomes are never changed once made.
 */
const notQualifiedOutcome = (options: QualifyOptions): ((ups: Memberships) => Outcome) => {
  const wanted = options.statuses.join(' or ');
  const kept = new Map<string, Outcome>();
  const make = (ups: Memberships): Outcome => {
    const present = options.audiences.flatMap(({ id }) =>
      Object.hasOwn(ups, id) ? [`${id} is ${ups[id]!.status}`] : [],
    );
    return excluded(
      Reasons.notQualified,
      present.length > 0
        ? `mapped audience ${present.join(', ')}; only ${wanted} is sent`
        : `the profile is in none of the ${options.audiences.length} mapped audience(s)`,
    );
  };
  return (ups) => {
    // What the detail depends on: each mapped audience's status (length-prefixed, so that no two lists
    // of statuses read the same), or `-` for its absence.
    let way = '';
    for (const { id } of options.audiences) {
      const status = Object.hasOwn(ups, id) ? ups[id]!.status : undefined;
      way += status === undefined ? '-' : `${status.length}:${status}`;
    }
    const known = kept.get(way);
    if (known) return known;
    const outcome = make(ups);
    if (kept.size < MAX_KEPT_OUTCOMES) kept.set(way, outcome);
    return outcome;
  };
};

/**
 * What `qualify` would settle a decoded profile as, without an envelope: its `not-qualified` outcome, or
 * undefined for a profile it would pass on. For the pipeline's fast path (see `startPipeline`), which
 * settles most of a feed (profiles in no mapped audience) before any envelope is made for them.
 */
export const exclusionOf = (options: QualifyOptions): ((profile: Profile) => Outcome | undefined) => {
  const statuses = new Set<string>(options.statuses);
  const notQualified = notQualifiedOutcome(options);
  return (profile) => {
    const ups = profile.segmentMembership?.ups ?? {};
    for (const { id } of options.audiences) {
      const membership = Object.hasOwn(ups, id) ? ups[id] : undefined;
      if (membership && statuses.has(membership.status)) return undefined;
    }
    return notQualified(ups);
  };
};

export const qualifyOperator = defineOperator({
  name: 'qualify',
  summary: 'keep profiles in a mapped audience with a listed status',
  options: QualifyOptions,
  create: (options) => qualify(options),
});
