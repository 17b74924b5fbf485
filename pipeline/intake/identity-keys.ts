import { parseJson } from '../../operators/model/json.js';
import { isLeft } from 'fp-ts/lib/Either.js';
import { identityKey } from '../../operators/model/envelope.js';
import { Profile } from '../../operators/model/profile.js';
import { chooseIdentity, type IdentityMapping } from '../../operators/select-identity.js';

/**
 * The identity key of each profile of a raw message, as `selectIdentity` will pick it (null for a
 * profile that is not one, or has no usable id), or undefined for a message that is not JSON. The
 * journal numbers each person's updates by these keys as it appends them.
 */
export const identityKeysOf =
  (identities: readonly IdentityMapping[]) =>
  (data: Buffer): ReadonlyArray<string | null> | undefined => {
    const parsed = parseJson(data.toString('utf8'));
    if (parsed === undefined) return undefined;
    const parts: readonly unknown[] = Array.isArray(parsed) ? parsed : [parsed];
    return parts.map((part) => {
      const profile = Profile.decode(part);
      if (isLeft(profile)) return null;
      const { chosen } = chooseIdentity(profile.right.identityMap ?? {}, identities);
      return chosen ? identityKey(chosen) : null;
    });
  };
