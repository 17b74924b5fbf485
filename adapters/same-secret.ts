import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether `given` is `expected`, in constant time. Both are hashed first: equal lengths for
 * timingSafeEqual, and nothing learnt from the secret's length.
 */
export const sameSecret = (given: string, expected: string): boolean =>
  timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());

/** The token of an `Authorization: Bearer <token>` header, if that is what it holds. */
export const bearerTokenOf = (authorization: string | undefined): string | undefined =>
  /^Bearer +(\S+)$/i.exec(authorization ?? '')?.[1];
