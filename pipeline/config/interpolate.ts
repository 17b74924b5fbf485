import type { Problem } from '../../operators/model/codecs.js';
import { joinPath } from './errors.js';

/** `${NAME}` or `${NAME:-fallback}`; `$${` writes a literal `${`. */
const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface Interpolated {
  readonly value: unknown;
  readonly problems: readonly Problem[];
}

/** What an unset variable without a fallback reads as (`test` maps offline: `unset-NAME`); none: a problem. */
export type Placeholder = (name: string) => string;

/**
 * Replaces `${ENV_VAR}` references in every string of a parsed config. Done on the parsed value, not on
 * the file's text, so a variable's content can never change the YAML's structure. An unset variable
 * without a fallback is a problem at the path of the string that named it, unless a `placeholder` is given.
 */
export const interpolateEnv = (
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: readonly (string | number)[] = [],
  placeholder?: Placeholder,
): Interpolated => {
  if (typeof value === 'string') {
    const problems: Problem[] = [];
    const replaced = value.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
      if (name === undefined) return '${';
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      if (placeholder) return placeholder(name);
      problems.push({ path, message: `environment variable ${name} is not set` });
      return match;
    });
    return { value: replaced, problems };
  }
  if (Array.isArray(value)) {
    const parts = value.map((item, index) => interpolateEnv(item, env, [...path, index], placeholder));
    return { value: parts.map((p) => p.value), problems: parts.flatMap((p) => p.problems) };
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(
      ([key, item]) => [key, interpolateEnv(item, env, [...path, key], placeholder)] as const,
    );
    return {
      value: Object.fromEntries(entries.map(([key, part]) => [key, part.value])),
      problems: entries.flatMap(([, part]) => part.problems),
    };
  }
  return { value, problems: [] };
};

/** `flows[0].destination.apiToken` -> `${QUALTRICS_API_TOKEN}`: the strings of a parsed config that name variables. */
export const references = (value: unknown, path: readonly (string | number)[] = []): Map<string, string> => {
  if (typeof value === 'string')
    return REFERENCE_NAMES.test(value) ? new Map([[joinPath(path), value]]) : new Map<string, string>();
  if (typeof value !== 'object' || value === null) return new Map<string, string>();
  return new Map(
    Object.entries(value).flatMap(([key, item]) => [
      ...references(item, [...path, Array.isArray(value) ? Number(key) : key]),
    ]),
  );
};
const REFERENCE_NAMES = /\$\{[A-Za-z_]/;
