import { parse as parseYaml } from 'yaml';
import type { Problem } from '../../operators/model/codecs.js';
import { closest } from '../../operators/model/did-you-mean.js';
import type { JsonSchema } from './json-schema.js';

/**
 * Configuration from the environment, for containers: the whole config in `QA_CONFIG` (YAML or JSON),
 * and any key in `QA_<PATH>`, the key's path in upper snake case (`destination.url` is
 * `QA_DESTINATION_URL`, `destination.rateLimit.requests` is `QA_DESTINATION_RATE_LIMIT_REQUESTS`). The
 * names are derived from the config's JSON Schema, itself generated from the codec, so a key added to the
 * codec has its variable without a list to keep. A list or a map is given whole, as YAML or JSON.
 */
export const ENV_PREFIX = 'QA_';
export const WHOLE_CONFIG_VARIABLE = 'QA_CONFIG';

/** `rateLimit` -> `RATE_LIMIT`, `oauth2` -> `OAUTH2`. */
const upperSnake = (key: string): string => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** The variable that sets the key at `path`. */
export const envNameOf = (path: readonly string[]): string => `${ENV_PREFIX}${path.map(upperSnake).join('_')}`;

/** A key an environment variable can set: where it goes, and how its text becomes a value. */
export interface EnvKey {
  readonly path: readonly string[];
  readonly types: ReadonlySet<string>;
}

/** Every branch of a schema node (`anyOf` members, or itself). */
const branchesOf = (schema: JsonSchema): JsonSchema[] =>
  Array.isArray(schema.anyOf) ? (schema.anyOf as JsonSchema[]).flatMap(branchesOf) : [schema];

/** The keys the schema allows, each with its variable name; a section can also be set whole. */
export const envKeysOf = (schema: JsonSchema): Map<string, EnvKey> => {
  const keys = new Map<string, EnvKey>();
  const visit = (node: JsonSchema, path: readonly string[]): void => {
    for (const branch of branchesOf(node)) {
      if (path.length > 0) {
        const name = envNameOf(path);
        const types = new Set(keys.get(name)?.types);
        types.add(typeof branch.type === 'string' ? branch.type : 'any');
        keys.set(name, { path, types });
      }
      const properties = branch.properties as Record<string, JsonSchema> | undefined;
      for (const [key, child] of Object.entries(properties ?? {})) visit(child, [...path, key]);
    }
  };
  visit(schema, []);
  return keys;
};

/** A variable's text as the value its key takes: numbers and booleans by the schema, lists and maps as YAML. */
const parsedValue = (text: string, types: ReadonlySet<string>): { value: unknown } | { problem: string } => {
  if ([...types].every((type) => type === 'integer' || type === 'number')) {
    const value = Number(text);
    return text.trim() !== '' && Number.isFinite(value) ? { value } : { problem: `expected a number, got "${text}"` };
  }
  if (types.size === 1 && types.has('boolean'))
    return text === 'true' || text === 'false'
      ? { value: text === 'true' }
      : { problem: `expected true or false, got "${text}"` };
  if (types.size === 1 && types.has('string')) return { value: text };
  try {
    return { value: parseYaml(text) as unknown };
  } catch (error) {
    return { problem: `not valid YAML or JSON: ${(error as Error).message.split('\n')[0]}` };
  }
};

const setAt = (target: Record<string, unknown>, path: readonly string[], value: unknown): void => {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    node[key] = typeof next === 'object' && next !== null && !Array.isArray(next) ? { ...next } : {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
};

export interface EnvOverrides {
  /** `base` with every `QA_<PATH>` variable set at its path. */
  readonly value: unknown;
  /** The path (`destination.url`) each variable set, with the variable's name. */
  readonly origins: ReadonlyMap<string, string>;
  readonly problems: readonly Problem[];
}

/**
 * Applies the `QA_<PATH>` variables of `env` over `base` (a parsed config, or nothing). A section set
 * whole is applied before the keys inside it, so `QA_DESTINATION_URL` wins over `QA_DESTINATION`'s url.
 * A `QA_` variable that names no key is a problem, with the nearest name when there is one.
 */
export const applyEnvOverrides = (base: unknown, env: NodeJS.ProcessEnv, schema: JsonSchema): EnvOverrides => {
  const keys = envKeysOf(schema);
  const value: Record<string, unknown> =
    typeof base === 'object' && base !== null && !Array.isArray(base) ? { ...base } : {};
  const origins = new Map<string, string>();
  const problems: Problem[] = [];
  const given = Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && name !== WHOLE_CONFIG_VARIABLE && env[name] !== undefined)
    .sort((a, b) => (keys.get(a)?.path.length ?? 0) - (keys.get(b)?.path.length ?? 0));
  for (const name of given) {
    const key = keys.get(name);
    if (key === undefined) {
      const near = closest(name, [...keys.keys(), WHOLE_CONFIG_VARIABLE]);
      problems.push({
        path: [],
        message: `environment variable ${name} names no config key${near ? ` (did you mean ${near}?)` : ''}`,
      });
      continue;
    }
    const parsed = parsedValue(env[name]!, key.types);
    if ('problem' in parsed) {
      problems.push({ path: key.path, message: `from ${name}: ${parsed.problem}` });
      continue;
    }
    setAt(value, key.path, parsed.value);
    origins.set(key.path.join('.'), name);
  }
  return { value, origins, problems };
};
