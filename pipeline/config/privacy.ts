import { struct } from '../../operators/model/codecs.js';
import { SecretString } from './secret.js';

/**
 * How identities are kept unreadable in Redis: key names and stream fields name a person by a keyed
 * hash (HMAC-SHA256) of their identity. Without `identityHashKey` (or `identityHashKeyFile`), a key is
 * made once and kept in Redis (`<prefix>:identity-hash-key`), shared by every process.
 */
export const PrivacyConfig = struct('privacy', {}, { identityHashKey: SecretString });
