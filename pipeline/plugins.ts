import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NonEmptyString, struct, withDefault } from '../operators/model/codecs.js';
import { formatErrors } from '../operators/model/decode-errors.js';
import type { OperatorDefinition } from '../operators/model/define.js';
import { ConfigError } from './config/errors.js';

/** The built-in operators a plug-in may follow (`emit` is the sink: nothing comes after it). */
export const BuiltIn = t.keyof({ decode: null, qualify: null, selectIdentity: null, projectAttributes: null, dedupe: null }, 'decode | qualify | selectIdentity | projectAttributes | dedupe');
export type BuiltIn = t.TypeOf<typeof BuiltIn>;

/** `operators: [{ use, with, after }]`: a module exporting an operator definition, its options, its place. */
export const PluginConfig = struct(
  'operators[]',
  {
    /** A path (relative to the config file) or a package name. */
    use: NonEmptyString,
    after: withDefault(BuiltIn, 'projectAttributes'),
  },
  { with: t.unknown },
);
export type PluginConfig = t.TypeOf<typeof PluginConfig>;

/** A plug-in loaded and its options decoded: ready to be placed in the chain. */
export interface LoadedPlugin {
  readonly after: BuiltIn;
  readonly definition: OperatorDefinition;
  readonly options: unknown;
}

const isDefinition = (value: unknown): value is OperatorDefinition => {
  const d = value as Partial<OperatorDefinition> | undefined;
  return typeof d?.name === 'string' && typeof d.create === 'function' && typeof (d.options as t.Mixed | undefined)?.decode === 'function';
};

const specifierOf = (use: string, baseDir: string): string =>
  use.startsWith('.') || isAbsolute(use) ? pathToFileURL(resolve(baseDir, use)).href : pathToFileURL(createRequire(join(baseDir, 'package.json')).resolve(use)).href;

/**
 * Loads the plug-in operators a config names. Each module must export an operator definition (as its
 * default export, or as `operator`), made like the built-ins with `defineOperator`. Its `with` is decoded
 * by the definition's own codec; every problem is reported at its path, as for the rest of the config.
 */
export const loadPlugins = async (plugins: readonly PluginConfig[], baseDir: string, source = 'config'): Promise<LoadedPlugin[]> => {
  const problems: string[] = [];
  const loaded: LoadedPlugin[] = [];
  for (const [index, plugin] of plugins.entries()) {
    const at = `operators[${index}]`;
    let module: Record<string, unknown>;
    try {
      module = (await import(specifierOf(plugin.use, baseDir))) as Record<string, unknown>;
    } catch (error) {
      problems.push(`${at}.use: cannot load ${JSON.stringify(plugin.use)}: ${(error as Error).message.split('\n')[0]}`);
      continue;
    }
    const definition = module.default ?? module.operator;
    if (!isDefinition(definition)) {
      problems.push(`${at}.use: ${JSON.stringify(plugin.use)} exports no operator definition (a default export or \`operator\` with name, options and create)`);
      continue;
    }
    const options = definition.options.decode(plugin.with ?? {});
    if (isLeft(options)) {
      problems.push(...formatErrors(options.left, `${at}.with`).map((line) => line.replace(`${at}.with: `, `${at}.with: `)));
      continue;
    }
    loaded.push({ after: plugin.after, definition, options: options.right });
  }
  if (problems.length > 0) throw new ConfigError(source, problems);
  return loaded;
};
