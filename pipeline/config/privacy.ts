import { refine, struct } from '../../operators/model/codecs.js';
import { SecretString } from './secret.js';

/** Bytes a configured identity hashing key must have at least: 256 bits, as HMAC-SHA256 wants (RFC 2104 §3). */
export const MIN_IDENTITY_HASH_KEY_BYTES = 32;

/**
 * How identities are kept out of Redis key names, stream fields and history rows: a person is named by
 * a keyed hash (HMAC-SHA256) of their identity. `identityHashKey` (or `identityHashKeyFile`) must be at
 * least 32 bytes. Without it, a key is generated once and stored in the same Redis as the hashed names
 * (`<prefix>:identity-hash-key`), or without Redis in the state directory beside them: that keeps
 * identities out of key names seen in logs, `MONITOR`, `SCAN` output or a dump read on its own, but
 * anyone who can read that Redis (or directory) can read the key too and hash a list of emails to find
 * a person. Configure a key kept elsewhere (a Kubernetes Secret) for more.
 */
export const PrivacyConfig = struct(
  'privacy',
  {},
  {
    identityHashKey: refine(SecretString, (key) =>
      Buffer.byteLength(key.reveal(), 'utf8') >= MIN_IDENTITY_HASH_KEY_BYTES
        ? []
        : [
            {
              path: [],
              message: `expected at least ${MIN_IDENTITY_HASH_KEY_BYTES} bytes (a random key, like \`openssl rand -base64 32\`), got ${Buffer.byteLength(key.reveal(), 'utf8')}`,
            },
          ],
    ),
  },
);
