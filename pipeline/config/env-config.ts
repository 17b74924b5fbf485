import { parse as parseYaml } from 'yaml';
import type { Problem } from '../../operators/model/codecs.js';
import { closest } from '../../operators/model/did-you-mean.js';
import { type ConfigPath, joinPath } from './errors.js';
import { fileKeyOf, isSecretSchema, type JsonSchema } from './json-schema.js';

/**
 * Configuration from the environment, for containers: the whole config in `QA_CONFIG` (YAML or JSON),
 * and any key in `QA_<PATH>`, the key's path in upper snake case (`destination.url` is
 * `QA_DESTINATION_URL`, `destination.rateLimit.requests` is `QA_DESTINATION_RATE_LIMIT_REQUESTS`); an
 * entry of a list by its index (`flows[1].destination.url` is `QA_FLOWS_1_DESTINATION_URL`). The names
 * are derived from the config's JSON Schema, itself generated from the codec, so a key added to the codec
 * has its variable without a list to keep. A list or a map may also be given whole, as YAML or JSON.
 */
export const ENV_PREFIX = 'QA_';
export const WHOLE_CONFIG_VARIABLE = 'QA_CONFIG';

/** `rateLimit` -> `RATE_LIMIT`, `oauth2` -> `OAUTH2`. */
const upperSnake = (key: string): string => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** An index's place in a path of the schema: any entry of the list. */
const ANY_INDEX = '*';

/** The variable that sets the key at `path` (`['flows', 1, 'name']` is `QA_FLOWS_1_NAME`). */
export const envNameOf = (path: ConfigPath): string =>
  `${ENV_PREFIX}${path.map((key) => (typeof key === 'number' ? String(key) : upperSnake(key))).join('_')}`;

/** A key an environment variable can set: where it goes, and how its text becomes a value. */
export interface EnvKey {
  /** Keys, and `*` for an entry of a list. */
  readonly path: readonly string[];
  readonly types: ReadonlySet<string>;
  /** A secret's other key (`apiTokenFile` for `apiToken`, and back): a variable setting one drops the other. */
  readonly sibling?: string;
}

/** Every branch of a schema node (`anyOf` members, or itself). */
const branchesOf = (schema: JsonSchema): JsonSchema[] =>
  Array.isArray(schema.anyOf) ? (schema.anyOf as JsonSchema[]).flatMap(branchesOf) : [schema];

/**
 * The keys the schema allows, each with its variable name (`QA_FLOWS_*_NAME` for any entry of `flows`);
 * a section, a list and a list's entry can also be set whole.
 */
export const envKeysOf = (schema: JsonSchema): Map<string, EnvKey> => {
  const keys = new Map<string, EnvKey>();
  const visit = (node: JsonSchema, path: readonly string[], sibling?: string): void => {
    for (const branch of branchesOf(node)) {
      if (path.length > 0) {
        const name = `${ENV_PREFIX}${path.map(upperSnake).join('_')}`;
        const types = new Set(keys.get(name)?.types);
        types.add(typeof branch.type === 'string' ? branch.type : 'any');
        keys.set(name, { path, types, ...(sibling === undefined ? {} : { sibling }) });
      }
      const properties = branch.properties as Record<string, JsonSchema> | undefined;
      for (const [key, child] of Object.entries(properties ?? {})) {
        const secret = isSecretSchema(child) ? fileKeyOf(key) : undefined;
        const ofFile = Object.entries(properties ?? {}).find(
          ([other, schema]) => isSecretSchema(schema) && fileKeyOf(other) === key,
        )?.[0];
        visit(child, [...path, key], secret ?? ofFile);
      }
      const items = branch.items as JsonSchema | undefined;
      if (path.length > 0 && typeof items === 'object' && !Array.isArray(items)) visit(items, [...path, ANY_INDEX]);
    }
  };
  visit(schema, []);
  return keys;
};

/** A list index in a variable's name: digits between underscores (`_1_`), no leading zero. */
const INDEX = /_(0|[1-9]\d{0,2})(?=_|$)/g;

/** The key a variable names, with its indexes filled in (`QA_FLOWS_1_NAME` -> `flows[1].name`), if any. */
export const envKeyOf = (
  name: string,
  keys: ReadonlyMap<string, EnvKey>,
): (Omit<EnvKey, 'path'> & { readonly path: ConfigPath }) | undefined => {
  const exact = keys.get(name);
  if (exact !== undefined && !exact.path.includes(ANY_INDEX)) return exact;
  const indexes = [...name.matchAll(INDEX)].map((match) => Number(match[1]));
  const key = keys.get(name.replace(INDEX, `_${ANY_INDEX}`));
  if (key === undefined) return undefined;
  let next = 0;
  const path = key.path.map((segment) => (segment === ANY_INDEX ? indexes[next++]! : segment));
  return next === indexes.length ? { ...key, path } : undefined;
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

const isMap = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `target` with `value` at `path` (`undefined`: without it), each section or list on the way copied (or made). */
const setAt = (target: Record<string, unknown>, path: ConfigPath, value: unknown): void => {
  let node = target as Record<string | number, unknown>;
  for (const [at, key] of path.slice(0, -1).entries()) {
    const next = node[key];
    // A list keeps its holes (`slice`), so an entry no variable set is found missing below.
    node[key] =
      typeof path[at + 1] === 'number' ? (Array.isArray(next) ? next.slice() : []) : isMap(next) ? { ...next } : {};
    node = node[key] as Record<string | number, unknown>;
  }
  const last = path[path.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
};

export interface EnvOverrides {
  /** `base` with every `QA_<PATH>` variable set at its path. */
  readonly value: unknown;
  /** The path (`flows[1].destination.url`) each variable set, with the variable's name. */
  readonly origins: ReadonlyMap<string, string>;
  readonly problems: readonly Problem[];
  /** Variables starting with `QA_` that name no key: ignored, and said (`validate` prints, `run` logs). */
  readonly warnings: readonly string[];
}

/**
 * Applies the `QA_<PATH>` variables of `env` over `base` (a parsed config, or nothing). A section set
 * whole is applied before the keys inside it, so `QA_DESTINATION_URL` wins over `QA_DESTINATION`'s url,
 * and `QA_FLOWS_1_NAME` over `QA_FLOWS`' second flow's name. A `QA_` variable that names no key is
 * ignored with a warning (another program's `QA_ENV` must not stop this one), with the nearest name
 * when there is one; a list entry left out between entries variables set is a problem.
 */
export const applyEnvOverrides = (base: unknown, env: NodeJS.ProcessEnv, schema: JsonSchema): EnvOverrides => {
  const keys = envKeysOf(schema);
  const value: Record<string, unknown> = isMap(base) ? { ...base } : {};
  const origins = new Map<string, string>();
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const given = Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && name !== WHOLE_CONFIG_VARIABLE && env[name] !== undefined)
    .map((name) => ({ name, key: envKeyOf(name, keys) }))
    .sort((a, b) => (a.key?.path.length ?? 0) - (b.key?.path.length ?? 0));
  const listsSet = new Map<string, { path: ConfigPath; name: string }>();
  for (const { name, key } of given) {
    if (key === undefined) {
      const near = closest(
        name,
        [...keys.keys()].filter((known) => !known.includes(ANY_INDEX)).concat(WHOLE_CONFIG_VARIABLE),
      );
      warnings.push(
        `environment variable ${name} names no config key: ignored${near ? ` (did you mean ${near}?)` : ''}`,
      );
      continue;
    }
    const parsed = parsedValue(env[name]!, key.types);
    if ('problem' in parsed) {
      problems.push({ path: key.path, message: `from ${name}: ${parsed.problem}` });
      continue;
    }
    const siblingPath = key.sibling === undefined ? undefined : [...key.path.slice(0, -1), key.sibling];
    const both = siblingPath === undefined ? undefined : origins.get(joinPath(siblingPath));
    if (both !== undefined) {
      problems.push({ path: key.path, message: `set ${both} or ${name}, not both` });
      continue;
    }
    setAt(value, key.path, parsed.value);
    origins.set(joinPath(key.path), name);
    // `QA_DESTINATION_API_TOKEN_FILE` wins over the file's `apiToken` as any variable wins: one of the two.
    if (siblingPath !== undefined) setAt(value, siblingPath, undefined);
    for (const [at, segment] of key.path.entries())
      if (typeof segment === 'number')
        listsSet.set(joinPath(key.path.slice(0, at)), { path: key.path.slice(0, at), name });
  }
  // `QA_FLOWS_1_...` without `flows[0]` from anywhere: say which entry is missing, not "expected an object".
  for (const { path, name } of listsSet.values()) {
    let list: unknown = value;
    for (const segment of path) list = (list as Record<string | number, unknown> | undefined)?.[segment];
    if (!Array.isArray(list)) continue;
    for (let index = 0; index < list.length; index++)
      if (list[index] === undefined)
        problems.push({
          path: [...path, index],
          message: `missing: ${name} sets a later entry, so this one must be set too (${envNameOf([...path, index])}_<KEY> variables, or the whole list)`,
        });
  }
  return { value, origins, problems, warnings };
};
