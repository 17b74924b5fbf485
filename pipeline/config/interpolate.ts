import type { Problem } from '../../operators/model/codecs.js';

/** `${NAME}` or `${NAME:-fallback}`; `$${` writes a literal `${`. */
const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface Interpolated {
  readonly value: unknown;
  readonly problems: readonly Problem[];
}

/**
 * Replaces `${ENV_VAR}` references in every string of a parsed config. Done on the parsed value, not on
 * the file's text, so a variable's content can never change the YAML's structure. An unset variable
 * without a fallback is a problem at the path of the string that named it.
 */
export const interpolateEnv = (
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: readonly (string | number)[] = [],
): Interpolated => {
  if (typeof value === 'string') {
    const problems: Problem[] = [];
    const replaced = value.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
      if (name === undefined) return '${';
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push({ path, message: `environment variable ${name} is not set` });
      return match;
    });
    return { value: replaced, problems };
  }
  if (Array.isArray(value)) {
    const parts = value.map((item, index) => interpolateEnv(item, env, [...path, index]));
    return { value: parts.map((p) => p.value), problems: parts.flatMap((p) => p.problems) };
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(
      ([key, item]) => [key, interpolateEnv(item, env, [...path, key])] as const,
    );
    return {
      value: Object.fromEntries(entries.map(([key, part]) => [key, part.value])),
      problems: entries.flatMap(([, part]) => part.problems),
    };
  }
  return { value, problems: [] };
};
