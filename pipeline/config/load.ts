import { messageOf } from '../../operators/model/errors.js';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { anchorPaths } from './paths.js';
import { isLeft } from 'fp-ts/lib/Either.js';
import { parseDocument } from 'yaml';
import { formatErrors } from '../../operators/model/decode-errors.js';
import { Config } from './codec.js';
import { type Placeholder, interpolateEnv, references } from './interpolate.js';
import { readSecretFiles, secretFilesIn } from './secret-files.js';
import { ConfigError, joinPath } from './errors.js';
import { applyEnvOverrides, ENV_PREFIX, WHOLE_CONFIG_VARIABLE } from './env-config.js';
import { configSchema } from './config-schema.js';

export { ConfigError };

/**
 * YAML text as a value; a syntax error names its line and column and shows the line itself, so the
 * person can find it without counting.
 */
export const parseYamlText = (text: string, source: string): unknown => {
  const document = parseDocument(text, { prettyErrors: true });
  // The first syntax error only: the ones after it are mostly the parser losing its way.
  const [first] = document.errors;
  if (first) {
    const message = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    const at = first.linePos?.[0];
    const line = at ? (text.split('\n')[at.line - 1] ?? '').trimEnd() : undefined;
    throw new ConfigError(source, [
      at ? `YAML syntax at line ${at.line}, column ${at.col}: ${message}: ${JSON.stringify(line)}` : `YAML: ${message}`,
    ]);
  }
  if (document.contents === null) throw new ConfigError(source, ['the config is empty']);
  return document.toJS();
};

export interface ParseOptions {
  /** What an unset `${VAR}` without a fallback reads as; none: a problem. */
  readonly placeholder?: Placeholder;
  /** Whether `QA_CONFIG` and `QA_<PATH>` variables apply (not for `test`: a test file's config is the file). */
  readonly fromEnvironment?: boolean;
  /** Where relative `...File` secrets are read from: the config file's directory (default: the working one). */
  readonly baseDir?: string;
}

/** Interpolates `${ENV_VAR}`s in a parsed config and decodes it; every problem, of either step, in one error. */
export const decodeConfig = (
  parsed: unknown,
  env: NodeJS.ProcessEnv,
  source: string,
  options: ParseOptions = {},
  earlier: readonly string[] = [],
): Config => {
  // `${VAR}`s first, then secrets from files (`apiTokenFile`), then the codec.
  const interpolated = interpolateEnv(parsed, env, [], options.placeholder);
  const { value, problems } = readSecretFiles(interpolated.value, options.baseDir ?? process.cwd());
  const interpolationProblems = [...interpolated.problems, ...problems].map((p) => `${joinPath(p.path)}: ${p.message}`);
  const decoded = Config.decode(value);
  const decodingProblems = isLeft(decoded) ? formatErrors(decoded.left) : [];
  const all = [...earlier, ...interpolationProblems, ...decodingProblems];
  if (all.length > 0 || isLeft(decoded)) throw new ConfigError(source, all);
  return decoded.right;
};

/**
 * Parses a config from YAML text: YAML syntax, then `${ENV_VAR}` interpolation, then the codec. Throws a
 * `ConfigError` listing every problem (`destination.url: expected an https URL, got "htp://x"`).
 */
export const parseConfig = (
  text: string,
  env: NodeJS.ProcessEnv = process.env,
  source = 'config',
  options: ParseOptions = {},
): Config => decodeConfig(parseYamlText(text, source), env, source, options);

/** A config before decoding: the file or `QA_CONFIG`, with the `QA_<PATH>` variables applied. */
export interface ConfigInput {
  /** The file, or `QA_CONFIG`, or `environment`: what error messages name. */
  readonly source: string;
  /** Where relative paths in the config start: the file's directory, else the working directory. */
  readonly baseDir: string;
  readonly value: unknown;
  /** The problems found before decoding (a variable's value of the wrong kind). */
  readonly problems: readonly string[];
  /** What the commands say without failing: a `QA_` variable that names no key. */
  readonly warnings: readonly string[];
  /** Where each value set other than by the file came from: path -> variable (`QA_FLOWS_1_DESTINATION_URL`). */
  readonly origins: ReadonlyMap<string, string>;
}

const readText = async (file: string): Promise<string> => {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read the file: ${messageOf(error)}`]);
  }
};

/**
 * Reads a config's input: the file (or, without one, the YAML or JSON in `QA_CONFIG`, or nothing but
 * variables), then every `QA_<PATH>` variable over it (see env-config.ts).
 */
export const readConfigInput = async (file: string | undefined, env: NodeJS.ProcessEnv): Promise<ConfigInput> => {
  const whole = env[WHOLE_CONFIG_VARIABLE];
  if (file !== undefined && whole !== undefined && whole !== '')
    throw new ConfigError(file, [`give the config as --config or in ${WHOLE_CONFIG_VARIABLE}, not both`]);
  const source = file ?? (whole ? WHOLE_CONFIG_VARIABLE : 'environment');
  const base =
    file !== undefined
      ? parseYamlText(await readText(file), file)
      : whole
        ? parseYamlText(whole, WHOLE_CONFIG_VARIABLE)
        : undefined;
  const overrides = applyEnvOverrides(base, env, configSchema());
  if (file === undefined && !whole && overrides.origins.size === 0)
    throw new ConfigError('config', [
      `no config: give --config <file>, or the config in ${WHOLE_CONFIG_VARIABLE}, or QA_<KEY> variables`,
    ]);
  return {
    source,
    baseDir: file === undefined ? process.cwd() : dirname(resolve(file)),
    value: overrides.value,
    problems: overrides.problems.map((p) => (p.path.length > 0 ? `${joinPath(p.path)}: ${p.message}` : p.message)),
    warnings: overrides.warnings,
    origins: overrides.origins,
  };
};

/**
 * Reads and parses a config (see `readConfigInput` and `parseConfig`); its relative paths are taken from
 * the file's directory.
 */
export const loadConfig = async (
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  options: ParseOptions = {},
): Promise<Config> => {
  const configEnv =
    options.fromEnvironment === false
      ? Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith(ENV_PREFIX)))
      : env;
  return configOf(await readConfigInput(file, configEnv), env, options);
};

/**
 * Decodes a config's input (see `decodeConfig`), its paths anchored at its directory. A `ConfigError`
 * carries the input's warnings too.
 */
export const configOf = (input: ConfigInput, env: NodeJS.ProcessEnv, options: ParseOptions = {}): Config => {
  try {
    return anchorPaths(
      decodeConfig(input.value, env, input.source, { ...options, baseDir: input.baseDir }, input.problems),
      input.baseDir,
    );
  } catch (error) {
    if (!(error instanceof ConfigError) || input.warnings.length === 0) throw error;
    throw new ConfigError(error.source, error.problems, [...error.warnings, ...input.warnings]);
  }
};

/**
 * Where each value of a config came from, for `validate`: variables (`QA_FLOWS_1_DESTINATION_URL`),
 * `${VAR}` references, secrets read from files (`apiTokenFile`), the file.
 */
export const originLines = (input: ConfigInput): string[] => {
  const origins = new Map(input.origins);
  for (const [path, text] of references(input.value))
    if (!origins.has(path)) origins.set(path, `${input.source} (${text})`);
  // `apiTokenFile` names where `apiToken` comes from: one line, at the secret's path.
  for (const { path, key, fileKey, file } of secretFilesIn(input.value)) {
    const at = joinPath([...path, fileKey]);
    const given = input.origins.get(at) ?? `${fileKey} in ${input.source}`;
    origins.delete(at);
    origins.set(joinPath([...path, key]), `the file ${file} (${given})`);
  }
  const lines = [...origins].map(([path, origin]) => `${path}: ${origin}`);
  return [...lines.sort(), `everything else: ${input.source}, or the default`];
};
