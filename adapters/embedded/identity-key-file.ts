import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHARED_KEY_BYTES } from '../redis/shared-key.js';

/**
 * The identity hashing key of a process without Redis: made once in the state directory
 * (`identity-hash-key`, mode 0600, created exclusively, so two processes starting at once agree on
 * the first one written), then read by every later start and by `forget`.
 */
export const identityKeyFile = (dir: string): string => {
  const file = join(dir, 'identity-hash-key');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, randomBytes(SHARED_KEY_BYTES).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return readFileSync(file, 'utf8');
};
