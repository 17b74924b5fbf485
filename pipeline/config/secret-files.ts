import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { Problem } from '../../operators/model/codecs.js';
import { messageOf } from '../../operators/model/errors.js';

/**
 * The config keys that hold a secret (decoded as `SecretString`): each may instead be read from a file
 * named by the same key with `File` appended (`apiTokenFile`), as container and Kubernetes secrets are
 * mounted. `identityHashKey` is the privacy section's key for hashing identities.
 */
export const SECRET_KEYS = ['apiToken', 'token', 'bearer', 'clientSecret', 'signingKey', 'identityHashKey'] as const;

const FILE_SUFFIX = 'File';

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
  for (const [key, item] of Object.entries(value)) {
    const secret = SECRET_KEYS.find((name) => key === `${name}${FILE_SUFFIX}`);
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

/** Paths of secrets written in the config itself (not `${VAR}`, not a file). */
const literalSecrets = (value: unknown, path: Path = []): string[] => {
  if (Array.isArray(value)) return value.flatMap((item, index) => literalSecrets(item, [...path, index]));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, item]) =>
    (SECRET_KEYS as readonly string[]).includes(key) && typeof item === 'string' && !item.includes('${')
      ? [[...path, key].join('.')]
      : literalSecrets(item, [...path, key]),
  );
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
  return [
    `${file} holds a secret in clear (${found.join(', ')}) and is readable by group or others ` +
      `(mode ${(mode & 0o777).toString(8)}): chmod 600 it, or use \${VAR} or ${found[0]!.split('.').at(-1)}File`,
  ];
};
