import { inspect } from 'node:util';
import * as t from 'io-ts';
import { withMessage, describe } from '../../operators/model/codecs.js';
import { withShape } from '../../operators/model/codec-shape.js';

const REDACTED = '[redacted]';

/**
 * A credential from the config (API token, header values). It prints as `[redacted]` however it is
 * printed (template string, JSON, util.inspect, a logger), so it cannot leak into a log line by accident;
 * `reveal()` is the one way to read it, at the adapter that needs it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/**
 * A non-empty string decoded into a `Secret`. Its shape says `writeOnly`: the JSON Schema marks the key a
 * secret, and from that mark come its `<key>File` alternative and the list of secret keys
 * (secret-files.ts), so every secret is defined here once, by using this codec.
 */
export const SecretString = withMessage(
  withShape(
    new t.Type<Secret, string, unknown>(
      'secret',
      (u): u is Secret => u instanceof Secret,
      (u, c) => (typeof u === 'string' && u.length > 0 ? t.success(new Secret(u)) : t.failure(u, c)),
      (secret) => secret.reveal(),
    ),
    { kind: 'string', minLength: 1, writeOnly: true },
  ),
  'a non-empty string (a secret)',
  // Never echo the value: it may be a credential pasted in the wrong place.
  (u) => (typeof u === 'string' ? 'an empty string' : typeof u === 'object' ? describe(u) : `a ${typeof u}`),
);
