import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHARED_KEY_BYTES } from '../redis/shared-key.js';

/** A stored key: `SHARED_KEY_BYTES` bytes of base64url, nothing else. */
const STORED_KEY = /^[A-Za-z0-9_-]{43}$/;

/**
 * The identity hashing key of a process without Redis: made once in the state directory
 * (`identity-hash-key`, mode 0600), then read by every later start and by `forget`. It is written whole
 * to a file of its own and then hard-linked into place, which fails if the key exists already: so the
 * key appears at once with its content (a process starting at the same moment never reads it half
 * written or empty), and two processes starting at once agree on the first one linked. What is read
 * is checked: a damaged key is an error naming the file, not a key nobody else has.
 *
 * The key lives beside what it protects: it keeps identities out of names, not from whoever can read
 * this directory (see `privacy.identityHashKey`).
 */
export const identityKeyFile = (dir: string): string => {
  const file = join(dir, 'identity-hash-key');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const draft = join(dir, `.identity-hash-key.${process.pid}.${randomBytes(6).toString('hex')}`);
  try {
    writeFileSync(draft, randomBytes(SHARED_KEY_BYTES).toString('base64url'), { flag: 'wx', mode: 0o600 });
    linkSync(draft, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(draft, { force: true });
  }
  const key = readFileSync(file, 'utf8');
  if (!STORED_KEY.test(key))
    throw new Error(
      `the identity hashing key in ${file} is not ${SHARED_KEY_BYTES} bytes of base64url: ` +
        'restore it from a backup (a new key would no longer find the people already stored)',
    );
  return key;
};
