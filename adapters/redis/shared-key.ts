import { randomBytes } from 'node:crypto';
import type { Redis } from './connection.js';

/** Bytes of a generated key: 256 bits, as HMAC-SHA256 wants (RFC 2104 §3, RFC 7518 §3.2). */
export const SHARED_KEY_BYTES = 32;

const STORED_KEY = /^[A-Za-z0-9_-]{43}$/;

/** A key that is stored but unusable: waiting will not mend it (unlike a Redis that does not answer). */
export class BadSharedKey extends Error {}

/**
 * A random key shared by every process through Redis: SET NX, so the first process to get here makes
 * it and every later one adopts it. No expiry: a new key would break what the old one made (tokens
 * signed, identities hashed), and the key is only as secret as the Redis that holds it. The error names
 * `what` and the Redis key, never the value.
 */
export const sharedKey = async (redis: Redis, redisKey: string, what: string): Promise<Uint8Array> => {
  await redis.set(redisKey, randomBytes(SHARED_KEY_BYTES).toString('base64url'), 'NX');
  const reply = await redis.get(redisKey);
  if (typeof reply !== 'string' || !STORED_KEY.test(reply))
    throw new BadSharedKey(
      `${what} at Redis key ${redisKey} is missing or is not ${SHARED_KEY_BYTES} bytes of base64url`,
    );
  return Buffer.from(reply, 'base64url');
};
