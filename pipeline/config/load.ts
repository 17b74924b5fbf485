import { messageOf } from '../../operators/model/errors.js';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { anchorPaths } from './paths.js';
import { isLeft } from 'fp-ts/lib/Either.js';
import { parseDocument } from 'yaml';
import { formatErrors } from '../../operators/model/decode-errors.js';
import { Config } from './codec.js';
import { interpolateEnv } from './interpolate.js';
import { readSecretFiles } from './secret-files.js';
import { ConfigError } from './errors.js';

export { ConfigError };

const joinPath = (path: readonly (string | number)[]): string =>
  path.reduce<string>(
    (text, key) => (typeof key === 'number' ? `${text}[${key}]` : text === '' ? key : `${text}.${key}`),
    '',
  );

/**
 * Parses a config from YAML text: YAML syntax, then `${ENV_VAR}` interpolation, then secrets from files
 * (`apiTokenFile`), then the codec. Throws a
 * `ConfigError` listing every problem (`destination.url: expected an https URL, got "htp://x"`).
 */
export const parseConfig = (
  text: string,
  env: NodeJS.ProcessEnv = process.env,
  source = 'config',
  /** Where relative `...File` secrets are read from: the config file's directory. */
  baseDir = process.cwd(),
): Config => {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0)
    throw new ConfigError(
      source,
      document.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`),
    );
  if (document.contents === null) throw new ConfigError(source, ['the config is empty']);
  const interpolated = interpolateEnv(document.toJS(), env);
  const { value, problems } = readSecretFiles(interpolated.value, baseDir);
  const interpolationProblems = [...interpolated.problems, ...problems].map((p) => `${joinPath(p.path)}: ${p.message}`);
  const decoded = Config.decode(value);
  const decodingProblems = isLeft(decoded) ? formatErrors(decoded.left) : [];
  const all = [...interpolationProblems, ...decodingProblems];
  if (all.length > 0 || isLeft(decoded)) throw new ConfigError(source, all);
  return decoded.right;
};

/** Reads and parses a config file (see `parseConfig`); its relative paths are taken from the file's directory. */
export const loadConfig = async (file: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> => {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read the file: ${messageOf(error)}`]);
  }
  const baseDir = dirname(resolve(file));
  return anchorPaths(parseConfig(text, env, file, baseDir), baseDir);
};
