import * as t from 'io-ts';
import { NonEmptyString, struct } from './codecs.js';

/**
 * A profile update as Adobe Experience Platform sends it: `identityMap`, `segmentMembership.ups` and any
 * XDM attributes (open: unknown keys are kept, because every attribute may be mapped). Only the parts
 * the pipeline reads are checked; statuses are checked by `qualify`, so an odd status on an audience
 * nobody mapped does not cost the profile.
 */
export const IdentityEntry = struct(
  'IdentityEntry',
  { id: NonEmptyString },
  { primary: t.boolean, authenticatedState: t.string },
  { open: true },
);
export type IdentityEntry = t.TypeOf<typeof IdentityEntry>;

export const Membership = struct(
  'Membership',
  { status: t.string },
  { lastQualificationTime: t.string },
  { open: true },
);
export type Membership = t.TypeOf<typeof Membership>;

export const Profile = struct(
  'Profile',
  {},
  {
    identityMap: t.record(t.string, t.array(IdentityEntry), 'identityMap (namespace -> list of {id})'),
    segmentMembership: struct(
      'segmentMembership',
      {},
      { ups: t.record(t.string, Membership, 'segmentMembership.ups (audience id -> {status})') },
      { open: true },
    ),
  },
  { open: true },
);
export type Profile = t.TypeOf<typeof Profile>;
