import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { Redis } from './connection.js';
import { sharedKey } from './shared-key.js';

/** Where the hashing key comes from: the config (`privacy.identityHashKey`), or made once and shared through Redis. */
export type IdentityHashKeySource = { readonly secret: string } | { readonly redis: Redis; readonly redisKey: string };

/**
 * Turns an identity key (`email:ann@example.com`) into the name Redis keys and stream fields use for
 * that person: HMAC-SHA256 under a key of this deployment, base64url. The same person always gets the
 * same name (dedupe, order, the delivery log and `forget` find them), but the name alone does not tell
 * who it is, and without the key no list of emails can be hashed to find out.
 */
export class IdentityHasher {
  readonly #source: IdentityHashKeySource;
  // A KeyObject, made once: given bytes, every HMAC would import the key again (about 15 % of its cost).
  #key: Promise<KeyObject> | undefined;

  constructor(source: IdentityHashKeySource) {
    this.#source = source;
  }

  async hash(identityKey: string): Promise<string> {
    return createHmac('sha256', await this.#loadKey())
      .update(identityKey, 'utf8')
      .digest('base64url');
  }

  /** The key, read once; a failed read (Redis down) is tried again by the next call. */
  #loadKey(): Promise<KeyObject> {
    const source = this.#source;
    this.#key ??= (
      'secret' in source
        ? Promise.resolve(Buffer.from(source.secret, 'utf8'))
        : sharedKey(source.redis, source.redisKey, 'the identity hashing key')
    ).then((bytes) => createSecretKey(bytes));
    const loading = this.#key;
    loading.catch(() => {
      if (this.#key === loading) this.#key = undefined;
    });
    return loading;
  }
}
