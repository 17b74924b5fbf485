import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { Problem } from '../../operators/model/codecs.js';
import { messageOf } from '../../operators/model/errors.js';
import { configSchema } from './config-schema.js';
import { fileKeyOf, isSecretSchema, type JsonSchema } from './json-schema.js';

/** The keys of a config that hold secrets, as its JSON Schema (generated from the codec) marks them. */
export interface SecretKeys {
  /** Keys whose value is a secret (`apiToken`): each may be read from a file named by `<key>File`. */
  readonly keys: ReadonlySet<string>;
  /** Keys of maps whose every value is a secret (a WebSocket's `headers`). */
  readonly maps: ReadonlySet<string>;
}

/** The secret keys anywhere in `schema`: properties marked `writeOnly` (what `SecretString` records). */
export const secretKeysOf = (schema: JsonSchema): SecretKeys => {
  const keys = new Set<string>();
  const maps = new Set<string>();
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    const schemaNode = node as JsonSchema;
    for (const [key, child] of Object.entries((schemaNode.properties as Record<string, JsonSchema>) ?? {})) {
      if (isSecretSchema(child)) keys.add(key);
      if (isSecretSchema(child.additionalProperties as JsonSchema | undefined)) maps.add(key);
      visit(child);
    }
    for (const keyword of ['items', 'additionalProperties', 'anyOf', 'oneOf', 'allOf']) visit(schemaNode[keyword]);
  };
  visit(schema);
  return { keys, maps };
};

let secrets: SecretKeys | undefined;

/**
 * The config's secret keys (`apiToken`, `token`, `bearer`, `clientSecret`, `signingKey`,
 * `identityHashKey`; header values), derived from the codec: every key decoded as `SecretString`. Each
 * key may instead be read from a file named by the key with `File` appended (`apiTokenFile`), as
 * container and Kubernetes secrets are mounted.
 */
export const secretKeys = (): SecretKeys => {
  secrets ??= secretKeysOf(configSchema());
  return secrets;
};

type Path = readonly (string | number)[];

export interface WithSecretFiles {
  readonly value: unknown;
  readonly problems: readonly Problem[];
}

/**
 * Replaces every `<secret>File: path` of a parsed config by `<secret>: <the file's content>` (one
 * trailing newline dropped, as `echo` and `kubectl create secret` leave one). A relative path is taken
 * from `baseDir`. A file that cannot be read, an empty one, or both keys set is a problem at its path.
 */
export const readSecretFiles = (value: unknown, baseDir: string, path: Path = []): WithSecretFiles => {
  if (Array.isArray(value)) {
    const parts = value.map((item, index) => readSecretFiles(item, baseDir, [...path, index]));
    return { value: parts.map((part) => part.value), problems: parts.flatMap((part) => part.problems) };
  }
  if (typeof value !== 'object' || value === null) return { value, problems: [] };
  const problems: Problem[] = [];
  const result: Record<string, unknown> = {};
  const { keys } = secretKeys();
  for (const [key, item] of Object.entries(value)) {
    const secret = [...keys].find((name) => key === fileKeyOf(name));
    if (secret === undefined) {
      const part = readSecretFiles(item, baseDir, [...path, key]);
      result[key] = part.value;
      problems.push(...part.problems);
      continue;
    }
    if (Object.hasOwn(value, secret)) {
      problems.push({ path: [...path, key], message: `set ${secret} or ${key}, not both` });
      continue;
    }
    if (typeof item !== 'string' || item === '') {
      problems.push({ path: [...path, key], message: 'expected the path of a file holding the secret' });
      continue;
    }
    try {
      const content = readFileSync(resolve(baseDir, item), 'utf8').replace(/\r?\n$/, '');
      if (content === '') problems.push({ path: [...path, key], message: `${item} is empty` });
      else result[secret] = content;
    } catch (error) {
      problems.push({ path: [...path, key], message: `cannot read ${item}: ${messageOf(error)}` });
    }
  }
  return { value: result, problems };
};

/** A secret's file key in a parsed config: where (the object's path), which secret, and the file as written. */
export interface SecretFile {
  readonly path: Path;
  readonly key: string;
  readonly fileKey: string;
  readonly file: string;
}

/** Every `<secret>File` of a parsed config. */
export const secretFilesIn = (value: unknown, path: Path = []): SecretFile[] => {
  if (Array.isArray(value)) return value.flatMap((item, index) => secretFilesIn(item, [...path, index]));
  if (typeof value !== 'object' || value === null) return [];
  const { keys } = secretKeys();
  return Object.entries(value).flatMap(([fileKey, item]): SecretFile[] => {
    const key = [...keys].find((name) => fileKey === fileKeyOf(name));
    if (key === undefined) return secretFilesIn(item, [...path, fileKey]);
    return typeof item === 'string' ? [{ path, key, fileKey, file: item }] : [];
  });
};

/** The part before `@` of a URL with credentials (`redis://:password@host`), if any. */
const USERINFO = /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]*)@/i;

/**
 * Paths of secrets written in the config itself (not `${VAR}`, not a file): secret keys, every value of
 * a secret map (`headers.Authorization`), and the password of any URL (`redis.url`).
 */
const literalSecrets = (value: unknown, path: Path = []): { path: string; fileKey?: string }[] => {
  const { keys, maps } = secretKeys();
  const literal = (item: unknown): item is string => typeof item === 'string' && !item.includes('${');
  if (Array.isArray(value)) return value.flatMap((item, index) => literalSecrets(item, [...path, index]));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, item]) => {
    const at = [...path, key].join('.');
    if (keys.has(key) && literal(item)) return [{ path: at, fileKey: fileKeyOf(key) }];
    if (maps.has(key) && typeof item === 'object' && item !== null)
      return Object.entries(item)
        .filter(([, header]) => literal(header))
        .map(([name]) => ({ path: `${at}.${name}` }));
    if (typeof item === 'string') {
      const password = USERINFO.exec(item)?.[1]?.split(':').slice(1).join(':');
      return password && literal(password) ? [{ path: `the password in ${at}` }] : [];
    }
    return literalSecrets(item, [...path, key]);
  });
};

/**
 * A warning for a config file that holds a secret in clear and that group or others may read; none
 * when every secret comes from `${VAR}` or a file, or the file is private (mode 600). For `validate`
 * and `run`.
 */
export const configFileWarnings = async (file: string): Promise<string[]> => {
  let mode: number;
  let text: string;
  try {
    mode = (await stat(file)).mode;
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  if ((mode & 0o077) === 0) return [];
  const found = literalSecrets(parseDocument(text).toJS());
  if (found.length === 0) return [];
  // A secret key may come from its file; a header or a URL's password from `${VAR}` only.
  const fileKey = found.find((secret) => secret.fileKey !== undefined)?.fileKey;
  return [
    `${file} holds a secret in clear (${found.map((secret) => secret.path).join(', ')}) and is readable by ` +
      `group or others (mode ${(mode & 0o777).toString(8)}): chmod 600 it, or use \${VAR}` +
      (fileKey === undefined ? '' : ` or ${fileKey}`),
  ];
};
