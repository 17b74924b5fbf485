import * as t from 'io-ts';
import { NonEmptyString, nonEmptyArray, type Problem, refine, struct } from '../../operators/model/codecs.js';
import { isLoopback } from './loopback.js';
import { SecretString } from './secret.js';

/**
 * What a console token may do, as AEP's destination permissions: `view` sees everything read-only,
 * `manage` redrives and discards dead letters and pauses or resumes a flow, `activate` turns a flow on
 * or off at run time.
 */
export const Role = t.keyof({ view: null, manage: null, activate: null }, 'view | manage | activate');
export type Role = t.TypeOf<typeof Role>;

/** A console token is guessed by trying: it must be long enough that trying cannot find it. */
export const MIN_TOKEN_LENGTH = 16;

/** What is wrong with a token of `length` characters (the token itself is never shown). */
export const tooShort = (length: number): string =>
  `the token is ${length} characters long: use at least ${MIN_TOKEN_LENGTH} (for example \`openssl rand -base64 24\`)`;

/**
 * One person's or machine's token: by value (`${VAR}` from the environment) or, as every secret, from a
 * file (`tokenFile`, read when the config is loaded: pipeline/config/secret-files.ts).
 */
export const AccessToken = refine(
  struct('access.tokens[]', {
    /** Who it is: written to the log and the run history with every action. */
    name: NonEmptyString,
    roles: nonEmptyArray(Role, 'non-empty list of roles (view, manage, activate)'),
    token: SecretString,
  }),
  (entry) =>
    entry.token.reveal().length < MIN_TOKEN_LENGTH
      ? [{ path: ['token'], message: tooShort(entry.token.reveal().length) }]
      : [],
);
export type AccessToken = t.TypeOf<typeof AccessToken>;

/** Who may use the console, `/metrics`, `/runs` and the actions. Without it, the server stays on loopback. */
export const AccessConfig = refine(
  struct('access', { tokens: nonEmptyArray(AccessToken, 'non-empty list of tokens') }),
  ({ tokens }) => {
    const problems: Problem[] = [];
    for (const [index, { name }] of tokens.entries())
      if (tokens.findIndex((other) => other.name === name) < index)
        problems.push({ path: ['tokens', index, 'name'], message: `${JSON.stringify(name)} is listed twice` });
    return problems;
  },
);
export type AccessConfig = t.TypeOf<typeof AccessConfig>;

/**
 * The console can act on flows: without `access`, only this machine may reach it. Binding elsewhere
 * without `access` is a config error, not a warning.
 */
export const observabilityProblems = (config: {
  readonly observability: { readonly host: string };
  readonly access?: AccessConfig | undefined;
}): Problem[] =>
  config.access === undefined && !isLoopback(config.observability.host)
    ? [
        {
          path: ['observability', 'host'],
          message: `${JSON.stringify(config.observability.host)} is not a loopback address: set access (tokens with roles) to serve the console and /metrics beyond this machine`,
        },
      ]
    : [];
